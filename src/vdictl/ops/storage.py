"""Storage headroom: what a run would take from each storage, against
min_free_storage (and, on oVirt, the engine's own critical space blocker).

`shortfalls_of(session, pairs, purpose)` answers for the preflight (from its
own inventory; `shortfalls` asks for one), StorageCheck for the guard that
rollout, rebuild and template-create run before they create anything. The
need is an estimate (Driver.space_needed, asked once per endpoint, template
and storage setting): a new VM takes what its template's
disks hold (a linked clone, the common case) or their full size (a full copy
to another storage), plus its rollout snapshot; a rebuild counts every VM as
new (its deletes and clones run side by side), a reset counts nothing (a
restore frees space). A backend that cannot tell is left out, never refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from vdictl.config.free_space import MinFree
from vdictl.config.rooms import Room, VmSpec
from vdictl.config.values import size_text
from vdictl.errors import DriverError, VdictlError
from vdictl.model import SpaceNeed, StorageSpace, Vm

from .session import EndpointKey, Session

audit = logging.getLogger("vdictl.audit")

PURPOSES = ("reset", "rollout", "rebuild")

REMEDY = ("free space on it (delete VMs, disks or snapshots nobody needs) or lower "
          "min_free_storage; --ignore-storage-limit runs anyway")
#: the same for the evening's preflight of a reset, which has no --ignore-storage-limit
RESET_REMEDY = ("free space on it (delete VMs, disks or snapshots nobody needs) or lower "
                "min_free_storage; tonight's reset goes on (a restore frees space), but a "
                "rollout or rebuild onto it is refused")


@dataclass(frozen=True)
class Shortfall:
    """A storage that is, or after the run's work would be, below its floor."""

    endpoint: str
    #: the rooms whose work needs it, comma-separated; None when none does
    #: (a reset: the storage is below the line already)
    room: Optional[str]
    storage: str
    free: int
    total: int
    #: the bytes the run's work would take from it (0 for a reset)
    need: int
    #: the free bytes it keeps: min_free_storage, or the engine's blocker if higher
    floor: int
    message: str
    remedy: str = REMEDY

    def to_dict(self) -> Dict[str, object]:
        return {k: getattr(self, k) for k in ("endpoint", "room", "storage", "free", "total",
                                              "need", "floor", "message", "remedy")}


@dataclass
class _Tally:
    space: StorageSpace
    endpoint: str
    need: int = 0
    rooms: List[str] = field(default_factory=list)
    #: the VMs (room, name) whose disks are on it
    vms: List[Tuple[str, str]] = field(default_factory=list)


def percent(free: int, total: int) -> str:
    return f"{100.0 * free / total:.1f}%" if total else "?"


def describe(tally: _Tally, purpose: str, min_free: MinFree, several: bool) -> str:
    """The one line of a storage: its numbers, the need and the floor."""
    space = tally.space
    where = f" at {tally.endpoint}" if several else ""
    head = (f"storage {space.name!r}{where}: {size_text(space.free)} free of "
            f"{size_text(space.total)} ({percent(space.free, space.total)}")
    blocker = ""
    if space.blocker and space.blocker > min_free.floor(space.total):
        blocker = f"; the engine's critical_space_action_blocker = {size_text(space.blocker)}"
    if tally.need:
        return (f"{head}); the {purpose} of {', '.join(tally.rooms)} needs about "
                f"{size_text(tally.need)}; min_free_storage = {min_free}{blocker}")
    return f"{head}), below the line; min_free_storage = {min_free}{blocker}"


def floor_of(space: StorageSpace, min_free: MinFree) -> int:
    return max(min_free.floor(space.total), space.blocker or 0)


class StorageCheck:
    """The storages of a run's rooms, their free space and the run's need."""

    def __init__(self, session: Session, purpose: str):
        if purpose not in PURPOSES:
            raise ValueError(f"purpose {purpose!r} is not one of {PURPOSES}")
        self.session = session
        self.purpose = purpose
        self.min_free = session.config.throttle.min_free_storage
        self.tallies: Dict[Tuple[EndpointKey, str], _Tally] = {}
        self._needs: Dict[tuple, List[SpaceNeed]] = {}

    def needs_of(self, spec: VmSpec) -> List[SpaceNeed]:
        """space_needed once per endpoint, template and storage setting."""
        key = (self.session.endpoint_key(spec), spec.template_name, spec.storage)
        if key not in self._needs:
            self._needs[key] = self.session.driver_for(spec).space_needed(spec=spec)
        return self._needs[key]

    def add(self, pairs: Sequence[Tuple[VmSpec, Optional[Vm]]]) -> None:
        """Ask each endpoint about its storages, and count what the VMs of
        `pairs` need (those that would be created: vm None)."""
        groups: Dict[EndpointKey, List[Tuple[VmSpec, Optional[Vm]]]] = {}
        for spec, vm in pairs:
            if self.session.unavailable(spec) is None:
                groups.setdefault(self.session.endpoint_key(spec), []).append((spec, vm))
        for key, group in groups.items():
            try:
                self._add_endpoint(key, group)
            except DriverError as exc:  # Unsupported, unreachable: nothing to say here
                audit.info("storage space at %s not checked: %s", key[1], exc)

    def _add_endpoint(self, key: EndpointKey, group: List[Tuple[VmSpec, Optional[Vm]]]) -> None:
        driver = self.session.driver_for(group[0][0])
        for space in driver.storage_space(specs=[spec for spec, _ in group]):
            self.tallies.setdefault((key, space.name), _Tally(space, key[1]))
        if self.purpose == "reset":  # needs nothing: no estimate asked for
            return
        for spec, vm in group:
            for need in self.needs_of(spec):
                tally = self.tallies.get((key, need.storage))
                if tally is None:
                    continue
                tally.vms.append((spec.room, spec.name))
                if vm is None and self.purpose in ("rollout", "rebuild"):
                    tally.need += need.clone + (need.snapshot if spec.takes_snapshot else 0)
                    if spec.room not in tally.rooms:
                        tally.rooms.append(spec.room)

    def shortfalls(self) -> List[Shortfall]:
        several = len({key[0] for key in self.tallies}) > 1
        found = []
        for tally in self.tallies.values():
            space, floor = tally.space, floor_of(tally.space, self.min_free)
            if space.free - tally.need >= floor:
                continue
            found.append(Shortfall(
                endpoint=tally.endpoint, room=", ".join(tally.rooms) or None,
                storage=space.name, free=space.free, total=space.total, need=tally.need,
                floor=floor, message=describe(tally, self.purpose, self.min_free, several)))
        return found

    def below_line(self, spec: VmSpec) -> Optional[str]:
        """The line of a storage of `spec`'s VM that is below its floor now
        (for the snapshot step of a VM that exists), else None."""
        for tally in self.tallies.values():
            if (spec.room, spec.name) in tally.vms and \
                    tally.space.free < floor_of(tally.space, self.min_free):
                return describe(_Tally(tally.space, tally.endpoint), self.purpose,
                                self.min_free, False)
        return None


def shortfalls(session: Session, rooms: Sequence[Room], purpose: str) -> List[Shortfall]:
    """The storages that the `purpose` ("reset", "rollout" or "rebuild") of
    `rooms` would take below min_free_storage (or the engine's blocker), or
    that are below it already; read-only, one inventory query per room and
    endpoint plus the storages' own requests."""
    return shortfalls_of(session, session.inventory(rooms), purpose)


def shortfalls_of(session: Session, pairs: Sequence[Tuple[VmSpec, Optional[Vm]]],
                  purpose: str) -> List[Shortfall]:
    """shortfalls() of the VMs of `pairs` (an inventory already asked for)."""
    check = StorageCheck(session, purpose)
    if purpose == "rebuild":  # every VM made anew
        pairs = [(spec, None) for spec, _ in pairs]
    check.add(pairs)
    return check.shortfalls()


def refused_rooms(found: Sequence[Shortfall]) -> Dict[str, str]:
    """Each room the shortfalls refuse, with its storages' lines."""
    rooms: Dict[str, List[str]] = {}
    for shortfall in found:
        for room in (shortfall.room or "").split(", "):
            if room:
                rooms.setdefault(room, []).append(shortfall.message)
    return {room: " | ".join(lines) for room, lines in rooms.items()}


def guard(session: Session, pairs: Sequence[Tuple[VmSpec, Optional[Vm]]], purpose: str,
          unfit: Dict[str, str], *, ignore: bool) -> Tuple[Optional[StorageCheck], List[str]]:
    """The storage guard of a rollout or rebuild, before any VM is created:
    each room whose work would take a storage below its floor goes into
    `unfit` with its storages' lines (nothing of it is created). Returns the
    check (for the snapshot step; None under `ignore`) and the report's notes,
    one line per storage."""
    check = StorageCheck(session, purpose)
    check.add(pairs)
    found = check.shortfalls()
    for shortfall in found:  # overridden: said on stderr too, since the summary may not be
        (audit.warning if ignore else audit.info)(
            "%s%s", "--ignore-storage-limit: " if ignore else "refused: ", shortfall.message)
    if ignore:
        return None, [f"--ignore-storage-limit: {s.message}" for s in found]
    for room, lines in refused_rooms(found).items():
        unfit.setdefault(room, lines)
    return check, [f"refused: {s.message}" for s in found if s.room]


def reset_warnings(session: Session, pairs: Sequence[Tuple[VmSpec, Optional[Vm]]]) -> List[str]:
    """A reset's one warning per storage already below its floor (the reset
    goes on: a restore frees space, it does not take it)."""
    check = StorageCheck(session, "reset")
    check.add(pairs)
    lines = [f"{s.message}; the reset goes on (a restore frees space)"
             for s in check.shortfalls()]
    for line in lines:
        audit.warning("%s", line)
    return lines


class StorageLow(VdictlError):
    """template-create refused by the storage guard (exit 1)."""


def template_guard(session: Session, *, vm: str, name: str, ignore: bool) -> List[str]:
    """Before template-create copies `vm`'s disks: StorageLow with one line
    per storage the copy would take below its floor; under `ignore` the
    lines are returned (and logged) instead. A backend that cannot tell
    is not checked."""
    driver = session.driver_at()
    min_free = session.config.throttle.min_free_storage
    try:
        found = driver.template_space(vm=vm)
    except DriverError as exc:
        audit.info("storage space for template %s not checked: %s", name, exc)
        return []
    lines = []
    for space, need in found:
        if space.free - need < floor_of(space, min_free):
            tally = _Tally(space, driver.endpoint, need=need, rooms=[f"template {name}"])
            lines.append(describe(tally, "copy", min_free, False))
    if lines and not ignore:
        raise StorageLow("\n".join(f"refused: {line}" for line in lines))
    for line in lines:
        audit.warning("--ignore-storage-limit: %s", line)
    return lines
