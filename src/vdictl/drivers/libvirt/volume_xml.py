"""Storage volume XML: the overlays and copies vdictl makes, and what it reads
back from a volume (format, backing file)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Optional

from .xmldoc import parse, tostring

#: Disk formats vdictl can put a qcow2 overlay on.
OVERLAY_BACKING_FORMATS = ("qcow2", "raw")


def overlay_volume_name(vm_name: str, target: str) -> str:
    return f"{vm_name}-{target}.qcow2"


def seed_volume_name(vm_name: str) -> str:
    return f"{vm_name}-firstboot.iso"


def seed_volume_xml(name: str, size: int) -> str:
    """A raw volume of `size` bytes for the first-boot image."""
    return (f"<volume><name>{name}</name><capacity unit='bytes'>{size}</capacity>"
            "<target><format type='raw'/></target></volume>")


def copy_volume_xml(name: str, capacity: int) -> str:
    """A standalone qcow2 volume, for virStoragePoolCreateXMLFrom (a full copy)."""
    vol = ET.Element("volume")
    ET.SubElement(vol, "name").text = name
    ET.SubElement(vol, "capacity", {"unit": "bytes"}).text = str(int(capacity))
    target = ET.SubElement(vol, "target")
    ET.SubElement(target, "format", {"type": "qcow2"})
    ET.SubElement(target, "compat").text = "1.1"
    return tostring(vol)


def overlay_volume_xml(name: str, backing_path: str, backing_format: str,
                       capacity: Optional[int] = None) -> str:
    """A qcow2 volume backed by `backing_path`, for virStoragePoolCreateXML."""
    vol = ET.Element("volume")
    ET.SubElement(vol, "name").text = name
    if capacity is not None:
        ET.SubElement(vol, "capacity", {"unit": "bytes"}).text = str(int(capacity))
    target = ET.SubElement(vol, "target")
    ET.SubElement(target, "format", {"type": "qcow2"})
    # libvirt would otherwise write the old qcow2 v2 (compat 0.10) header
    ET.SubElement(target, "compat").text = "1.1"
    backing = ET.SubElement(vol, "backingStore")
    ET.SubElement(backing, "path").text = backing_path
    ET.SubElement(backing, "format", {"type": backing_format})
    return tostring(vol)


def volume_format(xml: str) -> Optional[str]:
    fmt = parse(xml).find("target/format")
    return fmt.get("type") if fmt is not None else None


def backing_path(volume_xml: str) -> Optional[str]:
    """The backing file of a volume (an overlay's template disk), if any."""
    return parse(volume_xml).findtext("backingStore/path")
