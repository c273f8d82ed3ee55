"""Facts read from a domain's XML (disks, MACs, the rollout phase), and the
small elements vdictl writes into one. Pure: no connection, no libvirt import.
"""

from __future__ import annotations

import random
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Dict, List, Optional, Set

from .volume_xml import OVERLAY_BACKING_FORMATS
from .xmldoc import XmlError, parse, tostring

#: First three octets of generated MACs: QEMU's prefix, locally administered.
MAC_PREFIX = "52:54:00"

#: Namespace of the rollout phase element in <metadata> (separate from the
#: owner mark, so that writing the phase can never damage the mark).
PHASE_NS = "https://vdictl.example/xmlns/phase/1"
PHASE_KEY = "vdictlphase"


@dataclass(frozen=True)
class TemplateDisk:
    """A writable disk of a template that gets a per-VM overlay."""

    target: str                  # <target dev=...>
    source_type: str             # "file" or "volume"
    path: Optional[str] = None   # type=file
    pool: Optional[str] = None   # type=volume
    volume: Optional[str] = None  # type=volume
    format: Optional[str] = None  # <driver type=...>, None when not given


def domain_macs(xml: str) -> List[str]:
    root = parse(xml)
    return [m.get("address", "").lower()
            for m in root.findall("devices/interface/mac") if m.get("address")]


def interface_count(xml: str) -> int:
    return len(parse(xml).findall("devices/interface"))


def is_cloneable(disk: ET.Element) -> bool:
    """A writable, unshared guest disk: one that each VM needs its own copy of."""
    return (disk.get("device", "disk") == "disk"
            and disk.find("readonly") is None
            and disk.find("shareable") is None)


def template_disks(xml: str) -> List[TemplateDisk]:
    """The disks of a template that get an overlay, in document order.

    Raises XmlError for a writable disk vdictl cannot put an overlay on
    (block device, network disk, unsupported format): sharing it between
    clones would corrupt it.
    """
    return [_template_disk(disk) for disk in parse(xml).findall("devices/disk")
            if is_cloneable(disk)]


def _template_disk(disk: ET.Element) -> TemplateDisk:
    target = disk.find("target")
    dev = target.get("dev") if target is not None else None
    if not dev:
        raise XmlError("a template disk has no <target dev=...>")
    dtype = disk.get("type", "file")
    driver = disk.find("driver")
    fmt = driver.get("type") if driver is not None else None
    if fmt is not None and fmt not in OVERLAY_BACKING_FORMATS:
        raise XmlError(f"template disk {dev} has format {fmt!r}; vdictl clones only "
                       f"{' or '.join(OVERLAY_BACKING_FORMATS)} disks")
    source = disk.find("source")
    if dtype == "file":
        path = source.get("file") if source is not None else None
        if not path:
            raise XmlError(f"template disk {dev} has no source file")
        return TemplateDisk(target=dev, source_type="file", path=path, format=fmt)
    if dtype == "volume":
        pool = source.get("pool") if source is not None else None
        vol = source.get("volume") if source is not None else None
        if not pool or not vol:
            raise XmlError(f"template disk {dev} has no source pool/volume")
        return TemplateDisk(target=dev, source_type="volume", pool=pool, volume=vol,
                            format=fmt)
    raise XmlError(f"template disk {dev} is of type {dtype!r}; vdictl clones only "
                   "file and volume disks (mark other disks readonly or shareable)")


def transient_disks(xml: str) -> Dict[str, Optional[str]]:
    """target dev -> shareBacking value (None when absent) of every transient disk."""
    root = parse(xml)
    out: Dict[str, Optional[str]] = {}
    for disk in root.findall("devices/disk"):
        tr = disk.find("transient")
        if tr is None:
            continue
        target = disk.find("target")
        out[target.get("dev", "") if target is not None else ""] = tr.get("shareBacking")
    return out


def disk_sources(xml: str) -> Dict[str, str]:
    """target dev -> source file of the file disks of a domain."""
    root = parse(xml)
    out: Dict[str, str] = {}
    for disk in root.findall("devices/disk"):
        target = disk.find("target")
        source = disk.find("source")
        if target is not None and source is not None and source.get("file"):
            out[target.get("dev", "")] = source.get("file", "")
    return out


def random_mac(used: Set[str], rng: Optional[random.Random] = None) -> str:
    """A 52:54:00:xx:xx:xx address not in `used` (lower case); adds it to `used`."""
    for _ in range(1000):
        if rng is None:
            tail = secrets.token_bytes(3)
        else:
            tail = bytes(rng.randrange(256) for _ in range(3))
        mac = MAC_PREFIX + "".join(f":{b:02x}" for b in tail)
        if mac not in used:
            used.add(mac)
            return mac
    raise XmlError("could not find an unused MAC address")


def phase_xml(phase: str) -> str:
    """The element for virDomainSetMetadata(ELEMENT, ..., PHASE_KEY, PHASE_NS)."""
    return tostring(ET.Element("phase", {"value": phase}))


def parse_phase(xml: str) -> Optional[str]:
    elem = parse(xml).find(f"metadata/{{{PHASE_NS}}}phase")
    return elem.get("value") if elem is not None else None
