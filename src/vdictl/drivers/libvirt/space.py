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

from typing import Dict, List, Optional, Sequence, Set, Tuple

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


def _held_by_pool(conn: Connection, vm: str, xml: str) -> Dict[str, int]:
    """Per pool (where create_vm or create_template puts the copy): what the
    disks of the domain `xml` hold now (their allocation). A disk in no pool
    has nothing to be measured against; XML vdictl cannot read gives nothing
    (check_create and create_template name what is wrong with it)."""
    try:
        disks = template_disks(xml)
    except XmlError:
        return {}
    held: Dict[str, int] = {}
    for disk in disks:
        _, volume = backing_volume(conn, vm, disk)
        if volume is None:
            continue
        with conn.errors(vm=vm):
            name = _pool_of(conn, volume).name()
            held[name] = held.get(name, 0) + volume.info()[2]  # [type, capacity, allocation]
    return held


def space_needed(conn: Connection, spec: VmSpec) -> List[SpaceNeed]:
    """Per pool: the allocation of the template disks whose overlays go there."""
    template = template_domain(conn, spec)
    with conn.errors(vm=spec.name, what=f"template {spec.template_name!r}"):
        xml = template.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    return [SpaceNeed(storage=name, clone=size)
            for name, size in _held_by_pool(conn, spec.name, xml).items()]


def pool_space(conn: Connection, name: str) -> Optional[StorageSpace]:
    """One pool's numbers, refreshed; None when it is not active."""
    with conn.errors(what=f"storage pool {name!r}"):
        pool = conn.handle.storagePoolLookupByName(name)
        if not pool.isActive():
            return None
        pool.refresh(0)
        _, capacity, _, available = pool.info()  # [state, capacity, allocation, available]
    return StorageSpace(name=name, free=available, total=capacity)


def storage_space(conn: Connection, specs: Sequence[VmSpec]) -> List[StorageSpace]:
    """The pools of the templates of `specs` (space_needed once per template)."""
    names: List[str] = []
    asked: Set[str] = set()
    for spec in specs:
        if spec.template_name not in asked:
            asked.add(spec.template_name)
            names += [n.storage for n in space_needed(conn, spec) if n.storage not in names]
    if conn.settings.pool and conn.settings.pool not in names:
        names.append(conn.settings.pool)
    return [space for space in (pool_space(conn, name) for name in names) if space]


def template_space(conn: Connection, vm: str) -> List[Tuple[StorageSpace, int]]:
    """template-create copies each writable disk of `vm` in full (qcow2, what
    it holds) into the configured pool, else the disk's own pool."""
    with conn.errors(vm=vm, what=f"domain {vm!r}"):
        xml = conn.domain(vm).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    found = []
    for name, need in _held_by_pool(conn, vm, xml).items():
        space = pool_space(conn, name)
        if space is not None:
            found.append((space, need))
    return found
