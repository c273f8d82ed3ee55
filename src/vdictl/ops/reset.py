"""virtroom-reset: stop, restore the snapshot the regex picks, start per reset_startvm."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

from vdictl.drivers import Driver
from vdictl.errors import Unreachable, UsageError, VdictlError
from vdictl.model import CREATING, Snapshot, Vm, VmState
from vdictl.result import Report
from vdictl.config.rooms import Room, VmSpec

from . import in_use, storage
from .account_guard import AccountGuard
from .runner import (Place, Skip, VmFunc, is_running, queued, require_existing, require_owned,
                     run_vms, skip_maintenance, step, throttled_step)
from .session import Session


def unfinished(spec: VmSpec, vm: Vm, snapshots: Sequence[Snapshot]) -> None:
    """A VM vdictl began to create and did not finish (a killed run, a failed
    config change: Vm.phase CREATING), so it has no snapshot: one line saying
    so and what finishes it."""
    if vm.owner is not None and vm.phase == CREATING and \
            not spec.matching_snapshots(snapshots):
        raise VdictlError(f"VM {spec.name}: its rollout stopped during its creation and it "
                          f"has no snapshot to reset to; finish it with: vdictl "
                          f"virtroom-rollout {spec.room} --vm {spec.name}")


def should_start(spec: VmSpec, was_running: bool) -> bool:
    if spec.reset_startvm == "Always":
        return True
    if spec.reset_startvm == "Auto":
        return was_running
    return False


def nothing_to_reset(room: Room, include_maintenance: bool, *, cut: bool = False) -> Optional[str]:
    """Why a reset of `room` would reset no VM at all, or None. `cut`: the room
    holds only the VMs given (--vm), not all of its own."""
    why = {"stateless": 0, "no snapshot": 0, "maintenance": 0}
    for spec in room.vms:
        if spec.stateless:
            why["stateless"] += 1
        elif not spec.resettable:
            why["no snapshot"] += 1
        elif spec.maintenance and not include_maintenance:
            why["maintenance"] += 1
        else:
            return None
    if not room.vms:
        return "it has no VMs"
    hint = " (--include-maintenance resets them)" if why["maintenance"] else ""
    if not cut:
        if why["stateless"] == len(room.vms):
            return "it is stateless (its VMs discard their changes at every power-off)"
        if why["no snapshot"] == len(room.vms):
            return (f"no snapshot is configured (set snapshot_description and "
                    f"reset_to_snapshot_regex in [room {room.name}])")
        if why["maintenance"] == len(room.vms):
            return f"every VM is under maintenance = True{hint}"
    counts = ", ".join(f"{n} {text}" for n, text in (
        (why["stateless"], "stateless"),
        (why["no snapshot"], "without snapshot_description and reset_to_snapshot_regex"),
        (why["maintenance"], "under maintenance = True")) if n)
    return f"{'of the VMs given, ' if cut else ''}{counts}{hint}"


def restore(session: Session, steps: List[str], place: Place, driver: Driver, spec: VmSpec,
            snapshot: Snapshot) -> Optional[List[str]]:
    """Revert the VM to `snapshot` in a slot of the snapshot throttle. A VM this
    reset powered off and could not restore (its endpoint lost, say) says so."""
    timeout = session.config.throttle.operation_timeout
    # the operator must know this desk is dark (a rerun starts it, Auto too)
    with left_dark(steps, "powered off, not restored",
                   "powered off, restore not confirmed, the VM may be off"):
        return throttled_step(
            session, steps, f"restore snapshot {snapshot.description!r}",
            session.snapshots_for(spec),
            place=place, func=lambda slot: driver.revert_snapshot(
                name=spec.name, snapshot=snapshot, timeout=timeout, slot=slot))


def start_again(session: Session, steps: List[str], driver: Driver, spec: VmSpec,
                owed: bool) -> None:
    """Start the restored VM; one this reset powered off and could not start says so."""
    text = "start (it ran before an unfinished reset)" if owed else "start"
    timeout = session.config.throttle.operation_timeout
    with left_dark(steps, "powered off and restored, not started again",
                   "powered off and restored, start not confirmed, the VM may be off"):
        with session.power_for(spec).slot():
            step(session, steps, text, lambda: driver.start_vm(name=spec.name, timeout=timeout))


@contextmanager
def left_dark(steps: List[str], refused: str, lost: str) -> Iterator[None]:
    """A step that failed after this reset powered the VM off says the desk is
    left so: `refused` when the endpoint refused the step, `lost` when the
    endpoint was lost while the step was on its way (it may still happen once
    the host answers again). Before a power-off the error is raised as it is."""
    try:
        yield
    except VdictlError as exc:
        if "power off" not in steps:
            raise
        raise VdictlError(f"{lost if isinstance(exc, Unreachable) else refused}: "
                          f"{exc}") from exc


@contextmanager
def unconfirmed_power_off() -> Iterator[None]:
    """A power-off whose endpoint was lost while it ran may have happened: the
    operator must know this desk may be dark (a rerun restores and starts it)."""
    try:
        yield
    except Unreachable as exc:
        raise VdictlError(f"power off not confirmed, the VM may be off and not restored: "
                          f"{exc}") from exc


def reset(session: Session, rooms: Sequence[Room], *, all_rooms: bool = False,
          skip_in_use: bool = False) -> Report:
    """Reset the rooms' VMs. A room named (not `all_rooms`) in which no VM would
    be reset is a mistake: UsageError before anything is touched. Under
    `all_rooms` such a room is skipped with a note. VMs somebody is at are
    skipped under `skip_in_use` or their skip_in_use = True (ops.in_use)."""
    idle = rooms_without_reset(session, rooms, all_rooms=all_rooms)
    pairs = session.inventory(rooms)
    low_storage = storage.reset_warnings(session, pairs)
    report = run_vms(session, "reset", pairs,
                     resetter(session, in_use.guard(session, pairs, skip_in_use),
                              AccountGuard(session, [spec for spec, _ in pairs]).check))
    report.notes.extend(f"room {room.name!r} skipped, no VM to reset: {why}"
                        for room, why in idle)
    report.notes.extend(f"warning: {line}" for line in low_storage)
    return report


def rooms_without_reset(session: Session, rooms: Sequence[Room], *,
                        all_rooms: bool) -> List[Tuple[Room, str]]:
    """The rooms in which no VM would be reset, and why: a UsageError unless `all_rooms`."""
    whole = session.config.rooms
    idle = [(room, why) for room in rooms if (why := nothing_to_reset(
        room, session.include_maintenance,
        cut=room.name in whole and len(room.vms) < len(whole[room.name].vms)))]
    if idle and not all_rooms:
        raise UsageError("; ".join(f"room {room.name!r} has no VM to reset: {why}"
                                   for room, why in idle))
    return idle


def resetter(session: Session, check_use: Callable[[VmSpec], None],
             check_account: Callable[[VmSpec], None] = lambda spec: None) -> VmFunc:
    """The reset of one VM, for run_vms; `check_use` raises InUse to leave it
    alone, `check_account` raises when the account may not reset it
    (ops/account_guard.py)."""
    timeout = session.config.throttle.operation_timeout
    began = time.time()

    def one(spec: VmSpec, vm: Optional[Vm], steps: List[str]) -> None:
        skip_maintenance(session, spec)
        if spec.stateless:
            raise Skip("stateless VM: discards its changes at every power-off, no snapshot")
        if not spec.resettable:
            raise Skip("no snapshot configured (snapshot_description / reset_to_snapshot_regex)")
        vm = require_existing(spec, vm)
        require_owned(session, spec, vm, steps)
        check_use(spec)
        reset_by_another_run(session, spec, began)
        check_account(spec)
        driver = session.driver_for(spec)
        snapshots = driver.list_snapshots(name=spec.name)
        unfinished(spec, vm, snapshots)
        snapshot = spec.reset_snapshot(snapshots)
        was_running = is_running(vm)
        # stopped, but by an earlier reset that died before it started it again
        owed = not was_running and session.start_owed(spec)

        def power_off() -> None:
            if was_running and spec.reset_startvm == "Auto":
                session.owe_start(spec)  # first: a rerun after a crash must know
            driver.power_off_vm(name=spec.name, timeout=timeout)

        # Powered off only once among the next snapshot batch: an interrupt
        # leaves every VM not yet queued as it was.
        with queued(session, session.snapshot_queue_for(spec)) as place:
            if vm.state != VmState.STOPPED:
                with session.power_for(spec).slot(), unconfirmed_power_off():
                    step(session, steps, "power off", power_off)
            done_first = restore(session, steps, place, driver, spec, snapshot)
        steps[-1:-1] = done_first or []  # e.g. an undone snapshot preview, in order
        started = should_start(spec, was_running or owed)
        if started:
            start_again(session, steps, driver, spec, owed)
        session.settle_start(spec)
        record_reset(session, spec, running=started)

    return one


def reset_by_another_run(session: Session, spec: VmSpec, began: float) -> None:
    """A desk another run (a --vacated run, vdictl.vm_lock) reset after this run
    began is clean: left alone, with when."""
    last = session.occupancy.desk(session.endpoint_of(spec), spec.room, spec.name).last_reset
    if last is not None and last > began:
        raise Skip(f"reset by another run at {time.strftime('%H:%M:%S', time.localtime(last))}, "
                   f"after this run began: clean")


def record_reset(session: Session, spec: VmSpec, *, running: bool) -> None:
    """The occupancy record learns the desk's last reset (--vacated counts use after it)."""
    if not session.dry_run:
        session.occupancy.reset_done(session.endpoint_of(spec), (spec.room, spec.name),
                                     running=running)
