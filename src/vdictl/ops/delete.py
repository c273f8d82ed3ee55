"""virtroom-delete: remove the VMs vdictl created, and nothing else."""

from __future__ import annotations

from typing import List, Optional, Sequence

from vdictl.config.rooms import Room, VmSpec
from vdictl.model import Vm
from vdictl.result import Report

from . import in_use
from .runner import Skip, is_running, require_owned, run_vms, step
from .session import Session


def delete_vm(session: Session, spec: VmSpec, vm: Vm, steps: List[str], *,
              settle: bool = True) -> None:
    """Power an owned VM off if it runs, then delete it (one power slot).

    settle=False keeps a start owed in the journal (a rebuild starts the VM
    again once it is rolled out anew)."""
    timeout = session.config.throttle.operation_timeout
    driver = session.driver_for(spec)
    with session.power_for(spec).slot():
        if is_running(vm):
            step(session, steps, "power off",
                 lambda: driver.power_off_vm(name=spec.name, timeout=timeout))
        step(session, steps, "delete", lambda: driver.delete_vm(name=spec.name,
                                                               timeout=timeout))
    if settle:
        session.settle_start(spec)


def delete(session: Session, rooms: Sequence[Room], *, skip_in_use: bool = False) -> Report:
    """Delete the VMs; those somebody is at are skipped under `skip_in_use` or
    their skip_in_use = True (ops.in_use)."""
    pairs = session.inventory(rooms)
    check_use = in_use.guard(session, pairs, skip_in_use)

    def one(spec: VmSpec, vm: Optional[Vm], steps: List[str]) -> None:
        if vm is None:
            raise Skip("does not exist")
        require_owned(session, spec, vm, steps, destructive=True)
        check_use(spec)
        delete_vm(session, spec, vm, steps)

    return run_vms(session, "delete", pairs, one)
