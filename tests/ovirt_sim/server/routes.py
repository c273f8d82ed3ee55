# SPDX-License-Identifier: GPL-3.0-or-later
"""The REST API's addresses: which request runs which command.

:func:`handle_api` is called with the engine's lock held and its due
transitions done; it answers ``(status, Element or None, extra headers)``
and raises :class:`Fault` (or the state's and wire's errors, that
:func:`fault_for` turns into faults).
"""

from __future__ import annotations

from collections import namedtuple

from tests.ovirt_sim.server.faults import not_allowed, not_found
from tests.ovirt_sim.state import permits, snapshot_ops, vm_ops
from tests.ovirt_sim.state.search import select
from tests.ovirt_sim.wire import render, requests, storage_xml
from tests.ovirt_sim.wire.xml import parse_bool, require

#: who sends the request, and whether it runs filtered by their permissions
Caller = namedtuple("Caller", "user filtered")

# collections whose listing is a query only an admin may run (the engine's
# GetAllJobs when filtered, a Search that needs an admin when not)
_ADMIN_QUERIES = {"jobs"}
# collection -> (kind, list tag) for the collections that are only read
_READ_ONLY = {
    "clusters": ("cluster", "clusters"),
    "templates": ("template", "templates"),
    "networks": ("network", "networks"),
    "vnicprofiles": ("profile", "vnic_profiles"),
    "users": ("user", "users"),
    "roles": ("role", "roles"),
    "datacenters": ("datacenter", "data_centers"),
    "jobs": ("job", "jobs"),
}
# actions on a VM that answer at once; the snapshot ones run storage tasks
_POWER_ACTIONS = {"start", "stop", "shutdown"}
_SNAPSHOT_ACTIONS = {"previewsnapshot", "commitsnapshot", "undosnapshot"}
# the action group each VM action checks (its command's getPermissionCheckSubjects)
_ACTION_PERMITS = {"start": permits.RUN_VM, "stop": permits.STOP_VM,
                   "shutdown": permits.SHUT_DOWN_VM}
_ACTION_PERMITS.update((a, permits.MANIPULATE_VM_SNAPSHOTS) for a in _SNAPSHOT_ACTIONS)


def handle_api(engine, caller, method, parts, query, body):
    """Returns (status, Element or None, extra_headers)."""
    if not parts:
        if method == "GET":
            return 200, render.api_xml(engine.version, engine.account_user(caller.user)), {}
        raise not_allowed()
    head, rest = parts[0], parts[1:]
    if head == "templates" and method == "POST" and not rest:
        t = vm_ops.add_template(engine, seal=parse_bool(query.get("seal")) or False,
                                **requests.new_template(require(body, "template")))
        return 201, render.entity_xml("template", t, version=engine.version), {
            "Location": render.href("templates", t.id)}
    if head == "templates" and method == "DELETE" and len(rest) == 1:
        vm_ops.remove_template(engine, rest[0])
        return 200, None, {}
    if method == "GET" and head in ("storagedomains", "disks") or \
            head == "templates" and method == "GET" and rest[1:] == ["diskattachments"]:
        return _storage(engine, head, rest, parts)
    if head in _ADMIN_QUERIES and method == "GET" and not rest:
        engine.sessions.check_admin_query(caller.user, caller.filtered)
    if head == "users" and method == "GET" and rest[1:] == ["permissions"]:
        return _user_permissions(engine, rest[0], query)
    if head in _READ_ONLY and method == "GET":
        return _read_only(engine, head, rest, query, parts)
    if head == "vms":
        return _vms(engine, caller.user, method, rest, query, body)
    raise not_found("Entity not found: %s" % "/".join(parts))


def _storage(engine, head, rest, parts):
    """Storage domains (listed or one), a disk, a template's disk attachments."""
    inv = engine.inventory
    if head == "storagedomains" and not rest:
        return 200, render.list_xml("storage_domains", inv.storage_domains.values(),
                                    lambda d, parent: storage_xml.storage_domain_xml(
                                        inv, d, parent)), {}
    if head == "storagedomains" and len(rest) == 1 and rest[0] in inv.storage_domains:
        return 200, storage_xml.storage_domain_xml(inv, inv.storage_domains[rest[0]]), {}
    if head == "disks" and len(rest) == 1 and rest[0] in inv.disks:
        return 200, storage_xml.disk_xml(inv.disks[rest[0]]), {}
    if head == "templates" and rest[0] in inv.templates:
        return 200, storage_xml.disk_attachments_xml(inv, inv.templates[rest[0]]), {}
    raise not_found("Entity not found: %s" % "/".join(parts))


def _search(kind, entities, query):
    limit = int(query["max"]) if query.get("max", "").lstrip("-").isdigit() else -1
    return select(kind, entities, query.get("search"), limit)


def _read_only(engine, head, rest, query, parts):
    kind, list_tag = _READ_ONLY[head]
    table = engine.inventory.table(kind)

    def one(e, parent=None):
        return render.entity_xml(kind, e, parent, engine.version)
    if not rest:
        return 200, render.list_xml(list_tag, _search(kind, table.values(), query), one), {}
    if len(rest) == 1 and rest[0] in table:
        return 200, one(table[rest[0]]), {}
    raise not_found("Entity not found: %s" % "/".join(parts))


def _user_permissions(engine, user_id, query):
    """A user's permissions (GetPermissionsOnBehalfByAdElementId); with
    ``follow=role.permits`` each role's permits inline."""
    user = engine.inventory.users.get(user_id)
    if user is None:
        raise not_found("Entity not found: users/%s" % user_id)
    follow = {f.strip() for f in query.get("follow", "").split(",")}
    found = permits.of_user(engine, user)
    return 200, render.list_xml("permissions", found, lambda item, parent: (
        render.user_permission_xml(user, *item, permits.permits_of(item[1]),
                                   "role.permits" in follow, parent))), {}


def _vms(engine, user, method, rest, query, body):
    if not rest:
        return _vm_collection(engine, user, method, query, body)
    vm = engine.inventory.vm_by_id(rest[0])
    sub = rest[1:]
    if not sub:
        if method in ("PUT", "DELETE"):
            permits.require(engine, user, permits.EDIT_VM_PROPERTIES if method == "PUT"
                            else permits.DELETE_VM, vm)
        answer = _vm_entity(engine, method, vm, body)
        if answer is not None:
            return answer
    elif len(sub) == 1 and method == "POST" and sub[0] in _POWER_ACTIONS | _SNAPSHOT_ACTIONS:
        permits.require(engine, user, _ACTION_PERMITS[sub[0]], vm)
        return _vm_action(engine, sub[0], vm, require(body, "action"))
    elif sub[0] == "snapshots":
        if method in ("POST", "DELETE"):
            permits.require(engine, user, permits.MANIPULATE_VM_SNAPSHOTS, vm)
        return _snapshots(engine, method, vm, sub[1:], body, query)
    elif sub == ["diskattachments"] and method == "GET":
        return 200, storage_xml.disk_attachments_xml(engine.inventory, vm, "vm"), {}
    elif sub[0] == "sessions" and method == "GET":
        return _sessions(engine, vm, sub[1:])
    elif sub[0] == "nics":
        if method != "GET":
            permits.require(engine, user, permits.CONFIGURE_VM_NETWORK, vm)
        return _children(method, vm, sub[1:], body, "nics", "nic", vm.nics,
                         render.nic_xml,
                         lambda el: vm_ops.add_nic(engine, vm, **requests.new_nic(el)))
    elif sub[0] == "permissions":
        return _children(method, vm, sub[1:], body, "permissions", "permission",
                         vm.permissions, render.permission_xml,
                         lambda el: vm_ops.add_permission(
                             engine, vm, **requests.new_permission(el)))
    raise not_found("Not found")


def _vm_collection(engine, user, method, query, body):
    if method == "GET":
        follow = [f.strip() for f in query.get("follow", "").split(",") if f.strip()]
        found = _search("vm", engine.inventory.vms.values(), query)

        def one(v, parent):
            sessions = engine.inventory.vm_sessions(v) if "sessions" in follow else ()
            return render.vm_xml(v, parent, follow, sessions)
        return 200, render.list_xml("vms", found, one), {}
    if method == "POST":
        # 202: the disks are still being created (image_locked)
        asked = requests.new_vm(require(body, "vm"))
        if asked["cluster"] is not None and (asked["cluster"].id or asked["cluster"].name):
            inv = engine.inventory
            permits.require(engine, user, permits.CREATE_VM,
                            cluster=inv.resolve(inv.clusters, asked["cluster"], "Cluster"))
        vm = vm_ops.add_vm(engine, **asked)
        if user is not None and permits.MANIPULATE_PERMISSIONS not in permits.held(
                engine, user, vm):
            vm_ops.make_owner(engine, vm, engine.account_user(user))
        return 202, render.vm_xml(vm), {"Location": render.href("vms", vm.id)}
    raise not_allowed()


def _vm_entity(engine, method, vm, body):
    """GET, PUT or DELETE of one VM; None for any other method."""
    if method == "GET":
        return 200, render.vm_xml(vm), {}
    if method == "PUT":
        vm_ops.update_vm(engine, vm, requests.vm_fields(require(body, "vm")))
        return 200, render.vm_xml(vm), {}
    if method == "DELETE":
        vm_ops.remove_vm(engine, vm)
        return 200, None, {}
    return None


def _vm_action(engine, name, vm, action):
    if name == "start":
        vm_ops.start(engine, vm, **requests.start_action(action))
    elif name == "stop":
        vm_ops.stop(engine, vm)
    elif name == "shutdown":
        vm_ops.shutdown(engine, vm)
    elif name == "previewsnapshot":
        snapshot_ops.preview(engine, vm, requests.previewed_snapshot(action))
    elif name == "commitsnapshot":
        snapshot_ops.commit(engine, vm)
    else:
        snapshot_ops.undo(engine, vm)
    if name in _POWER_ACTIONS:
        return 200, render.action_reply(action), {}
    # snapshot actions run storage tasks: accepted, still pending
    return 202, render.action_reply(action, "pending"), {}


def _children(method, vm, rest, body, list_tag, tag, items, render_one, add):
    """A VM's NICs or permissions: list, add, get, remove."""
    if not rest:
        if method == "GET":
            return 200, render.list_xml(list_tag, items,
                                        lambda i, p: render_one(vm, i, p)), {}
        if method == "POST":
            return 201, render_one(vm, add(require(body, tag))), {}
    else:
        item = next((i for i in items if i.id == rest[0]), None)
        if item is None:
            raise not_found("Entity not found: %s" % rest[0])
        if len(rest) == 1 and method == "GET":
            return 200, render_one(vm, item), {}
        if len(rest) == 1 and method == "DELETE":
            items.remove(item)
            return 200, None, {}
    raise not_allowed()


def _sessions(engine, vm, rest):
    """A VM's sessions: read only (the engine makes them from what the
    hypervisor and the guest agent report)."""
    sessions = engine.inventory.vm_sessions(vm)
    if not rest:
        return 200, render.list_xml("sessions", sessions,
                                    lambda s, p: render.session_xml(vm, s, p)), {}
    found = next((s for s in sessions if s.id == rest[0]), None)
    if len(rest) == 1 and found is not None:
        return 200, render.session_xml(vm, found), {}
    raise not_found("Entity not found: %s" % "/".join(rest))


def _snapshots(engine, method, vm, rest, body, query):
    if not rest:
        if method == "GET":
            return 200, render.list_xml(
                "snapshots", vm.snapshots, lambda s, p: render.snapshot_xml(vm, s, p)), {}
        if method == "POST":
            description = requests.snapshot_description(require(body, "snapshot"))
            snap = snapshot_ops.create(engine, vm, description)
            return 202, render.snapshot_xml(vm, snap), {}
    else:
        snap = vm.snapshot(rest[0])
        if len(rest) == 1 and method == "GET":
            return 200, render.snapshot_xml(vm, snap), {}
        if len(rest) == 1 and method == "DELETE":
            snapshot_ops.remove(engine, vm, snap)
            return 200, None, {}
        if rest[1:] == ["restore"] and method == "POST":
            action = require(body, "action")
            snapshot_ops.restore(engine, vm, snap, query.get("correlation_id"))
            return 202, render.action_reply(action, "pending"), {}
    raise not_allowed()
