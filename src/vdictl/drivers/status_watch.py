"""Shared status polls: every VM waiting for a state of its own is answered by
one request per group and poll interval, never a request per VM. The oVirt
driver polls a room with one engine search (docs/backends/ovirt.md, "Waiting:
shared polls of the room"); the Proxmox VE driver the whole cluster with one
/cluster/resources (docs/backends/proxmox.md, "Waiting for VMs")."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Optional

from vdictl.errors import OperationTimeout

#: group -> {key: the backend's record of that VM} (oVirt: a room's search text ->
#: {VM name: engine record}; Proxmox VE: "cluster" -> {VMID: resources entry})
Search = Callable[[str], Dict[Any, Any]]


def _status_attribute(record: Any) -> Any:
    """An SDK record's status, for the timeout message (an enum's value)."""
    status = getattr(record, "status", None)
    return getattr(status, "value", status)


class _Group:
    __slots__ = ("vms", "fetched_at", "fetching")

    def __init__(self) -> None:
        self.vms: Dict[Any, Any] = {}
        self.fetched_at: Optional[float] = None   # when the last answer's request began
        self.fetching = False


class StatusWatch:
    """Shared, rate-limited polls of VM groups (one engine search each)."""

    def __init__(self, search: Search, *, interval: Callable[[], float], driver: str = "",
                 clock: Callable[[], float] = time.monotonic,
                 status_of: Callable[[Any], Any] = _status_attribute,
                 learns: bool = True):
        self._search = search
        #: the status of a record, named in the timeout message
        self._status_of = status_of
        #: whether a wait's first poll waits for the shortest such wait seen
        self._learns = learns
        self.interval = interval
        self._driver = driver
        self._clock = clock
        self._cond = threading.Condition()
        self._groups: Dict[str, _Group] = {}
        #: kind of wait -> the shortest it took so far in this run
        self._shortest: Dict[str, float] = {}

    def wait(self, group: str, name: Any, done: Callable[[Any], bool], *, since: float,
             timeout: float, what: str, vm: Optional[str] = None) -> Any:
        """The record of `name` (a key of the group's answer) once done(record)
        holds, looking only at answers to searches begun at or after `since` (the
        record is None while the VM is missing). Raises OperationTimeout after
        `timeout` seconds, naming `vm` (default: `name`)."""
        deadline = self._clock() + timeout
        seen: Optional[float] = None
        last: Any = None
        with self._cond:
            g = self._groups.setdefault(group, _Group())
            earliest = since + (0.95 * self._shortest.get(what, 0.0) if self._learns else 0.0)
            while True:
                if g.fetched_at is not None and g.fetched_at >= since and g.fetched_at != seen:
                    seen = g.fetched_at
                    last = g.vms.get(name)
                    if done(last):
                        took = g.fetched_at - since
                        self._shortest[what] = min(self._shortest.get(what, took), took)
                        return last
                now = self._clock()
                if now >= deadline:
                    raise OperationTimeout(
                        f"timed out after {timeout:g}s waiting for {what} (last seen: "
                        f"{self._status_of(last)})", driver=self._driver,
                        vm=name if vm is None else vm)
                # the group's next poll, shared; a group nobody polled lately at once
                due = earliest if g.fetched_at is None else max(
                    earliest, g.fetched_at + self.interval())
                if not g.fetching and now >= due:
                    self._fetch(g, group, now)
                    continue
                self._cond.wait(max(0.0, min(deadline, due) - now) if not g.fetching
                                else deadline - now)

    def _fetch(self, g: _Group, group: str, started: float) -> None:
        """One search for the whole group; called and returns with the lock held."""
        g.fetching = True
        self._cond.release()
        try:
            vms = self._search(group)
        finally:
            self._cond.acquire()
            g.fetching = False
            self._cond.notify_all()
        g.vms, g.fetched_at = vms, started
