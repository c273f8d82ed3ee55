# SPDX-License-Identifier: GPL-3.0-or-later
"""Read-only records of the engine's state, for tests to inspect."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SnapshotState:
    id: str
    description: str
    status: str          # ok | locked | in_preview
    type: str            # active | regular | preview
    date: str


@dataclass(frozen=True)
class NicState:
    id: str
    name: str
    vnic_profile: str | None   # profile name
    network: str | None        # network name
    mac: str


@dataclass(frozen=True)
class PermissionState:
    id: str
    role: str        # role name
    user: str        # user_name


@dataclass(frozen=True)
class StartRecord:
    """One start action as the engine received it."""
    vm: str
    use_sysprep: bool
    use_cloud_init: bool
    initialization: dict   # tag -> text of <vm><initialization>'s simple children
    initialization_xml: str | None = None


@dataclass(frozen=True)
class VmState:
    id: str
    name: str
    status: str
    comment: str
    description: str
    memory: int
    stateless: bool
    os: str | None
    timezone: str | None
    usb: bool | None
    cluster: str
    template: str
    nics: tuple = ()
    permissions: tuple = ()
    snapshots: tuple = ()
    extra: dict = field(default_factory=dict)   # tag -> XML text
    locked: bool = False       # image_locked or a snapshot op in progress


def vm_state(vm):
    """A :class:`VmState` of the mutable ``vm`` (lock held by the caller)."""
    return VmState(
        id=vm.id, name=vm.name, status=vm.status, comment=vm.comment,
        description=vm.description, memory=vm.memory,
        stateless=vm.stateless, os=vm.os, timezone=vm.timezone,
        usb=vm.usb, cluster=vm.cluster.name, template=vm.template.name,
        nics=tuple(NicState(n.id, n.name,
                            n.profile.name if n.profile else None,
                            n.profile.network.name if n.profile else None,
                            n.mac) for n in vm.nics),
        permissions=tuple(PermissionState(p.id, p.role.name, p.user.user_name)
                          for p in vm.permissions),
        snapshots=tuple(SnapshotState(s.id, s.description, s.status, s.type, s.date)
                        for s in vm.snapshots),
        extra=dict(vm.extra),
        locked=vm.locked,
    )
