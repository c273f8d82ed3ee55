"""What creating a VM needs from the engine, looked up by name once per run:
the template's newest version, the cluster, the network's vNIC profile and
the thin-client user."""

from __future__ import annotations

from typing import Any, List, Sequence

from vdictl.config.rooms import VmSpec
from vdictl.errors import NotFound, Unsupported

from .connection import OvirtConnection


def find_template(conn: OvirtConnection, spec: VmSpec) -> Any:
    """The newest version of the template named in `spec`."""
    def version(t: Any) -> int:
        return (t.version.version_number or 0) if t.version is not None else 0
    return max(conn.find_named("templates", spec.template_name, spec.name), key=version)


def find_cluster(conn: OvirtConnection, spec: VmSpec) -> Any:
    return conn.find_named("clusters", spec.cluster or "", spec.name)[0]


def find_vnic_profile(conn: OvirtConnection, spec: VmSpec) -> str:
    """The id of the vNIC profile of network `spec.network_name`."""
    net = spec.network_name or ""
    net_ids = {n.id for n in conn.find_named("networks", net, spec.name)}
    all_profiles = conn.cached(("vnic_profiles", ""), lambda: list(
        conn.call(lambda s: s.vnic_profiles_service().list(), vm=spec.name)))
    profiles = [p for p in all_profiles if p.network is not None and p.network.id in net_ids]
    if not profiles:
        raise NotFound(f"no vNIC profile on network {net!r}", driver=conn.driver, vm=spec.name)
    # the profile named like the network is the engine's default one
    profiles.sort(key=lambda p: (p.name != net, p.name or ""))
    return profiles[0].id


def find_user(conn: OvirtConnection, spec: VmSpec) -> str:
    """The id of `spec.tc_user` (user@domain; the engine may add '-authz')."""
    want = spec.tc_user or ""
    users = conn.cached(("users", want), lambda: list(
        conn.call(lambda s: s.users_service().list(search=f"usrname={want}"), vm=spec.name)))
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
        raise NotFound(f"user {want!r} not found", driver=conn.driver, vm=spec.name)
    return hits[0].id


def check_create(conn: OvirtConnection, specs: Sequence[VmSpec]) -> None:
    """Every template, cluster, network and user `specs` need, looked up once."""
    missing: List[str] = []
    seen = set()
    for spec in specs:
        if spec.personalisation is not None and spec.personalisation.network_config:
            raise Unsupported("cloud_init_network_config: the engine builds the guest's "
                              "network config itself (from ip_addresses, netmask_suffix, "
                              "default_gateway); remove the key", driver=conn.driver,
                              vm=spec.name)
        needs = [(find_template, spec.template_name)]
        needs += [(find_cluster, spec.cluster)] if spec.cluster else []
        needs += [(find_vnic_profile, spec.network_name)] if spec.network_name else []
        needs += [(find_user, spec.tc_user)] if spec.tc_user else []
        for find, value in needs:
            if (find, value) in seen:
                continue
            seen.add((find, value))
            try:
                find(conn, spec)
            except NotFound as exc:
                missing.append(exc.message)
    if missing:
        raise NotFound("; ".join(missing), driver=conn.driver)


def uses_template(conn: OvirtConnection, spec: VmSpec) -> bool:
    """Whether the VM of `spec` was made from the newest version of its template."""
    v = conn.sdk_vm(spec.name)
    return v.template is not None and v.template.id == find_template(conn, spec).id
