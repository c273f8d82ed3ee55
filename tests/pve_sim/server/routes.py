# SPDX-License-Identifier: GPL-3.0-or-later
"""The API paths the simulator answers: (method, pattern) -> the privilege
it needs on which ACL path, and the action.  Paths are relative to
/api2/json; every action runs with the cluster lock held."""

from __future__ import annotations

import re

from tests.pve_sim.state import (clone, inventory, lifecycle, power, sessions, snapshots,
                                 storage, vm_config)
from tests.pve_sim.state.errors import ApiError
from tests.pve_sim.server.tasks_api import list_tasks, task_log, task_status

N = r"(?P<node>[^/]+)"
V = r"(?P<vmid>\d+)"
QEMU = "/nodes/%s/qemu/%s" % (N, V)
S = r"(?P<storage>[^/]+)"


def _vm(priv):
    return lambda m: ("/vms/%s" % m["vmid"], priv)


#: update_vm: any one of these lets the call in (qemu-server's $vm_config_perm_list)
CONFIG_PRIVS = "|".join(["VM.Config.Disk", "VM.Config.CDROM", "VM.Config.CPU",
                         "VM.Config.Memory", "VM.Config.Network", "VM.Config.HWType",
                         "VM.Config.Options", "VM.Config.Cloudinit"])


def _store(priv):
    return lambda m: ("/storage/%s" % m["storage"], priv)


def _any(m):
    return None


ROUTES = [
    ("GET", r"/version", _any, lambda c, r: inventory.VERSION),
    # PVE/API2/AccessControl.pm 'permissions': every user/token may dump its own
    ("GET", r"/access/permissions", _any, lambda c, r: c.auth.effective_permissions(r.user)),
    ("GET", r"/nodes", _any, lambda c, r: inventory.nodes(c)),
    ("GET", "/nodes/%s/time" % N, _any, lambda c, r: inventory.node_time(c, r.m["node"])),
    ("GET", r"/cluster/resources", _any,
     lambda c, r: inventory.resources(c, r.params.get("type"), r.visible)),
    ("GET", r"/cluster/nextid", _any, lambda c, r: inventory.nextid(c, r.params)),
    ("GET", r"/pools", _any, lambda c, r: inventory.pools(c) if r.admin else []),
    ("GET", r"/pools/(?P<pool>[^/]+)", lambda m: ("/pool/%s" % m["pool"], "Pool.Audit"),
     lambda c, r: inventory.pool_members(c, r.m["pool"])),
    ("GET", "/storage", _any, lambda c, r: inventory.storage_config(c) if r.admin else []),
    ("GET", "/nodes/%s/qemu" % N, _any,
     lambda c, r: inventory.node_guests(c, r.m["node"], r.visible)),
    ("GET", QEMU + "/config", _vm("VM.Audit"),
     lambda c, r: vm_config.read_config(c, r.m["node"], r.m["vmid"])),
    ("PUT", QEMU + "/config", _vm(CONFIG_PRIVS),
     lambda c, r: vm_config.update_sync(c, r.user, r.m["node"], r.m["vmid"], r.params)),
    ("POST", QEMU + "/config", _vm(CONFIG_PRIVS),
     lambda c, r: vm_config.update_async(c, r.user, r.m["node"], r.m["vmid"], r.params)),
    ("GET", QEMU + "/status/current", _vm("VM.Audit"),
     lambda c, r: power.status_current(c, r.m["node"], r.m["vmid"])),
    # Proxmox VE 8: VM.Monitor (PVE 9: Sys.Audit or Sys.Modify; the agent VM.GuestAgent.Audit)
    ("POST", QEMU + "/monitor", _vm("VM.Monitor"),
     lambda c, r: sessions.monitor(c, r.user, r.m["node"], r.m["vmid"], r.params)),
    ("GET", QEMU + "/agent/get-users", _vm("VM.Monitor"),
     lambda c, r: sessions.get_users(c, r.m["node"], r.m["vmid"])),
    ("POST", QEMU + "/status/start", _vm("VM.PowerMgmt"),
     lambda c, r: power.start(c, r.user, r.m["node"], r.m["vmid"], r.params)),
    ("POST", QEMU + "/status/stop", _vm("VM.PowerMgmt"),
     lambda c, r: power.stop(c, r.user, r.m["node"], r.m["vmid"], r.params)),
    ("POST", QEMU + "/status/shutdown", _vm("VM.PowerMgmt"),
     lambda c, r: power.shutdown(c, r.user, r.m["node"], r.m["vmid"], r.params)),
    ("POST", QEMU + "/clone", _vm("VM.Clone"),
     lambda c, r: clone.clone(c, r.user, r.m["node"], r.m["vmid"], r.params)),
    ("POST", QEMU + "/template", _vm("VM.Allocate"),
     lambda c, r: lifecycle.make_template(c, r.user, r.m["node"], r.m["vmid"], r.params)),
    ("DELETE", QEMU, _vm("VM.Allocate"),
     lambda c, r: lifecycle.destroy(c, r.user, r.m["node"], r.m["vmid"], r.params)),
    ("GET", QEMU + "/snapshot", _vm("VM.Audit"),
     lambda c, r: snapshots.list_snapshots(c, r.m["node"], r.m["vmid"])),
    ("POST", QEMU + "/snapshot", _vm("VM.Snapshot"),
     lambda c, r: snapshots.create(c, r.user, r.m["node"], r.m["vmid"], r.params)),
    ("POST", QEMU + "/snapshot/(?P<snap>[^/]+)/rollback", _vm("VM.Snapshot|VM.Snapshot.Rollback"),
     lambda c, r: snapshots.rollback(c, r.user, r.m["node"], r.m["vmid"], r.m["snap"],
                                     r.params)),
    ("DELETE", QEMU + "/snapshot/(?P<snap>[^/]+)", _vm("VM.Snapshot"),
     lambda c, r: snapshots.delete(c, r.user, r.m["node"], r.m["vmid"], r.m["snap"],
                                   r.params)),
    ("GET", "/nodes/%s/tasks" % N, _any, lambda c, r: list_tasks(c, r)),
    ("GET", "/nodes/%s/tasks/(?P<upid>[^/]+)/status" % N, _any,
     lambda c, r: task_status(c, r)),
    ("GET", "/nodes/%s/tasks/(?P<upid>[^/]+)/log" % N, _any,
     lambda c, r: task_log(c, r)),
    ("GET", "/nodes/%s/storage" % N, _any,
     lambda c, r: inventory.node_storages(c, r.m["node"], r.params) if r.admin else []),
    ("POST", "/nodes/%s/storage/%s/upload" % (N, S), _store("Datastore.AllocateTemplate"),
     lambda c, r: storage.upload(c, r.user, r.m["node"], r.m["storage"], r.params,
                                 r.files)),
    ("GET", "/nodes/%s/storage/%s/content" % (N, S), _store("Datastore.Audit"),
     lambda c, r: storage.list_content(c, r.m["node"], r.m["storage"], r.params)),
    # Status.pm read_status: Datastore.Audit or Datastore.AllocateSpace (any)
    ("GET", "/nodes/%s/storage/%s/status" % (N, S),
     _store("Datastore.Audit|Datastore.AllocateSpace"),
     lambda c, r: storage.status(c, r.m["node"], r.m["storage"])),
    # Content.pm info: "user => 'all'", then the volume's read access
    ("GET", "/nodes/%s/storage/%s/content/(?P<volume>.+)" % (N, S), _any,
     lambda c, r: storage.volume_info(c, r.m["node"], r.m["storage"], r.m["volume"])),
    ("DELETE", "/nodes/%s/storage/%s/content/(?P<volume>.+)" % (N, S),
     _store("Datastore.Allocate"),
     lambda c, r: storage.delete_volume(c, r.user, r.m["node"], r.m["storage"],
                                        r.m["volume"], r.params)),
]
COMPILED = [(method, re.compile("^%s$" % pattern), acl, action)
            for method, pattern, acl, action in ROUTES]


def route(method, path):
    """(match, acl, action) for ``path``; ApiError 501 when none."""
    for verb, pattern, acl, action in COMPILED:
        match = pattern.match(path)
        if match and verb == method:
            return match, acl, action
    raise ApiError(501, "Method '%s %s' not implemented" % (method, path))
