# SPDX-License-Identifier: GPL-3.0-or-later
"""Injected misbehaviour: error answers or dropped connections for matching
requests (``sim.fail``), another client's doings just before a request
(``sim.before``), a frozen host that accepts but never answers, and
a seeded share of transient faults on every request (``sim.chaos``), each
worded as Proxmox VE words it.

What the real system says (cited where the simulator models it):

- pve-cluster ``PVE::Cluster`` ``$cfs_lock`` (cfs_lock_storage, cfs_lock_file
  ...): a pmxcfs lock not had within its timeout dies
  ``cfs-lock 'storage-shared-nfs' error: got lock request timeout``; in a
  synchronous API call that is the answer ``500 <that text>``. A storage's
  cluster lock is a pmxcfs one only on shared storage (pve-storage
  ``PVE::Storage::Plugin::cluster_lock_storage``; a local storage such as
  local-lvm takes ``/var/lock/pve-manager/pve-storage-<id>`` with
  lock_file instead), so chaos words it for a shared storage. Not checked
  against the source request by request: chaos answers it on any change,
  where the real sync parts take such a lock only in some (a config PUT
  that allocates or frees a disk, vdisk_alloc/vdisk_free).
- pve-common ``PVE::Tools::lock_file_full`` (what ``PVE::AbstractConfig``
  ``lock_config`` uses for ``/var/lock/qemu-server/lock-<vmid>.conf``):
  ``can't lock file '<file>' - got timeout``; in the sync part of a call (a
  config PUT) the answer ``500 <text>``, in a worker the task's exit status
  (state/locks.py, ``sim.fail_lock``).
- A connection dropped (a node's pveproxy restarted, a proxy between) before
  the request was read, or after the request was done but before its answer
  was written: the client sees the connection closed without an answer.
"""

from __future__ import annotations

import random
import re
import threading

#: pve-cluster PVE::Cluster $cfs_lock: "cfs-lock '$lockid' error: " . "got lock request timeout\n"
CFS_LOCK_TIMEOUT = "cfs-lock 'storage-%s' error: got lock request timeout"
#: what a dropped connection loses: the request ("before") or only its answer ("after")
DROPS = ("before", "after")
#: the kinds of transient fault ``chaos`` mixes
CHAOS_KINDS = ("cfs-lock", "lock-timeout", "drop-before", "drop-after")
#: requests that change a VM and take its lock file (qemu-server's lock_config):
#: the sync config PUT, and the workers of these POSTs and DELETEs
_LOCKING = re.compile(r"^/nodes/[^/]+/qemu/(?P<vmid>\d+)(?:/config|/status/(?:start|stop|shutdown)"
                      r"|/snapshot(?:/[^/]+/rollback|/[^/]+)?|/clone|/template)?$")


#: a request's kind for chaos: its path with task ids and numbers (VMIDs) cut
_UPID = re.compile(r"UPID:[^/]+")
_SHAPE = re.compile(r"\d+")


class Injected:
    """What to do to one request: answer ``status reason`` before acting,
    drop the connection ``drop`` ("before"/"after") the action, or make the
    VM ``lock_vmid``'s lock file time out for the action."""

    def __init__(self, status=None, reason=None, drop=None, lock_vmid=None, kind=""):
        self.status = status
        self.reason = reason
        self.drop = drop
        self.lock_vmid = lock_vmid
        self.kind = kind


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._failures = []          # [method, regex, Injected, times left]
        self._hooks = []             # [method, regex, callback, times left]
        self.thawed = threading.Event()
        self.thawed.set()
        self._chaos_rate = 0.0
        self._chaos_seed = 0
        #: a Random per kind of request (method, path without its numbers):
        #: the n-th clone or start meets the same fault whichever VM it is for
        #: and whatever the order in which the client's threads reach the node
        self._chaos_rngs = {}
        self._chaos_kinds = CHAOS_KINDS
        self._chaos_storage = "shared-nfs"
        #: (kind, method, path) of every fault chaos injected
        self.chaos_log = []

    def fail(self, method, path_regex, status=None, reason=None, times=1, drop=None):
        """``status reason`` (e.g. 500 and a cfs-lock timeout), or a connection
        dropped ``drop`` ("before": nothing done; "after": done, answer lost)."""
        if drop is not None and drop not in DROPS:
            raise ValueError("drop is one of %s" % (DROPS,))
        if drop is None and status is None:
            raise ValueError("give status and reason, or drop")
        with self._lock:
            self._failures.append([method.upper(), re.compile(path_regex),
                                   Injected(status and int(status), reason, drop), times])

    def chaos(self, rate, seed=0, kinds=CHAOS_KINDS, storage="shared-nfs"):
        """From now on, ``rate`` of all requests (but the login) fail transiently,
        drawn from a Random per ``seed`` and kind of request (the n-th clone
        meets the same fault whatever the threads' order): a cfs-lock
        timeout 500 (changes only), a lock-file timeout in the sync part or the
        task (VM changes only), or a connection dropped before or after the
        action. ``rate=0`` ends it."""
        with self._lock:
            self._chaos_rate = float(rate)
            self._chaos_seed = seed
            self._chaos_rngs = {}
            self._chaos_kinds = tuple(kinds)
            self._chaos_storage = storage

    def injected(self, method, path):
        """The Injected for a request that must misbehave, else None."""
        with self._lock:
            for item in self._failures:
                if item[0] == method and item[1].search(path) and item[3] > 0:
                    item[3] -= 1
                    if not item[3]:
                        self._failures.remove(item)
                    return item[2]
            if self._chaos_rate and path != "/access/ticket":
                kind = (method, _SHAPE.sub("N", _UPID.sub("UPID", path)))
                rng = self._chaos_rngs.get(kind)
                if rng is None:
                    rng = random.Random(f"{self._chaos_seed} {kind}")
                    self._chaos_rngs[kind] = rng
                if rng.random() < self._chaos_rate:
                    return self._chaos_pick(method, path, rng)
        return None

    def _chaos_pick(self, method, path, rng):
        """One of the kinds that can happen to this request (the lock held)."""
        locking = _LOCKING.match(path) if method != "GET" else None
        possible = [k for k in self._chaos_kinds
                    if k.startswith("drop") or (k == "cfs-lock" and method != "GET")
                    or (k == "lock-timeout" and locking is not None)]
        if not possible:
            return None
        kind = rng.choice(possible)
        self.chaos_log.append((kind, method, path))
        if kind == "cfs-lock":
            return Injected(500, CFS_LOCK_TIMEOUT % self._chaos_storage, kind=kind)
        if kind == "lock-timeout":
            return Injected(lock_vmid=int(locking["vmid"]), kind=kind)
        return Injected(drop=kind.split("-", 1)[1], kind=kind)

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
