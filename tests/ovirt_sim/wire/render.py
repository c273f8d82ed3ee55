# SPDX-License-Identifier: GPL-3.0-or-later
"""The state's objects as the engine's XML (what ovirtsdk4's readers expect).

Each renderer returns an element of its own, or appends one to ``parent``
(a list, or a VM with its links followed) when given one.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from tests.ovirt_sim.state.entities import now_iso
from tests.ovirt_sim.wire.xml import from_text, sub

API_PREFIX = "/ovirt-engine/api"

# kind -> (element tag, collection under the API root)
_KINDS = {
    "cluster": ("cluster", "clusters"),
    "template": ("template", "templates"),
    "network": ("network", "networks"),
    "profile": ("vnic_profile", "vnicprofiles"),
    "user": ("user", "users"),
    "role": ("role", "roles"),
    "datacenter": ("data_center", "datacenters"),
    "job": ("job", "jobs"),
}


def href(*parts):
    return API_PREFIX + "/" + "/".join(parts)


def _link(parent, tag, coll, entity):
    if entity is None:
        return None
    return sub(parent, tag, href=href(coll, entity.id), id=entity.id)


def _element(tag, parent, path):
    """``<tag href=... id=...>``, alone or under ``parent``."""
    el = ET.Element(tag) if parent is None else sub(parent, tag)
    el.set("href", href(*path))
    el.set("id", path[-1])
    return el


# -- VMs and what hangs off them ----------------------------------------------

def vm_xml(vm, parent=None, follow=(), sessions=()):
    """``follow``: links to inline, as the engine does for ``?follow=nics``;
    ``sessions``: the VM's sessions (the state's), inlined for
    ``follow=sessions``."""
    el = _element("vm", parent, ("vms", vm.id))
    for rel in ("nics", "permissions", "sessions", "snapshots"):
        sub(el, "link", href=href("vms", vm.id, rel), rel=rel)
    followed = {"nics": (vm.nics, nic_xml),
                "permissions": (vm.permissions, permission_xml),
                "sessions": (sessions, session_xml),
                "snapshots": (vm.snapshots, snapshot_xml)}
    for rel in follow:
        if rel in followed:
            items, render = followed[rel]
            inline = sub(el, rel)
            for item in items:
                render(vm, item, inline)
    _vm_fields(el, vm)
    _link(el, "cluster", "clusters", vm.cluster)
    _link(el, "template", "templates", vm.template)
    for extra in vm.extra.values():
        el.append(from_text(extra))
    return el


def _vm_fields(el, vm):
    sub(el, "name", vm.name)
    sub(el, "description", vm.description)
    sub(el, "comment", vm.comment)
    sub(el, "creation_time", vm.creation_time)
    sub(el, "memory", vm.memory)
    if vm.os:
        sub(sub(el, "os"), "type", vm.os)
    sub(el, "stateless", vm.stateless)
    if vm.timezone:
        sub(sub(el, "time_zone"), "name", vm.timezone)
    sub(el, "type", "desktop")
    if vm.usb is not None:
        sub(sub(el, "usb"), "enabled", vm.usb)
    sub(el, "status", vm.status)
    sub(el, "next_run_configuration_exists", False)


def snapshot_xml(vm, snap, parent=None):
    el = _element("snapshot", parent, ("vms", vm.id, "snapshots", snap.id))
    sub(el, "description", snap.description)
    sub(el, "date", snap.date)
    sub(el, "persist_memorystate", False)
    sub(el, "snapshot_status", snap.status)
    sub(el, "snapshot_type", snap.type)
    _link(el, "vm", "vms", vm)
    return el


def nic_xml(vm, nic, parent=None):
    el = _element("nic", parent, ("vms", vm.id, "nics", nic.id))
    sub(el, "name", nic.name)
    sub(el, "interface", "virtio")
    sub(el, "linked", True)
    sub(sub(el, "mac"), "address", nic.mac)
    sub(el, "plugged", True)
    _link(el, "vnic_profile", "vnicprofiles", nic.profile)
    _link(el, "vm", "vms", vm)
    return el


def session_xml(vm, session, parent=None):
    """One of the VM's sessions as the engine maps it (VmMapper, and the
    sessions resource that adds the ids and links): ``console_user`` only
    on the console user's session, ``ip`` only while a client is connected,
    no ``protocol`` (the engine does not map it); the console user's
    ``<user>`` has the user's id and link when the engine knows them."""
    el = _element("session", parent, ("vms", vm.id, "sessions", session.id))
    if session.console_user is not None:
        sub(el, "console_user", session.console_user)
    if session.ip:
        sub(sub(el, "ip"), "address", session.ip)
    if session.user is not None:
        user = _link(el, "user", "users", session.user)
    else:
        user = sub(el, "user")
    if session.domain:
        sub(sub(user, "domain"), "name", session.domain)
    sub(user, "user_name", session.user_name)
    _link(el, "vm", "vms", vm)
    return el


def permission_xml(vm, perm, parent=None):
    el = _element("permission", parent, ("vms", vm.id, "permissions", perm.id))
    _link(el, "role", "roles", perm.role)
    _link(el, "user", "users", perm.user)
    _link(el, "vm", "vms", vm)
    return el


# -- everything else ----------------------------------------------------------

def _cluster(el, e, version):
    _link(el, "data_center", "datacenters", e.datacenter)
    ver = sub(el, "version")
    sub(ver, "major", version[0])
    sub(ver, "minor", version[1])


def _template(el, e, version):
    sub(el, "description", e.description)
    sub(el, "memory", e.memory)
    sub(sub(el, "os"), "type", e.os_type)
    sub(el, "status", getattr(e, "status", "ok"))
    if getattr(e, "comment", ""):
        sub(el, "comment", e.comment)
    ver = sub(el, "version")
    sub(ver, "version_name", "base version")
    sub(ver, "version_number", 1)
    _link(el, "cluster", "clusters", e.cluster)


def _network(el, e, version):
    _link(el, "data_center", "datacenters", e.datacenter)
    sub(sub(el, "usages"), "usage", "vm")


def _profile(el, e, version):
    _link(el, "network", "networks", e.network)


def _user(el, e, version):
    sub(el, "principal", e.principal)
    sub(el, "namespace", "*")
    sub(el, "user_name", e.user_name)
    sub(sub(el, "domain"), "name", e.domain)


def _role(el, e, version):
    sub(el, "administrative", e.name == "SuperUser")


def _job(el, e, version):
    sub(el, "description", e.description)
    sub(el, "status", e.status)
    sub(el, "auto_cleared", True)
    sub(el, "external", False)
    if e.correlation_id:
        sub(el, "correlation_id", e.correlation_id)


_DETAILS = {"cluster": _cluster, "template": _template, "network": _network,
            "profile": _profile, "user": _user, "role": _role, "job": _job}


def entity_xml(kind, e, parent=None, version=(4, 5, 5)):
    """A cluster, template, network, vNIC profile, user, role, data center
    or job; ``version``: the engine's, that clusters carry."""
    tag, coll = _KINDS[kind]
    el = _element(tag, parent, (coll, e.id))
    sub(el, "name", e.name)
    details = _DETAILS.get(kind)
    if details is not None:
        details(el, e, version)
    return el


def list_xml(tag, items, render):
    """``<tag>`` holding ``render(item, parent)`` of every item."""
    root = ET.Element(tag)
    for item in items:
        render(item, root)
    return root


def api_xml(version, user=None):
    """The API's entry point; ``user``: who asks (BackendApiResource
    .setAuthenticatedUser: the authenticated and the effective user)."""
    el = ET.Element("api")
    for rel in ("clusters", "datacenters", "networks", "templates",
                "users", "vms", "vnicprofiles", "roles"):
        sub(el, "link", href=href(rel), rel=rel)
    info = sub(el, "product_info")
    sub(info, "name", "oVirt Engine")
    sub(info, "vendor", "ovirt.org")
    ver = sub(info, "version")
    major, minor, rev = version
    sub(ver, "build", 0)
    sub(ver, "full_version", "%d.%d.%d-sim" % (major, minor, rev))
    sub(ver, "major", major)
    sub(ver, "minor", minor)
    sub(ver, "revision", rev)
    sub(el, "time", now_iso())
    if user is not None:
        for tag in ("authenticated_user", "effective_user"):
            sub(el, tag, href=href("users", user.id), id=user.id)
    return el


def user_permission_xml(user, perm_id, role, target, role_permits, inline, parent=None):
    """One of a user's permissions: its role (with the role's permits inline
    for ``follow=role.permits``), the user, and the object it is given on
    (none for the system)."""
    el = _element("permission", parent, ("users", user.id, "permissions", perm_id))
    role_el = sub(el, "role", href=href("roles", role.id), id=role.id)
    if inline:
        sub(role_el, "name", role.name)
        listed = sub(role_el, "permits")
        for name in sorted(role_permits):
            permit = sub(listed, "permit", id=name)
            sub(permit, "name", name)
            sub(permit, "administrative", "true" if role.name == "SuperUser" else "false")
    _link(el, "user", "users", user)
    if target is not None:
        kind, entity = target
        _link(el, kind, kind + "s", entity)
    return el


def action_reply(action, status="complete"):
    """The action as sent, with its ``<status>``."""
    reply = copy.deepcopy(action)
    for old in reply.findall("status"):
        reply.remove(old)
    sub(reply, "status", status)
    return reply


def fault_xml(reason, detail):
    el = ET.Element("fault")
    sub(el, "reason", reason)
    sub(el, "detail", detail)
    return el
