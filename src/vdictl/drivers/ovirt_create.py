"""The ovirt driver's owner mark and create_vm (split out of ovirt.py for size)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import quote, unquote

import ovirtsdk4.types as types

from vdictl.errors import AlreadyExists, DriverError, NotFound, Unsupported
from vdictl.model import Owner, Vm
from vdictl.rooms import SYSPREP, VmSpec
from vdictl.values import netmask

if TYPE_CHECKING:  # pragma: no cover
    from vdictl.payloads import Payload

    from .ovirt import OvirtDriver

log = logging.getLogger(__name__)

#: the comment of every VM vdictl creates starts with this
OWNER_PREFIX = "vdictl:"
NIC_NAME = "nic1"
USER_ROLE = "UserRole"


def owner_comment(owner: Owner, phase: Optional[str] = None) -> str:
    def q(v: str) -> str:
        return quote(v, safe="")
    text = (f"{OWNER_PREFIX}room={q(owner.room)};subsection={q(owner.subsection)};"
            f"version={q(owner.tool_version)}")
    return text + (f";phase={q(phase)}" if phase else "")


def _comment_fields(comment: Optional[str]) -> Dict[str, str]:
    text = (comment or "").strip()
    if not text.startswith(OWNER_PREFIX):
        return {}
    fields: Dict[str, str] = {}
    for part in text[len(OWNER_PREFIX):].splitlines()[0].split(";"):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip()] = unquote(value.strip())
    return fields


def parse_owner(comment: Optional[str]) -> Optional[Owner]:
    """The Owner of a VM comment, or None without the vdictl prefix."""
    fields = _comment_fields(comment)
    if "room" not in fields:
        return None
    return Owner(room=fields["room"], subsection=fields.get("subsection", ""),
                 tool_version=fields.get("version", ""))


def parse_phase(comment: Optional[str]) -> Optional[str]:
    """The rollout phase recorded in a VM comment (`phase=`), if any."""
    return _comment_fields(comment).get("phase") or None


def _cached(drv: "OvirtDriver", key: Tuple[str, str], compute: Callable[[], Any]) -> Any:
    """Look a template, cluster, network or user up once per run, not once per VM."""
    try:
        return drv._lookups[key]
    except KeyError:
        value = drv._lookups[key] = compute()
        return value


def _find_named(drv: "OvirtDriver", kind: str, name: str, vm: str) -> list:
    """The entities of `kind` ("templates", "clusters", "networks") named exactly `name`."""
    def search() -> list:
        listed = drv._call(lambda s: getattr(s, f"{kind}_service")().list(search=f"name={name}"),
                           vm=vm)
        return [item for item in listed if (item.name or "") == name]

    found = _cached(drv, (kind, name), search)
    if not found:
        raise NotFound(f"{kind[:-1]} {name!r} not found", driver=drv.name, vm=vm)
    return found


def find_template(drv: "OvirtDriver", spec: VmSpec) -> Any:
    """The newest version of the template named in `spec`."""
    def version(t: Any) -> int:
        return (t.version.version_number or 0) if t.version is not None else 0
    return max(_find_named(drv, "templates", spec.template_name, spec.name), key=version)


def find_cluster(drv: "OvirtDriver", spec: VmSpec) -> Any:
    return _find_named(drv, "clusters", spec.cluster or "", spec.name)[0]


def find_vnic_profile(drv: "OvirtDriver", spec: VmSpec) -> str:
    """The id of the vNIC profile of network `spec.network_name`."""
    net = spec.network_name or ""
    net_ids = {n.id for n in _find_named(drv, "networks", net, spec.name)}
    all_profiles = _cached(drv, ("vnic_profiles", ""), lambda: list(
        drv._call(lambda s: s.vnic_profiles_service().list(), vm=spec.name)))
    profiles = [p for p in all_profiles if p.network is not None and p.network.id in net_ids]
    if not profiles:
        raise NotFound(f"no vNIC profile on network {net!r}", driver=drv.name, vm=spec.name)
    # the profile named like the network is the engine's default one
    profiles.sort(key=lambda p: (p.name != net, p.name or ""))
    return profiles[0].id


def find_user(drv: "OvirtDriver", spec: VmSpec) -> str:
    """The id of `spec.tc_user` (user@domain; the engine may add '-authz')."""
    want = spec.tc_user or ""
    users = _cached(drv, ("users", want), lambda: list(
        drv._call(lambda s: s.users_service().list(search=f"usrname={want}"), vm=spec.name)))
    principal, _, domain = want.partition("@")

    def matches(u: Any) -> bool:
        if (u.user_name or "") == want:
            return True
        udomain = (u.domain.name or "") if u.domain is not None else ""
        uname = u.principal or u.user_name or ""
        uname = uname.partition("@")[0]
        return uname == principal and (not domain or udomain in (domain, f"{domain}-authz"))

    hits = [u for u in users if matches(u)]
    if not hits:
        raise NotFound(f"user {want!r} not found", driver=drv.name, vm=spec.name)
    return hits[0].id


def check_create(drv: "OvirtDriver", specs: Sequence[VmSpec]) -> None:
    """Every template, cluster, network and user `specs` need, looked up once."""
    missing: List[str] = []
    seen = set()
    for spec in specs:
        if spec.personalisation is not None and spec.personalisation.network_config:
            raise Unsupported("cloud_init_network_config: the engine builds the guest's "
                              "network config itself (from ip_addresses, netmask_suffix, "
                              "default_gateway); remove the key", driver=drv.name, vm=spec.name)
        needs = [(find_template, spec.template_name)]
        needs += [(find_cluster, spec.cluster)] if spec.cluster else []
        needs += [(find_vnic_profile, spec.network_name)] if spec.network_name else []
        needs += [(find_user, spec.tc_user)] if spec.tc_user else []
        for find, value in needs:
            if (find, value) in seen:
                continue
            seen.add((find, value))
            try:
                find(drv, spec)
            except NotFound as exc:
                missing.append(exc.message)
    if missing:
        raise NotFound("; ".join(missing), driver=drv.name)


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


def _ensure_nic(drv: "OvirtDriver", vm_id: str, name: str, profile_id: str) -> None:
    def nics_service(s: Any) -> Any:
        return s.vms_service().vm_service(vm_id).nics_service()

    def existing() -> Optional[Any]:
        return next((n for n in drv._call(lambda s: nics_service(s).list(), vm=name)
                     if n.name == NIC_NAME), None)

    nic = existing()
    if nic is None:
        drv._call(lambda s: nics_service(s).add(
            types.Nic(name=NIC_NAME, vnic_profile=types.VnicProfile(id=profile_id))),
            vm=name, before_retry=lambda: (existing() is not None, None))
    elif nic.vnic_profile is None or nic.vnic_profile.id != profile_id:
        drv._call(lambda s: nics_service(s).nic_service(nic.id).update(
            types.Nic(vnic_profile=types.VnicProfile(id=profile_id))), vm=name)


def _grant(drv: "OvirtDriver", vm_id: str, name: str, user_id: str) -> None:
    perm = types.Permission(role=types.Role(name=USER_ROLE), user=types.User(id=user_id))
    try:
        drv._call(lambda s: s.vms_service().vm_service(vm_id).permissions_service().add(perm),
                  vm=name)
    except AlreadyExists:  # a retried add whose first attempt went through
        pass


def create_vm(drv: "OvirtDriver", *, spec: VmSpec, owner: Owner, timeout: float) -> Vm:
    name = spec.name
    if name in drv._search_vms([name]):
        raise AlreadyExists("a VM with this name already exists", driver=drv.name, vm=name)
    template = find_template(drv, spec)
    cluster = find_cluster(drv, spec) if spec.cluster else None
    profile_id = find_vnic_profile(drv, spec) if spec.network_name else None
    user_id = find_user(drv, spec) if spec.tc_user else None
    mark = owner_comment(owner)

    def adopt() -> Tuple[bool, Any]:
        v = drv._search_vms([name]).get(name)
        if v is None:
            return False, None
        if (v.comment or "").strip() != mark:
            raise DriverError("a VM with this name appeared meanwhile (not ours)",
                              driver=drv.name, vm=name)
        return True, v

    added = drv._call(lambda s: s.vms_service().add(_new_vm(spec, owner, template, cluster)),
                      vm=name, before_retry=adopt)
    log.debug("%s: added as %s from template %s", name, added.id, template.id)
    try:
        drv._wait_status(name, types.VmStatus.DOWN, timeout,
                         "the new VM's disks to be unlocked")
        if profile_id is not None:
            _ensure_nic(drv, added.id, name, profile_id)
        if user_id is not None and spec.personalisation is None:
            _grant(drv, added.id, name, user_id)  # personalised: after the first boot
        return drv.get_vm(name=name)
    except BaseException:
        _undo_create(drv, added.id, name, timeout)
        raise


def _undo_create(drv: "OvirtDriver", vm_id: str, name: str, timeout: float) -> None:
    """Remove the half-made VM; log, never raise."""
    try:
        drv._wait_room(name, lambda st: st != types.VmStatus.IMAGE_LOCKED, timeout,
                       "the half-made VM to unlock")
        drv._call(lambda s: s.vms_service().vm_service(vm_id).remove(), vm=name)
    except NotFound:
        pass
    except Exception as exc:  # noqa: BLE001
        log.error("%s: could not remove the half-created VM %s: %s", name, vm_id, exc)


# -- first boot ---------------------------------------------------------------
def initialization(spec: VmSpec, payload: "Payload") -> Any:
    """The engine's run-once initialization carrying the payload verbatim."""
    kw: Dict[str, Any] = dict(host_name=payload.host_name)
    if payload.kind == SYSPREP:
        kw["custom_script"] = payload.autounattend
    else:
        kw["custom_script"] = payload.user_data
        if spec.ip:
            kw["nic_configurations"] = [types.NicConfiguration(
                name="eth0", on_boot=True, boot_protocol=types.BootProtocol.STATIC,
                ip=types.Ip(address=spec.ip, gateway=spec.default_gateway,
                            netmask=netmask(spec.netmask_suffix)))]
    return types.Initialization(**kw)


def personalise_vm(drv: "OvirtDriver", *, spec: VmSpec, payload: "Payload",
                   timeout: float) -> None:
    name = spec.name
    v = drv._sdk_vm(name)
    if v.status == types.VmStatus.DOWN:
        flag = "use_sysprep" if payload.kind == SYSPREP else "use_cloud_init"
        init = initialization(spec, payload)
        drv._call(lambda s: s.vms_service().vm_service(v.id).start(
            **{flag: True}, vm=types.Vm(initialization=init)),
            vm=name, what=f"VM {name!r}",
            before_retry=lambda: (drv._status(v.id, name) != types.VmStatus.DOWN, None))
        log.info("%s: started once with %s; waiting for the guest's power-off", name, flag)
    drv._wait_status(name, types.VmStatus.DOWN, timeout,
                     f"the guest to power itself off after {payload.kind}")


def finish_vm(drv: "OvirtDriver", *, spec: VmSpec, timeout: float) -> None:
    """Stateless and the tc_user role, applied once the first boot is over."""
    name = spec.name
    v = drv._sdk_vm(name)
    if spec.stateless and not v.stateless:
        drv._call(lambda s: s.vms_service().vm_service(v.id).update(
            types.Vm(stateless=True)), vm=name, what=f"VM {name!r}")
    if spec.tc_user:
        user_id = find_user(drv, spec)
        perms = drv._call(lambda s: s.vms_service().vm_service(v.id)
                          .permissions_service().list(), vm=name)
        if not any(p.user is not None and p.user.id == user_id for p in perms):
            _grant(drv, v.id, name, user_id)


def set_phase(drv: "OvirtDriver", *, name: str, phase: str) -> None:
    v = drv._sdk_vm(name)
    owner = parse_owner(v.comment)
    if owner is None:
        raise DriverError("VM has no vdictl owner mark; no phase recorded", driver=drv.name,
                          vm=name)
    comment = owner_comment(owner, phase)
    drv._call(lambda s: s.vms_service().vm_service(v.id).update(types.Vm(comment=comment)),
              vm=name, what=f"VM {name!r}")
