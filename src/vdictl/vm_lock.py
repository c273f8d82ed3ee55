"""VM locks: two runs never work on one VM at once.

A run that works on whole rooms (the nightly `virtroom-reset --all`, a
start, a shutdown) holds its rooms' locks (vdictl.lock) for the whole run,
and besides each VM's lock while it works on that VM. A run that picks a
few desks (`virtroom-reset --vacated`, `virtroom-shutdown --idle-for`)
holds its rooms' locks only while it picks (brief, in the lock file), takes
the locks of the desks it picked without waiting (a desk another run
holds is left to it), lets the rooms go, and then works under the VM locks
alone, giving each up as soon as that desk is done.

So a whole-room run that meets a VM a picking run works on waits for that
VM alone (its other VMs go on), up to `wait` seconds; the desk is then
skipped with the holder's pid, never failed. No deadlock: a run takes room
locks before VM locks, each worker holds at most one VM lock while it waits
for one, and a run that holds VM locks without its room locks waits for no
lock at all.

The lock files are vm-<room>+<vm>.lock next to the room locks, never removed
(see vdictl.lock). Without a directory (a dry run, a session outside the
CLI) nothing is locked.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from vdictl.executor import Cancelled
from vdictl.lock import POLL_INTERVAL, RoomLock, RoomLocks, read_holder, safe_name

#: (room, VM name)
VmKey = Tuple[str, str]


def vm_lock_file_name(room: str, vm: str) -> str:
    """vm-<room>+<vm>.lock; "+" is %-encoded inside the names, so two pairs never share one."""
    return f"vm-{safe_name(room)}+{safe_name(vm)}.lock"


class VmBusy(Exception):
    """Another run still works on the VM after the wait; `pid` is its holder."""

    def __init__(self, pid: Optional[int], waited: float):
        holder = f"pid {pid}" if pid else "another run"
        super().__init__(f"{holder} works on this VM (waited {waited:g}s for it): "
                         f"left to that run")
        self.pid = pid


class VmLocks:
    """The VM locks of one run, and the room locks of a picking run."""

    def __init__(self, directory: Optional[str] = None, *, wait: float = 0.0,
                 rooms: Optional[RoomLocks] = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.directory = directory
        self.wait = wait
        self.rooms = rooms
        self._clock = clock
        self._sleep = sleep
        self._held: Dict[VmKey, RoomLock] = {}
        self._lock = threading.Lock()

    def _new(self, key: VmKey) -> RoomLock:
        assert self.directory is not None
        return RoomLock(key[0], self.directory, file_name=vm_lock_file_name(*key))

    def held(self, key: VmKey) -> bool:
        with self._lock:
            return key in self._held

    def try_hold(self, keys: List[VmKey]) -> Dict[VmKey, Optional[int]]:
        """Take the locks of `keys` without waiting; those another run holds, with its pid."""
        busy: Dict[VmKey, Optional[int]] = {}
        if self.directory is None:
            return busy
        for key in keys:
            lock = self._new(key)
            if lock.try_acquire():
                with self._lock:
                    self._held[key] = lock
            else:
                busy[key] = read_holder(lock.path)
                lock.release()
        return busy

    def release_rooms(self) -> None:
        """A picking run has taken its desks' locks: the rooms are free for other runs."""
        if self.rooms is not None:
            self.rooms.release()

    @contextmanager
    def working_on(self, key: VmKey, *,
                   interrupted: Callable[[], Optional[str]] = lambda: None) -> Iterator[float]:
        """Hold `key`'s lock while the block works on the VM (already held: kept
        until the block ends), waiting for it up to `wait`; yields the seconds
        waited. Raises VmBusy when another run still holds it then, Cancelled
        as soon as `interrupted()` says why the run stops."""
        if self.directory is None:
            yield 0.0
            return
        with self._lock:
            lock = self._held.pop(key, None)
        waited = 0.0
        if lock is None:
            lock = self._new(key)
            waited = self._wait_for(lock, interrupted)
        try:
            yield waited
        finally:
            lock.release()

    def _wait_for(self, lock: RoomLock, interrupted: Callable[[], Optional[str]]) -> float:
        """0.0: taken at once; else the seconds waited for it."""
        if lock.try_acquire():
            return 0.0
        started = self._clock()
        while not lock.try_acquire():
            why = interrupted()
            if why:
                lock.release()
                raise Cancelled(why)
            waited = self._clock() - started
            if waited >= self.wait:
                pid = read_holder(lock.path)
                lock.release()
                raise VmBusy(pid, round(waited, 1))
            self._sleep(min(POLL_INTERVAL, self.wait - waited))
        return self._clock() - started

    def release(self) -> None:
        with self._lock:
            held, self._held = list(self._held.values()), {}
        for lock in held:
            lock.release()
