"""First boot (personalisation): the payload's image attached as a CD-ROM, a
boot until the guest powers itself off, then the image detached and deleted;
and the rollout phase kept in the domain's <metadata>."""

from __future__ import annotations

import logging
from typing import Optional

import libvirt

from vdictl.config.rooms import VmSpec
from vdictl.errors import Unsupported
from vdictl.model import VmState

from .. import seed_image
from .clone_xml import with_seed_cdrom, without_seed_cdrom
from .connection import Connection
from .domain_xml import PHASE_KEY, PHASE_NS, phase_xml
from .owner_mark import OverlayVolume, OwnerMark, parse_owner
from .volume_xml import seed_volume_name, seed_volume_xml

log = logging.getLogger(__name__)

#: bytes per stream.send of the image upload
UPLOAD_CHUNK = 262144


def personalise_vm(conn: Connection, spec: VmSpec, payload, timeout: float) -> None:
    """Attach the payload's image as a CD-ROM, boot, wait for the guest's power-off."""
    name = spec.name
    dom = conn.domain(name)
    if conn.is_off(dom):
        _attach_seed(conn, dom, spec, payload)
        with conn.errors(vm=name):
            dom.create()
        log.info("%s: booted with its %s media; waiting for the guest's power-off",
                 name, payload.kind)
    conn.wait_until_state(dom, VmState.STOPPED, timeout,
                          what=f"the guest to power itself off after {payload.kind}")


def _seed_pool(conn: Connection, name: str,
               mark: Optional[OwnerMark]) -> "libvirt.virStoragePool":
    pool_name = conn.settings.pool or next(
        (v.pool for v in (mark.volumes if mark else ())), None)
    if not pool_name:
        raise Unsupported("no storage pool for the first-boot image; set pool = <name> "
                          "in the connect settings", driver=conn.name, vm=name)
    with conn.errors(vm=name, what=f"storage pool {pool_name!r}"):
        return conn.handle.storagePoolLookupByName(pool_name)


def _attach_seed(conn: Connection, dom: "libvirt.virDomain", spec: VmSpec, payload) -> None:
    name = spec.name
    data = seed_image.build_seed_image(payload)
    with conn.errors(vm=name):
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    pool = _seed_pool(conn, name, parse_owner(xml))
    vol_name = seed_volume_name(name)
    with conn.errors(vm=name):
        try:  # left over by an interrupted run: replace it
            old = pool.storageVolLookupByName(vol_name)
            xml = without_seed_cdrom(xml, old.path())
            old.delete(0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
                raise
        vol = pool.createXML(seed_volume_xml(vol_name, len(data)), 0)
        _upload(conn, vol, data)
        record = OverlayVolume(pool=pool.name(), name=vol_name, path=vol.path())
        conn.handle.defineXML(with_seed_cdrom(xml, vol.path(), record))


def _upload(conn: Connection, vol: "libvirt.virStorageVol", data: bytes) -> None:
    """Write `data` into the new volume; delete the volume when that fails."""
    stream = conn.handle.newStream(0)
    try:
        vol.upload(stream, 0, len(data), 0)
        view, sent = memoryview(data), 0
        while sent < len(data):
            sent += stream.send(view[sent:sent + UPLOAD_CHUNK].tobytes())
        stream.finish()
    except BaseException:
        stream.abort()
        vol.delete(0)
        raise


def finish_vm(conn: Connection, spec: VmSpec) -> None:
    """Detach and delete the first-boot image (before the snapshot)."""
    name = spec.name
    dom = conn.domain(name)
    with conn.errors(vm=name):
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    mark = parse_owner(xml)
    vol_name = seed_volume_name(name)
    for rec in (mark.volumes if mark else ()):
        if rec.name != vol_name:
            continue
        with conn.errors(vm=name):
            conn.handle.defineXML(without_seed_cdrom(xml, rec.path))
            try:
                conn.handle.storagePoolLookupByName(rec.pool) \
                    .storageVolLookupByName(rec.name).delete(0)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() not in (libvirt.VIR_ERR_NO_STORAGE_VOL,
                                                libvirt.VIR_ERR_NO_STORAGE_POOL):
                    raise


def set_phase(conn: Connection, name: str, phase: str) -> None:
    dom = conn.domain(name)
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
    if not conn.is_off(dom):
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    with conn.errors(vm=name):
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, phase_xml(phase),
                        PHASE_KEY, PHASE_NS, flags)
