"""Create and delete VMs, and record their rollout phase in the owner mark."""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Tuple

import ovirtsdk4.types as types

from vdictl.config.rooms import VmSpec
from vdictl.errors import AlreadyExists, DriverError, NotFound, NotOwned, WrongState
from vdictl.model import Owner, Vm

from .connection import OvirtConnection
from .lookups import find_cluster, find_template, find_user, find_vnic_profile
from .owner_mark import owner_comment, parse_owner
from .records import to_vm

log = logging.getLogger(__name__)

NIC_NAME = "nic1"
USER_ROLE = "UserRole"


def _new_vm(spec: VmSpec, owner: Owner, template: Any, cluster: Optional[Any]) -> Any:
    # a personalised VM becomes stateless only after its first boot (finish_vm),
    # or the sysprep/cloud-init run would be thrown away at its power-off
    stateless = bool(spec.stateless) and spec.personalisation is None
    kw: Dict[str, Any] = dict(name=spec.name, template=types.Template(id=template.id),
                              comment=owner_comment(owner), stateless=stateless)
    if cluster is not None:
        kw["cluster"] = types.Cluster(id=cluster.id)
    elif template.cluster is not None and template.cluster.id:
        kw["cluster"] = types.Cluster(id=template.cluster.id)
    if spec.memory:
        kw["memory"] = spec.memory
        kw["memory_policy"] = types.MemoryPolicy(guaranteed=spec.memory, max=spec.memory * 4)
    if spec.description is not None:
        kw["description"] = spec.description
    if spec.os:
        kw["os"] = types.OperatingSystem(type=spec.os)
    if spec.timezone:
        kw["time_zone"] = types.TimeZone(name=spec.timezone)
    if spec.usb is not None:
        kw["usb"] = types.Usb(enabled=bool(spec.usb))
    return types.Vm(**kw)


def _ensure_nic(conn: OvirtConnection, vm_id: str, name: str, profile_id: str) -> None:
    def nics_service(s: Any) -> Any:
        return conn.vm_service(s, vm_id).nics_service()

    def existing() -> Optional[Any]:
        return next((n for n in conn.call(lambda s: nics_service(s).list(), vm=name)
                     if n.name == NIC_NAME), None)

    nic = existing()
    if nic is None:
        conn.call(lambda s: nics_service(s).add(
            types.Nic(name=NIC_NAME, vnic_profile=types.VnicProfile(id=profile_id))),
            vm=name, before_retry=lambda: (existing() is not None, None))
    elif nic.vnic_profile is None or nic.vnic_profile.id != profile_id:
        conn.call(lambda s: nics_service(s).nic_service(nic.id).update(
            types.Nic(vnic_profile=types.VnicProfile(id=profile_id))), vm=name)


def grant(conn: OvirtConnection, vm_id: str, name: str, user_id: str) -> None:
    """Give the user `user_id` the UserRole on VM `vm_id`."""
    perm = types.Permission(role=types.Role(name=USER_ROLE), user=types.User(id=user_id))
    try:
        conn.call(lambda s: conn.vm_service(s, vm_id).permissions_service().add(perm), vm=name)
    except AlreadyExists:  # a retried add whose first attempt went through
        pass


def create_vm(conn: OvirtConnection, *, spec: VmSpec, owner: Owner, timeout: float) -> Vm:
    name = spec.name
    if name in conn.search_vms([name]):
        raise AlreadyExists("a VM with this name already exists", driver=conn.driver, vm=name)
    template = find_template(conn, spec)
    cluster = find_cluster(conn, spec) if spec.cluster else None
    profile_id = find_vnic_profile(conn, spec) if spec.network_name else None
    user_id = find_user(conn, spec) if spec.tc_user else None
    mark = owner_comment(owner)

    def adopt() -> Tuple[bool, Any]:
        v = conn.search_vms([name]).get(name)
        if v is None:
            return False, None
        if (v.comment or "").strip() != mark:
            raise DriverError("a VM with this name appeared meanwhile (not ours)",
                              driver=conn.driver, vm=name)
        return True, v

    added = conn.call(lambda s: s.vms_service().add(_new_vm(spec, owner, template, cluster)),
                      vm=name, before_retry=adopt)
    log.debug("%s: added as %s from template %s", name, added.id, template.id)
    try:
        conn.wait_status(name, types.VmStatus.DOWN, timeout,
                         "the new VM's disks to be unlocked")
        if profile_id is not None:
            _ensure_nic(conn, added.id, name, profile_id)
        if user_id is not None and spec.personalisation is None:
            grant(conn, added.id, name, user_id)  # personalised: after the first boot
        return to_vm(conn.sdk_vm(name), conn.url)
    except BaseException:
        _undo_create(conn, added.id, name, timeout)
        raise


def _undo_create(conn: OvirtConnection, vm_id: str, name: str, timeout: float) -> None:
    """Remove the half-made VM; log, never raise."""
    try:
        conn.wait_room(name, lambda st: st != types.VmStatus.IMAGE_LOCKED, timeout,
                       "the half-made VM to unlock")
        conn.call(lambda s: conn.vm_service(s, vm_id).remove(), vm=name)
    except NotFound:
        pass
    except Exception as exc:  # noqa: BLE001
        log.error("%s: could not remove the half-created VM %s: %s", name, vm_id, exc)


def delete_vm(conn: OvirtConnection, *, name: str, timeout: float) -> None:
    v = conn.sdk_vm(name)
    if parse_owner(v.comment) is None:
        raise NotOwned("VM has no vdictl owner mark in its comment; not deleting it",
                       driver=conn.driver, vm=name)
    if v.status != types.VmStatus.DOWN:
        raise WrongState(f"VM is {v.status.value}; stop it before deleting", driver=conn.driver,
                         vm=name)

    def gone() -> Tuple[bool, None]:
        return name not in conn.search_vms([name]), None

    try:
        conn.call(lambda s: conn.vm_service(s, v.id).remove(), vm=name,
                  what=f"VM {name!r}", before_retry=gone)
    except NotFound:
        pass
    conn.wait_room(name, lambda st: st is None, timeout, "the VM to be removed")


def set_phase(conn: OvirtConnection, *, name: str, phase: str) -> None:
    """Write `phase` into the owner mark of VM `name`."""
    v = conn.sdk_vm(name)
    owner = parse_owner(v.comment)
    if owner is None:
        raise DriverError("VM has no vdictl owner mark; no phase recorded", driver=conn.driver,
                          vm=name)
    comment = owner_comment(owner, phase)
    conn.call(lambda s: conn.vm_service(s, v.id).update(types.Vm(comment=comment)),
              vm=name, what=f"VM {name!r}")
