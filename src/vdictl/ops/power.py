"""virtroom-start and virtroom-shutdown."""

from __future__ import annotations

from typing import List, Optional, Sequence

from vdictl.model import Vm
from vdictl.result import Report
from vdictl.rooms import Room, VmSpec

from .runner import is_running, require_existing, require_owned, run_vms, skip_maintenance, step
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
        session.settle_start(spec)

    return run_vms(session, "start", session.inventory(rooms), one)


def shutdown(session: Session, rooms: Sequence[Room]) -> Report:
    timeout = session.config.throttle.shutdown_timeout

    def one(spec: VmSpec, vm: Optional[Vm], steps: List[str]) -> None:
        vm = require_existing(spec, vm)
        require_owned(session, spec, vm, steps)
        if not is_running(vm):
            steps.append("already stopped")
        else:
            driver = session.driver_for(spec)
            with session.power_for(spec).slot():
                forced = step(session, steps, "shut down",
                              lambda: driver.shutdown_vm(name=spec.name, timeout=timeout))
            if forced:
                steps.append(f"guest ignored ACPI for {timeout:g}s: powered off")
        session.settle_start(spec)  # the operator wants it off: no reset starts it

    return run_vms(session, "shutdown", session.inventory(rooms), one)
