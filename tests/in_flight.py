"""What each hypervisor has in flight, counted inside the real libvirt driver:
restores (inside the caller's throttle slot) and starts, per endpoint and over
all. Only the counting wraps the driver; every call still reaches libvirt."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict


class InFlight:
    def __init__(self, work_seconds: float):
        #: how long each counted call is held, so others can be let in meanwhile
        self.work_seconds = work_seconds
        self.lock = threading.Lock()
        self.now = defaultdict(int)
        self.peak = defaultdict(int)
        #: the hosts restoring when the most restores were in flight at once
        self.peak_together = []
        #: the most hosts restoring at the same moment
        self.most_hosts = 0

    @contextlib.contextmanager
    def busy(self, kind, endpoint):
        keys = ((kind, endpoint), (kind, "all"))
        with self.lock:
            record = kind == "snapshot" and self.now[keys[1]] == self.peak[keys[1]]
            for key in keys:
                self.now[key] += 1
                self.peak[key] = max(self.peak[key], self.now[key])
            if kind == "snapshot":
                hosts = sorted(k[1] for k, v in self.now.items()
                               if v and k[0] == kind and k[1] != "all")
                self.most_hosts = max(self.most_hosts, len(hosts))
                if record:
                    self.peak_together = hosts
        try:
            time.sleep(self.work_seconds)
            yield
        finally:
            with self.lock:
                for key in keys:
                    self.now[key] -= 1

    def driver_class(self):
        from vdictl.drivers.libvirt import LibvirtDriver

        counting = self

        class CountingDriver(LibvirtDriver):
            def revert_snapshot(self, *, slot, **kw):
                @contextlib.contextmanager
                def counted():
                    with slot(), counting.busy("snapshot", self.endpoint):
                        yield
                return super().revert_snapshot(slot=counted, **kw)

            def start_vm(self, **kw):
                with counting.busy("power", self.endpoint):
                    return super().start_vm(**kw)

        return CountingDriver
