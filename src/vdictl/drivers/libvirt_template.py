"""Templates on libvirt: template-create, template-delete and their guard.

A template is a shut-off domain whose writable disks back the clones' qcow2
overlays. template-create copies the source VM's disks in full (never a
linked copy: the template must not depend on the VM) into
`<template>-<dev>.qcow2` volumes, optionally seals them with virt-sysprep,
and defines the template domain with a template mark in <metadata> that
records those volumes, so template-delete knows what it may delete.

Clones are found by their overlays' backing file: a VM uses the template
when one of its disks is a volume backed by one of the template's disks.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from typing import TYPE_CHECKING, Dict, List, Optional

import libvirt

from vdictl import __version__
from vdictl.errors import (AlreadyExists, DriverError, MissingDependency, NotFound,
                           NotOwned, TemplateInUse, Unsupported, WrongState)
from vdictl.rooms import VmSpec

from . import libvirt_create
from . import libvirt_xml as lx

if TYPE_CHECKING:  # pragma: no cover
    from .libvirt import LibvirtDriver

log = logging.getLogger(__name__)

SYSPREP = "virt-sysprep"
SYSPREP_MISSING = ("--seal needs virt-sysprep, which is not installed "
                   "(Debian/Ubuntu: apt install libguestfs-tools)")


def _exists(drv: "LibvirtDriver", name: str) -> bool:
    try:
        drv._domain(name)
    except NotFound:
        return False
    return True


def create_template(drv: "LibvirtDriver", *, vm: str, name: str, seal: bool,
                    timeout: float) -> None:
    # checked before anything is copied: a missing tool must cost nothing
    if seal and shutil.which(SYSPREP) is None:
        raise MissingDependency(f"{drv.name}: {name}: {SYSPREP_MISSING}")
    if _exists(drv, name):
        raise AlreadyExists("a domain with this name already exists", driver=drv.name, vm=name)
    source = drv._domain(vm)
    if not drv._is_off(source):
        raise WrongState(f"source VM {vm!r} is running; shut it down before making a template "
                         "of it", driver=drv.name, vm=name)
    with drv._errors(vm=vm, what=f"domain {vm!r}"):
        source_xml = source.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    try:
        disks = lx.template_disks(source_xml)
    except lx.XmlError as exc:
        raise Unsupported(f"source VM {vm!r}: {exc}", driver=drv.name, vm=name) from None
    if not disks:
        raise Unsupported(f"source VM {vm!r} has no writable disk to copy", driver=drv.name,
                          vm=name)

    created: List["libvirt.virStorageVol"] = []
    try:
        copies: Dict[str, str] = {}
        records: List[lx.OverlayVolume] = []
        for disk in disks:
            vol = _copy_disk(drv, name, disk)
            created.append(vol)
            with drv._errors(vm=name):
                record = lx.OverlayVolume(pool=vol.storagePoolLookupByVolume().name(),
                                          name=vol.name(), path=vol.path())
            copies[disk.target] = record.path
            records.append(record)
        if seal:
            _sysprep(drv, name, list(copies.values()), timeout)
        mark = lx.TemplateMark(source=vm, sealed=seal, volumes=tuple(records))
        try:
            xml = lx.template_domain_xml(source_xml, name=name, disks=copies,
                                         macs=libvirt_create.new_macs(drv, lx.interface_count(source_xml)),
                                         mark=mark, tool_version=__version__)
        except lx.XmlError as exc:
            raise DriverError(f"cannot build the template XML from {vm!r}: {exc}",
                              driver=drv.name, vm=name) from None
        with drv._errors(vm=name):
            drv.conn.defineXML(xml)
        log.info("%s: template made from %s (%s)", name, vm,
                 "sealed" if seal else "not sealed")
    except BaseException:
        for vol in created:
            try:
                vol.delete(0)
            except libvirt.libvirtError as exc:
                log.error("%s: could not delete the copy %s: %s", name, vol.name(), exc)
        raise


def _copy_disk(drv: "LibvirtDriver", name: str, disk: lx.TemplateDisk):
    path, source_vol = libvirt_create.backing_volume(drv, name, disk)
    if source_vol is None:
        raise Unsupported(f"disk {path} is in no libvirt storage pool; refresh the pool "
                          "that holds it", driver=drv.name, vm=name)
    with drv._errors(vm=name):
        if drv.connect_settings.pool:
            pool = drv.conn.storagePoolLookupByName(drv.connect_settings.pool)
        else:
            pool = source_vol.storagePoolLookupByVolume()
        capacity = source_vol.info()[1]
    vol_name = lx.overlay_volume_name(name, disk.target)
    try:
        with drv._errors(vm=name):
            # a full copy (converted to qcow2), never linked to the source VM
            vol = pool.createXMLFrom(lx.copy_volume_xml(vol_name, capacity), source_vol, 0)
    except AlreadyExists:
        raise AlreadyExists(f"storage volume {vol_name!r} already exists in pool "
                            f"{pool.name()!r}", driver=drv.name, vm=name) from None
    log.debug("%s: copied %s to %s", name, path, vol_name)
    return vol


def _sysprep(drv: "LibvirtDriver", name: str, paths: List[str], timeout: float) -> None:
    """Seal the copies in one run: a guest's system may span several disks."""
    args = [SYSPREP, "--format", "qcow2"]
    for path in paths:
        args += ["-a", path]
    log.info("%s: sealing: %s", name, " ".join(args))
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except FileNotFoundError:
        raise MissingDependency(f"{drv.name}: {name}: {SYSPREP_MISSING}") from None
    except subprocess.TimeoutExpired:
        raise DriverError(f"{SYSPREP} did not finish within {timeout:g}s", driver=drv.name,
                          vm=name) from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout or "").strip().splitlines()
        raise DriverError(f"{SYSPREP} failed (exit {done.returncode}): "
                          f"{lines[-1] if lines else 'no message'}", driver=drv.name, vm=name)


def _template_paths(drv: "LibvirtDriver", name: str) -> List[str]:
    dom = drv._domain(name)
    with drv._errors(vm=name):
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    try:
        disks = lx.template_disks(xml)
    except lx.XmlError as exc:
        raise Unsupported(f"template {name!r}: {exc}", driver=drv.name, vm=name) from None
    return [libvirt_create.backing_volume(drv, name, d)[0] for d in disks]


def template_users(drv: "LibvirtDriver", *, name: str) -> List[str]:
    wanted = set(_template_paths(drv, name))
    with drv._errors():
        domains = drv.conn.listAllDomains(0)
    users = []
    for dom in domains:
        try:
            if dom.name() == name:
                continue
            xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        except libvirt.libvirtError:
            continue  # undefined meanwhile
        if _backing_files(drv, xml) & wanted:
            users.append(dom.name())
    return sorted(users)


def _backing_files(drv: "LibvirtDriver", domain_xml: str) -> set:
    found = {_backing_of(drv, path) for path in lx.disk_sources(domain_xml).values()}
    found.discard(None)
    return found


def _backing_of(drv: "LibvirtDriver", path: str) -> Optional[str]:
    """The backing file of the volume at `path`; None when libvirt knows no such
    volume (then it is no overlay of ours)."""
    try:
        return lx.backing_path(drv.conn.storageVolLookupByPath(path).XMLDesc(0))
    except libvirt.libvirtError:
        return None


def uses_template(drv: "LibvirtDriver", *, spec: VmSpec) -> bool:
    """True when the VM's writable disks are overlays on exactly the template's disks."""
    wanted = set(_template_paths(drv, spec.template_name))
    with drv._errors(vm=spec.name, what=f"domain {spec.name!r}"):
        xml = drv._domain(spec.name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    return {_backing_of(drv, disk.path or "") for disk in lx.template_disks(xml)} == wanted


def delete_template(drv: "LibvirtDriver", *, name: str, adopt: bool,
                    timeout: float) -> List[str]:
    dom = drv._domain(name)
    with drv._errors(vm=name, what=f"domain {name!r}"):
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        active = dom.isActive()
    mark = lx.parse_template_mark(xml)
    if lx.parse_owner(xml) is not None:
        raise WrongState("this is a VM of a room, not a template; use virtroom-delete",
                         driver=drv.name, vm=name)
    if mark is None and not adopt:
        raise NotOwned("not made by vdictl template-create; not deleting it "
                       "(--adopt deletes the domain and leaves its disks)",
                       driver=drv.name, vm=name)
    if active:
        raise WrongState("template domain is running; shut it down first", driver=drv.name,
                         vm=name)
    users = template_users(drv, name=name)
    if users:
        raise TemplateInUse(users=users, driver=drv.name, vm=name)
    with drv._errors(vm=name, what=f"domain {name!r}"):
        drv._undefine(dom)
    if mark is None:
        return [f"disk {path} left alone (not made by vdictl)"
                for path in lx.disk_sources(xml).values()]
    leftovers = drv._delete_volumes(name, mark.volumes)
    if leftovers:
        raise DriverError(f"template undefined, but volumes left behind: "
                          f"{', '.join(leftovers)}", driver=drv.name, vm=name)
    return []


def template_running(drv: "LibvirtDriver", *, name: str) -> bool:
    try:
        return not drv._is_off(drv._domain(name))
    except NotFound:
        return False
