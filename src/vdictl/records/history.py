"""Run records: what each run that changed VMs did, kept for `vdictl status`,
the metrics file and the status page.

One JSON file per run, in <state dir>/runs/<command>/, named by the run's
start (UTC) and pid so that names sort by time. The file is written when
the run has its room locks (status "running", with the pid) and replaced
whole when it ends; a run killed with kill -9 leaves its "running" record,
which readers show as unfinished once the pid is gone. Every write goes to
a temporary file in the same directory and is renamed over the record, so a
reader never sees half a record. Only the last `keep` records of a command
are kept.

The state directory is [logging] state_dir, else $VDICTL_STATE_DIR, else
/var/lib/vdictl (root), else $XDG_STATE_HOME/vdictl (~/.local/state/vdictl).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

STATE_DIR_ENV = "VDICTL_STATE_DIR"
RECORD_FORMAT = 1
#: outcomes that make a room's run a failure (vdictl.result.Report.failed)
FAILING = ("failed", "not-started")
#: a temporary file older than this is a leftover of a killed writer
STALE_TEMP_SECONDS = 3600.0


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


def _write_atomically(path: str, data: Dict[str, Any]) -> None:
    """Write JSON to a temporary file beside `path`, flush it to disk, rename it."""
    directory = os.path.dirname(path)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temp, 0o644)  # the status page's cron job may run as another user
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)


class RunRecord:
    """The record of one run, written at its start and replaced at its end."""

    def __init__(self, directory: str, command: str, rooms: Sequence[str],
                 only_vms: Sequence[str] = (), run_by: Optional[Dict[str, Any]] = None):
        self.directory = os.path.join(directory, "runs", command)
        started = datetime.now(timezone.utc)
        self.run_id = f"{started.strftime('%Y%m%dT%H%M%S.%f')}Z-{os.getpid()}"
        self.path = os.path.join(self.directory, f"{self.run_id}.json")
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
        os.makedirs(self.directory, mode=0o755, exist_ok=True)
        _write_atomically(self.path, self.data)

    def finish(self, *, exit_status: int, status: str, vms: List[Dict[str, Any]],
               notes: Sequence[str] = (), error: str = "",
               duration: Optional[float] = None) -> None:
        """Replace the record with the run's end; OSError if it cannot."""
        self.data.update(
            ended=now_iso(), exit_status=exit_status, status=status, vms=vms,
            notes=list(notes), error=error,
            duration=round(time.monotonic() - self._began if duration is None else duration, 1))
        os.makedirs(self.directory, mode=0o755, exist_ok=True)
        _write_atomically(self.path, self.data)


def prune(directory: str, command: str, keep: int) -> None:
    """Keep the newest `keep` records of `command`; remove temporary files that a
    killed writer left."""
    runs = os.path.join(directory, "runs", command)
    try:
        names = os.listdir(runs)
    except FileNotFoundError:
        return
    records = sorted(n for n in names if n.endswith(".json") and not n.startswith("."))
    old_temps = [n for n in names if n.startswith(".") and n.endswith(".tmp")
                 and _age(os.path.join(runs, n)) > STALE_TEMP_SECONDS]
    for name in records[:max(0, len(records) - keep)] + old_temps:
        try:
            os.unlink(os.path.join(runs, name))
        except FileNotFoundError:  # another run pruned it first
            pass


def _age(path: str) -> float:
    try:
        return time.time() - os.stat(path).st_mtime
    except OSError:
        return 0.0


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
    def whole_room_success(self) -> bool:
        return self.result == "ok" and not self.only_vms

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


def commands(directory: str) -> List[str]:
    try:
        return sorted(n for n in os.listdir(os.path.join(directory, "runs"))
                      if not n.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []


def records(directory: str, command: str) -> Iterator[Dict[str, Any]]:
    """The records of `command`, newest first; unreadable files are passed over
    (a record is only ever replaced whole, so that means foreign files)."""
    runs = os.path.join(directory, "runs", command)
    try:
        names = sorted((n for n in os.listdir(runs)
                        if n.endswith(".json") and not n.startswith(".")), reverse=True)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        try:
            with open(os.path.join(runs, name), encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("format") == RECORD_FORMAT:
            yield data


def room_run(data: Dict[str, Any], room: str) -> RoomRun:
    """The part of the run record `data` that concerns `room`."""
    vms = [vm for vm in data.get("vms", []) if vm.get("room") == room]
    counts: Dict[str, int] = {}
    for vm in vms:
        counts[vm["outcome"]] = counts.get(vm["outcome"], 0) + 1
    failed = [(vm["vm"], vm.get("reason", "")) for vm in vms if vm["outcome"] in FAILING]
    if data.get("status") == "running":
        result = "running" if pid_alive(int(data.get("pid", 0))) else "unfinished"
    else:
        result = "failed" if failed or data.get("error") else "ok"
    room_vms = {vm["vm"] for vm in vms}
    return RoomRun(room=room, command=data["command"], run=data.get("run", ""),
                   started=parse_time(data.get("started")), ended=parse_time(data.get("ended")),
                   result=result, exit_status=data.get("exit_status"),
                   duration=data.get("duration"), error=data.get("error", ""),
                   counts=counts, failed_vms=failed,
                   only_vms=[vm for vm in data.get("only_vms", []) if vm in room_vms
                             or not room_vms], run_by=data.get("run_by"))


def last_runs(directory: str, room: str) -> Dict[str, RoomRun]:
    """The last run of each command that took `room`, by command."""
    found = {}
    for command in commands(directory):
        for data in records(directory, command):
            if room in data.get("rooms", []):
                found[command] = room_run(data, room)
                break
    return found


def last_success(directory: str, room: str, command: str) -> Optional[RoomRun]:
    """The last run of `command` that took the whole room and in which no VM of it failed."""
    for data in records(directory, command):
        if room in data.get("rooms", []):
            run = room_run(data, room)
            if run.whole_room_success:
                return run
    return None


def last_vm_results(directory: str, command: str,
                    vms: Sequence[str]) -> Dict[str, Tuple[Optional[float], str, str]]:
    """For each VM of `vms`, (time, outcome, reason) of the last run of `command`
    that took it; VMs never taken are left out."""
    wanted, found = set(vms), {}
    for data in records(directory, command):
        when = parse_time(data.get("ended")) or parse_time(data.get("started"))
        if data.get("status") == "running":
            continue
        for vm in data.get("vms", []):
            name = vm.get("vm")
            if name in wanted and name not in found:
                found[name] = (when, vm.get("outcome", ""), vm.get("reason", ""))
        if len(found) == len(wanted):
            break
    return found
