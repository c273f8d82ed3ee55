"""Free space of the storage pools that hold a room's overlays, and what a
new clone of a template takes there (docs/backends/libvirt.md, "Storage space").

A pool's numbers are virStoragePoolGetInfo's capacity and available, read
after a refresh (a dir pool's are statvfs of its directory at the last
refresh; a refresh rereads them and changes nothing). A clone is a qcow2
overlay on each template disk: it starts nearly empty and grows with what
the guest writes, which vdictl estimates as what the template's disk holds
now (its allocation). Its rollout snapshot is internal to the overlay (a
copy of qcow2's tables) and takes nothing worth counting when it is made.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import libvirt

from vdictl.config.rooms import VmSpec
from vdictl.model import SpaceNeed, StorageSpace

from .connection import Connection
from .create import template_domain
from .domain_xml import template_disks
from .storage import backing_volume
from .xmldoc import XmlError


def _pool_of(conn: Connection, backing: "libvirt.virStorageVol") -> "libvirt.virStoragePool":
    """Where create_vm puts the overlay: the configured pool, else the template disk's."""
    if conn.settings.pool:
        return conn.handle.storagePoolLookupByName(conn.settings.pool)
    return backing.storagePoolLookupByVolume()


def space_needed(conn: Connection, spec: VmSpec) -> List[SpaceNeed]:
    """Per pool: the allocation of the template disks whose overlays go there."""
    template = template_domain(conn, spec)
    with conn.errors(vm=spec.name, what=f"template {spec.template_name!r}"):
        xml = template.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    try:
        disks = template_disks(xml)
    except XmlError:
        return []  # check_create names what is wrong with the template
    needs: Dict[str, int] = {}
    for disk in disks:
        _, backing = backing_volume(conn, spec.name, disk)
        if backing is None:  # in no pool: nothing to measure it against
            continue
        with conn.errors(vm=spec.name):
            pool = _pool_of(conn, backing)
            allocation = backing.info()[2]  # [type, capacity, allocation]
            needs[pool.name()] = needs.get(pool.name(), 0) + allocation
    return [SpaceNeed(storage=name, clone=size) for name, size in needs.items()]


def pool_space(conn: Connection, name: str) -> Optional[StorageSpace]:
    """One pool's numbers, refreshed; None when it is not active."""
    with conn.errors(what=f"storage pool {name!r}"):
        pool = conn.handle.storagePoolLookupByName(name)
        if not pool.isActive():
            return None
        pool.refresh(0)
        _, capacity, _, available = pool.info()  # [state, capacity, allocation, available]
    return StorageSpace(name=name, free=available, total=capacity)


def storage_space(conn: Connection, specs: Sequence[VmSpec],
                  needs: Dict[str, List[SpaceNeed]]) -> List[StorageSpace]:
    """The pools of the templates of `specs` (`needs`: space_needed by template)."""
    names: List[str] = []
    for spec in specs:
        if spec.template_name not in needs:
            needs[spec.template_name] = space_needed(conn, spec)
        names += [n.storage for n in needs[spec.template_name] if n.storage not in names]
    if conn.settings.pool and conn.settings.pool not in names:
        names.append(conn.settings.pool)
    return [space for space in (pool_space(conn, name) for name in names) if space]


def template_space(conn: Connection, vm: str) -> List[Tuple[StorageSpace, int]]:
    """template-create copies each writable disk of `vm` in full (qcow2, what
    it holds) into the configured pool, else the disk's own pool."""
    with conn.errors(vm=vm, what=f"domain {vm!r}"):
        xml = conn.domain(vm).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    try:
        disks = template_disks(xml)
    except XmlError:
        return []  # create_template names what is wrong
    needs: Dict[str, int] = {}
    for disk in disks:
        _, source = backing_volume(conn, vm, disk)
        if source is None:
            continue
        with conn.errors(vm=vm):
            name = _pool_of(conn, source).name()
            needs[name] = needs.get(name, 0) + source.info()[2]
    found = []
    for name, need in needs.items():
        space = pool_space(conn, name)
        if space is not None:
            found.append((space, need))
    return found
