"""Storage volumes of domains: the volume behind a template disk, and deleting
the volumes an owner or template mark records."""

from __future__ import annotations

import logging
from typing import List, Optional, Sequence, Tuple

import libvirt

from .connection import Connection
from .domain_xml import TemplateDisk
from .errors import map_error
from .owner_mark import OverlayVolume

log = logging.getLogger(__name__)


def backing_volume(conn: Connection, vm: str,
                   disk: TemplateDisk) -> Tuple[str, Optional["libvirt.virStorageVol"]]:
    """(backing path, backing volume or None) of a template disk."""
    handle = conn.handle
    if disk.source_type == "volume":
        with conn.errors(vm=vm, what=f"template volume {disk.pool}/{disk.volume}"):
            vol = handle.storagePoolLookupByName(disk.pool).storageVolLookupByName(disk.volume)
            return vol.path(), vol
    path = disk.path or ""  # template_disks gives every file disk a path
    try:
        return path, handle.storageVolLookupByPath(path)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
            raise map_error(exc, vm=vm) from exc
        return path, None


def delete_volumes(conn: Connection, name: str, volumes: Sequence[OverlayVolume]) -> List[str]:
    """Delete the recorded volumes that still have their recorded path;
    returns pool/name of those left behind."""
    leftovers = []
    for rec in volumes:
        try:
            vol = conn.handle.storagePoolLookupByName(rec.pool).storageVolLookupByName(rec.name)
            if rec.path and vol.path() != rec.path:
                log.warning("%s: volume %s/%s is now at %s, not %s; left alone",
                            name, rec.pool, rec.name, vol.path(), rec.path)
                leftovers.append(f"{rec.pool}/{rec.name}")
                continue
            vol.delete(0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() in (libvirt.VIR_ERR_NO_STORAGE_VOL,
                                        libvirt.VIR_ERR_NO_STORAGE_POOL):
                log.info("%s: volume %s/%s is already gone", name, rec.pool, rec.name)
                continue
            log.error("%s: could not delete %s/%s: %s", name, rec.pool, rec.name, exc)
            leftovers.append(f"{rec.pool}/{rec.name}")
    return leftovers
