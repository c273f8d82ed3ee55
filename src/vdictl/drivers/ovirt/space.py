"""Free space of the storage domains that hold a room's disks, and what a
new VM takes there (docs/backends/ovirt.md, "Storage space").

The engine reports a storage domain's `available` and `used` (bytes, kept
by the engine in whole GiB: restapi types/StorageDomainMapper.java) and its
`critical_space_action_blocker` (GiB), below which it refuses new disks and
snapshots itself (StorageDomainValidator.isDomainWithinThresholds); its
size is available + used. A VM made from a template is thin: a qcow2
overlay per template disk on that disk's domain, which starts at the
engine's initial allocation (1 GiB on a block domain, 1 MiB on a file
domain: StorageDomainValidator's table for new disks) and grows with what
the guest writes, estimated as what the template disk holds (its
`actual_size`); its rollout snapshot adds another overlay per disk.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from vdictl.config.rooms import VmSpec
from vdictl.model import SpaceNeed, StorageSpace

from .connection import OvirtConnection
from .lookups import find_template

GiB = 1 << 30
BLOCK_TYPES = ("iscsi", "fcp")
#: what a qcow2 copy takes beyond the data it holds (ovirt-engine StorageConstants)
QCOW_OVERHEAD = 1.1


def _domain(conn: OvirtConnection, domain_id: str, vm: str) -> Any:
    return conn.cached(("storage_domain", domain_id), lambda: conn.call(
        lambda s: s.storage_domains_service().storage_domain_service(domain_id).get(), vm=vm,
        what=f"storage domain {domain_id}"))


def _disk(conn: OvirtConnection, disk_id: str, vm: str) -> Any:
    return conn.call(lambda s: s.disks_service().disk_service(disk_id).get(), vm=vm,
                     what=f"disk {disk_id}")


def _disks(conn: OvirtConnection, attachments: Any, vm: str) -> List[Tuple[str, int]]:
    """(storage domain id, actual size) of each attached disk."""
    found = []
    for attachment in attachments:
        disk = _disk(conn, attachment.disk.id, vm)
        for domain in disk.storage_domains or []:
            found.append((domain.id, int(disk.actual_size or 0)))
    return found


def _template_disks(conn: OvirtConnection, spec: VmSpec) -> List[Tuple[str, int]]:
    template = find_template(conn, spec)
    return conn.cached(("template_disks", template.id), lambda: _disks(conn, conn.call(
        lambda s: s.templates_service().template_service(
            template.id).disk_attachments_service().list(), vm=spec.name), spec.name))


def _name(domain: Any) -> str:
    return domain.name or domain.id


def space_needed(conn: OvirtConnection, spec: VmSpec) -> List[SpaceNeed]:
    needs: Dict[str, List[int]] = {}
    for domain_id, actual in _template_disks(conn, spec):
        domain = _domain(conn, domain_id, spec.name)
        kind = domain.storage.type.value if domain.storage and domain.storage.type else ""
        initial = GiB if kind in BLOCK_TYPES else 1 << 20
        clone, snapshot = needs.setdefault(_name(domain), [0, 0])
        needs[_name(domain)] = [clone + initial + actual, snapshot + initial]
    return [SpaceNeed(storage=name, clone=c, snapshot=s) for name, (c, s) in needs.items()]


def storage_space(conn: OvirtConnection, specs: Sequence[VmSpec]) -> List[StorageSpace]:
    found: Dict[str, StorageSpace] = {}
    for spec in {s.template_name: s for s in specs}.values():
        for domain_id, _ in _template_disks(conn, spec):
            space = _space(_domain(conn, domain_id, spec.name))
            if space is not None:
                found[space.name] = space
    return list(found.values())

def _space(domain: Any) -> Optional[StorageSpace]:
    if domain.available is None or domain.used is None:
        return None  # not attached to a data center: no numbers
    blocker = domain.critical_space_action_blocker
    return StorageSpace(name=_name(domain), free=int(domain.available),
                        total=int(domain.available) + int(domain.used),
                        blocker=None if blocker is None else int(blocker) * GiB)


def template_space(conn: OvirtConnection, vm: str) -> List[Tuple[StorageSpace, int]]:
    """template-create (AddVmTemplate) copies each disk of `vm`, its chain
    collapsed, onto the disk's domain: the engine counts 1.1 x what it holds
    for a qcow2 copy (StorageDomainValidator.getTotalSizeForClonedDisk,
    QCOW_OVERHEAD_FACTOR)."""
    source = conn.sdk_vm(vm)
    attachments = conn.call(lambda s: conn.vm_service(s, source.id).disk_attachments_service()
                            .list(), vm=vm)
    needs: Dict[str, int] = {}
    for domain_id, actual in _disks(conn, attachments, vm):
        needs[domain_id] = needs.get(domain_id, 0) + math.ceil(actual * QCOW_OVERHEAD)
    found = []
    for domain_id, need in needs.items():
        space = _space(_domain(conn, domain_id, vm))
        if space is not None:
            found.append((space, need))
    return found
