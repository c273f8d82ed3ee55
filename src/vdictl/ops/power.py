"""virtroom-start and virtroom-shutdown."""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence

from vdictl.config.rooms import Room, VmSpec
from vdictl.model import Vm
from vdictl.result import Report

from . import in_use
from .runner import (VmFunc, is_running, require_existing, require_owned, run_vms,
                     skip_maintenance, step)
from .session import Session


def start(session: Session, rooms: Sequence[Room]) -> Report:
    timeout = session.config.throttle.operation_timeout

    def one(spec: VmSpec, vm: Optional[Vm], steps: List[str]) -> None:
        skip_maintenance(session, spec)
        vm = require_existing(spec, vm)
        require_owned(session, spec, vm, steps)
        if is_running(vm):
            steps.append("already running")
        else:
            driver = session.driver_for(spec)
            with session.power_for(spec).slot():
                step(session, steps, "start", lambda: driver.start_vm(name=spec.name,
                                                                     timeout=timeout))
            if not session.dry_run:  # an --idle-for run counts its idle time from now
                session.occupancy.started(session.endpoint_of(spec), (spec.room, spec.name))
        session.settle_start(spec)

    return run_vms(session, "start", session.inventory(rooms), one)


def shutdown(session: Session, rooms: Sequence[Room], *, skip_in_use: bool = False) -> Report:
    """Shut the VMs down; those somebody is at are skipped under `skip_in_use`
    or their skip_in_use = True (ops.in_use)."""
    pairs = session.inventory(rooms)
    return run_vms(session, "shutdown", pairs,
                   shutter(session, in_use.guard(session, pairs, skip_in_use)))


def shutter(session: Session, check_use: Callable[[VmSpec], None]) -> VmFunc:
    """The shutdown of one VM, for run_vms; `check_use` raises InUse to leave it alone."""
    timeout = session.config.throttle.shutdown_timeout

    def one(spec: VmSpec, vm: Optional[Vm], steps: List[str]) -> None:
        vm = require_existing(spec, vm)
        require_owned(session, spec, vm, steps)
        if not is_running(vm):
            steps.append("already stopped")
        else:
            check_use(spec)
            driver = session.driver_for(spec)
            with session.power_for(spec).slot():
                forced = step(session, steps, "shut down",
                              lambda: driver.shutdown_vm(name=spec.name, timeout=timeout))
            if forced:
                steps.append(f"guest ignored ACPI for {timeout:g}s: powered off")
            if not session.dry_run:
                session.occupancy.stopped(session.endpoint_of(spec), (spec.room, spec.name))
        session.settle_start(spec)  # the operator wants it off: no reset starts it

    return one
