"""What creating a VM needs, looked up by name: the template (a guest with
template = 1), the node, the storage, the resource pool and the ISO storage.
check_create names every missing item at once."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from vdictl.config.rooms import VmSpec
from vdictl.errors import DriverError, NotFound, Unsupported

from .connection import PveConnection, VmRef

#: VmSpec fields of other backends that the proxmox driver does not apply
IGNORED_KEYS = ("cluster", "network_name", "tc_user", "os", "timezone", "usb")
#: disk keys of a QEMU config
DISK_KEY = re.compile(r"^(?:ide|sata|scsi|virtio|efidisk|tpmstate)\d+$")


def templates(conn: PveConnection, name: str,
              listing: Optional[List[Dict[str, Any]]] = None) -> List[VmRef]:
    """The templates named `name`, in `listing` (default: a new one)."""
    return [VmRef(name, str(e["node"]), int(e["vmid"]), e)
            for e in (conn.resources() if listing is None else listing)
            if e.get("template") and e.get("name") == name]


def find_template(conn: PveConnection, name: str, vm: Optional[str] = None,
                  listing: Optional[List[Dict[str, Any]]] = None) -> VmRef:
    """The template `name`; NotFound without one, DriverError with two."""
    found = templates(conn, name, listing)
    if not found:
        raise NotFound(f"template {name!r} not found", driver=conn.driver, vm=vm or name)
    if len(found) > 1:
        ids = ", ".join(str(t.vmid) for t in found)
        raise DriverError(f"{len(found)} templates are named {name!r} (vmids {ids}); rename "
                          "all but one", driver=conn.driver, vm=vm or name)
    return found[0]


def listed_template(conn: PveConnection, name: str, vm: Optional[str] = None) -> VmRef:
    """find_template in the run's listing; one it lacks (made since?) is looked
    for in a new listing."""
    try:
        return find_template(conn, name, vm, conn.listing())
    except NotFound:
        conn.forget_listing()
        return find_template(conn, name, vm)


def template_and_config(conn: PveConnection, spec: VmSpec) -> Tuple[VmRef, Dict[str, Any]]:
    """The template of `spec` and its config, read once per run (the run's
    parallel clones, the storage check and the cloud-init check share it)."""
    seen = conn.template_seen(spec.template_name)
    if seen is not None:
        return seen
    with conn.template_lock:
        seen = conn.template_seen(spec.template_name)
        if seen is None:
            template = listed_template(conn, spec.template_name, spec.name)
            seen = template, conn.config(template)
            conn.remember_template(*seen)
    return seen


def disks(config: Dict[str, Any]) -> Dict[str, str]:
    """The config's disks (not CD-ROMs), by key:
    {"scsi0": "local-lvm:base-9000-disk-0,size=32G"}."""
    return {k: str(v) for k, v in config.items()
            if DISK_KEY.match(k) and "media=cdrom" not in str(v) and str(v) != "none"}


def volume(value: str) -> str:
    """"local-lvm:base-9000-disk-0/vm-101-disk-0,size=32G" -> its volume id."""
    return value.split(",", 1)[0]


def base_volumes(config: Dict[str, Any]) -> Set[str]:
    """The template's volumes (what a linked clone's disks refer to)."""
    return {volume(v) for v in disks(config).values()}


def uses_base(config: Dict[str, Any], bases: Set[str]) -> bool:
    """Whether a VM's disks are linked clones of one of `bases`: a volume
    "STORAGE:base-9000-disk-0/vm-101-disk-0" names its base before the /."""
    for value in disks(config).values():
        storage, _, name = volume(value).partition(":")
        if "/" in name and f"{storage}:{name.split('/', 1)[0]}" in bases:
            return True
    return False


def storage_of(config: Dict[str, Any]) -> Optional[str]:
    """The storage of the config's first disk."""
    for value in disks(config).values():
        return volume(value).split(":", 1)[0]
    return None


def _listing(conn: PveConnection
             ) -> Tuple[Set[str], Dict[Tuple[str, str], str], Set[str], Set[str]]:
    """The nodes, the storages by (node, storage) -> content, the pools, and
    the shared storages."""
    nodes = {str(n.get("node")) for n in conn.call(lambda a: a.nodes.get()) or []}
    entries = conn.call(lambda a: a.cluster.resources.get(type="storage")) or []
    storages = {(str(s.get("node")), str(s.get("storage"))): str(s.get("content") or "")
                for s in entries}
    shared = {str(s.get("storage")) for s in entries if str(s.get("shared")) == "1"}
    pools = {str(p.get("poolid")) for p in conn.call(lambda a: a.pools.get()) or []}
    return nodes, storages, pools, shared


def refuse_local_elsewhere(conn: PveConnection, spec: VmSpec, template: VmRef,
                           config: Dict[str, Any], shared: Set[str]) -> None:
    """Proxmox VE clones onto another node only from disks on shared storage,
    and only onto shared storage; refused for the room (not one VM) before
    any clone, with what to do."""
    if not spec.node or spec.node == template.node:
        return
    local = sorted({volume(v).split(":", 1)[0] for v in disks(config).values()} - shared)
    if local:
        raise Unsupported(
            f"node = {spec.node}: template {template.name!r} has its disks on "
            f"{', '.join(local)}, local storage of {template.node}, and Proxmox VE clones onto "
            f"another node only from shared storage; remove node (the VMs then go to "
            f"{template.node}), or move the template's disks to shared storage, or make a "
            f"template on {spec.node}", driver=conn.driver)
    if spec.storage and spec.storage not in shared:
        raise Unsupported(
            f"node = {spec.node}, storage = {spec.storage}: a clone onto another node than "
            f"its template's ({template.node}) must go to shared storage; choose a shared "
            "storage or remove storage", driver=conn.driver)


def _needs(spec: VmSpec, node: str, nodes: Set[str], storages: Dict[Tuple[str, str], str],
           pools: Set[str]) -> List[str]:
    """What `spec` names that is missing (node, storage, pool, ISO storage)."""
    missing = []
    no_node = bool(spec.node) and spec.node not in nodes
    if no_node:
        missing.append(f"node {spec.node!r} not found")
    # a storage other nodes have is not named again for a node that does not exist
    known = {name for _, name in storages}
    if spec.storage and not (no_node and spec.storage in known):
        content = storages.get((node, spec.storage))
        if content is None:
            missing.append(f"storage {spec.storage!r} not found on node {node!r}")
        elif "images" not in content.split(","):
            missing.append(f"storage {spec.storage!r} holds no VM disks (content: {content})")
    if spec.pool and spec.pool not in pools:
        missing.append(f"resource pool {spec.pool!r} not found")
    if spec.personalisation is not None and not (no_node and spec.iso_storage in known):
        content = storages.get((node, spec.iso_storage))
        if content is None:
            missing.append(f"ISO storage {spec.iso_storage!r} not found on node {node!r}")
        elif "iso" not in content.split(","):
            missing.append(f"storage {spec.iso_storage!r} (iso_storage) holds no ISO images "
                           f"(content: {content})")
    return missing


def pve_cloudinit_drive(config: Dict[str, Any]) -> Optional[str]:
    """The key of the config's Proxmox VE cloud-init drive, if any."""
    return next((k for k, v in config.items() if DISK_KEY.match(k) and "cloudinit" in str(v)),
                None)


def refuse_unused(conn: PveConnection, spec: VmSpec) -> None:
    """Keys this driver does not apply would silently do nothing: Unsupported."""
    unused = [k for k in IGNORED_KEYS if getattr(spec, k) not in (None, "")]
    if unused:
        raise Unsupported(f"{', '.join(unused)}: not used by the proxmox driver; remove "
                          f"{'it' if len(unused) == 1 else 'them'} (VM settings come from "
                          "the template; a thin-client account gets access through a "
                          "resource pool: pool = NAME and a permission on /pool/NAME)",
                          driver=conn.driver, vm=spec.name)


def refuse_two_cloudinits(conn: PveConnection, spec: VmSpec, template: VmRef,
                          config: Dict[str, Any]) -> None:
    """A cloud-init payload comes on vdictl's own NoCloud CD; the template's
    Proxmox VE cloud-init drive would be a second, competing source."""
    drive = pve_cloudinit_drive(config)
    if drive and spec.personalisation is not None and spec.personalisation.user_data:
        raise Unsupported(
            f"template {template.name!r} has a Proxmox VE cloud-init drive ({drive}), and "
            "cloud_init_user_data comes on vdictl's own cloud-init CD: two sources would "
            f"compete; remove the drive from the template (qm set {template.vmid} --delete "
            f"{drive} on {template.node}) or use a template without one",
            driver=conn.driver, vm=spec.name)


def check_create(conn: PveConnection, specs: Sequence[VmSpec]) -> None:
    """Every template, node, storage, pool and ISO storage `specs` need."""
    missing: List[str] = []
    listing = _listing(conn)
    found: Dict[str, Optional[VmRef]] = {}
    configs: Dict[str, Dict[str, Any]] = {}
    for spec in specs:
        refuse_unused(conn, spec)
        if spec.template_name not in found:
            try:
                found[spec.template_name] = listed_template(conn, spec.template_name,
                                                            spec.name)
            except NotFound as exc:
                found[spec.template_name] = None
                missing.append(exc.message)
        template = found[spec.template_name]
        elsewhere = template is not None and spec.node not in (None, "", template.node)
        if template is not None and (spec.personalisation is not None or elsewhere):
            if template.name not in configs:
                configs[template.name] = conn.config(template)
            refuse_two_cloudinits(conn, spec, template, configs[template.name])
            if spec.node in listing[0]:
                refuse_local_elsewhere(conn, spec, template, configs[template.name],
                                       listing[3])
        node = spec.node or (template.node if template is not None else "")
        for item in _needs(spec, node, *listing[:3]):
            if item not in missing:
                missing.append(item)
    if missing:
        raise NotFound("; ".join(missing), driver=conn.driver)


def uses_template(conn: PveConnection, spec: VmSpec) -> bool:
    """Whether the VM of `spec` is a linked clone of template `spec.template_name`."""
    template = find_template(conn, spec.template_name, spec.name)
    bases = base_volumes(conn.config(template))
    return uses_base(conn.config(conn.ref(spec.name)), bases)
