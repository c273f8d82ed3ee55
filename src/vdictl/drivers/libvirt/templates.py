"""Templates on libvirt: template-create, template-delete and their guards.
A template is a shut-off domain with a template mark; see docs/backends/libvirt.md."""

from __future__ import annotations

import logging
from typing import Dict, List, Optional, Tuple

import libvirt

from vdictl import __version__
from vdictl.errors import (AlreadyExists, DriverError, NotFound, NotOwned, TemplateInUse,
                           Unsupported, WrongState)
from vdictl.config.rooms import VmSpec

from . import sysprep
from .clone_xml import template_domain_xml
from .connection import Connection
from .domain_xml import TemplateDisk, disk_sources, interface_count, template_disks
from .owner_mark import OverlayVolume, TemplateMark, parse_owner, parse_template_mark
from .removal import undefine
from .storage import backing_volume, delete_volumes
from .volume_xml import backing_path, copy_volume_xml, overlay_volume_name
from .xmldoc import XmlError

log = logging.getLogger(__name__)


def _exists(conn: Connection, name: str) -> bool:
    try:
        conn.domain(name)
    except NotFound:
        return False
    return True


def _source(conn: Connection, vm: str, name: str) -> Tuple[str, List[TemplateDisk]]:
    """The source VM's inactive XML and its writable disks; it must be off."""
    source = conn.domain(vm)
    if not conn.is_off(source):
        raise WrongState(f"source VM {vm!r} is running; shut it down before making a template "
                         "of it", driver=conn.name, vm=name)
    with conn.errors(vm=vm, what=f"domain {vm!r}"):
        source_xml = source.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    try:
        disks = template_disks(source_xml)
    except XmlError as exc:
        raise Unsupported(f"source VM {vm!r}: {exc}", driver=conn.name, vm=name) from None
    if not disks:
        raise Unsupported(f"source VM {vm!r} has no writable disk to copy", driver=conn.name,
                          vm=name)
    return source_xml, disks


def create_template(conn: Connection, vm: str, name: str, seal: bool, timeout: float) -> None:
    # checked before anything is copied: a refusal or a missing tool must cost nothing
    if seal:
        if conn.is_remote():
            raise sysprep.refuse_remote(name, conn.endpoint)
        sysprep.require_sysprep(name)
    if _exists(conn, name):
        raise AlreadyExists("a domain with this name already exists", driver=conn.name, vm=name)
    source_xml, disks = _source(conn, vm, name)
    created: List["libvirt.virStorageVol"] = []
    try:
        copies: Dict[str, str] = {}
        records: List[OverlayVolume] = []
        for disk in disks:
            vol = _copy_disk(conn, name, disk)
            created.append(vol)
            with conn.errors(vm=name):
                record = OverlayVolume(pool=vol.storagePoolLookupByVolume().name(),
                                       name=vol.name(), path=vol.path())
            copies[disk.target] = record.path
            records.append(record)
        if seal:
            sysprep.seal(name, list(copies.values()), timeout)
        mark = TemplateMark(source=vm, sealed=seal, volumes=tuple(records))
        _define_template(conn, vm, name, source_xml, copies, mark)
        log.info("%s: template made from %s (%s)", name, vm,
                 "sealed" if seal else "not sealed")
    except BaseException:
        for vol in created:
            try:
                vol.delete(0)
            except libvirt.libvirtError as exc:
                log.error("%s: could not delete the copy %s: %s", name, vol.name(), exc)
        raise


def _define_template(conn: Connection, vm: str, name: str, source_xml: str,
                     copies: Dict[str, str], mark: TemplateMark) -> None:
    try:
        xml = template_domain_xml(source_xml, name=name, disks=copies,
                                  macs=conn.new_macs(interface_count(source_xml)),
                                  mark=mark, tool_version=__version__)
    except XmlError as exc:
        raise DriverError(f"cannot build the template XML from {vm!r}: {exc}",
                          driver=conn.name, vm=name) from None
    with conn.errors(vm=name):
        conn.handle.defineXML(xml)


def _copy_disk(conn: Connection, name: str, disk: TemplateDisk):
    path, source_vol = backing_volume(conn, name, disk)
    if source_vol is None:
        raise Unsupported(f"disk {path} is in no libvirt storage pool; refresh the pool "
                          "that holds it", driver=conn.name, vm=name)
    with conn.errors(vm=name):
        if conn.settings.pool:
            pool = conn.handle.storagePoolLookupByName(conn.settings.pool)
        else:
            pool = source_vol.storagePoolLookupByVolume()
        capacity = source_vol.info()[1]
    vol_name = overlay_volume_name(name, disk.target)
    try:
        with conn.errors(vm=name):
            # a full copy (converted to qcow2), never linked to the source VM
            vol = pool.createXMLFrom(copy_volume_xml(vol_name, capacity), source_vol, 0)
    except AlreadyExists:
        raise AlreadyExists(f"storage volume {vol_name!r} already exists in pool "
                            f"{pool.name()!r}", driver=conn.name, vm=name) from None
    log.debug("%s: copied %s to %s", name, path, vol_name)
    return vol


def _template_paths(conn: Connection, name: str) -> List[str]:
    dom = conn.domain(name)
    with conn.errors(vm=name):
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    try:
        disks = template_disks(xml)
    except XmlError as exc:
        raise Unsupported(f"template {name!r}: {exc}", driver=conn.name, vm=name) from None
    return [backing_volume(conn, name, d)[0] for d in disks]


def template_users(conn: Connection, name: str) -> List[str]:
    """The domains with a disk backed by one of the template's disks."""
    wanted = set(_template_paths(conn, name))
    with conn.errors():
        domains = conn.handle.listAllDomains(0)
    users = []
    for dom in domains:
        try:
            if dom.name() == name:
                continue
            xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        except libvirt.libvirtError:
            continue  # undefined meanwhile
        if _backing_files(conn, xml) & wanted:
            users.append(dom.name())
    return sorted(users)


def _backing_files(conn: Connection, domain_xml: str) -> set:
    found = {_backing_of(conn, path) for path in disk_sources(domain_xml).values()}
    found.discard(None)
    return found


def _backing_of(conn: Connection, path: str) -> Optional[str]:
    """The backing file of the volume at `path`; None when libvirt knows no such
    volume (then it is no overlay of ours)."""
    try:
        return backing_path(conn.handle.storageVolLookupByPath(path).XMLDesc(0))
    except libvirt.libvirtError:
        return None


def uses_template(conn: Connection, spec: VmSpec) -> bool:
    """True when the VM's writable disks are overlays on exactly the template's disks."""
    wanted = set(_template_paths(conn, spec.template_name))
    with conn.errors(vm=spec.name, what=f"domain {spec.name!r}"):
        xml = conn.domain(spec.name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    return {_backing_of(conn, disk.path or "") for disk in template_disks(xml)} == wanted


def delete_template(conn: Connection, name: str, adopt: bool) -> List[str]:
    dom = conn.domain(name)
    with conn.errors(vm=name, what=f"domain {name!r}"):
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        active = dom.isActive()
    mark = parse_template_mark(xml)
    if parse_owner(xml) is not None:
        raise WrongState("this is a VM of a room, not a template; use virtroom-delete",
                         driver=conn.name, vm=name)
    if mark is None and not adopt:
        raise NotOwned("not made by vdictl template-create; not deleting it "
                       "(--adopt deletes the domain and leaves its disks)",
                       driver=conn.name, vm=name)
    if active:
        raise WrongState("template domain is running; shut it down first", driver=conn.name,
                         vm=name)
    users = template_users(conn, name)
    if users:
        raise TemplateInUse(users=users, driver=conn.name, vm=name)
    with conn.errors(vm=name, what=f"domain {name!r}"):
        undefine(dom)
    if mark is None:
        return [f"disk {path} left alone (not made by vdictl)"
                for path in disk_sources(xml).values()]
    leftovers = delete_volumes(conn, name, mark.volumes)
    if leftovers:
        raise DriverError(f"template undefined, but volumes left behind: "
                          f"{', '.join(leftovers)}", driver=conn.name, vm=name)
    return []


def template_running(conn: Connection, name: str) -> bool:
    try:
        return not conn.is_off(conn.domain(name))
    except NotFound:
        return False
