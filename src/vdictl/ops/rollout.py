"""virtroom-rollout: create missing VMs from their template, personalise, snapshot once.

The phases of one VM: create -> personalise -> wait for the guest's power-off
-> post-process (vdictl.ops.personalise) -> snapshot -> optional start. Each
phase takes its throttle slot; a rerun continues where a VM stopped.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from vdictl.config.rooms import Room, VmSpec
from vdictl.errors import VdictlError
from vdictl.model import CREATING, Snapshot, Vm
from vdictl.result import Report

from . import storage
from .personalise import RenderedPayloads, personalise, render_payloads
from .runner import Pair, is_running, require_owned, run_vms, step, throttled_step
from .session import Session


def has_rollout_snapshot(spec: VmSpec, snapshots: Sequence[Snapshot]) -> bool:
    """Whether an earlier rollout already took this VM's snapshot."""
    if spec.reset_to_snapshot_regex:
        return bool(spec.matching_snapshots(snapshots))
    return any(s.description == spec.snapshot_description for s in snapshots)


def check_rooms(session: Session, pairs: Sequence[Pair],
                payloads: RenderedPayloads) -> Dict[str, str]:
    """Rooms whose missing VMs cannot be created, with the reason
    (`payloads`: render_payloads of the same pairs).

    One check per room and endpoint, before any VM is created, so a wrong
    template, cluster or network name fails the room as a whole instead of
    leaving it half rolled out.
    """
    groups: Dict[tuple, List[VmSpec]] = {}
    for spec, vm in pairs:
        if vm is None:
            groups.setdefault((spec.room, session.endpoint_of(spec)), []).append(spec)
    failed: Dict[str, str] = {}
    for spec, _ in pairs:
        problem = payloads.error(spec.name)
        if problem is not None and spec.room not in failed:
            failed[spec.room] = problem
    for (room, _), specs in groups.items():
        if room in failed:
            continue
        try:
            session.driver_for(specs[0]).check_create(specs=specs)
        except VdictlError as exc:
            failed[room] = str(exc)
    return failed


def rollout(session: Session, rooms: Sequence[Room], *,
            ignore_storage_limit: bool = False) -> Report:
    pairs = session.inventory(rooms)
    payloads = render_payloads(pairs)
    unfit = check_rooms(session, pairs, payloads)
    space, notes = storage.guard(session, pairs, "rollout", unfit, ignore=ignore_storage_limit)

    def one(spec: VmSpec, vm: Optional[Vm], steps: List[str]) -> None:
        if spec.room in unfit:
            raise VdictlError(f"room {spec.room} not rolled out, nothing created: "
                              f"{unfit[spec.room]}")
        rollout_vm(session, spec, vm, steps, payloads, space)

    report = run_vms(session, "rollout", pairs, one)
    report.notes.extend(notes)
    return report


def rollout_vm(session: Session, spec: VmSpec, vm: Optional[Vm], steps: List[str],
               payloads: RenderedPayloads,
               space: Optional[storage.StorageCheck] = None) -> bool:
    """Every rollout phase one VM still lacks (`vm` None: it does not exist).
    `space`: the run's storage guard, asked before the snapshot of a VM that
    existed (the need of a new one was counted before it was created).

    Returns whether the VM runs at the end."""
    timeout = session.config.throttle.operation_timeout
    driver = session.driver_for(spec)
    if vm is None:
        with session.power_for(spec).slot():
            step(session, steps, f"create from {spec.template_name}",
                 lambda: driver.create_vm(spec=spec, owner=session.owner_for(spec),
                                          timeout=timeout))
        running = False
    else:
        steps.append("already exists")
        require_owned(session, spec, vm, steps)
        running = is_running(vm)
        if vm.phase == CREATING:  # an earlier run cloned it and stopped there
            with session.power_for(spec).slot():
                step(session, steps, "finish its creation",
                     lambda: driver.finish_create(spec=spec, owner=session.owner_for(spec),
                                                  timeout=timeout))

    snapshots = driver.list_snapshots(name=spec.name) \
        if vm is not None and spec.takes_snapshot else []
    done = spec.takes_snapshot and has_rollout_snapshot(spec, snapshots)
    if not done:
        running = personalise(session, spec, vm, payloads.payload(spec.name), steps,
                              running=running)

    if spec.takes_snapshot:
        if done:
            steps.append("snapshot already taken")
        elif running:
            raise VdictlError(
                f"VM {spec.name} runs but has no rollout snapshot; shut it down and rerun "
                f"the rollout, but know that its current disk then becomes what every reset "
                f"returns to (a fresh copy of the template instead: virtroom-rebuild --force "
                f"--vm {spec.name})")
        else:
            low = space.below_line(spec) if space is not None and vm is not None else None
            if low is not None:
                raise VdictlError(f"snapshot not taken: {low}; free space there, or rerun "
                                  f"with --ignore-storage-limit")
            throttled_step(session, steps, "take snapshot", session.snapshots_for(spec),
                           lambda slot: driver.create_snapshot(
                               name=spec.name, description=spec.snapshot_description,
                               timeout=timeout, slot=slot))

    if spec.rollout_startvm and not running:
        with session.power_for(spec).slot():
            step(session, steps, "start", lambda: driver.start_vm(name=spec.name,
                                                                 timeout=timeout))
        running = True
    return running
