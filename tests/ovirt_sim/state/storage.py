# SPDX-License-Identifier: GPL-3.0-or-later
"""Storage domains and disks: their sizes, and the space clones and snapshots take.

What the REST API reports of a storage domain (ovirt-engine's restapi
``types/StorageDomainMapper.java``, ``map(StorageDomain, ...)``):
``available`` and ``used`` are the engine's StorageDomainDynamic sizes, kept
in whole GiB, sent as bytes (GiB x 2^30); ``committed`` is the provisioned
size of the domain's disks, also in whole GiB; ``critical_space_action_blocker``
(GiB) and ``warning_low_space_indicator`` (%) are the domain's settings as
written. The domain's size is ``available + used``.

What the engine refuses (``bll/validator/storage/StorageDomainValidator.java``):
``isDomainWithinThresholds``, available below critical_space_action_blocker
-> "Cannot add VM. Low disk space on Storage Domain NAME." (AppErrors
``ACTION_TYPE_FAILED_DISK_SPACE_LOW_ON_STORAGE_DOMAIN``), checked by AddVm
(``validateSpaceRequirements``) and CreateSnapshotForVm; ``hasSpaceForNewDisks``
takes for each new sparse qcow2 volume 1 GiB on a block domain
(INITIAL_BLOCK_ALLOCATION_SIZE) and 1 MiB on a file domain
(EMPTY_QCOW_HEADER_SIZE). A VM made from a template without clone is a
qcow2 overlay per template disk on the template disk's domain (thin), and a
snapshot a new overlay per disk: each takes that initial allocation.
"""

from __future__ import annotations

from tests.ovirt_sim.state.entities import Entity
from tests.ovirt_sim.state.errors import Conflict

GiB = 1 << 30
BLOCK_TYPES = ("iscsi", "fcp")
#: the engine's defaults of a new storage domain (StorageDomainStatic)
DEFAULT_BLOCKER_GIB = 5
DEFAULT_WARNING_PERCENT = 10


def initial_allocation(domain):
    """What a new sparse qcow2 volume takes (StorageDomainValidator's table)."""
    return GiB if domain.storage_type in BLOCK_TYPES else 1 << 20


def add_domain(inv, name, total, storage_type="nfs", blocker=DEFAULT_BLOCKER_GIB):
    domain = Entity(name, storage_type=storage_type, total=total, taken=0,
                    critical_space_action_blocker=blocker,
                    warning_low_space_indicator=DEFAULT_WARNING_PERCENT)
    inv.storage_domains[domain.id] = domain
    return domain


def add_disk(inv, owner, domain, provisioned, actual, name):
    """A disk of ``owner`` (a template or a VM): ``volumes``, the bytes each
    of its volumes takes (the first is its base, each snapshot adds one)."""
    disk = Entity(name, owner=owner, domain=domain, provisioned=provisioned,
                  volumes=[actual])
    inv.disks[disk.id] = disk
    return disk


def disks_of(inv, owner):
    return [d for d in inv.disks.values() if d.owner is owner]


def used_bytes(inv, domain):
    return domain.taken + sum(sum(d.volumes) for d in inv.disks.values()
                              if d.domain is domain)


def numbers(inv, domain):
    """(available, used, committed) in whole GiB, as the engine keeps them."""
    used = min(used_bytes(inv, domain), domain.total)
    committed = sum(d.provisioned for d in inv.disks.values() if d.domain is domain)
    return (domain.total - used) // GiB, -(-used // GiB), committed // GiB


def check_space(inv, domains, action, kind):
    """isDomainWithinThresholds, then hasSpaceForNewDisks, per domain."""
    for domain, volumes in domains.items():
        available = numbers(inv, domain)[0]
        needed = volumes * initial_allocation(domain)
        if available < domain.critical_space_action_blocker or available * GiB < needed:
            raise Conflict("Cannot %s %s. Low disk space on Storage Domain %s."
                           % (action, kind, domain.name))


def check_clone(inv, template):
    wanted = {}
    for disk in disks_of(inv, template):
        wanted[disk.domain] = wanted.get(disk.domain, 0) + 1
    check_space(inv, wanted, "add", "VM")


def clone_from_template(inv, vm, template):
    """The thin VM's disks: an overlay on each template disk, on its domain."""
    for disk in disks_of(inv, template):
        add_disk(inv, vm, disk.domain, disk.provisioned, initial_allocation(disk.domain),
                 "%s_Disk1" % vm.name)


def check_snapshot(inv, vm):
    wanted = {}
    for disk in disks_of(inv, vm):
        wanted[disk.domain] = wanted.get(disk.domain, 0) + 1
    check_space(inv, wanted, "create", "Snapshot")


def snapshot_volumes(inv, vm):
    """A snapshot: a new overlay on each of the VM's disks."""
    for disk in disks_of(inv, vm):
        disk.volumes.append(initial_allocation(disk.domain))


def copy_disks(inv, vm, template):
    """AddVmTemplate: each of the VM's disks copied, its chain collapsed."""
    for disk in disks_of(inv, vm):
        add_disk(inv, template, disk.domain, disk.provisioned, sum(disk.volumes),
                 "%s_Disk1" % template.name)


def drop_disks(inv, owner):
    for disk in disks_of(inv, owner):
        inv.disks.pop(disk.id, None)
