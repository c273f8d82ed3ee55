# SPDX-License-Identifier: GPL-3.0-or-later
"""Injected misbehaviour: error answers for matching requests
(``sim.fail``), another client's doings just before a request
(``sim.before``), and a frozen host that accepts but never answers."""

from __future__ import annotations

import re
import threading


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._failures = []          # [method, regex, status, reason, times left]
        self._hooks = []             # [method, regex, callback, times left]
        self.thawed = threading.Event()
        self.thawed.set()

    def fail(self, method, path_regex, status, reason, times=1):
        with self._lock:
            self._failures.append([method.upper(), re.compile(path_regex), int(status),
                                   reason, times])

    def injected(self, method, path):
        """(status, reason) for a request that must fail, else None."""
        with self._lock:
            for item in self._failures:
                if item[0] == method and item[1].search(path) and item[4] > 0:
                    item[4] -= 1
                    if not item[4]:
                        self._failures.remove(item)
                    return item[2], item[3]
        return None

    def before(self, method, path_regex, callback, times=1):
        with self._lock:
            self._hooks.append([method.upper(), re.compile(path_regex), callback, times])

    def hook(self, method, path):
        """The callback to run before a request, else None."""
        with self._lock:
            for item in self._hooks:
                if item[0] == method and item[1].search(path) and item[3] > 0:
                    item[3] -= 1
                    if not item[3]:
                        self._hooks.remove(item)
                    return item[2]
        return None

    def freeze(self):
        self.thawed.clear()

    def thaw(self):
        self.thawed.set()
