"""Shared polls of the cluster's VM states: every VM that waits for a state of
its own (a first boot's power-off, a lock's release) is answered by one
`GET /cluster/resources?type=vm` per poll interval, never a request per VM
(docs/backends/proxmox.md, "Waiting for VMs")."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Optional

from vdictl.errors import OperationTimeout

#: () -> the cluster's guest entries
Resources = Callable[[], List[Dict[str, Any]]]


class StateWatch:
    """One shared, rate-limited poll of /cluster/resources for all waiters."""

    def __init__(self, resources: Resources, *, interval: Callable[[], float],
                 driver: str = "", clock: Callable[[], float] = time.monotonic):
        self._resources = resources
        self.interval = interval
        self._driver = driver
        self._clock = clock
        self._cond = threading.Condition()
        self._entries: Dict[int, Dict[str, Any]] = {}
        self._fetched_at: Optional[float] = None
        self._fetching = False

    def wait(self, vmid: int, done: Callable[[Optional[Dict[str, Any]]], bool], *,
             timeout: float, what: str, vm: str) -> Optional[Dict[str, Any]]:
        """The VM's entry (None while it is missing) once done(entry) holds,
        seen by a poll begun after now; OperationTimeout after `timeout`."""
        since = self._clock()
        deadline = since + timeout
        last: Optional[Dict[str, Any]] = None
        with self._cond:
            while True:
                if self._fetched_at is not None and self._fetched_at >= since:
                    last = self._entries.get(vmid)
                    if done(last):
                        return last
                now = self._clock()
                if now >= deadline:
                    raise OperationTimeout(
                        f"timed out after {timeout:g}s waiting for {what} (last seen: "
                        f"{(last or {}).get('status')})", driver=self._driver, vm=vm)
                due = since if self._fetched_at is None else max(
                    since, self._fetched_at + self.interval())
                if not self._fetching and now >= due:
                    self._fetch(now)
                    continue
                self._cond.wait(max(0.0, min(deadline, due) - now) if not self._fetching
                                else max(0.0, deadline - now))

    def _fetch(self, started: float) -> None:
        """One poll; called and returns with the lock held."""
        self._fetching = True
        self._cond.release()
        try:
            entries = {int(e["vmid"]): e for e in self._resources() if "vmid" in e}
        finally:
            self._cond.acquire()
            self._fetching = False
            self._cond.notify_all()
        self._entries, self._fetched_at = entries, started
