"""virtroom-rebuild: move rooms to the template the config names now.

A VM made from another template (or every VM, with force) is deleted and
rolled out again, in one run under the same throttles; VMs already on the
configured template are left alone. The pre-flight of rollout runs first,
for every VM, so a wrong template or a broken payload deletes nothing.
A VM that ran before it was deleted is started again once it is rolled out
anew; the start journal (vdictl.records.journal) remembers it, so a rerun after a
killed rebuild still starts it.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from vdictl.config.rooms import Room, VmSpec
from vdictl.errors import VdictlError
from vdictl.model import Vm
from vdictl.result import Report

from . import in_use, storage
from .delete import delete_vm
from .personalise import render_payloads
from .reset import record_reset
from .rollout import check_rooms, rollout_vm
from .runner import is_running, require_owned, run_vms, step
from .session import Session


def rebuild(session: Session, rooms: Sequence[Room], *, force: bool = False,
            skip_in_use: bool = False, ignore_storage_limit: bool = False) -> Report:
    """Rebuild the rooms; a VM somebody is at is skipped under `skip_in_use` or
    its skip_in_use = True (ops.in_use), before anything of it is deleted."""
    pairs = session.inventory(rooms)
    check_use = in_use.guard(session, pairs, skip_in_use)
    # checked as if every VM were created anew: nothing is deleted for a room
    # whose template, cluster, network or payload is wrong
    fresh = [(spec, None) for spec, _ in pairs]
    payloads = render_payloads(fresh)
    unfit = check_rooms(session, fresh, payloads)
    space, notes = storage.guard(session, fresh, "rebuild", unfit, ignore=ignore_storage_limit)
    timeout = session.config.throttle.operation_timeout

    def one(spec: VmSpec, vm: Optional[Vm], steps: List[str]) -> None:
        if spec.room in unfit:
            raise VdictlError(f"room {spec.room} not rebuilt, nothing deleted: "
                              f"{unfit[spec.room]}")
        driver = session.driver_for(spec)
        ran = session.start_owed(spec)  # deleted while running by a rebuild that died
        if vm is not None:
            require_owned(session, spec, vm, steps, destructive=True)
            if not force and driver.uses_template(spec=spec):
                steps.append(f"already on template {spec.template_name}")
                rollout_vm(session, spec, vm, steps, payloads, space)
                return
            check_use(spec)
            if is_running(vm):
                ran = True
                session.owe_start(spec)  # first: a rerun after a crash must know
            delete_vm(session, spec, vm, steps, settle=False)
        running = rollout_vm(session, spec, None, steps, payloads)
        if ran and not running:
            with session.power_for(spec).slot():
                step(session, steps, "start (it ran before the rebuild)",
                     lambda: driver.start_vm(name=spec.name, timeout=timeout))
        session.settle_start(spec)
        record_reset(session, spec, running=bool(ran or running))  # a fresh desk

    report = run_vms(session, "rebuild", pairs, one)
    report.notes.extend(notes)
    return report
