"""template-create and template-delete, and the running-template warning.

Templates live at the endpoint of the [general] connect settings (or --uri).
On libvirt the clones are linked to the template's disks, so a template in
use is never deleted and a running template is reported.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Sequence, Tuple

from vdictl.config.rooms import Room, VmSpec
from vdictl.errors import VdictlError

from . import storage
from .session import Session

audit = logging.getLogger("vdictl.audit")


@dataclass(frozen=True)
class TemplateResult:
    action: str
    template: str
    source: str = ""
    sealed: bool = False
    #: what was left behind (disks of a template vdictl did not make)
    left: List[str] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return {"status": "success", **asdict(self)}


def create_template(session: Session, *, vm: str, name: str, seal: bool,
                    ignore_storage_limit: bool = False) -> TemplateResult:
    driver = session.driver_at()
    timeout = session.config.throttle.operation_timeout
    try:
        storage.template_guard(session, vm=vm, name=name, ignore=ignore_storage_limit)
        driver.create_template(vm=vm, name=name, seal=seal, timeout=timeout)
    except VdictlError as exc:
        audit.info("template=%s action=template-create outcome=failed detail=%s", name, exc)
        raise
    audit.info("template=%s action=template-create outcome=ok detail=from %s%s", name, vm,
               " sealed" if seal else "")
    return TemplateResult("template-create", name, source=vm, sealed=seal)


def template_users(session: Session, name: str) -> List[str]:
    return session.driver_at().template_users(name=name)


def delete_template(session: Session, *, name: str, adopt: bool) -> TemplateResult:
    driver = session.driver_at()
    timeout = session.config.throttle.operation_timeout
    try:
        left = driver.delete_template(name=name, adopt=adopt, timeout=timeout)
    except VdictlError as exc:
        audit.info("template=%s action=template-delete outcome=failed detail=%s", name, exc)
        raise
    audit.info("template=%s action=template-delete outcome=ok", name)
    return TemplateResult("template-delete", name, left=left)


def running_templates(session: Session, rooms: Sequence[Room]) -> List[str]:
    """A warning for each template of `rooms` whose domain runs: writing to a
    template's disks corrupts every linked clone."""
    seen: Dict[Tuple[Tuple[str, str], str], Tuple[VmSpec, List[str]]] = {}
    for room in rooms:
        for spec in room.vms:
            if session.unavailable(spec) is not None:  # its endpoint is down
                continue
            _, names = seen.setdefault((session.endpoint_key(spec), spec.template_name),
                                       (spec, []))
            if room.name not in names:
                names.append(room.name)
    warnings = []
    for (_, template), (spec, room_names) in seen.items():
        if template and session.driver_for(spec).template_running(name=template):
            warnings.append(f"template {template!r} (rooms {', '.join(room_names)}) is running: "
                            "its clones' disks may be corrupted; shut it down and never start "
                            "a template that has clones")
    return warnings
