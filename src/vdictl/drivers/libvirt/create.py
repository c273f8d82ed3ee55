"""Creating a VM from its template: a qcow2 overlay per writable template
disk, then the domain defined with the owner mark recording those overlays."""

from __future__ import annotations

import logging
from typing import Dict, List, Optional, Sequence, Tuple

import libvirt

from vdictl.errors import AlreadyExists, DriverError, NotFound, Unsupported
from vdictl.model import Owner, Vm
from vdictl.config.rooms import VmSpec

from .clone_xml import clone_domain_xml
from .connection import Connection
from .domain_xml import TemplateDisk, interface_count, template_disks, transient_disks
from .errors import UNSUPPORTED_CODES, map_error
from .inventory import vm_record
from .owner_mark import OverlayVolume
from .removal import undefine
from .storage import backing_volume
from .volume_xml import (OVERLAY_BACKING_FORMATS, overlay_volume_name, overlay_volume_xml,
                         volume_format)
from .xmldoc import XmlError

log = logging.getLogger(__name__)

STATELESS_UNSUPPORTED = ("stateless needs transient disks with shareBacking "
                         "(libvirt >= 8.10 with QEMU)")


def create_vm(conn: Connection, spec: VmSpec, owner: Owner) -> Vm:
    name = spec.name
    _refuse_existing(conn, name)
    template_xml, disks = _template(conn, spec)
    created: List["libvirt.virStorageVol"] = []
    defined: Optional["libvirt.virDomain"] = None
    try:
        overlays: Dict[str, str] = {}
        records: List[OverlayVolume] = []
        for disk in disks:
            vol, pool = _create_overlay(conn, spec, disk)
            created.append(vol)
            with conn.errors(vm=name):
                path = vol.path()
                pool_name = pool.name()
            overlays[disk.target] = path
            records.append(OverlayVolume(pool=pool_name, name=vol.name(), path=path))
        xml = _domain_xml(conn, spec, owner, template_xml, overlays, records)
        defined = _define(conn, spec, xml)
        if spec.stateless:
            _check_transient(conn, spec, defined, overlays)
        return vm_record(conn, defined)
    except BaseException:
        _undo_create(name, defined, created)
        raise


def _refuse_existing(conn: Connection, name: str) -> None:
    try:
        conn.handle.lookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise map_error(exc, vm=name) from exc
    else:
        raise AlreadyExists("domain already exists", driver=conn.name, vm=name)


def _template(conn: Connection, spec: VmSpec) -> Tuple[str, List[TemplateDisk]]:
    """The template's inactive XML and the disks that get an overlay."""
    template = template_domain(conn, spec)
    with conn.errors(vm=spec.name, what=f"template {spec.template_name!r}"):
        template_xml = template.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    try:
        return template_xml, template_disks(template_xml)
    except XmlError as exc:
        raise Unsupported(f"template {spec.template_name!r}: {exc}",
                          driver=conn.name, vm=spec.name) from None


def _domain_xml(conn: Connection, spec: VmSpec, owner: Owner, template_xml: str,
                overlays: Dict[str, str], records: List[OverlayVolume]) -> str:
    macs = conn.new_macs(interface_count(template_xml))
    try:
        return clone_domain_xml(
            template_xml, name=spec.name, overlays=overlays, macs=macs, owner=owner,
            volumes=records,
            memory_kib=(spec.memory // 1024) if spec.memory else None,
            description=spec.description, transient=spec.stateless)
    except XmlError as exc:
        raise DriverError(f"cannot build the domain XML from template "
                          f"{spec.template_name!r}: {exc}", driver=conn.name,
                          vm=spec.name) from None


def _define(conn: Connection, spec: VmSpec, xml: str) -> "libvirt.virDomain":
    try:
        return conn.handle.defineXML(xml)
    except libvirt.libvirtError as exc:
        if spec.stateless and exc.get_error_code() in (
                UNSUPPORTED_CODES | {libvirt.VIR_ERR_XML_ERROR, libvirt.VIR_ERR_XML_DETAIL}):
            raise Unsupported(f"{STATELESS_UNSUPPORTED}: {exc.get_error_message()}",
                              driver=conn.name, vm=spec.name) from None
        if exc.get_error_code() in (libvirt.VIR_ERR_DOM_EXIST,
                                    libvirt.VIR_ERR_OPERATION_FAILED) \
                and "already exists" in str(exc):
            raise AlreadyExists("domain already exists", driver=conn.name,
                                vm=spec.name) from None
        raise map_error(exc, vm=spec.name) from exc


def _check_transient(conn: Connection, spec: VmSpec, defined: "libvirt.virDomain",
                     overlays: Dict[str, str]) -> None:
    """A libvirt that silently drops <transient shareBacking> would make a
    stateless VM keep its changes."""
    with conn.errors(vm=spec.name):
        got = transient_disks(defined.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    if any(got.get(dev) != "yes" for dev in overlays):
        raise Unsupported(f"{STATELESS_UNSUPPORTED}; this libvirt dropped "
                          "<transient shareBacking='yes'/>", driver=conn.name, vm=spec.name)


def check_create(conn: Connection, specs: Sequence[VmSpec]) -> None:
    for spec in specs:
        if spec.stateless and spec.personalisation is not None:
            raise Unsupported("stateless VMs with first-boot personalisation are not "
                              "supported on libvirt (the transient disk would drop the "
                              "first boot's work)", driver=conn.name, vm=spec.name)
    missing = []
    for template in sorted({spec.template_name for spec in specs}):
        try:
            conn.handle.lookupByName(template)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise map_error(exc) from exc
            missing.append(f"template domain {template!r} not found")
    if missing:
        raise NotFound("; ".join(missing), driver=conn.name)


def template_domain(conn: Connection, spec: VmSpec) -> "libvirt.virDomain":
    try:
        return conn.handle.lookupByName(spec.template_name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            raise NotFound(f"template domain {spec.template_name!r} not found",
                           driver=conn.name, vm=spec.name) from None
        raise map_error(exc, vm=spec.name) from exc


def _overlay_pool(conn: Connection, name: str, path: str,
                  backing: Optional["libvirt.virStorageVol"]) -> "libvirt.virStoragePool":
    """The configured pool, else the pool of the template disk."""
    pool_name = conn.settings.pool
    if pool_name:
        try:
            return conn.handle.storagePoolLookupByName(pool_name)
        except libvirt.libvirtError as exc:
            raise map_error(exc, vm=name, what=f"storage pool {pool_name!r}") from exc
    if backing is not None:
        return backing.storagePoolLookupByVolume()
    raise Unsupported(
        f"template disk {path} is in no libvirt storage pool; set pool = <name> "
        "in the connect settings, or refresh the pool that holds it",
        driver=conn.name, vm=name)


def _create_overlay(conn: Connection, spec: VmSpec, disk: TemplateDisk):
    name = spec.name
    path, backing = backing_volume(conn, name, disk)
    with conn.errors(vm=name):
        pool = _overlay_pool(conn, name, path, backing)
        fmt = disk.format
        capacity = None
        if backing is not None:
            capacity = backing.info()[1]
            fmt = fmt or volume_format(backing.XMLDesc(0))
    if fmt not in OVERLAY_BACKING_FORMATS:
        raise Unsupported(f"template disk {path} has format {fmt!r}; vdictl clones only "
                          "qcow2 or raw disks", driver=conn.name, vm=name)
    vol_name = overlay_volume_name(name, disk.target)
    xml = overlay_volume_xml(vol_name, path, fmt, capacity)
    try:
        vol = pool.createXML(xml, 0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_STORAGE_VOL_EXIST or \
                "already exists" in str(exc) or "already in use" in str(exc):
            raise AlreadyExists(f"storage volume {vol_name!r} already exists in pool "
                                f"{pool.name()!r}", driver=conn.name, vm=name) from None
        raise map_error(exc, vm=name) from exc
    log.debug("%s: created overlay %s on %s", name, vol_name, path)
    return vol, pool


def _undo_create(name: str, dom: Optional["libvirt.virDomain"],
                 volumes: List["libvirt.virStorageVol"]) -> None:
    """Remove what a failed create_vm made; log, never raise."""
    if dom is not None:
        try:
            undefine(dom)
        except (libvirt.libvirtError, DriverError) as exc:
            log.error("%s: could not undefine the half-created domain: %s", name, exc)
    for vol in volumes:
        try:
            vol.delete(0)
        except libvirt.libvirtError as exc:
            log.error("%s: could not delete overlay %s: %s", name, vol.name(), exc)
