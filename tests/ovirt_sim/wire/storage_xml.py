# SPDX-License-Identifier: GPL-3.0-or-later
"""Storage domains, disks and a template's disk attachments as the engine's
XML (restapi types/StorageDomainMapper.java, DiskMapper.java,
DiskAttachmentMapper.java): sizes in bytes, the domain's kept in whole GiB."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.ovirt_sim.state import storage
from tests.ovirt_sim.wire.render import href
from tests.ovirt_sim.wire.xml import sub


def _element(tag, parent, path):
    el = ET.Element(tag) if parent is None else sub(parent, tag)
    el.set("href", href(*path))
    el.set("id", path[-1])
    return el


def storage_domain_xml(inv, domain, parent=None):
    el = _element("storage_domain", parent, ("storagedomains", domain.id))
    sub(el, "name", domain.name)
    available, used, committed = storage.numbers(inv, domain)
    # StorageDomainMapper: SizeConverter GiB -> bytes of the dynamic sizes
    sub(el, "available", available * storage.GiB)
    sub(el, "committed", committed * storage.GiB)
    sub(el, "critical_space_action_blocker", domain.critical_space_action_blocker)
    sub(el, "external_status", "ok")
    sub(el, "master", False)
    sub(sub(el, "storage"), "type", domain.storage_type)
    sub(el, "storage_format", "v5")
    sub(el, "type", "data")
    sub(el, "used", used * storage.GiB)
    sub(el, "warning_low_space_indicator", domain.warning_low_space_indicator)
    return el


def disk_xml(disk, parent=None):
    el = _element("disk", parent, ("disks", disk.id))
    sub(el, "name", disk.name)
    sub(el, "actual_size", sum(disk.volumes))
    sub(el, "format", "cow")
    sub(el, "provisioned_size", disk.provisioned)
    sub(el, "sparse", True)
    sub(el, "status", "ok")
    sub(el, "storage_type", "image")
    sub(el, "total_size", sum(disk.volumes))
    domains = sub(el, "storage_domains")
    sub(domains, "storage_domain", href=href("storagedomains", disk.domain.id),
        id=disk.domain.id)
    return el


def disk_attachments_xml(inv, owner, kind="template"):
    """The disk attachments of a template (``kind`` "template") or a VM ("vm")."""
    coll = kind + "s"
    root = ET.Element("disk_attachments")
    for disk in storage.disks_of(inv, owner):
        el = _element("disk_attachment", root, (coll, owner.id, "diskattachments", disk.id))
        sub(el, "active", True)
        sub(el, "bootable", True)
        sub(el, "interface", "virtio_scsi")
        sub(el, "disk", href=href("disks", disk.id), id=disk.id)
        sub(el, kind, href=href(coll, owner.id), id=owner.id)
    return root
