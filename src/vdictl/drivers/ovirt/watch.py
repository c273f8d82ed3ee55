"""Room-wide status polls for the ovirt driver: every waiting VM of a room
shares one engine search per poll interval (docs/backends/ovirt.md,
"Waiting: shared polls of the room")."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Optional

from vdictl.errors import OperationTimeout

#: search text -> {VM name: the engine's VM record}
Search = Callable[[str], Dict[str, Any]]


class _Group:
    __slots__ = ("vms", "fetched_at", "fetching")

    def __init__(self) -> None:
        self.vms: Dict[str, Any] = {}
        self.fetched_at: Optional[float] = None   # when the last answer's request began
        self.fetching = False


class StatusWatch:
    """Shared, rate-limited polls of VM groups (one engine search each)."""

    def __init__(self, search: Search, *, interval: Callable[[], float], driver: str = "",
                 clock: Callable[[], float] = time.monotonic):
        self._search = search
        self.interval = interval
        self._driver = driver
        self._clock = clock
        self._cond = threading.Condition()
        self._groups: Dict[str, _Group] = {}
        #: kind of wait -> the shortest it took so far in this run
        self._shortest: Dict[str, float] = {}

    def wait(self, group: str, name: str, done: Callable[[Any], bool], *, since: float,
             timeout: float, what: str) -> Any:
        """The VM record of `name` once done(record) holds, looking only at answers
        to searches begun at or after `since` (the record is None while the VM is
        missing). Raises OperationTimeout after `timeout` seconds."""
        deadline = self._clock() + timeout
        seen: Optional[float] = None
        last: Any = None
        with self._cond:
            g = self._groups.setdefault(group, _Group())
            earliest = since + 0.95 * self._shortest.get(what, 0.0)
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
                    status = getattr(last, "status", None)
                    raise OperationTimeout(
                        f"timed out after {timeout:g}s waiting for {what} (last seen: "
                        f"{getattr(status, 'value', status)})", driver=self._driver, vm=name)
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
