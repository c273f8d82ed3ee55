"""Run records: what each run that changed VMs did, kept for `vdictl status`,
the metrics file and the status page.

One record per run, named by the run's start (UTC) and pid so that names
sort by time, kept in the SQLite database of vdictl.records.store
(<state dir>/runs/records.sqlite3). The record is written when the run has
its room locks (status "running", with the pid) and replaced whole when it
ends, in one transaction, so a reader never sees half a record; a run
killed with kill -9 leaves its "running" record, which readers show as
unfinished once the pid is gone. Each room keeps the last `keep` records of
a command that took it. Readers of a room read one summary row per command
(its counts and failed VMs), never the whole site's VMs.

The state directory is [logging] state_dir, else $VDICTL_STATE_DIR, else
/var/lib/vdictl (root), else $XDG_STATE_HOME/vdictl (~/.local/state/vdictl).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from vdictl.records import store
from vdictl.records.summary import FAILING, RECORD_FORMAT, rooms_of, summarize

log = logging.getLogger(__name__)

STATE_DIR_ENV = "VDICTL_STATE_DIR"


def default_state_dir() -> str:
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return explicit
    if os.geteuid() == 0:
        return "/var/lib/vdictl"
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "vdictl")


def state_dir(configured: Optional[str]) -> str:
    return configured or default_state_dir()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def parse_time(text: Optional[str]) -> Optional[float]:
    """Seconds since the epoch of an ISO 8601 time of a record, or None."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


class RunRecord:
    """The record of one run, written at its start and replaced at its end."""

    def __init__(self, directory: str, command: str, rooms: Sequence[str],
                 only_vms: Sequence[str] = (), run_by: Optional[Dict[str, Any]] = None):
        self.directory = directory
        started = datetime.now(timezone.utc)
        self.run_id = f"{started.strftime('%Y%m%dT%H%M%S.%f')}Z-{os.getpid()}"
        #: the database the record is written to
        self.path = store.db_path(directory)
        self.data: Dict[str, Any] = {
            "format": RECORD_FORMAT, "run": self.run_id, "command": command,
            "rooms": list(rooms), "only_vms": list(only_vms), "pid": os.getpid(),
            "started": started.isoformat(timespec="milliseconds"), "ended": None,
            "duration": None, "status": "running", "exit_status": None, "error": "",
            "notes": [], "vms": [],
            #: who ran it: {"user", "uid"}, and "through": "sudo" for a delegate
            "run_by": run_by}
        self._began = time.monotonic()

    def start(self) -> None:
        """Write the "running" record (creating the directory): OSError if it cannot."""
        self._write()

    def finish(self, *, exit_status: int, status: str, vms: List[Dict[str, Any]],
               notes: Sequence[str] = (), error: str = "",
               duration: Optional[float] = None) -> None:
        """Replace the record with the run's end; OSError if it cannot."""
        self.data.update(
            ended=now_iso(), exit_status=exit_status, status=status, vms=vms,
            notes=list(notes), error=error,
            duration=round(time.monotonic() - self._began if duration is None else duration, 1))
        self._write()

    def _write(self) -> None:
        with store.writing(self.directory) as conn:
            store.store(conn, self.data, rooms_of(self.data))


def prune(directory: str, command: str, keep: int) -> None:
    """Keep, for each room, the newest `keep` records of `command` that took it
    (a run of many rooms stays while one of them keeps it): OSError if it cannot."""
    with store.writing(directory) as conn:
        store.prune(conn, command, keep)


@dataclass
class RoomRun:
    """One room's part of one run, as status and the metrics see it."""

    room: str
    command: str
    run: str
    started: Optional[float]
    ended: Optional[float]
    #: running, unfinished (its process is gone without an end), ok or failed
    result: str
    exit_status: Optional[int]
    duration: Optional[float]
    error: str = ""
    counts: Dict[str, int] = field(default_factory=dict)
    failed_vms: List[Tuple[str, str]] = field(default_factory=list)
    #: the VMs given with --vm; empty when the run took the whole room
    only_vms: List[str] = field(default_factory=list)
    #: who ran it, as the record says ({"user", "uid", "through"}); None in older records
    run_by: Optional[Dict[str, Any]] = None

    @property
    def when(self) -> Optional[float]:
        return self.ended or self.started

    @property
    def by(self) -> str:
        """Who ran it: "alice (sudo)", "root", or "" when the record does not say."""
        if not isinstance(self.run_by, dict):
            return ""
        through = self.run_by.get("through")
        return f"{self.run_by.get('user', '')}" + (f" ({through})" if through else "")

    def to_dict(self) -> Dict[str, Any]:
        return {"command": self.command, "run": self.run, "started": _iso(self.started),
                "ended": _iso(self.ended), "result": self.result,
                "exit_status": self.exit_status, "duration": self.duration,
                "error": self.error,
                "counts": {o: self.counts.get(o, 0) for o in ("ok",) + FAILING + ("skipped",)},
                "failed_vms": [{"vm": vm, "reason": reason} for vm, reason in self.failed_vms],
                "only_vms": list(self.only_vms), "run_by": self.run_by}


def _iso(seconds: Optional[float]) -> Optional[str]:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def _reader(directory: str):
    """The records' connection, or None (no records, or they cannot be read: a
    line in the log, and readers go on as if there were none)."""
    try:
        return store.reader(directory)
    except OSError as exc:
        log.warning("cannot read the run records: %s: %s", exc.filename or directory, exc)
        return None


def commands(directory: str) -> List[str]:
    conn = _reader(directory)
    if conn is None:
        return []
    return [row[0] for row in conn.execute("SELECT DISTINCT command FROM runs ORDER BY 1")]


def records(directory: str, command: str) -> Iterator[Dict[str, Any]]:
    """The whole records of `command`, newest first, each with its VMs."""
    conn = _reader(directory)
    if conn is None:
        return
    heads = conn.execute("SELECT id, record FROM runs WHERE command = ? ORDER BY run DESC",
                         (command,)).fetchall()
    for run_id, head in heads:
        data = json.loads(head)
        data["vms"] = [json.loads(row[0]) for row in conn.execute(
            "SELECT data FROM vms WHERE run_id = ? ORDER BY seq", (run_id,))]
        if data.get("format") == RECORD_FORMAT:
            yield data


def room_run(data: Dict[str, Any], room: str) -> RoomRun:
    """The part of the run record `data` that concerns `room`."""
    return _room_run(data, room, summarize(data, room)[1])


def _room_run(head: Dict[str, Any], room: str, summary: Dict[str, Any]) -> RoomRun:
    failed = [(vm, reason) for vm, reason in summary["failed_vms"]]
    if head.get("status") == "running":
        result = "running" if pid_alive(int(head.get("pid", 0))) else "unfinished"
    else:
        result = "failed" if failed or head.get("error") else "ok"
    return RoomRun(room=room, command=head["command"], run=head.get("run", ""),
                   started=parse_time(head.get("started")), ended=parse_time(head.get("ended")),
                   result=result, exit_status=head.get("exit_status"),
                   duration=head.get("duration"), error=head.get("error", ""),
                   counts=dict(summary["counts"]), failed_vms=failed,
                   only_vms=list(summary["only_vms"]), run_by=head.get("run_by"))


def last_runs(directory: str, room: str) -> Dict[str, RoomRun]:
    """The last run of each command that took `room`, by command."""
    conn = _reader(directory)
    if conn is None:
        return {}
    # SQLite takes the bare columns of an aggregate query from the row of its max()
    rows = conn.execute(
        "SELECT m.command, max(m.run), m.summary, r.record FROM rooms m "
        "JOIN runs r ON r.id = m.run_id WHERE m.room = ? GROUP BY m.command", (room,))
    return {command: _room_run(json.loads(head), room, json.loads(summary))
            for command, _, summary, head in rows}


def last_success(directory: str, room: str, command: str) -> Optional[RoomRun]:
    """The last run of `command` that took the whole room and in which no VM of it failed."""
    conn = _reader(directory)
    if conn is None:
        return None
    row = conn.execute(
        "SELECT m.summary, r.record FROM rooms m JOIN runs r ON r.id = m.run_id "
        "WHERE m.room = ? AND m.command = ? AND m.whole_ok = 1 ORDER BY m.run DESC LIMIT 1",
        (room, command)).fetchone()
    return None if row is None else _room_run(json.loads(row[1]), room, json.loads(row[0]))


def last_vm_results(directory: str, command: str,
                    vms: Sequence[str]) -> Dict[str, Tuple[Optional[float], str, str]]:
    """For each VM of `vms`, (time, outcome, reason) of the last run of `command`
    that took it and ended; VMs never taken are left out."""
    conn = _reader(directory)
    found: Dict[str, Tuple[Optional[float], str, str]] = {}
    if conn is None:
        return found
    for name in dict.fromkeys(vms):
        row = conn.execute(
            "SELECT v.data, r.record FROM vms v JOIN runs r ON r.id = v.run_id "
            "WHERE v.vm = ? AND r.command = ? ORDER BY r.run DESC LIMIT 1",
            (name, command)).fetchone()
        if row is not None:
            vm, head = json.loads(row[0]), json.loads(row[1])
            when = parse_time(head.get("ended")) or parse_time(head.get("started"))
            found[name] = (when, vm.get("outcome", ""), vm.get("reason", ""))
    return found
