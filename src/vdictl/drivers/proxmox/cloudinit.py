"""Proxmox VE's own cloud-init, through the template's cloud-init drive: the
clone's ipconfig0 from the room's IP keys, and nameserver, searchdomain,
ciuser and sshkeys from its keys of the same names, set with its memory and
tag (create.py). A room with a first-boot payload (cloud_init_user_data,
autounattend_templatefile) boots from vdictl's own CD instead (firstboot.py).
The guest's host name is the VM's name: Proxmox VE's cloud-init takes it
from there (docs/backends/proxmox.md, "First boot")."""

from __future__ import annotations

import ipaddress
from typing import Any, Dict, List, Optional, Sequence
from urllib.parse import quote

from vdictl.config.rooms import VmSpec
from vdictl.errors import DriverError, Unsupported

from .connection import PveConnection
from .lookups import pve_cloudinit_drive, storage_of, template_and_config

#: the room keys Proxmox VE's cloud-init drive carries (ssh_keys_file: sshkeys)
KEYS = ("nameserver", "searchdomain", "ciuser", "ssh_keys_file")
#: how an OpenSSH public key line starts (ssh-ed25519, ssh-rsa, ecdsa-sha2-..., sk-...)
KEY_TYPES = ("ssh-", "ecdsa-", "sk-")


def keys_set(spec: VmSpec) -> List[str]:
    return [k for k in KEYS if getattr(spec, k)]


def ssh_keys(path: str, vm: str) -> str:
    """The keys of `path`, one per line, without blank lines and # comments
    (Proxmox VE checks every line it gets with ssh-keygen)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [line.strip() for line in fh]
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise DriverError(f"ssh_keys_file {path}: cannot read it ({reason})", driver="proxmox",
                          vm=vm) from None
    keys = []
    for number, line in enumerate(lines, 1):
        if not line or line.startswith("#"):
            continue
        if not line.startswith(KEY_TYPES) or len(line.split()) < 2:
            raise DriverError(f"ssh_keys_file {path} line {number}: not an SSH public key; "
                              "write one per line as in authorized_keys (TYPE BASE64 "
                              "[COMMENT], e.g. ssh-ed25519 AAAA... teacher@lab)",
                              driver="proxmox", vm=vm)
        keys.append(line)
    if not keys:
        raise DriverError(f"ssh_keys_file {path} holds no SSH public key", driver="proxmox",
                          vm=vm)
    return "\n".join(keys)


def ipconfig(spec: VmSpec) -> Optional[str]:
    """ipconfig0 of the VM's IP: "ip=192.0.2.11/24,gw=192.0.2.1" (ip6=, gw6= for
    IPv6); None without ip_addresses."""
    if not spec.ip:
        return None
    six = ipaddress.ip_address(spec.ip).version == 6
    value = f"{'ip6' if six else 'ip'}={spec.ip}/{spec.netmask_suffix}"
    if spec.default_gateway:
        value += f",{'gw6' if six else 'gw'}={spec.default_gateway}"
    return value


def settings(spec: VmSpec, config: Dict[str, Any]) -> Dict[str, Any]:
    """The clone's cloud-init keys: none unless its config has a Proxmox VE
    cloud-init drive and no first-boot payload comes on vdictl's CD."""
    if spec.personalisation is not None or pve_cloudinit_drive(config) is None:
        return {}
    values: Dict[str, Any] = {}
    if spec.ip:
        values["ipconfig0"] = ipconfig(spec)
    if spec.nameserver:
        values["nameserver"] = " ".join(spec.nameserver.split())
    if spec.searchdomain:
        values["searchdomain"] = spec.searchdomain
    if spec.ciuser:
        values["ciuser"] = spec.ciuser
    if spec.ssh_keys_file:
        # qemu-server's sshkeys is format 'urlencoded' ([-%a-zA-Z0-9_.!~*'()]), as the
        # web UI's encodeURIComponent writes it; the form encoding comes on top
        values["sshkeys"] = quote(ssh_keys(spec.ssh_keys_file, spec.name), safe="")
    return values


def _payload_key(spec: VmSpec) -> str:
    assert spec.personalisation is not None
    return ("autounattend_templatefile" if spec.personalisation.autounattend
            else "cloud_init_user_data")


def refuse(conn: PveConnection, spec: VmSpec, template: Any,
           tconfig: Dict[str, Any]) -> None:
    """The cloud-init keys that would silently not reach the guest."""
    wanted = keys_set(spec)
    them = "it" if len(wanted) == 1 else "them"
    if wanted and spec.personalisation is not None:
        raise Unsupported(
            f"{', '.join(wanted)}: Proxmox VE's cloud-init keys do not reach a VM that boots "
            f"with vdictl's own first-boot CD ({_payload_key(spec)}); write {them} into that "
            f"payload instead, or remove {them}", driver=conn.driver, vm=spec.name)
    if spec.personalisation is not None:
        return
    drive = pve_cloudinit_drive(tconfig)
    if wanted and drive is None:
        storage = storage_of(tconfig) or "STORAGE"
        raise Unsupported(
            f"{', '.join(wanted)}: template {template.name!r} has no Proxmox VE cloud-init "
            f"drive to carry {them}; add one (qm set {template.vmid} --ide2 "
            f"{storage}:cloudinit on {template.node}) or remove {them}",
            driver=conn.driver, vm=spec.name)
    if drive is not None and spec.ip and spec.netmask_suffix is None:
        raise Unsupported(
            f"ip_addresses without netmask_suffix: template {template.name!r} has a Proxmox "
            "VE cloud-init drive, and its ipconfig0 needs the address with its prefix "
            "length (ip=ADDRESS/PREFIX); set netmask_suffix, e.g. 24",
            driver=conn.driver, vm=spec.name)
    if spec.ssh_keys_file:
        ssh_keys(spec.ssh_keys_file, spec.name)


def check_create(conn: PveConnection, specs: Sequence[VmSpec]) -> None:
    """Before any clone: each VM's cloud-init keys can reach its guest (one
    template config read per template, only for the VMs that need it)."""
    for spec in specs:
        if not keys_set(spec) and (not spec.ip or spec.personalisation is not None):
            continue
        refuse(conn, spec, *template_and_config(conn, spec))  # kept for the clones
