"""libvirt driver: creating a VM from its template, and its first boot.

Functions of the LibvirtDriver (they use its connection and helpers), kept
apart so that the driver module holds the day-to-day operations: power,
snapshots, delete. See vdictl.drivers.libvirt for the choices made.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Set

import libvirt

from vdictl.errors import AlreadyExists, DriverError, NotFound, Unsupported
from vdictl.model import Owner, Vm, VmState
from vdictl.rooms import VmSpec

from . import libvirt_xml as lx
from . import seed_image
from .libvirt_errors import UNSUPPORTED_CODES, map_error

if TYPE_CHECKING:  # pragma: no cover
    from .libvirt import LibvirtDriver

log = logging.getLogger(__name__)

STATELESS_UNSUPPORTED = ("stateless needs transient disks with shareBacking "
                         "(libvirt >= 8.10 with QEMU)")


def create_vm(drv: "LibvirtDriver", *, spec: VmSpec, owner: Owner, timeout: float) -> Vm:
    name = spec.name
    conn = drv.conn
    try:
        conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise map_error(exc, vm=name) from exc
    else:
        raise AlreadyExists("domain already exists", driver=drv.name, vm=name)

    template = template_domain(drv, spec)
    with drv._errors(vm=name, what=f"template {spec.template_name!r}"):
        template_xml = template.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    try:
        disks = lx.template_disks(template_xml)
    except lx.XmlError as exc:
        raise Unsupported(f"template {spec.template_name!r}: {exc}",
                          driver=drv.name, vm=name) from None

    created: List["libvirt.virStorageVol"] = []
    defined: Optional["libvirt.virDomain"] = None
    try:
        overlays: Dict[str, str] = {}
        records: List[lx.OverlayVolume] = []
        for disk in disks:
            vol, pool = _create_overlay(drv, spec, disk)
            created.append(vol)
            with drv._errors(vm=name):
                path = vol.path()
                pool_name = pool.name()
            overlays[disk.target] = path
            records.append(lx.OverlayVolume(pool=pool_name, name=vol.name(), path=path))
        macs = new_macs(drv, lx.interface_count(template_xml))
        try:
            xml = lx.clone_domain_xml(
                template_xml, name=name, overlays=overlays, macs=macs, owner=owner,
                volumes=records,
                memory_kib=(spec.memory // 1024) if spec.memory else None,
                description=spec.description, transient=spec.stateless)
        except lx.XmlError as exc:
            raise DriverError(f"cannot build the domain XML from template "
                              f"{spec.template_name!r}: {exc}", driver=drv.name,
                              vm=name) from None
        try:
            defined = conn.defineXML(xml)
        except libvirt.libvirtError as exc:
            if spec.stateless and exc.get_error_code() in (
                    UNSUPPORTED_CODES | {libvirt.VIR_ERR_XML_ERROR,
                                         libvirt.VIR_ERR_XML_DETAIL}):
                raise Unsupported(f"{STATELESS_UNSUPPORTED}: {exc.get_error_message()}",
                                  driver=drv.name, vm=name) from None
            if exc.get_error_code() in (libvirt.VIR_ERR_DOM_EXIST,
                                        libvirt.VIR_ERR_OPERATION_FAILED) \
                    and "already exists" in str(exc):
                raise AlreadyExists("domain already exists", driver=drv.name,
                                    vm=name) from None
            raise map_error(exc, vm=name) from exc
        if spec.stateless:
            with drv._errors(vm=name):
                got = lx.transient_disks(defined.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            if any(got.get(dev) != "yes" for dev in overlays):
                raise Unsupported(f"{STATELESS_UNSUPPORTED}; this libvirt dropped "
                                  "<transient shareBacking='yes'/>",
                                  driver=drv.name, vm=name)
        return drv._vm(defined)
    except BaseException:
        _undo_create(drv, name, defined, created)
        raise


def check_create(drv: "LibvirtDriver", *, specs: Sequence[VmSpec]) -> None:
    for spec in specs:
        if spec.stateless and spec.personalisation is not None:
            raise Unsupported("stateless VMs with first-boot personalisation are not "
                              "supported on libvirt (the transient disk would drop the "
                              "first boot's work)", driver=drv.name, vm=spec.name)
    missing = []
    for template in sorted({spec.template_name for spec in specs}):
        try:
            drv.conn.lookupByName(template)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise map_error(exc) from exc
            missing.append(f"template domain {template!r} not found")
    if missing:
        raise NotFound("; ".join(missing), driver=drv.name)


def template_domain(drv: "LibvirtDriver", spec: VmSpec) -> "libvirt.virDomain":
    try:
        return drv.conn.lookupByName(spec.template_name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            raise NotFound(f"template domain {spec.template_name!r} not found",
                           driver=drv.name, vm=spec.name) from None
        raise map_error(exc, vm=spec.name) from exc


def backing_volume(drv: "LibvirtDriver", vm: str, disk: lx.TemplateDisk):
    """(backing path, backing volume or None) of a template disk."""
    conn = drv.conn
    if disk.source_type == "volume":
        with drv._errors(vm=vm, what=f"template volume {disk.pool}/{disk.volume}"):
            vol = conn.storagePoolLookupByName(disk.pool).storageVolLookupByName(disk.volume)
            return vol.path(), vol
    try:
        return disk.path, conn.storageVolLookupByPath(disk.path)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
            raise map_error(exc, vm=vm) from exc
        return disk.path, None


def _create_overlay(drv: "LibvirtDriver", spec: VmSpec, disk: lx.TemplateDisk):
    name = spec.name
    path, backing = backing_volume(drv, name, disk)
    with drv._errors(vm=name):
        if drv.connect_settings.pool:
            try:
                pool = drv.conn.storagePoolLookupByName(drv.connect_settings.pool)
            except libvirt.libvirtError as exc:
                raise map_error(exc, vm=name,
                                what=f"storage pool {drv.connect_settings.pool!r}") from exc
        elif backing is not None:
            pool = backing.storagePoolLookupByVolume()
        else:
            raise Unsupported(
                f"template disk {path} is in no libvirt storage pool; set pool = <name> "
                "in the connect settings, or refresh the pool that holds it",
                driver=drv.name, vm=name)
        fmt = disk.format
        capacity = None
        if backing is not None:
            capacity = backing.info()[1]
            fmt = fmt or lx.volume_format(backing.XMLDesc(0))
    if fmt not in lx.OVERLAY_BACKING_FORMATS:
        raise Unsupported(f"template disk {path} has format {fmt!r}; vdictl clones only "
                          "qcow2 or raw disks", driver=drv.name, vm=name)
    vol_name = lx.overlay_volume_name(name, disk.target)
    xml = lx.overlay_volume_xml(vol_name, path, fmt, capacity)
    try:
        vol = pool.createXML(xml, 0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_STORAGE_VOL_EXIST or \
                "already exists" in str(exc) or "already in use" in str(exc):
            raise AlreadyExists(f"storage volume {vol_name!r} already exists in pool "
                                f"{pool.name()!r}", driver=drv.name, vm=name) from None
        raise map_error(exc, vm=name) from exc
    log.debug("%s: created overlay %s on %s", name, vol_name, path)
    return vol, pool


def new_macs(drv: "LibvirtDriver", count: int) -> List[str]:
    with drv._lock:
        if drv._used_macs is None:
            used: Set[str] = set()
            with drv._errors():
                for dom in drv.conn.listAllDomains(0):
                    try:
                        used.update(lx.domain_macs(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))
                    except libvirt.libvirtError:
                        continue
            drv._used_macs = used
        return [lx.random_mac(drv._used_macs) for _ in range(count)]


def _undo_create(drv: "LibvirtDriver", name: str, dom: Optional["libvirt.virDomain"],
                 volumes: List["libvirt.virStorageVol"]) -> None:
    """Remove what a failed create_vm made; log, never raise."""
    if dom is not None:
        try:
            drv._undefine(dom)
        except (libvirt.libvirtError, DriverError) as exc:
            log.error("%s: could not undefine the half-created domain: %s", name, exc)
    for vol in volumes:
        try:
            vol.delete(0)
        except libvirt.libvirtError as exc:
            log.error("%s: could not delete overlay %s: %s", name, vol.name(), exc)


def personalise_vm(drv: "LibvirtDriver", *, spec: VmSpec, payload, timeout: float) -> None:
    """Attach the payload's image as a CD-ROM, boot, wait for the guest's power-off."""
    name = spec.name
    dom = drv._domain(name)
    if drv._is_off(dom):
        _attach_seed(drv, dom, spec, payload)
        with drv._errors(vm=name):
            dom.create()
        log.info("%s: booted with its %s media; waiting for the guest's power-off",
                 name, payload.kind)
    drv._wait_until_state(dom, VmState.STOPPED, timeout,
                          what=f"the guest to power itself off after {payload.kind}")


def _seed_pool(drv: "LibvirtDriver", name: str,
               mark: Optional[lx.OwnerMark]) -> "libvirt.virStoragePool":
    pool_name = drv.connect_settings.pool or next(
        (v.pool for v in (mark.volumes if mark else ())), None)
    if not pool_name:
        raise Unsupported("no storage pool for the first-boot image; set pool = <name> "
                          "in the connect settings", driver=drv.name, vm=name)
    with drv._errors(vm=name, what=f"storage pool {pool_name!r}"):
        return drv.conn.storagePoolLookupByName(pool_name)


def _attach_seed(drv: "LibvirtDriver", dom: "libvirt.virDomain", spec: VmSpec, payload) -> None:
    name = spec.name
    data = seed_image.build_seed_image(payload)
    with drv._errors(vm=name):
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    mark = lx.parse_owner(xml)
    pool = _seed_pool(drv, name, mark)
    vol_name = lx.seed_volume_name(name)
    with drv._errors(vm=name):
        try:  # left over by an interrupted run: replace it
            old = pool.storageVolLookupByName(vol_name)
            xml = lx.without_seed_cdrom(xml, old.path())
            old.delete(0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
                raise
        vol = pool.createXML(
            f"<volume><name>{vol_name}</name><capacity unit='bytes'>{len(data)}</capacity>"
            "<target><format type='raw'/></target></volume>", 0)
        stream = drv.conn.newStream(0)
        try:
            vol.upload(stream, 0, len(data), 0)
            view, sent = memoryview(data), 0
            while sent < len(data):
                sent += stream.send(view[sent:sent + 262144].tobytes())
            stream.finish()
        except BaseException:
            stream.abort()
            vol.delete(0)
            raise
        record = lx.OverlayVolume(pool=pool.name(), name=vol_name, path=vol.path())
        drv.conn.defineXML(lx.with_seed_cdrom(xml, vol.path(), record))


def finish_vm(drv: "LibvirtDriver", *, spec: VmSpec, timeout: float) -> None:
    """Detach and delete the first-boot image (before the snapshot)."""
    name = spec.name
    dom = drv._domain(name)
    with drv._errors(vm=name):
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    mark = lx.parse_owner(xml)
    vol_name = lx.seed_volume_name(name)
    for rec in (mark.volumes if mark else ()):
        if rec.name != vol_name:
            continue
        with drv._errors(vm=name):
            drv.conn.defineXML(lx.without_seed_cdrom(xml, rec.path))
            try:
                drv.conn.storagePoolLookupByName(rec.pool) \
                    .storageVolLookupByName(rec.name).delete(0)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() not in (libvirt.VIR_ERR_NO_STORAGE_VOL,
                                                libvirt.VIR_ERR_NO_STORAGE_POOL):
                    raise


def set_phase(drv: "LibvirtDriver", *, name: str, phase: str) -> None:
    dom = drv._domain(name)
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
    if not drv._is_off(dom):
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    with drv._errors(vm=name):
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, lx.phase_xml(phase),
                        lx.PHASE_KEY, lx.PHASE_NS, flags)
