"""Between lessons: `virtroom-reset --vacated` and `virtroom-shutdown --idle-for`.

Both are cron jobs of the school day. They ask the backends who is at the
desks (ops.in_use, which writes the occupancy record, records.occupancy),
pick the desks to act on from the record, and act on those alone, each
asked about once more right before it is touched (still_free):

- --vacated resets the desks somebody used since their last reset that
  have been free for at least the grace (as the probes saw them: since the
  first probe that found the desk free);
- --idle-for shuts down the running desks nobody has been at for that long
  (since the later of: the first probe that found them free, the first that
  saw them running, their last reset).

A desk in use, one nobody used since its reset, one within its grace and
one whose use cannot be told are left alone and counted (Report.left_alone),
not listed: a run every five minutes that finds nothing to do is silent.

The run holds its rooms' locks only while it picks, then the picked desks'
VM locks alone (vdictl.vm_lock): a room that another run holds for its whole
run (the nightly reset) is left to it with a note, and a desk another run
works on is left to that run.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

from vdictl.config.rooms import Room, VmSpec
from vdictl.model import Sessions, Vm
from vdictl.records.occupancy import Desk
from vdictl.result import Report

from . import in_use
from .account_guard import AccountGuard
from .power import shutter
from .reset import resetter, rooms_without_reset
from .runner import InUse, Pair, Skip, VmFunc, is_ours, is_running, run_vms
from .session import Session

IN_USE = "in use"
UNKNOWN = "use cannot be told"
UNUSED = "not used since their last reset"
GRACE = "vacated within the grace"
NOT_RESETTABLE = "not reset by design (stateless, no snapshot, maintenance)"
ABSENT = "do not exist"
BUSY = "worked on by another run"
STOPPED = "not running"
RECENT = "used within the idle time"

#: why(spec, vm, sessions, desk, now) -> None to act on the desk, else why it is left alone
Verdict = Callable[[VmSpec, Optional[Vm], Sessions, Desk, float], Optional[str]]


def duration_text(seconds: float) -> str:
    """45m, 1h30m, 1s: a duration as --grace and --idle-for take it."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s"))
                   if n) or "0s"


def reset_vacated(session: Session, rooms: Sequence[Room], *, grace: float,
                  all_rooms: bool = False, skip_in_use: bool = False) -> Report:
    """Reset the desks used since their last reset and free for `grace` seconds.
    A room named in which no VM can be reset is a UsageError, as for a reset;
    `skip_in_use` changes nothing (no desk in use is reset)."""
    idle = rooms_without_reset(session, rooms, all_rooms=all_rooms)

    def why(spec: VmSpec, vm: Optional[Vm], sessions: Sessions, desk: Desk,
            now: float) -> Optional[str]:
        if spec.stateless or not spec.resettable or (
                spec.maintenance and not session.include_maintenance):
            return NOT_RESETTABLE
        if vm is None:
            return ABSENT
        if sessions is None:
            return UNKNOWN
        if sessions:
            return IN_USE
        if not desk.used_since_reset:
            return UNUSED
        if desk.free_since is None or now - desk.free_since < grace:
            return GRACE
        return None

    report = picked_run(session, rooms, "reset", why,
                        lambda check: resetter(session, check, AccountGuard(
                            session, [spec for room in rooms for spec in room.vms]).check),
                        f"reset --vacated (grace {duration_text(grace)})")
    report.notes.extend(f"room {room.name!r} skipped, no VM to reset: {why}"
                        for room, why in idle)
    return report


def shutdown_idle(session: Session, rooms: Sequence[Room], *, idle_for: float,
                  skip_in_use: bool = False) -> Report:
    """Shut down the running desks nobody has been at for `idle_for` seconds;
    `skip_in_use` changes nothing (no desk in use is shut down)."""

    def why(spec: VmSpec, vm: Optional[Vm], sessions: Sessions, desk: Desk,
            now: float) -> Optional[str]:
        if vm is None:
            return ABSENT
        if not is_running(vm):
            return STOPPED
        if sessions is None:
            return UNKNOWN
        if sessions:
            return IN_USE
        idle_since = desk.idle_since()
        if idle_since is None or now - idle_since < idle_for:
            return RECENT
        return None

    return picked_run(session, rooms, "shutdown", why, lambda check: shutter(session, check),
                      f"shutdown --idle-for {duration_text(idle_for)}")


def picked_run(session: Session, rooms: Sequence[Room], action: str, why: Verdict,
               make: Callable[[Callable[[VmSpec], None]], VmFunc], what: str) -> Report:
    """Pick the desks under the room locks, take their VM locks, let the rooms go, act
    with make(check): `check` asks again, just before the desk is touched, whether
    it is still free (ops.in_use)."""
    notes: List[str] = []
    busy_rooms = session.locks.rooms.busy if session.locks.rooms is not None else {}
    for room_name, pid in busy_rooms.items():
        holder = f"pid {pid}" if pid else "another run"
        notes.append(f"room {room_name!r} left alone: {holder} works on the whole room")
    held = [room for room in rooms if room.name not in busy_rooms]
    pairs = session.inventory(held) if held else []
    picked, left_alone = pick(session, pairs, why)
    busy = session.locks.try_hold([(spec.room, spec.name) for spec, _ in picked])
    session.locks.release_rooms()
    if busy:
        picked = [(spec, vm) for spec, vm in picked if (spec.room, spec.name) not in busy]
        left_alone[BUSY] = left_alone.get(BUSY, 0) + len(busy)
    try:
        report = run_vms(session, action, picked, make(still_free(session, picked, what)))
    finally:
        session.locks.release()
    report.notes = notes + report.notes
    report.left_alone = left_alone
    if left_alone:
        report.notes.append(f"{what}: left alone: " + ", ".join(
            f"{count} {reason}" for reason, count in sorted(left_alone.items())))
    return report


def still_free(session: Session, picked: Sequence[Pair], what: str,
               ) -> Callable[[VmSpec], None]:
    """check(spec): asks the backend once more about the picked desk, right before
    it is touched: a user who sat down since the pick keeps their desk (InUse),
    a desk whose use cannot be told any more is left alone (Skip)."""
    vms = {(spec.room, spec.name): vm for spec, vm in picked}

    def check(spec: VmSpec) -> None:
        key = (spec.room, spec.name)
        sessions = in_use.ask(session, [(spec, vms[key])]).get(key)
        if sessions:
            raise InUse(f"in use again: {in_use.describe(sessions)} (left alone: {what})",
                        [in_use.session_dict(s) for s in sessions])
        if sessions is None:
            raise Skip(f"its use cannot be told any more (left alone: {what})")

    return check


def pick(session: Session, pairs: Sequence[Pair], why: Verdict,
         ) -> Tuple[List[Pair], Dict[str, int]]:
    """The desks to act on, and the others counted by why they are left alone."""
    answers = in_use.ask(session, pairs)   # writes the occupancy record first
    now = session.occupancy.clock()
    desks: Dict[str, Dict[Tuple[str, str], Desk]] = {}
    picked: List[Pair] = []
    left_alone: Dict[str, int] = {}
    for spec, vm in pairs:
        endpoint = session.endpoint_of(spec)
        if endpoint not in desks:
            desks[endpoint] = session.occupancy.desks(endpoint)
        sessions = answers.get((spec.room, spec.name))
        if vm is not None and not is_ours(session, spec, vm):
            sessions = None  # another team's VM: never ours to reset
        if session.unavailable(spec) is not None:
            reason: Optional[str] = UNKNOWN   # its endpoint is down: the nightly run says so
        else:
            reason = why(spec, vm, sessions, desks[endpoint].get((spec.room, spec.name),
                                                                 Desk()), now)
        if reason is None:
            picked.append((spec, vm))
        else:
            left_alone[reason] = left_alone.get(reason, 0) + 1
    return picked, left_alone
