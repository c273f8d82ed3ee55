"""Reading VMs: a domain as a vdictl Vm, found by name."""

from __future__ import annotations

from typing import Dict, Sequence

import libvirt

from vdictl.model import Vm, VmState

from .connection import STATE_MAP, Connection
from .domain_xml import domain_macs, parse_phase
from .owner_mark import parse_owner


def vm_record(conn: Connection, dom: "libvirt.virDomain") -> Vm:
    """The Vm of a domain: state, owner mark, MACs and rollout phase."""
    name = dom.name()
    with conn.errors(vm=name, what=f"domain {name!r}"):
        xml = dom.XMLDesc(0)
        state = STATE_MAP.get(dom.state()[0], VmState.UNKNOWN)
    mark = parse_owner(xml)
    macs = domain_macs(xml)
    extra = {"uuid": dom.UUIDString(), "macs": macs, "uri": conn.endpoint}
    if mark is not None:
        extra["volumes"] = [(v.pool, v.name) for v in mark.volumes]
    return Vm(name=name, id=dom.UUIDString(), state=state,
              owner=mark.owner if mark else None, mac=macs[0] if macs else None,
              phase=parse_phase(xml), extra=extra)


def find_vms(conn: Connection, names: Sequence[str]) -> Dict[str, Vm]:
    """The domains among `names`, from one listing."""
    return conn.each_domain(names, lambda dom: vm_record(conn, dom))


def get_vm(conn: Connection, name: str) -> Vm:
    return vm_record(conn, conn.domain(name))
