"""Internal snapshots: list, take, and revert (the VM is off afterwards)."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Callable, ContextManager, List

import libvirt

from vdictl.errors import WrongState
from vdictl.model import Snapshot

from .connection import Connection
from .errors import map_error
from .power import DESTROY_WAIT, destroy
from .snapshot_xml import (SnapshotInfo, order_snapshots, parse_snapshot, snapshot_disk_split,
                           snapshot_name, snapshot_xml)

log = logging.getLogger(__name__)

Slot = Callable[[], ContextManager]


def _snapshot_infos(conn: Connection, dom: "libvirt.virDomain", name: str) -> List[SnapshotInfo]:
    infos = []
    with conn.errors(vm=name, what=f"domain {name!r}"):
        snaps = dom.listAllSnapshots(0)
    for snap in snaps:
        try:
            infos.append(parse_snapshot(snap.getXMLDesc(0)))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
                continue  # deleted meanwhile
            raise map_error(exc, vm=name) from exc
    return order_snapshots(infos)


def _snapshot(info: SnapshotInfo) -> Snapshot:
    return Snapshot(id=info.name, description=info.description, created=info.created,
                    extra={"state": info.state, "parent": info.parent})


def list_snapshots(conn: Connection, name: str) -> List[Snapshot]:
    dom = conn.domain(name)
    return [_snapshot(i) for i in _snapshot_infos(conn, dom, name)]


def create_snapshot(conn: Connection, name: str, description: str,
                    slot: Slot = contextlib.nullcontext) -> Snapshot:
    dom = conn.domain(name)
    with conn.errors(vm=name, what=f"domain {name!r}"):
        xml = dom.XMLDesc(0)
        running = bool(dom.isActive())
    inside, outside = snapshot_disk_split(xml)
    snap_xml = snapshot_xml(snapshot_name(), description, running=running,
                            internal_disks=inside, other_disks=outside)
    with slot():
        started = time.monotonic()
        with conn.errors(vm=name):
            snap = dom.snapshotCreateXML(snap_xml, 0)
        log.debug("%s: snapshot took %.2fs", name, time.monotonic() - started)
    with conn.errors(vm=name):
        info = parse_snapshot(snap.getXMLDesc(0))
    return _snapshot(info)


def revert_snapshot(conn: Connection, name: str, snapshot: Snapshot, timeout: float,
                    slot: Slot = contextlib.nullcontext) -> List[str]:
    """Revert a stopped VM; the VM is stopped afterwards.

    A snapshot of a running VM is reverted paused (the guest runs no
    code) and the VM is then destroyed: the disks are as they were at
    the snapshot, the memory state is dropped.
    """
    dom = conn.domain(name)
    if not conn.is_off(dom):
        raise WrongState("domain is running; stop it before reverting", driver=conn.name,
                         vm=name)
    with conn.errors(vm=name, what=f"snapshot {snapshot.id!r}"):
        snap = dom.snapshotLookupByName(snapshot.id, 0)
        info = parse_snapshot(snap.getXMLDesc(0))
    flags = 0
    if info.state not in ("shutoff", "disk-snapshot", "crashed", ""):
        flags = libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED
    with slot():
        started = time.monotonic()
        with conn.errors(vm=name, what=f"snapshot {snapshot.id!r}"):
            dom.revertToSnapshot(snap, flags)
        if not conn.is_off(dom):
            destroy(conn, dom, name, max(DESTROY_WAIT, timeout - (time.monotonic() - started)))
        log.debug("%s: reverted to %s in %.2fs", name, snapshot.id,
                  time.monotonic() - started)
    return []
