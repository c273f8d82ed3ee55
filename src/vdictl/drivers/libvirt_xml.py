"""Pure XML helpers of the libvirt driver: no connection, no libvirt import.

Everything here takes and returns strings (or small records), so it can be
tested with real libvirt XML and no hypervisor.
"""

from __future__ import annotations

import datetime
import io
import random
import re
import secrets
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from vdictl.model import Owner

#: Namespace of vdictl's element in a domain's <metadata>. Never change it:
#: it is how vdictl recognises the VMs it created.
OWNER_NS = "https://vdictl.example/xmlns/owner/1"
OWNER_PREFIX = "vdictl"
OWNER_TAG = "owner"

#: First three octets of generated MACs: QEMU's prefix, locally administered.
MAC_PREFIX = "52:54:00"

#: Disk formats vdictl can put a qcow2 overlay on.
OVERLAY_BACKING_FORMATS = ("qcow2", "raw")

_Q_OWNER = f"{{{OWNER_NS}}}{OWNER_TAG}"
_Q_VOLUME = f"{{{OWNER_NS}}}volume"
#: the mark of a template domain made by `vdictl template-create`
_Q_TEMPLATE = f"{{{OWNER_NS}}}template"


class XmlError(ValueError):
    """The XML cannot be used as asked (e.g. a template disk vdictl cannot clone)."""


@dataclass(frozen=True)
class OverlayVolume:
    """A volume created by a rollout, as recorded in the owner mark."""

    pool: str
    name: str
    path: str = ""


@dataclass(frozen=True)
class OwnerMark:
    owner: Owner
    volumes: Tuple[OverlayVolume, ...] = ()


@dataclass(frozen=True)
class TemplateMark:
    """What template-create recorded: the source VM, sealing, the volumes it copied."""

    source: str
    sealed: bool
    volumes: Tuple[OverlayVolume, ...] = ()


@dataclass(frozen=True)
class TemplateDisk:
    """A writable disk of a template that gets a per-VM overlay."""

    target: str                  # <target dev=...>
    source_type: str             # "file" or "volume"
    path: Optional[str] = None   # type=file
    pool: Optional[str] = None   # type=volume
    volume: Optional[str] = None  # type=volume
    format: Optional[str] = None  # <driver type=...>, None when not given


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    description: str
    created: Optional[float]
    state: str
    parent: Optional[str]


# -- parsing helpers ---------------------------------------------------------

_ns_lock = threading.Lock()
_ns_registered: Set[Tuple[str, str]] = set()


def _parse(xml: str, *, keep_prefixes: bool = False) -> ET.Element:
    """Parse a document. With `keep_prefixes`, register its namespace
    prefixes first so that re-serialising keeps them (ElementTree would
    otherwise invent ns0, ns1...)."""
    if keep_prefixes:
        for _event, (prefix, uri) in ET.iterparse(_as_file(xml), events=("start-ns",)):
            if not prefix or re.fullmatch(r"ns\d+", prefix) or (prefix, uri) in _ns_registered:
                continue
            with _ns_lock:  # ET's registry is a process-wide dict
                try:
                    ET.register_namespace(prefix, uri)
                except ValueError:
                    pass
                _ns_registered.add((prefix, uri))
    return ET.fromstring(xml)


def _as_file(text: str) -> io.StringIO:
    return io.StringIO(text)


def _tostring(elem: ET.Element) -> str:
    return ET.tostring(elem, encoding="unicode")


ET.register_namespace(OWNER_PREFIX, OWNER_NS)


# -- owner mark -------------------------------------------------------------

def owner_element(owner: Owner, volumes: Sequence[OverlayVolume] = ()) -> ET.Element:
    elem = ET.Element(_Q_OWNER, {
        "room": owner.room,
        "subsection": owner.subsection,
        "version": owner.tool_version,
    })
    for vol in volumes:
        attrs = {"pool": vol.pool, "name": vol.name}
        if vol.path:
            attrs["path"] = vol.path
        ET.SubElement(elem, _Q_VOLUME, attrs)
    return elem


def owner_xml(owner: Owner, volumes: Sequence[OverlayVolume] = ()) -> str:
    """The owner mark alone, e.g. for virDomainSetMetadata."""
    return _tostring(owner_element(owner, volumes))


def _mark_from_element(elem: ET.Element, ns: str) -> OwnerMark:
    vols = tuple(
        OverlayVolume(pool=v.get("pool", ""), name=v.get("name", ""), path=v.get("path", ""))
        for v in elem.findall(f"{ns}volume")
        if v.get("pool") and v.get("name"))
    owner = Owner(room=elem.get("room", ""), subsection=elem.get("subsection", ""),
                  tool_version=elem.get("version", ""))
    return OwnerMark(owner=owner, volumes=vols)


def template_element(mark: TemplateMark, tool_version: str) -> ET.Element:
    elem = ET.Element(_Q_TEMPLATE, {"source": mark.source, "sealed": "yes" if mark.sealed else "no",
                                    "version": tool_version})
    for vol in mark.volumes:
        ET.SubElement(elem, _Q_VOLUME, {"pool": vol.pool, "name": vol.name, "path": vol.path})
    return elem


def parse_template_mark(xml: str) -> Optional[TemplateMark]:
    """The template mark of a domain XML, or None when template-create did not make it."""
    elem = _parse(xml).find(f"metadata/{_Q_TEMPLATE}")
    if elem is None:
        return None
    vols = tuple(OverlayVolume(pool=v.get("pool", ""), name=v.get("name", ""),
                               path=v.get("path", ""))
                 for v in elem.findall(_Q_VOLUME) if v.get("pool") and v.get("name"))
    return TemplateMark(source=elem.get("source", ""), sealed=elem.get("sealed") == "yes",
                        volumes=vols)


def parse_owner(xml: str) -> Optional[OwnerMark]:
    """The owner mark of a full domain XML, or None when vdictl did not mark it."""
    root = _parse(xml)
    elem = root.find(f"metadata/{_Q_OWNER}")
    if elem is None:
        return None
    return _mark_from_element(elem, f"{{{OWNER_NS}}}")


def parse_owner_metadata(xml: str) -> OwnerMark:
    """The element returned by virDomainGetMetadata(ELEMENT, OWNER_NS).

    libvirt hands it back without its namespace, so children are plain tags.
    """
    elem = _parse(xml)
    ns = f"{{{OWNER_NS}}}" if elem.tag.startswith("{") else ""
    return _mark_from_element(elem, ns)


# -- domain facts -----------------------------------------------------------

def domain_macs(xml: str) -> List[str]:
    root = _parse(xml)
    return [m.get("address", "").lower()
            for m in root.findall("devices/interface/mac") if m.get("address")]


def interface_count(xml: str) -> int:
    return len(_parse(xml).findall("devices/interface"))


def _is_cloneable(disk: ET.Element) -> bool:
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
    root = _parse(xml)
    out: List[TemplateDisk] = []
    for disk in root.findall("devices/disk"):
        if not _is_cloneable(disk):
            continue
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
            out.append(TemplateDisk(target=dev, source_type="file", path=path, format=fmt))
        elif dtype == "volume":
            pool = source.get("pool") if source is not None else None
            vol = source.get("volume") if source is not None else None
            if not pool or not vol:
                raise XmlError(f"template disk {dev} has no source pool/volume")
            out.append(TemplateDisk(target=dev, source_type="volume", pool=pool, volume=vol,
                                    format=fmt))
        else:
            raise XmlError(f"template disk {dev} is of type {dtype!r}; vdictl clones only "
                           "file and volume disks (mark other disks readonly or shareable)")
    return out


def overlay_volume_name(vm_name: str, target: str) -> str:
    return f"{vm_name}-{target}.qcow2"


def copy_volume_xml(name: str, capacity: int) -> str:
    """A standalone qcow2 volume, for virStoragePoolCreateXMLFrom (a full copy)."""
    vol = ET.Element("volume")
    ET.SubElement(vol, "name").text = name
    ET.SubElement(vol, "capacity", {"unit": "bytes"}).text = str(int(capacity))
    target = ET.SubElement(vol, "target")
    ET.SubElement(target, "format", {"type": "qcow2"})
    ET.SubElement(target, "compat").text = "1.1"
    return _tostring(vol)


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
    return _tostring(vol)


def volume_format(xml: str) -> Optional[str]:
    fmt = _parse(xml).find("target/format")
    return fmt.get("type") if fmt is not None else None


# -- MACs -------------------------------------------------------------------

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


# -- the clone --------------------------------------------------------------

def clone_domain_xml(template_xml: str, *, name: str, overlays: Dict[str, str],
                     macs: Sequence[str], owner: Owner,
                     volumes: Sequence[OverlayVolume] = (),
                     memory_kib: Optional[int] = None,
                     description: Optional[str] = None,
                     transient: bool = False) -> str:
    """The domain XML of a new VM made from a template's inactive XML.

    See _copy_domain; <metadata> gets the owner mark (and loses a template mark).
    """
    return _copy_domain(template_xml, name=name, disks=overlays, macs=macs,
                        mark=owner_element(owner, volumes), memory_kib=memory_kib,
                        description=description, transient=transient)


def template_domain_xml(source_xml: str, *, name: str, disks: Dict[str, str],
                        macs: Sequence[str], mark: TemplateMark, tool_version: str) -> str:
    """The template domain made from a VM's inactive XML: its disks point at the
    full copies in `disks` (dev -> path), it has the template mark and no owner mark."""
    return _copy_domain(source_xml, name=name, disks=disks, macs=macs,
                        mark=template_element(mark, tool_version))


def _copy_domain(template_xml: str, *, name: str, disks: Dict[str, str],
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
    root = _parse(template_xml, keep_prefixes=True)
    if root.tag != "domain":
        raise XmlError(f"not a domain XML (root is <{root.tag}>)")

    name_el = root.find("name")
    if name_el is None:
        name_el = ET.Element("name")
        root.insert(0, name_el)
    name_el.text = name
    for uuid_el in root.findall("uuid"):
        root.remove(uuid_el)
    # libvirt fills in <genid/> anew when the element is empty
    for genid in root.findall("genid"):
        genid.text = None

    if description is not None:
        desc = root.find("description")
        if desc is None:
            desc = ET.Element("description")
            root.insert(list(root).index(name_el) + 1, desc)
        desc.text = description

    if memory_kib is not None:
        for tag in ("memory", "currentMemory"):
            el = root.find(tag)
            if el is None:
                el = ET.SubElement(root, tag)
            el.text = str(int(memory_kib))
            el.attrib.clear()
            el.set("unit", "KiB")

    nvram = root.find("os/nvram")
    if nvram is not None:
        nvram.text = None
        for child in list(nvram):
            nvram.remove(child)

    devices = root.find("devices")
    interfaces = devices.findall("interface") if devices is not None else []
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

    done: Set[str] = set()
    for disk in (devices.findall("disk") if devices is not None else []):
        target = disk.find("target")
        dev = target.get("dev") if target is not None else None
        if dev not in disks:
            continue
        _point_disk_at(disk, disks[dev], transient)
        done.add(dev)
    missing = set(disks) - done
    if missing:
        raise XmlError(f"no disk with target {', '.join(sorted(missing))} in the template")

    for graphics in (devices.findall("graphics") if devices is not None else []):
        if graphics.get("port") not in (None, "-1") or graphics.get("autoport") == "no":
            for attr in ("port", "tlsPort", "websocket"):
                graphics.attrib.pop(attr, None)
            graphics.set("autoport", "yes")

    metadata = root.find("metadata")
    if metadata is None:
        metadata = ET.Element("metadata")
        pos = 1
        for i, child in enumerate(root):
            if child.tag in ("name", "uuid", "genid", "title", "description"):
                pos = i + 1
        root.insert(pos, metadata)
    for old in metadata.findall(_Q_OWNER) + metadata.findall(_Q_TEMPLATE):
        metadata.remove(old)
    metadata.append(mark)

    return _tostring(root)


def _point_disk_at(disk: ET.Element, path: str, transient: bool) -> None:
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


def transient_disks(xml: str) -> Dict[str, Optional[str]]:
    """target dev -> shareBacking value (None when absent) of every transient disk."""
    root = _parse(xml)
    out: Dict[str, Optional[str]] = {}
    for disk in root.findall("devices/disk"):
        tr = disk.find("transient")
        if tr is None:
            continue
        target = disk.find("target")
        out[target.get("dev") if target is not None else ""] = tr.get("shareBacking")
    return out


def disk_sources(xml: str) -> Dict[str, str]:
    """target dev -> source file of the file disks of a domain."""
    root = _parse(xml)
    out = {}
    for disk in root.findall("devices/disk"):
        target = disk.find("target")
        source = disk.find("source")
        if target is not None and source is not None and source.get("file"):
            out[target.get("dev")] = source.get("file")
    return out


# -- snapshots --------------------------------------------------------------

def snapshot_name(now: Optional[datetime.datetime] = None) -> str:
    """vdictl-<UTC timestamp>-<random>: unique and sortable by time."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return f"vdictl-{now.strftime('%Y%m%dT%H%M%S')}Z-{secrets.token_hex(3)}"


def snapshot_xml(name: str, description: str, *, running: bool,
                 internal_disks: Iterable[str] = (), other_disks: Iterable[str] = ()) -> str:
    """<domainsnapshot> asking for an internal snapshot, with memory when running."""
    snap = ET.Element("domainsnapshot")
    ET.SubElement(snap, "name").text = name
    ET.SubElement(snap, "description").text = description
    ET.SubElement(snap, "memory", {"snapshot": "internal" if running else "no"})
    internal_disks = list(internal_disks)
    other_disks = list(other_disks)
    if internal_disks or other_disks:
        disks = ET.SubElement(snap, "disks")
        for dev in internal_disks:
            ET.SubElement(disks, "disk", {"name": dev, "snapshot": "internal"})
        for dev in other_disks:
            ET.SubElement(disks, "disk", {"name": dev, "snapshot": "no"})
    return _tostring(snap)


def snapshot_disk_split(domain_xml: str) -> Tuple[List[str], List[str]]:
    """(disks to snapshot internally, disks to leave out) of a domain."""
    root = _parse(domain_xml)
    inside, outside = [], []
    for disk in root.findall("devices/disk"):
        target = disk.find("target")
        dev = target.get("dev") if target is not None else None
        if not dev:
            continue
        (inside if _is_cloneable(disk) else outside).append(dev)
    return inside, outside


def parse_snapshot(xml: str) -> SnapshotInfo:
    root = _parse(xml)
    created_text = root.findtext("creationTime")
    try:
        created = float(created_text) if created_text else None
    except ValueError:
        created = None
    return SnapshotInfo(
        name=root.findtext("name") or "",
        description=root.findtext("description") or "",
        created=created,
        state=root.findtext("state") or "",
        parent=root.findtext("parent/name"),
    )


def order_snapshots(infos: Sequence[SnapshotInfo]) -> List[SnapshotInfo]:
    """Oldest first: by creation time, then by depth in the parent chain (a
    parent is older than its child even within the same second), then name."""
    by_name = {i.name: i for i in infos}

    def depth(info: SnapshotInfo) -> int:
        d, seen, cur = 0, set(), info
        while cur.parent and cur.parent in by_name and cur.parent not in seen:
            seen.add(cur.parent)
            cur = by_name[cur.parent]
            d += 1
        return d

    return sorted(infos, key=lambda i: (i.created if i.created is not None else float("inf"),
                                        depth(i), i.name))


# -- first-boot media and rollout phase ----------------------------------------

#: Namespace of the rollout phase element in <metadata> (separate from the
#: owner mark, so that writing the phase can never damage the mark).
PHASE_NS = "https://vdictl.example/xmlns/phase/1"
PHASE_KEY = "vdictlphase"


def phase_xml(phase: str) -> str:
    """The element for virDomainSetMetadata(ELEMENT, ..., PHASE_KEY, PHASE_NS)."""
    elem = ET.Element("phase", {"value": phase})
    return _tostring(elem)


def parse_phase(xml: str) -> Optional[str]:
    elem = _parse(xml).find(f"metadata/{{{PHASE_NS}}}phase")
    return elem.get("value") if elem is not None else None


def seed_volume_name(vm_name: str) -> str:
    return f"{vm_name}-firstboot.iso"


def with_seed_cdrom(xml: str, path: str, volume: OverlayVolume) -> str:
    """The domain XML with a read-only CD-ROM on the seed image `path`, and the
    seed volume recorded in the owner mark (so delete_vm removes it too)."""
    root = _parse(xml, keep_prefixes=True)
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
    owner = root.find(f"metadata/{_Q_OWNER}")
    if owner is not None:
        attrs = {"pool": volume.pool, "name": volume.name}
        if volume.path:
            attrs["path"] = volume.path
        ET.SubElement(owner, _Q_VOLUME, attrs)
    return _tostring(root)


def without_seed_cdrom(xml: str, path: str) -> str:
    """The domain XML without the CD-ROM on `path` and without its volume record."""
    root = _parse(xml, keep_prefixes=True)
    devices = root.find("devices")
    for disk in (devices.findall("disk") if devices is not None else []):
        source = disk.find("source")
        if disk.get("device") == "cdrom" and source is not None and source.get("file") == path:
            devices.remove(disk)
    owner = root.find(f"metadata/{_Q_OWNER}")
    if owner is not None:
        for vol in owner.findall(_Q_VOLUME):
            if vol.get("path") == path:
                owner.remove(vol)
    return _tostring(root)


def backing_path(volume_xml: str) -> Optional[str]:
    """The backing file of a volume (an overlay's template disk), if any."""
    return _parse(volume_xml).findtext("backingStore/path")
