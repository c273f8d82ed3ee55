"""Templates on oVirt: the engine copies (and, with seal, seals) the VM's disks.

template-create marks the template with TEMPLATE_MARK in its comment, so
template-delete knows vdictl made it. The engine itself refuses to remove a
template VMs are based on; vdictl checks first to name them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, List, Optional, Tuple

import ovirtsdk4.types as types

from vdictl import __version__
from vdictl.errors import (AlreadyExists, NotFound, NotOwned, TemplateInUse, Unsupported,
                           WrongState)

if TYPE_CHECKING:  # pragma: no cover
    from .ovirt import OvirtDriver

log = logging.getLogger(__name__)

TEMPLATE_MARK = "vdictl template"


def _templates(drv: "OvirtDriver", name: str) -> List[Any]:
    listed = drv._call(lambda s: s.templates_service().list(search=f"name={name}"), vm=name)
    return [t for t in listed if (t.name or "") == name]


def _one_template(drv: "OvirtDriver", name: str) -> Any:
    found = _templates(drv, name)
    if not found:
        raise NotFound(f"template {name!r} not found", driver=drv.name, vm=name)
    if len(found) > 1:
        raise Unsupported(f"template {name!r} has {len(found)} versions; remove the "
                          "sub-versions in the Administration Portal first",
                          driver=drv.name, vm=name)
    return found[0]


def _status(drv: "OvirtDriver", template_id: str, name: str) -> Any:
    return drv._call(lambda s: s.templates_service().template_service(template_id).get().status,
                     vm=name, what=f"template {name!r}")


def create_template(drv: "OvirtDriver", *, vm: str, name: str, seal: bool,
                    timeout: float) -> None:
    if _templates(drv, name):
        raise AlreadyExists("a template with this name already exists", driver=drv.name, vm=name)
    source = drv._sdk_vm(vm)
    if source.status != types.VmStatus.DOWN:
        raise WrongState(f"source VM {vm!r} is {source.status.value}; shut it down before "
                         "making a template of it", driver=drv.name, vm=name)
    mark = f"{TEMPLATE_MARK} version={__version__}"

    def added_meanwhile() -> Tuple[bool, Optional[Any]]:
        found = _templates(drv, name)
        return (True, found[0]) if found else (False, None)

    template = drv._call(
        lambda s: s.templates_service().add(
            types.Template(name=name, comment=mark, vm=types.Vm(id=source.id)), seal=seal),
        vm=name, before_retry=added_meanwhile)
    drv._wait(lambda: _status(drv, template.id, name),
              lambda st: st == types.TemplateStatus.OK,
              fail=lambda st: st == types.TemplateStatus.ILLEGAL,
              timeout=timeout, what="the template's disks to be copied", vm=name)
    log.info("%s: template made from %s (%s)", name, vm, "sealed" if seal else "not sealed")


def template_users(drv: "OvirtDriver", *, name: str) -> List[str]:
    template = _one_template(drv, name)
    vms = drv._call(lambda s: s.vms_service().list(search=f"template={name}"), vm=name)
    return sorted(v.name for v in vms if v.template is not None and v.template.id == template.id)


def delete_template(drv: "OvirtDriver", *, name: str, adopt: bool, timeout: float) -> List[str]:
    template = _one_template(drv, name)
    if not (template.comment or "").startswith(TEMPLATE_MARK) and not adopt:
        raise NotOwned("not made by vdictl template-create; not deleting it (--adopt "
                       "deletes it anyway)", driver=drv.name, vm=name)
    users = template_users(drv, name=name)
    if users:
        raise TemplateInUse(users=users, driver=drv.name, vm=name)

    def gone() -> Tuple[bool, None]:
        return not _templates(drv, name), None

    try:
        drv._call(lambda s: s.templates_service().template_service(template.id).remove(),
                  vm=name, what=f"template {name!r}", before_retry=gone)
    except NotFound:
        pass
    drv._wait(lambda: _templates(drv, name), lambda found: not found, timeout=timeout,
              what="the template to be removed", vm=name)
    return []
