"""Deleting a VM: undefine the domain, then delete exactly the volumes its
owner mark records."""

from __future__ import annotations

import libvirt

from vdictl.errors import DriverError, NotOwned, WrongState

from .connection import Connection
from .errors import is_unsupported_flags
from .owner_mark import parse_owner
from .storage import delete_volumes


def undefine(dom: "libvirt.virDomain") -> None:
    """Undefine with the snapshot, checkpoint, managed-save and NVRAM metadata,
    dropping the flags this hypervisor does not know."""
    base = libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    attempts = [
        base | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
        | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
        base | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE,
        base,
    ]
    for flags in attempts:
        try:
            dom.undefineFlags(flags)
            return
        except libvirt.libvirtError as exc:
            if not is_unsupported_flags(exc) or flags == base:
                raise


def delete_vm(conn: Connection, name: str) -> None:
    dom = conn.domain(name)
    with conn.errors(vm=name, what=f"domain {name!r}"):
        mark = parse_owner(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        active = dom.isActive()
    if mark is None:
        raise NotOwned("domain has no vdictl owner mark; not deleting it",
                       driver=conn.name, vm=name)
    if active:
        raise WrongState("domain is running; stop it before deleting", driver=conn.name,
                         vm=name)
    with conn.errors(vm=name, what=f"domain {name!r}"):
        undefine(dom)
    leftovers = delete_volumes(conn, name, mark.volumes)
    if leftovers:
        raise DriverError(f"domain undefined, but volumes left behind: {', '.join(leftovers)}",
                          driver=conn.name, vm=name)
