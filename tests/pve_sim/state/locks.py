# SPDX-License-Identifier: GPL-3.0-or-later
"""The per-VM lock file (/var/lock/qemu-server/lock-<vmid>.conf), as
PVE::Tools::lock_file_full uses it: exclusive or shared flock, waited for at
most a timeout, then ``can't lock file '...' - got timeout``."""

from __future__ import annotations

import time

from tests.pve_sim.state.errors import TaskFailed


def lock_path(vmid):
    return "/var/lock/qemu-server/lock-%d.conf" % vmid


class FileLocks:
    """flock(2) on the lock files; every call is made with ``cond`` held."""

    def __init__(self, cond, on_wait=lambda: None):
        self.cond = cond
        self.on_wait = on_wait       # told before a caller starts waiting
        self._exclusive = set()      # vmids held exclusively
        self._shared = {}            # vmid -> number of shared holders
        self._doomed = {}            # vmid -> acquisitions left that time out (fail_next)

    def _free(self, vmid, shared):
        if vmid in self._exclusive:
            return False
        return shared or not self._shared.get(vmid)

    def held(self, vmid):
        return vmid in self._exclusive or bool(self._shared.get(vmid))

    def fail_next(self, vmid, times=1):
        """The next ``times`` acquisitions of ``vmid``'s lock file wait their
        whole timeout and fail, as if another process held it (a backup, a
        busy node): lock_file_full's ``can't lock file '...' - got timeout``."""
        self._doomed[vmid] = self._doomed.get(vmid, 0) + times

    def disarm(self, vmid):
        """Forget the doomed acquisitions of ``vmid`` that nothing used."""
        self._doomed.pop(vmid, None)

    def acquire(self, vmid, timeout, shared=False):
        """Wait for the lock (``cond`` is released while waiting)."""
        deadline = time.monotonic() + timeout
        if self._doomed.get(vmid):
            self._doomed[vmid] -= 1
            if not self._doomed[vmid]:
                del self._doomed[vmid]
            self.on_wait()
            while time.monotonic() < deadline:
                self.cond.wait(deadline - time.monotonic())
            raise TaskFailed("can't lock file '%s' - got timeout" % lock_path(vmid))
        while not self._free(vmid, shared):
            self.on_wait()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TaskFailed("can't lock file '%s' - got timeout" % lock_path(vmid))
            self.cond.wait(remaining)
        if shared:
            self._shared[vmid] = self._shared.get(vmid, 0) + 1
        else:
            self._exclusive.add(vmid)

    def release(self, vmid, shared=False):
        if shared:
            self._shared[vmid] -= 1
            if not self._shared[vmid]:
                del self._shared[vmid]
        else:
            self._exclusive.discard(vmid)
        self.cond.notify_all()
