"""The VMs a reset powered off and has still to start again.

With `reset_startvm = Auto` a reset starts only the VMs that ran before it.
A reset that dies between a VM's power-off and its start (kill -9, a reboot
of the admin host, a lost engine) leaves that VM stopped, and a rerun would
see it stopped and leave it so. The journal remembers such VMs: the reset
writes a VM's name before it powers it off and removes it once the VM runs
again, and the next reset of the room counts a VM it finds there as running
before.

One file per room next to the room's lock (vdictl.lock), written only by a
run that holds that lock; a file is replaced whole, never edited in place,
so a killed run leaves the old list or the new one. A shutdown, start or
delete of the VM takes it out: what the operator did last wins. Without a
directory (a session outside the CLI) the journal lives in memory only.
"""

from __future__ import annotations

import os
import threading
from typing import Dict, Optional, Set

from vdictl.errors import VdictlError
from vdictl.lock import lock_file_name


class StartJournal:
    """Per room, the names of VMs to start again after an unfinished reset."""

    def __init__(self, directory: Optional[str] = None):
        self.directory = directory
        self._rooms: Dict[str, Set[str]] = {}
        self._lock = threading.Lock()   # the VMs of one room run in parallel threads

    def _path(self, room: str) -> str:
        assert self.directory is not None, "a journal without a directory is kept in memory"
        return os.path.join(self.directory, lock_file_name(room)[:-len(".lock")] + ".to-start")

    def _load(self, room: str) -> Set[str]:
        names = self._rooms.get(room)
        if names is None and self.directory is None:
            names = self._rooms[room] = set()
        if names is None:
            try:
                with open(self._path(room), encoding="utf-8") as fh:
                    names = {line.strip() for line in fh if line.strip()}
            except FileNotFoundError:
                names = set()
            except OSError as exc:
                raise VdictlError(f"cannot read {self._path(room)}: {exc.strerror}") from None
            self._rooms[room] = names
        return names

    def _save(self, room: str, names: Set[str]) -> None:
        if self.directory is None:
            return
        path = self._path(room)
        try:
            if not names:
                if os.path.exists(path):
                    os.unlink(path)
                return
            temporary = f"{path}.{os.getpid()}.tmp"
            with open(temporary, "w", encoding="utf-8") as fh:
                fh.write("".join(f"{name}\n" for name in sorted(names)))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temporary, path)
        except OSError as exc:
            raise VdictlError(f"cannot write {path}: {exc.strerror}") from None

    def pending(self, room: str, vm: str) -> bool:
        """Whether an unfinished reset left `vm` of `room` to be started."""
        with self._lock:
            return vm in self._load(room)

    def add(self, room: str, vm: str) -> None:
        with self._lock:
            names = self._load(room)
            if vm not in names:
                names.add(vm)
                self._save(room, names)

    def discard(self, room: str, vm: str) -> None:
        with self._lock:
            names = self._load(room)
            if vm in names:
                names.discard(vm)
                self._save(room, names)
