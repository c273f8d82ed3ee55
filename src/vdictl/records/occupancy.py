"""The occupancy record: who sat at each desk, since when, and when it was last reset.

Every run that asks the backends who is at the VMs (Driver.sessions, see
vdictl.ops.in_use: virtroom-show, --skip-in-use, --vacated, --idle-for)
writes what it saw here; a reset writes when it reset each desk, a shutdown
that the desk is off. `virtroom-reset --vacated` and `virtroom-shutdown
--idle-for` decide from it, `virtroom-show` (LAST USED), `vdictl status` and
the status page show it. vdictl stays a cron job: this file is its memory of
who sat where between two runs.

One JSON file per endpoint in <state dir>/occupancy/ (the endpoint's URI or
URL, %-encoded), each desk by room and VM name. Every change re-reads the
file under a flock of <file>.lock (runs of vdictl at the same time: the
nightly reset, a --vacated run, a virtroom-show) and replaces it whole
through a temporary file and a rename, so a reader never sees half a file
and no run's change is lost. Bounded: at most MAX_DESKS desks per endpoint
(those probed longest ago go first) and MAX_USERS sessions per desk.

What a probe tells is kept as seen: a desk is "free since" the first probe
that found nobody at it, not since its user left (which no backend says).
A probe that cannot tell breaks that: the next probe that finds the desk
free starts its free time again. Without a directory (a session outside
the CLI) the record lives in memory only.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Dict, Iterable, List, Optional, Tuple

from vdictl.lock import safe_name

RECORD_FORMAT = 1
MAX_DESKS = 10000
MAX_USERS = 8
#: seconds between the writes of a write_behind record (Occupancy.flush)
FLUSH_EVERY = 30.0
#: (room, VM name)
DeskKey = Tuple[str, str]

IN_USE, VACATED, IDLE = "in use", "vacated", "idle"

log = logging.getLogger(__name__)


@dataclass
class Desk:
    """What the record knows of one desk; times are seconds since the epoch."""

    #: at the last probe: True somebody, False nobody, None cannot tell (or never probed)
    in_use: Optional[bool] = None
    #: the sessions the last probe saw (UserSession fields)
    users: List[Dict[str, Any]] = field(default_factory=list)
    #: the last probe of the desk
    probed: Optional[float] = None
    #: since when the desk is in use (the sessions' start, else the probe that first saw it)
    in_use_since: Optional[float] = None
    #: the last probe that saw somebody at it
    last_used: Optional[float] = None
    #: the first probe that found it free since it was last in use (or unknown)
    free_since: Optional[float] = None
    #: whether the VM ran at the last probe, and the first probe that saw it running
    running: Optional[bool] = None
    up_since: Optional[float] = None
    #: the end of its last successful reset
    last_reset: Optional[float] = None

    @property
    def used_since_reset(self) -> bool:
        return self.last_used is not None and (self.last_reset is None
                                               or self.last_used > self.last_reset)

    @property
    def state(self) -> str:
        """IN_USE, VACATED (used since its last reset, free now), IDLE (running,
        not used since its last reset) or "" (off, or use not known)."""
        if self.in_use:
            return IN_USE
        if self.in_use is False and self.used_since_reset:
            return VACATED
        if self.in_use is False and self.running:
            return IDLE
        return ""

    def idle_since(self) -> Optional[float]:
        """Since when the desk runs with nobody at it, as the probes saw it."""
        if self.in_use is not False or not self.running:
            return None
        times = [t for t in (self.free_since, self.up_since, self.last_reset) if t is not None]
        return max(times) if times else None

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Desk":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def seen(desk: Desk, *, running: bool, sessions: Optional[List[Dict[str, Any]]],
         now: float) -> Desk:
    """`desk` after a probe at `now` that saw it `running` and `sessions` at it
    ([] nobody, None cannot tell)."""
    desk = dataclasses.replace(desk, probed=now, running=running)
    desk.up_since = (desk.up_since or now) if running else None
    if sessions is None:
        desk.in_use, desk.users, desk.free_since = None, [], None
    elif sessions:
        if not desk.in_use:
            known = [s["since"] for s in sessions if s.get("since") is not None]
            desk.in_use_since = min(known) if known else now
        desk.in_use, desk.users = True, [dict(s) for s in sessions[:MAX_USERS]]
        desk.last_used, desk.free_since = now, None
    else:
        if desk.in_use is not False or desk.free_since is None:
            desk.free_since = now
        desk.in_use, desk.users, desk.in_use_since = False, [], None
    return desk


def was_reset(desk: Desk, *, running: bool, now: float) -> Desk:
    """`desk` just reset: nobody at it, a fresh desk since `now`."""
    return dataclasses.replace(desk, in_use=False, users=[], in_use_since=None,
                               free_since=now, running=running,
                               up_since=now if running else None, last_reset=now)


def was_stopped(desk: Desk, *, now: float) -> Desk:
    return dataclasses.replace(desk, running=False, up_since=None, users=[],
                               in_use=False if desk.in_use is not None else None)


def file_name(endpoint: str) -> str:
    safe = safe_name(endpoint)
    if len(safe) > 120:  # a file name has at most 255 bytes
        safe = f"{safe[:100]}-{hashlib.sha256(endpoint.encode()).hexdigest()[:16]}"
    return f"{safe}.json"


class Occupancy:
    """The occupancy record of every endpoint of a run."""

    def __init__(self, directory: Optional[str] = None,
                 clock: Callable[[], float] = time.time,
                 warn: Callable[[str], None] = log.warning):
        """`directory`: <state dir>/occupancy, or None to keep it in memory;
        `warn(text)`: told once per run when the record cannot be written."""
        self.directory = directory
        self.clock = clock
        self._warn = warn
        self._warned = False
        self._memory: Dict[str, Dict[DeskKey, Desk]] = {}
        self._lock = threading.Lock()   # threads of one run; flock between runs
        #: write_behind: the desks' changes after their work (reset, start, stop)
        #: are kept and written together every FLUSH_EVERY seconds and by flush()
        #: (Session.close, before the room locks go), not one rewrite of the
        #: endpoint's file per VM (23 ms of CPU each at 1,000 desks). For runs
        #: that hold their rooms for the whole run: no picking run works there.
        self.write_behind = False
        self._pending: Dict[str, Dict[DeskKey, List[Callable[[Desk], Desk]]]] = {}
        self._flushed = time.monotonic()
        #: each file's desks as last read, by path, with the file's identity: a
        #: reset asks for its desk once per VM (ops.reset), and parsing the file of
        #: 1,000 desks takes 10 ms of CPU; a writer replaces the file (a new one)
        self._read: Dict[str, Tuple[Tuple[int, ...], Dict[DeskKey, Desk]]] = {}

    def _path(self, endpoint: str) -> str:
        assert self.directory is not None
        return os.path.join(self.directory, file_name(endpoint))

    def desks(self, endpoint: str) -> Dict[DeskKey, Desk]:
        if self.directory is None:
            with self._lock:
                return dict(self._memory.get(endpoint, {}))
        return dict(self._read_file(self._path(endpoint)))

    def _read_file(self, path: str) -> Dict[DeskKey, Desk]:
        """read_file(path), parsed again only when the file is another one or changed."""
        try:
            fh = open(path, encoding="utf-8")
        except OSError:
            return {}
        with fh:
            info = os.fstat(fh.fileno())
            identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns,
                        info.st_ctime_ns)
            with self._lock:
                cached = self._read.get(path)
            if cached is not None and cached[0] == identity:
                return cached[1]
            desks = _parse(fh)
        with self._lock:
            self._read[path] = (identity, desks)
        return desks

    def desk(self, endpoint: str, room: str, vm: str) -> Desk:
        if self.directory is None:
            return self.desks(endpoint).get((room, vm), Desk())
        return self._read_file(self._path(endpoint)).get((room, vm), Desk())

    def update(self, endpoint: str, changes: Dict[DeskKey, Callable[[Desk], Desk]],
               ) -> Dict[DeskKey, Desk]:
        """Apply each change to its desk as the file has it now; the desks changed."""
        with self._lock:
            if self.directory is None:
                desks = self._memory.setdefault(endpoint, {})
                return _apply(desks, changes)
            os.makedirs(self.directory, mode=0o755, exist_ok=True)
            path = self._path(endpoint)
            with open(f"{path}.lock", "a+b") as guard:
                fcntl.flock(guard.fileno(), fcntl.LOCK_EX)
                desks = read_file(path)
                changed = _apply(desks, changes)
                _write(path, endpoint, desks)
            return changed

    def observe(self, endpoint: str,
                probes: Iterable[Tuple[DeskKey, bool, Optional[List[Dict[str, Any]]]]],
                ) -> Dict[DeskKey, Desk]:
        """Record one probe: (desk, running, sessions) each."""
        now = self.clock()
        return self.update(endpoint, {key: functools.partial(seen, running=running,
                                                             sessions=sessions, now=now)
                                      for key, running, sessions in probes})

    def reset_done(self, endpoint: str, key: DeskKey, *, running: bool) -> None:
        now = self.clock()
        self.note(endpoint, key, lambda d: was_reset(d, running=running, now=now))

    def started(self, endpoint: str, key: DeskKey) -> None:
        now = self.clock()
        self.note(endpoint, key, lambda d: dataclasses.replace(d, running=True, up_since=now))

    def stopped(self, endpoint: str, key: DeskKey) -> None:
        now = self.clock()
        self.note(endpoint, key, lambda d: was_stopped(d, now=now))

    def note(self, endpoint: str, key: DeskKey, change: Callable[[Desk], Desk]) -> None:
        """One desk's change after a VM's work: a record that cannot be written is
        a warning, never a failure of the VM."""
        if self.write_behind:
            with self._lock:
                self._pending.setdefault(endpoint, {}).setdefault(key, []).append(change)
                due = time.monotonic() - self._flushed >= FLUSH_EVERY
            if due:
                self.flush()
            return
        try:
            self.update(endpoint, {key: change})
        except OSError as exc:
            self.cannot_write(exc)

    def flush(self) -> None:
        """Write the changes kept by write_behind, one rewrite per endpoint."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._flushed = time.monotonic()
        for endpoint, changes in pending.items():
            try:
                self.update(endpoint, {key: _in_turn(steps) for key, steps in changes.items()})
            except OSError as exc:
                self.cannot_write(exc)

    def cannot_write(self, exc: OSError) -> None:
        """One warning per run, however often it fails: the run goes on without
        its memory (the next --vacated run finds less to do, never more)."""
        with self._lock:
            warned, self._warned = self._warned, True
        if not warned:
            self._warn(f"cannot write the occupancy record: {exc.filename or self.directory}: "
                       f"{exc.strerror or exc} ([logging] state_dir)")


def _apply(desks: Dict[DeskKey, Desk], changes: Dict[DeskKey, Callable[[Desk], Desk]],
           ) -> Dict[DeskKey, Desk]:
    changed = {key: change(desks.get(key, Desk())) for key, change in changes.items()}
    desks.update(changed)
    if len(desks) > MAX_DESKS:  # the desks probed longest ago go first
        for key in sorted(desks, key=lambda k: desks[k].probed or 0.0)[:len(desks) - MAX_DESKS]:
            del desks[key]
    return changed


def read_file(path: str) -> Dict[DeskKey, Desk]:
    """The desks of one file; a missing or unreadable file is an empty record
    (the record is a memory, not a must: the next probe writes it anew)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return _parse(fh)
    except OSError:
        return {}


def _parse(fh: IO[str]) -> Dict[DeskKey, Desk]:
    try:
        data = json.load(fh)
        return {(room, vm): Desk.from_dict(desk)
                for room, vms in data.get("rooms", {}).items() for vm, desk in vms.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _in_turn(steps: List[Callable[[Desk], Desk]]) -> Callable[[Desk], Desk]:
    """One change that makes `steps` one after the other."""
    def change(desk: Desk) -> Desk:
        for step in steps:
            desk = step(desk)
        return desk
    return change


def _write(path: str, endpoint: str, desks: Dict[DeskKey, Desk]) -> None:
    rooms: Dict[str, Dict[str, Any]] = {}
    for (room, vm), desk in sorted(desks.items()):
        rooms.setdefault(room, {})[vm] = desk.to_dict()
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"format": RECORD_FORMAT, "endpoint": endpoint, "rooms": rooms}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def all_desks(directory: str) -> Dict[DeskKey, Desk]:
    """Every desk of every endpoint's file in `directory` (for vdictl status and
    the status page: they read records, never the backends)."""
    found: Dict[DeskKey, Desk] = {}
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".json"))
    except OSError:
        return found
    for name in names:
        found.update(read_file(os.path.join(directory, name)))
    return found


def room_counts(desks: Dict[DeskKey, Desk], room: str) -> Dict[str, int]:
    """{"in use": n, "vacated": n, "idle": n} of one room, as last probed."""
    counts = {IN_USE: 0, VACATED: 0, IDLE: 0}
    for (desk_room, _), desk in desks.items():
        if desk_room == room and desk.state:
            counts[desk.state] += 1
    return counts


def desks_of_rooms(state_dir: str, rooms: Iterable[str]) -> Dict[str, Dict[str, Any]]:
    """Per room: its counts and the time of its last probe (None: never probed),
    from the occupancy record under `state_dir` (vdictl status, the status page)."""
    by_room: Dict[str, Dict[DeskKey, Desk]] = {}
    for key, desk in all_desks(occupancy_dir(state_dir)).items():
        by_room.setdefault(key[0], {})[key] = desk   # one pass, not one per room
    found: Dict[str, Dict[str, Any]] = {}
    for room in rooms:
        desks = by_room.get(room, {})
        probes = [d.probed for d in desks.values() if d.probed]
        found[room] = {**room_counts(desks, room), "probed": max(probes) if probes else None}
    return found


def occupancy_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "occupancy")
