"""Room locks: two runs that touch the same room exclude each other.

One lock file per room in a state directory, held with flock(2) for the
whole run. The kernel drops the lock when the process ends, however it ends
(kill -9 included), so a stale lock cannot outlive its holder. The holder
writes its pid into the file so that a run that finds the room busy can name
it. Lock files are never removed: removing a flock file while another
process waits on it would let two runs hold "the" lock at once.

A site of many rooms holds many lock files: the run raises its soft limit
of open files to the hard one first, refuses at once (one line, nothing
changed) when the rooms cannot fit under it, and keeps the lock files'
descriptors above select(2)'s reach so that the backend's sockets stay
low (vdictl.fds).

Rooms are locked in sorted order, so two runs over overlapping sets of rooms
cannot deadlock. Only state-changing commands lock; --dry-run and
virtroom-show read and never wait.

The directory is $VDICTL_LOCK_DIR, else /run/vdictl (root), else
$XDG_RUNTIME_DIR/vdictl, else /tmp/vdictl-<uid>. Runs exclude each other
only when they use the same directory: a site whose operators run vdictl as
different users sets VDICTL_LOCK_DIR to one shared directory.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from typing import Callable, Dict, Iterable, List, Optional

from vdictl import fds
from vdictl.errors import OperationTimeout, RoomBusy, VdictlError

LOCK_DIR_ENV = "VDICTL_LOCK_DIR"
#: how often a waiting run tries the lock again
POLL_INTERVAL = 0.2
#: the word after the pid in the lock file of a run that holds a room only to pick desks
BRIEF = "brief"
#: how long a run waits at least for a room held briefly, whatever --lock-timeout says
BRIEF_WAIT = 120.0


def default_lock_dir() -> str:
    explicit = os.environ.get(LOCK_DIR_ENV)
    if explicit:
        return explicit
    if os.geteuid() == 0:
        return "/run/vdictl"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "vdictl")
    # a directory of this uid; _prepare_dir refuses it when another user made it first
    return f"/tmp/vdictl-{os.getuid()}"  # nosec B108


def safe_name(text: str) -> str:
    """`text` for a file name: characters other than letters, digits, - _ . are %-encoded."""
    return "".join(c if c.isalnum() or c in "-_." else f"%{ord(c):02X}" for c in text)


def lock_file_name(room: str) -> str:
    """A file name for any room name: unsafe characters are %-encoded."""
    return f"room-{safe_name(room)}.lock"


def _prepare_dir(directory: str) -> None:
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    except OSError as exc:
        raise VdictlError(f"cannot create the lock directory {directory}: {exc.strerror} "
                          f"(set ${LOCK_DIR_ENV})") from None
    info = os.lstat(directory)
    # a directory that someone else owns could be swapped for a trap (/tmp)
    if not os.path.isdir(directory) or (info.st_uid not in (0, os.geteuid())):
        raise VdictlError(f"lock directory {directory} is not a directory owned by "
                          f"this user or root (set ${LOCK_DIR_ENV})")


def read_holder(path: str) -> Optional[int]:
    """The pid written by the holder, or None (not written yet, or unreadable)."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return int(fh.read(32).split()[0])
    except (OSError, ValueError, IndexError):
        return None


def held_briefly(path: str) -> bool:
    """Whether the holder of `path` wrote that it holds it only briefly (a
    --vacated or --idle-for run picking its desks, vdictl.vm_lock)."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return BRIEF in fh.read(64).split()[1:]
    except OSError:
        return False


def too_many_files_hint() -> str:
    return ("; raise the open-files limit: LimitNOFILE= in the service unit, "
            "ulimit -n in the cron job's shell")


class RoomLock:
    """The flock of one room; release() (or process exit) drops it."""

    def __init__(self, room: str, directory: str, *, file_name: str = "", brief: bool = False,
                 high: bool = False):
        """`file_name`: another lock than the room's (a VM's, vdictl.vm_lock);
        `brief`: the holder says it holds the lock only for a moment; `high`:
        keep the descriptor above select(2)'s reach (vdictl.fds.move_high)."""
        self.room = room
        self.path = os.path.join(directory, file_name or lock_file_name(room))
        self.brief = brief
        self.high = high
        self._fd: Optional[int] = None

    def try_acquire(self) -> bool:
        if self._fd is None:
            flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC
            try:
                self._fd = os.open(self.path, flags, 0o644)
            except OSError as exc:
                hint = too_many_files_hint() if exc.errno in (errno.EMFILE, errno.ENFILE) else ""
                raise VdictlError(f"cannot open lock file {self.path} of room "
                                  f"{self.room!r}: {exc.strerror}{hint}") from None
            if self.high:
                self._fd = fds.move_high(self._fd)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}{' ' + BRIEF if self.brief else ''}\n".encode(), 0)
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor drops the flock


class RoomLocks:
    """Locks on several rooms, taken in sorted order; a context manager.

    `picking`: the run holds the rooms only while it picks its desks (brief
    in the lock file) and then works under VM locks (vdictl.vm_lock): a room
    that another run holds for its whole run is left out (`busy`, with the
    holder's pid), not waited for. Every run waits at least BRIEF_WAIT for a
    room held briefly, so a whole-room run never fails because a picking run
    was looking at the room."""

    def __init__(self, rooms: Iterable[str], *, timeout: float = 0.0,
                 directory: Optional[str] = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 on_wait: Callable[[str, Optional[int], float], None] = lambda *_: None,
                 picking: bool = False):
        """`on_wait(room, holder_pid, seconds)` is told when a room is busy and
        the run is about to wait for it up to `seconds`."""
        self.directory = directory or default_lock_dir()
        self.timeout = max(0.0, timeout)
        self.rooms = sorted(set(rooms))
        self.picking = picking
        #: picking: the rooms left out because another run holds them, and its pid
        self.busy: Dict[str, Optional[int]] = {}
        self._clock = clock
        self._sleep = sleep
        self._on_wait = on_wait
        self._held: List[RoomLock] = []

    def acquire(self) -> "RoomLocks":
        _prepare_dir(self.directory)
        high = self.fit_open_files()
        deadline = self._clock() + (0.0 if self.picking else self.timeout)
        try:
            for room in self.rooms:
                lock = RoomLock(room, self.directory, brief=self.picking, high=high)
                self._held.append(lock)
                if not self._take(lock, deadline):
                    self._held.remove(lock)
                    lock.release()
                    self.busy[room] = read_holder(lock.path)
        except BaseException:
            self.release()
            raise
        return self

    def _take(self, lock: RoomLock, deadline: float) -> bool:
        """Take `lock`, waiting up to the deadline (at least BRIEF_WAIT while its
        holder holds it briefly). False: a picking run leaves the room out."""
        from vdictl.wait import wait_for  # tenacity loads only when a command runs

        if lock.try_acquire():
            return True
        if held_briefly(lock.path):
            deadline = max(deadline, self._clock() + BRIEF_WAIT)
        elif self.picking:
            return False
        left = max(0.0, deadline - self._clock())
        if left > 0:
            self._on_wait(lock.room, read_holder(lock.path), left)
        try:
            wait_for(lock.try_acquire, bool, what=f"the lock of room {lock.room!r}",
                     timeout=left, interval=POLL_INTERVAL, clock=self._clock,
                     sleep=self._sleep)
        except OperationTimeout:
            if self.picking:
                return False
            raise RoomBusy(lock.room, read_holder(lock.path), lock.path,
                           self.timeout) from None
        return True

    def fit_open_files(self) -> bool:
        """Raise the soft limit of open files to the hard one; refuse (one line,
        before any room is locked) when the rooms' lock files and the run's
        other descriptors cannot fit under it. Whether the lock files go above
        select(2)'s reach (vdictl.fds)."""
        if not self.rooms:
            return False
        soft = fds.raise_soft_limit()
        needed = len(self.rooms) + fds.RESERVE
        if needed > soft:
            raise VdictlError(f"{len(self.rooms)} rooms need about {needed} open files (one "
                              f"lock file per room), and the limit is {soft}"
                              f"{too_many_files_hint()}")
        return fds.room_for(len(self.rooms))

    def release(self) -> None:
        held, self._held = self._held, []
        for lock in reversed(held):
            lock.release()

    def __enter__(self) -> "RoomLocks":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
