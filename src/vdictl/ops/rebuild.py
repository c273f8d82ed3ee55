"""virtroom-rebuild: move rooms to the template the config names now.

A VM made from another template (or every VM, with force) is deleted and
rolled out again, in one run under the same throttles; VMs already on the
configured template are left alone. The pre-flight of rollout runs first,
for every VM, so a wrong template or a broken payload deletes nothing.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from vdictl.errors import VdictlError
from vdictl.model import Vm
from vdictl.result import Report
from vdictl.rooms import Room, VmSpec

from .delete import delete_vm
from .personalise import render_payloads
from .rollout import check_rooms, rollout_vm
from .runner import require_owned, run_vms
from .session import Session


def rebuild(session: Session, rooms: Sequence[Room], *, force: bool = False) -> Report:
    pairs = session.inventory(rooms)
    # checked as if every VM were created anew: nothing is deleted for a room
    # whose template, cluster, network or payload is wrong
    fresh = [(spec, None) for spec, _ in pairs]
    payloads = render_payloads(fresh)
    unfit = check_rooms(session, fresh, payloads)

    def one(spec: VmSpec, vm: Optional[Vm], steps: List[str]) -> None:
        if spec.room in unfit:
            raise VdictlError(f"room {spec.room} not rebuilt, nothing deleted: "
                              f"{unfit[spec.room]}")
        if vm is not None:
            require_owned(session, spec, vm, steps, destructive=True)
            if not force and session.driver_for(spec).uses_template(spec=spec):
                steps.append(f"already on template {spec.template_name}")
                rollout_vm(session, spec, vm, steps, payloads)
                return
            delete_vm(session, spec, vm, steps)
        rollout_vm(session, spec, None, steps, payloads)

    return run_vms(session, "rebuild", pairs, one)
