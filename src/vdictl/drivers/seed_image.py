"""The first-boot media of a libvirt or Proxmox VE guest: an ISO image built in
process (pycdlib), a NoCloud seed for cloud-init or a CD with Autounattend.xml
for Windows Setup (see docs/backends/libvirt.md and docs/backends/proxmox.md).
Names are written in ISO 9660, Joliet and Rock Ridge form, so Linux and
Windows both see them as written."""

from __future__ import annotations

import io
from typing import Dict, List, Tuple

from vdictl.config.rooms import SYSPREP
from vdictl.errors import MissingDependency
from vdictl.firstboot.payload import Payload

CIDATA_LABEL = "cidata"
UNATTEND_LABEL = "UNATTEND"


def seed_files(payload: Payload) -> Tuple[str, List[Tuple[str, bytes]]]:
    """(volume label, [(file name, content)]) of the payload's image."""
    if payload.kind == SYSPREP:
        return UNATTEND_LABEL, [("Autounattend.xml", (payload.autounattend or "").encode("utf-8"))]
    files = [("user-data", (payload.user_data or "").encode("utf-8")),
             ("meta-data", payload.meta_data.encode("utf-8"))]
    if payload.network_config is not None:
        files.append(("network-config", payload.network_config.encode("utf-8")))
    return CIDATA_LABEL, files


def _iso9660_name(name: str) -> str:
    base, _, ext = name.upper().partition(".")
    clean = "".join(ch if ch.isalnum() else "_" for ch in base)[:30]
    return f"/{clean}.{ext[:3]};1"


def build_seed_image(payload: Payload) -> bytes:
    try:
        import pycdlib
    except ImportError:  # pragma: no cover - a dependency of the libvirt extra
        raise MissingDependency("pycdlib is needed for first-boot media: pip install "
                                "'vdictl[libvirt]' or 'vdictl[proxmox]'") from None
    label, files = seed_files(payload)
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=label)
    for name, data in files:
        iso.add_fp(io.BytesIO(data), len(data), _iso9660_name(name), rr_name=name,
                   joliet_path=f"/{name}")
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def read_seed_image(data: bytes) -> Tuple[str, Dict[str, bytes]]:
    """(volume label, {Rock Ridge name: content}): for tests and diagnostics."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    try:
        label = iso.pvd.volume_identifier.decode("ascii").strip()
        files = {}
        for child in iso.list_children(rr_path="/"):
            if child.is_dot() or child.is_dotdot():
                continue
            name = child.rock_ridge.name().decode("utf-8")
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
            files[name] = out.getvalue()
        return label, files
    finally:
        iso.close()
