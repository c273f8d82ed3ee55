"""Templates on oVirt: the engine copies (and, with seal, seals) the VM's disks.
A template vdictl made has TEMPLATE_MARK in its comment (docs/backends/ovirt.md).
"""

from __future__ import annotations

import logging
from typing import Any, List, Optional, Tuple

import ovirtsdk4.types as types

from vdictl import __version__
from vdictl.errors import (AlreadyExists, NotFound, NotOwned, TemplateInUse, Unsupported,
                           WrongState)

from .connection import OvirtConnection

log = logging.getLogger(__name__)

TEMPLATE_MARK = "vdictl template"


def _templates(conn: OvirtConnection, name: str) -> List[Any]:
    listed = conn.call(lambda s: s.templates_service().list(search=f"name={name}"), vm=name)
    return [t for t in listed if (t.name or "") == name]


def _one_template(conn: OvirtConnection, name: str) -> Any:
    found = _templates(conn, name)
    if not found:
        raise NotFound(f"template {name!r} not found", driver=conn.driver, vm=name)
    if len(found) > 1:
        raise Unsupported(f"template {name!r} has {len(found)} versions; remove the "
                          "sub-versions in the Administration Portal first",
                          driver=conn.driver, vm=name)
    return found[0]


def _status(conn: OvirtConnection, template_id: str, name: str) -> Any:
    return conn.call(lambda s: s.templates_service().template_service(template_id).get().status,
                     vm=name, what=f"template {name!r}")


def create_template(conn: OvirtConnection, *, vm: str, name: str, seal: bool,
                    timeout: float) -> None:
    if _templates(conn, name):
        raise AlreadyExists("a template with this name already exists", driver=conn.driver,
                            vm=name)
    source = conn.sdk_vm(vm)
    if source.status != types.VmStatus.DOWN:
        raise WrongState(f"source VM {vm!r} is {source.status.value}; shut it down before "
                         "making a template of it", driver=conn.driver, vm=name)
    mark = f"{TEMPLATE_MARK} version={__version__}"

    def added_meanwhile() -> Tuple[bool, Optional[Any]]:
        found = _templates(conn, name)
        return (True, found[0]) if found else (False, None)

    template = conn.call(
        lambda s: s.templates_service().add(
            types.Template(name=name, comment=mark, vm=types.Vm(id=source.id)), seal=seal),
        vm=name, before_retry=added_meanwhile)
    conn.wait(lambda: _status(conn, template.id, name),
              lambda st: st == types.TemplateStatus.OK,
              fail=lambda st: st == types.TemplateStatus.ILLEGAL,
              timeout=timeout, what="the template's disks to be copied", vm=name)
    conn.forget(("templates", name))
    log.info("%s: template made from %s (%s)", name, vm, "sealed" if seal else "not sealed")


def template_users(conn: OvirtConnection, *, name: str) -> List[str]:
    template = _one_template(conn, name)
    vms = conn.call(lambda s: s.vms_service().list(search=f"template={name}"), vm=name)
    return sorted(v.name for v in vms if v.template is not None and v.template.id == template.id)


def delete_template(conn: OvirtConnection, *, name: str, adopt: bool,
                    timeout: float) -> List[str]:
    template = _one_template(conn, name)
    if not (template.comment or "").startswith(TEMPLATE_MARK) and not adopt:
        raise NotOwned("not made by vdictl template-create; not deleting it (--adopt "
                       "deletes it anyway)", driver=conn.driver, vm=name)
    users = template_users(conn, name=name)
    if users:
        raise TemplateInUse(users=users, driver=conn.driver, vm=name)

    def gone() -> Tuple[bool, None]:
        return not _templates(conn, name), None

    try:
        conn.call(lambda s: s.templates_service().template_service(template.id).remove(),
                  vm=name, what=f"template {name!r}", before_retry=gone)
    except NotFound:
        pass
    conn.forget(("templates", name))
    conn.wait(lambda: _templates(conn, name), lambda found: not found, timeout=timeout,
              what="the template to be removed", vm=name)
    return []
