"""New domain XML made from another domain's: a VM's from its template, a
template's from its source VM; and the first-boot CD-ROM added and removed.
Pure: no connection, no libvirt import.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Dict, Optional, Sequence, Set

from vdictl.model import Owner

from .domain_xml import disk_sources
from .owner_mark import (OverlayVolume, TemplateMark, forget_volume, owner_element,
                         record_volume, replace_marks, template_element)
from .xmldoc import XmlError, parse, tostring


def clone_domain_xml(template_xml: str, *, name: str, overlays: Dict[str, str],
                     macs: Sequence[str], owner: Owner,
                     volumes: Sequence[OverlayVolume] = (),
                     memory_kib: Optional[int] = None,
                     description: Optional[str] = None,
                     transient: bool = False) -> str:
    """The domain XML of a new VM made from a template's inactive XML.

    See copy_domain; <metadata> gets the owner mark (and loses a template mark).
    """
    return copy_domain(template_xml, name=name, disks=overlays, macs=macs,
                       mark=owner_element(owner, volumes), memory_kib=memory_kib,
                       description=description, transient=transient)


def template_domain_xml(source_xml: str, *, name: str, disks: Dict[str, str],
                        macs: Sequence[str], mark: TemplateMark, tool_version: str) -> str:
    """The template domain made from a VM's inactive XML: its disks point at the
    full copies in `disks` (dev -> path), it has the template mark and no owner mark."""
    return copy_domain(source_xml, name=name, disks=disks, macs=macs,
                       mark=template_element(mark, tool_version))


def copy_domain(template_xml: str, *, name: str, disks: Dict[str, str],
                macs: Sequence[str], mark: ET.Element,
                memory_kib: Optional[int] = None,
                description: Optional[str] = None,
                transient: bool = False) -> str:
    """A new domain's XML made from another's inactive XML.

    - `name` replaces the name; <uuid> is dropped so libvirt assigns one;
    - each <interface> gets the next of `macs` and loses a fixed <target>;
    - each disk whose target is in `disks` (dev -> path) points at its
      qcow2 file; with `transient` it gets
      <transient shareBacking='yes'/>;
    - memory and currentMemory become `memory_kib` when given;
    - graphics with fixed ports switch to autoport;
    - UEFI <nvram> loses its path so libvirt makes a fresh one for the VM;
    - <metadata> keeps foreign elements, loses vdictl's marks and gets `mark`.
    """
    root = parse(template_xml, keep_prefixes=True)
    if root.tag != "domain":
        raise XmlError(f"not a domain XML (root is <{root.tag}>)")
    name_el = _rename(root, name)
    if description is not None:
        _set_description(root, name_el, description)
    if memory_kib is not None:
        _set_memory(root, memory_kib)
    _fresh_nvram(root)
    devices = root.find("devices")
    if devices is None:
        devices = ET.Element("devices")  # detached: a domain without devices stays so
    _set_macs(devices, macs)
    _point_disks(devices, disks, transient)
    _autoport_graphics(devices)
    replace_marks(_metadata(root), mark)
    return tostring(root)


def _rename(root: ET.Element, name: str) -> ET.Element:
    """Set the name, drop the <uuid> and empty <genid> (libvirt fills both in anew)."""
    name_el = root.find("name")
    if name_el is None:
        name_el = ET.Element("name")
        root.insert(0, name_el)
    name_el.text = name
    for uuid_el in root.findall("uuid"):
        root.remove(uuid_el)
    for genid in root.findall("genid"):
        genid.text = None
    return name_el


def _set_description(root: ET.Element, name_el: ET.Element, description: str) -> None:
    desc = root.find("description")
    if desc is None:
        desc = ET.Element("description")
        root.insert(list(root).index(name_el) + 1, desc)
    desc.text = description


def _set_memory(root: ET.Element, memory_kib: int) -> None:
    for tag in ("memory", "currentMemory"):
        el = root.find(tag)
        if el is None:
            el = ET.SubElement(root, tag)
        el.text = str(int(memory_kib))
        el.attrib.clear()
        el.set("unit", "KiB")


def _fresh_nvram(root: ET.Element) -> None:
    """A UEFI <nvram> without path: libvirt makes the VM its own from the template."""
    nvram = root.find("os/nvram")
    if nvram is not None:
        nvram.text = None
        for child in list(nvram):
            nvram.remove(child)


def _set_macs(devices: ET.Element, macs: Sequence[str]) -> None:
    interfaces = devices.findall("interface")
    if len(macs) < len(interfaces):
        raise XmlError(f"{len(interfaces)} interfaces but only {len(macs)} MAC addresses")
    for iface, mac in zip(interfaces, macs):
        mac_el = iface.find("mac")
        if mac_el is None:
            mac_el = ET.Element("mac")
            iface.insert(0, mac_el)
        mac_el.attrib.clear()
        mac_el.set("address", mac)
        for tgt in iface.findall("target"):
            iface.remove(tgt)


def _point_disks(devices: ET.Element, disks: Dict[str, str], transient: bool) -> None:
    done: Set[str] = set()
    for disk in devices.findall("disk"):
        target = disk.find("target")
        dev = target.get("dev") if target is not None else None
        if dev not in disks:
            continue
        point_disk_at(disk, disks[dev], transient)
        done.add(dev)
    missing = set(disks) - done
    if missing:
        raise XmlError(f"no disk with target {', '.join(sorted(missing))} in the template")


def point_disk_at(disk: ET.Element, path: str, transient: bool) -> None:
    """Make `disk` a qcow2 file disk on `path` (transient with a shared backing)."""
    disk.set("type", "file")
    driver = disk.find("driver")
    if driver is None:
        driver = ET.Element("driver", {"name": "qemu"})
        disk.insert(0, driver)
    driver.set("type", "qcow2")
    source = disk.find("source")
    if source is None:
        source = ET.Element("source")
        disk.insert(list(disk).index(driver) + 1, source)
    # keep <seclabel> and the like, drop pool/volume/startupPolicy of the template
    for attr in list(source.attrib):
        del source.attrib[attr]
    source.set("file", path)
    for backing in disk.findall("backingStore"):
        disk.remove(backing)
    for old in disk.findall("transient"):
        disk.remove(old)
    if transient:
        target = disk.find("target")
        pos = list(disk).index(target) + 1 if target is not None else len(disk)
        disk.insert(pos, ET.Element("transient", {"shareBacking": "yes"}))


def _autoport_graphics(devices: ET.Element) -> None:
    """Fixed ports would clash between clones."""
    for graphics in devices.findall("graphics"):
        if graphics.get("port") not in (None, "-1") or graphics.get("autoport") == "no":
            for attr in ("port", "tlsPort", "websocket"):
                graphics.attrib.pop(attr, None)
            graphics.set("autoport", "yes")


def _metadata(root: ET.Element) -> ET.Element:
    """The domain's <metadata>, made after the name/uuid/title elements if missing."""
    metadata = root.find("metadata")
    if metadata is None:
        metadata = ET.Element("metadata")
        pos = 1
        for i, child in enumerate(root):
            if child.tag in ("name", "uuid", "genid", "title", "description"):
                pos = i + 1
        root.insert(pos, metadata)
    return metadata


# -- first-boot CD-ROM -----------------------------------------------------------

def with_seed_cdrom(xml: str, path: str, volume: OverlayVolume) -> str:
    """The domain XML with a read-only CD-ROM on the seed image `path`, and the
    seed volume recorded in the owner mark (so delete_vm removes it too)."""
    root = parse(xml, keep_prefixes=True)
    devices = root.find("devices")
    if devices is None:
        raise XmlError("the domain has no <devices>")
    if path in disk_sources(xml).values():
        return xml
    os_type = root.find("os/type")
    machine = os_type.get("machine", "") if os_type is not None else ""
    bus, prefix = ("sata", "sd") if "q35" in machine else ("ide", "hd")
    used = {t.get("dev") for t in root.findall("devices/disk/target")}
    dev = next((prefix + c for c in "abcdefghijklmnopqrstuvwxyz" if prefix + c not in used),
               None)
    if dev is None:
        raise XmlError("no free disk name for the first-boot CD-ROM")
    disk = ET.Element("disk", {"type": "file", "device": "cdrom"})
    ET.SubElement(disk, "driver", {"name": "qemu", "type": "raw"})
    ET.SubElement(disk, "source", {"file": path})
    ET.SubElement(disk, "target", {"dev": dev, "bus": bus})
    ET.SubElement(disk, "readonly")
    disks = devices.findall("disk")
    pos = list(devices).index(disks[-1]) + 1 if disks else 0
    devices.insert(pos, disk)
    record_volume(root, volume)
    return tostring(root)


def without_seed_cdrom(xml: str, path: str) -> str:
    """The domain XML without the CD-ROM on `path` and without its volume record."""
    root = parse(xml, keep_prefixes=True)
    devices = root.find("devices")
    if devices is not None:
        for disk in devices.findall("disk"):
            source = disk.find("source")
            if disk.get("device") == "cdrom" and source is not None \
                    and source.get("file") == path:
                devices.remove(disk)
    forget_volume(root, path)
    return tostring(root)
