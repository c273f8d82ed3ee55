"""Rollout phases of one VM: personalise, wait for power-off, post-process.

The whole rollout of a VM is create -> personalise -> wait for the guest's
power-off -> post-process -> snapshot -> optional start. Every phase is
recorded on the VM (driver.set_phase) as it is reached, so a rerun continues
where a VM stopped. The phases after the snapshot are not recorded: a
snapshot revert would roll the record back, and the snapshot itself says it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

from vdictl.config.rooms import VmSpec
from vdictl.errors import VdictlError
from vdictl.firstboot.payload import Payload
from vdictl.firstboot.render import PayloadRenderer
from vdictl.model import CREATING, Vm

from .runner import Pair, is_running, step
from .session import Session

CREATED = "created"
PERSONALISING = "personalising"     # started with the payload, guest at work
PERSONALISED = "personalised"       # the guest powered itself off
POST_PROCESSED = "post-processed"   # media removed, stateless and role applied
SNAPSHOT_TAKEN = "snapshot taken"   # read from the snapshots, never recorded

ORDER = (CREATED, PERSONALISING, PERSONALISED, POST_PROCESSED, SNAPSHOT_TAKEN)


def recorded_phase(vm: Optional[Vm]) -> str:
    """The phase recorded on the VM; VMs without a record count as created."""
    phase = None if vm is None else vm.phase
    return phase if phase in ORDER else CREATED


def needs_payload(spec: VmSpec, vm: Optional[Vm]) -> bool:
    return spec.personalisation is not None and (
        vm is None or ORDER.index(recorded_phase(vm)) < ORDER.index(PERSONALISED))


@dataclass(frozen=True)
class RenderedPayloads:
    """The first-boot payloads of a run, by VM name: rendered, or why not."""

    ready: Mapping[str, Payload] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)

    def payload(self, name: str) -> Optional[Payload]:
        return self.ready.get(name)

    def error(self, name: str) -> Optional[str]:
        return self.errors.get(name)


def render_payloads(pairs: Sequence[Pair]) -> RenderedPayloads:
    """The payloads of the VMs still to personalise, each rendered once."""
    renderer = PayloadRenderer()
    ready: Dict[str, Payload] = {}
    errors: Dict[str, str] = {}
    for spec, vm in pairs:
        if needs_payload(spec, vm):
            try:
                payload = renderer.render(spec)
            except VdictlError as exc:
                errors[spec.name] = str(exc)
                continue
            if payload is not None:  # needs_payload: it has a personalisation
                ready[spec.name] = payload
    return RenderedPayloads(ready, errors)


def personalise(session: Session, spec: VmSpec, vm: Optional[Vm], payload: Optional[Payload],
                steps: List[str], *, running: bool) -> bool:
    """Run the personalisation phases still missing; returns whether the VM runs.

    Only VMs vdictl created are personalised: an adopted VM is left as it is.
    """
    if spec.personalisation is None:
        return running
    if vm is not None and vm.owner is None:
        steps.append("not personalised (adopted VM)")
        return running
    driver = session.driver_for(spec)
    timeout = session.config.throttle.operation_timeout
    phase = recorded_phase(vm)
    at = ORDER.index(phase)
    if at < ORDER.index(PERSONALISED):
        if running and phase != PERSONALISING:
            raise VdictlError(f"VM {spec.name} runs but was never personalised; shut it "
                              "down and rerun the rollout")
        if phase == PERSONALISING and not running:
            # started with the payload by an earlier run, and off again: done
            steps.append("the guest powered itself off after its first boot")
        else:
            if payload is None:  # pre-flight failed for this VM only
                raise VdictlError(f"VM {spec.name}: no first-boot payload")
            _first_boot(session, spec, payload, steps, running=running)
        if not session.dry_run:
            driver.set_phase(name=spec.name, phase=PERSONALISED)
        running = False
    if at < ORDER.index(POST_PROCESSED):
        with session.power_for(spec).slot():
            step(session, steps, "post-process",
                 lambda: driver.finish_vm(spec=spec, timeout=timeout))
        if not session.dry_run:
            driver.set_phase(name=spec.name, phase=POST_PROCESSED)
    return running


def _first_boot(session: Session, spec: VmSpec, payload: Payload, steps: List[str], *,
                running: bool) -> None:
    driver = session.driver_for(spec)
    timeout = session.config.throttle.operation_timeout
    text = "wait for the guest's power-off" if running else \
        f"personalise ({payload.kind}) and wait for the guest's power-off"
    with session.power_for(spec).slot():
        if session.dry_run:
            steps.append(f"would {text}")
            return
        if not running:
            # recorded first: a run that dies while the guest works knows on
            # the rerun that the payload was given
            driver.set_phase(name=spec.name, phase=PERSONALISING)
        try:
            driver.personalise_vm(spec=spec, payload=payload, timeout=timeout)
        except VdictlError:
            if not running and not is_running(driver.get_vm(name=spec.name)):
                driver.set_phase(name=spec.name, phase=CREATED)  # never booted
            raise
        steps.append(text)


def phase_reached(spec: VmSpec, vm: Optional[Vm], snapshot_taken: bool) -> str:
    """For virtroom-show: the furthest rollout phase the VM reached."""
    if vm is None:
        return "absent"
    if snapshot_taken:
        return SNAPSHOT_TAKEN
    if vm.phase == CREATING:
        return CREATING
    phase = recorded_phase(vm)
    if spec.personalisation is None and phase == CREATED:
        return CREATED
    return phase
