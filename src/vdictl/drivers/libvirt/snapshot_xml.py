"""Snapshot XML: the <domainsnapshot> vdictl asks for, and reading snapshots back."""

from __future__ import annotations

import datetime
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

from .domain_xml import is_cloneable
from .xmldoc import parse, tostring


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    description: str
    created: Optional[float]
    state: str
    parent: Optional[str]


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
    return tostring(snap)


def snapshot_disk_split(domain_xml: str) -> Tuple[List[str], List[str]]:
    """(disks to snapshot internally, disks to leave out) of a domain."""
    root = parse(domain_xml)
    inside: List[str] = []
    outside: List[str] = []
    for disk in root.findall("devices/disk"):
        target = disk.find("target")
        dev = target.get("dev") if target is not None else None
        if not dev:
            continue
        (inside if is_cloneable(disk) else outside).append(dev)
    return inside, outside


def parse_snapshot(xml: str) -> SnapshotInfo:
    root = parse(xml)
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
