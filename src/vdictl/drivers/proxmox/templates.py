"""Templates on Proxmox VE. Converting a VM into a template turns the VM
itself into the template, so template-create first makes a full clone of
the source VM under the template's name and converts that: the source VM
stays, as on the other backends. A template vdictl made has TEMPLATE_MARK
in its description (docs/backends/proxmox.md, "Templates")."""

from __future__ import annotations

import logging
from typing import Any, List, Tuple

from vdictl import __version__
from vdictl.errors import AlreadyExists, NotFound, NotOwned, TemplateInUse, Unsupported, WrongState

from .connection import PveConnection, VmRef
from .create import clone_to_own_vmid
from .lookups import base_volumes, find_template, templates, uses_base

log = logging.getLogger(__name__)

TEMPLATE_MARK = "vdictl template"
SEAL_REFUSED = ("Proxmox VE cannot seal a template; seal the guest itself (Windows: sysprep "
                "/generalize /oobe /shutdown; Linux: virt-sysprep on the stopped VM, or "
                "cloud-init clean and truncate /etc/machine-id), then run template-create "
                "without --seal")


def create_template(conn: PveConnection, *, vm: str, name: str, seal: bool,
                    timeout: float) -> None:
    if seal:
        raise Unsupported(SEAL_REFUSED, driver=conn.driver, vm=name)
    if templates(conn, name) or conn.refs([name]):
        raise AlreadyExists("a template or VM with this name already exists",
                            driver=conn.driver, vm=name)
    source = conn.ref(vm)
    if source.entry.get("status") != "stopped":
        raise WrongState(f"source VM {vm!r} is {source.entry.get('status')}; shut it down "
                         "before making a template of it", driver=conn.driver, vm=name)
    conn.ensure_unlocked(source, timeout)
    newid = clone_to_own_vmid(
        conn, name, source, dict(name=name, full=1, description=f"{TEMPLATE_MARK} "
                                 f"version={__version__} from={vm}"),
        vmid_range=None, timeout=timeout, what="the copy of the source VM's disks")
    copy = conn.ref(name)
    conn.run_task(copy, lambda a: a.nodes(copy.node).qemu(copy.vmid).template.post(),
                  timeout=timeout, what="the conversion into a template", kind="qmtemplate")
    conn.forget_listing()  # the run's listing has it as a VM
    log.info("%s: template %d made from %s", name, newid, vm)


def template_users(conn: PveConnection, *, name: str) -> List[str]:
    """The VMs whose disks are linked clones of the template's volumes."""
    template = find_template(conn, name)
    bases = base_volumes(conn.config(template))
    users = []
    for e in conn.resources():  # one config read per VM: template commands are rare
        if e.get("template") or not e.get("name"):
            continue
        ref = VmRef(str(e["name"]), str(e["node"]), int(e["vmid"]), e)
        if uses_base(conn.config(ref), bases):
            users.append(ref.name)
    return sorted(users)


def delete_template(conn: PveConnection, *, name: str, adopt: bool,
                    timeout: float) -> List[str]:
    template = find_template(conn, name)
    text = str(conn.config(template).get("description") or "")
    if not text.startswith(TEMPLATE_MARK) and not adopt:
        raise NotOwned("not made by vdictl template-create; not deleting it (--adopt "
                       "deletes it anyway)", driver=conn.driver, vm=name)
    users = template_users(conn, name=name)
    if users:
        raise TemplateInUse(users=users, driver=conn.driver, vm=name)

    def gone() -> Tuple[bool, Any]:
        return not templates(conn, name), None

    try:
        conn.run_task(template, lambda a: a.nodes(template.node).qemu(template.vmid).delete(
            purge=1), timeout=timeout, what="the template's removal", kind="qmdestroy",
            before_retry=gone)
    except NotFound:
        pass
    conn.forget_listing()
    return []
