"""Waiting for Proxmox VE tasks (UPIDs): every open task of a run on one node
is watched by one shared `GET /nodes/{node}/tasks?source=all&since=...` per
poll interval, whatever the number of waiters (docs/backends/proxmox.md,
"Tasks: one poll per node").

Near its expected end a task is polled more often: a task of a type seen
before (a rollback, say) is expected to take about as long as the quickest
one of this run did, and a waiter asks for no poll before that but for one
then and every quarter interval after it. (The node's polls for other tasks
see it too, so an estimate too long shrinks.) A fixed poll grid would see
each end up to an interval late, and a snapshot batch slot stays idle that
long: each rollback is sent just after the poll that freed its slot, so
with tasks lasting a whole number of intervals it ends just after a poll
and waits nearly a full interval to be seen (benchmarks/notes.md, section 5)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Optional

from vdictl.errors import DriverError, OperationTimeout

#: list_tasks(node, since) -> the node's task entries started at or after `since`
ListTasks = Callable[[str, int], List[Dict[str, Any]]]
#: task_status(node, upid) -> the task's status entry (for one the list left out)
TaskStatus = Callable[[str, str], Dict[str, Any]]


def upid_node(upid: str) -> str:
    """UPID:pve1:0000ABCD:0001E240:6741F2A0:qmsnapshot:101:root@pam: -> pve1"""
    parts = upid.split(":")
    if len(parts) < 8 or parts[0] != "UPID":
        raise DriverError(f"not a task id: {upid!r}")
    return parts[1]


def upid_start(upid: str) -> int:
    """The task's start, seconds since the epoch (the UPID's fifth field, hex)."""
    try:
        return int(upid.split(":")[4], 16)
    except (IndexError, ValueError):
        return 0


def upid_type(upid: str) -> str:
    """The task's worker type (qmrollback, qmstart ...), the UPID's sixth field."""
    parts = upid.split(":")
    return parts[5] if len(parts) > 5 else ""


#: polls near a task's expected end come this fraction of the interval apart
NEAR_END = 0.25


def ended(entry: Optional[Dict[str, Any]]) -> bool:
    """A list or status entry of a task that has ended. The node's list gives
    a running task status "RUNNING" (pve-manager's Tasks.pm) or none, an ended
    one its exit status; /tasks/{upid}/status says "running" or "stopped" with
    an exitstatus."""
    if not entry:
        return False
    status = str(entry.get("status") or "")
    if status.lower() == "running":
        return False
    if status == "stopped":
        return True
    return bool(status) or entry.get("endtime") is not None


def exit_text(entry: Dict[str, Any]) -> str:
    """"OK", "WARNINGS: 2" or the error of an ended task."""
    return str(entry.get("exitstatus") or entry.get("status") or "")


def succeeded(entry: Dict[str, Any]) -> bool:
    """OK, or ended with warnings (the work is done: "WARNINGS: n")."""
    text = exit_text(entry)
    return text == "OK" or text.startswith("WARNINGS")


class _Node:
    __slots__ = ("open", "entries", "fetched_at", "fetching")

    def __init__(self) -> None:
        self.open: Dict[str, int] = {}                # UPID -> waiters
        self.entries: Dict[str, Dict[str, Any]] = {}  # UPID -> its entry in the last poll
        self.fetched_at: Optional[float] = None       # when the last poll began
        self.fetching = False


class TaskWatch:
    """Shared, rate-limited task polls, one per node with open tasks."""

    def __init__(self, list_tasks: ListTasks, task_status: TaskStatus, *,
                 interval: Callable[[], float], driver: str = "",
                 clock: Callable[[], float] = time.monotonic):
        self._list = list_tasks
        self._status = task_status
        self.interval = interval
        self._driver = driver
        self._clock = clock
        self._cond = threading.Condition()
        self._nodes: Dict[str, _Node] = {}
        #: task type -> the shortest wait for one that succeeded, from the wait's
        #: start to the start of the poll that saw it end
        self._shortest: Dict[str, float] = {}

    def wait(self, upid: str, *, timeout: float, what: str,
             vm: Optional[str] = None) -> Dict[str, Any]:
        """The ended task's entry (its exit status not yet judged), seen by a
        poll begun after now. OperationTimeout after `timeout` seconds."""
        node = upid_node(upid)
        since = self._clock()
        deadline = since + timeout
        with self._cond:
            n = self._nodes.setdefault(node, _Node())
            n.open[upid] = n.open.get(upid, 0) + 1
            try:
                return self._wait(n, node, upid, since, deadline, timeout, what, vm)
            finally:
                n.open[upid] -= 1
                if not n.open[upid]:
                    del n.open[upid]

    def _wait(self, n: _Node, node: str, upid: str, since: float, deadline: float,
              timeout: float, what: str, vm: Optional[str]) -> Dict[str, Any]:
        kind = upid_type(upid)
        while True:
            if n.fetched_at is not None and n.fetched_at >= since:
                entry = n.entries.get(upid)
                if ended(entry):
                    assert entry is not None
                    if succeeded(entry):
                        took = n.fetched_at - since
                        self._shortest[kind] = min(self._shortest.get(kind, took), took)
                    return entry
            now = self._clock()
            if now >= deadline:
                raise OperationTimeout(f"timed out after {timeout:g}s waiting for {what} "
                                       f"(task {upid} still running)", driver=self._driver,
                                       vm=vm)
            due = self._due(n, kind, since)
            if not n.fetching and now >= due:
                self._fetch(n, node, now)
                continue
            self._cond.wait(max(0.0, min(deadline, due) - now) if not n.fetching
                            else max(0.0, deadline - now))

    def _due(self, n: _Node, kind: str, since: float) -> float:
        """When this waiter wants the node's next poll: on the interval's grid;
        for a task whose like was seen before, not before its expected end,
        then every NEAR_END interval until an interval past it (a task that
        runs late falls back to the grid)."""
        interval = self.interval()
        grid = since if n.fetched_at is None else n.fetched_at + interval
        expected = self._shortest.get(kind)
        if expected is None:
            return grid
        step = interval * NEAR_END
        near, late = since + expected, since + expected + interval
        last = n.fetched_at if n.fetched_at is not None and n.fetched_at >= since else None
        if last is None or last < near:
            return near
        return last + step if last < late else grid

    def _fetch(self, n: _Node, node: str, started: float) -> None:
        """One poll of the node for all its open tasks; called and returns with
        the lock held. A task the list leaves out (more than its limit ended
        since) is asked for by its UPID."""
        wanted = list(n.open)
        since = min((upid_start(u) for u in wanted), default=0)
        n.fetching = True
        self._cond.release()
        try:
            found = {str(e["upid"]): e for e in self._list(node, since) if e.get("upid")}
            for upid in wanted:
                if upid not in found:
                    found[upid] = self._status(node, upid)
        finally:
            self._cond.acquire()
            n.fetching = False
            self._cond.notify_all()
        n.entries, n.fetched_at = found, started
