# SPDX-License-Identifier: GPL-3.0-or-later
"""What the cluster lists: /cluster/resources, /cluster/nextid, nodes,
storages, pools (pve-manager's Cluster.pm, Nodes.pm, Pool.pm)."""

from __future__ import annotations

import time

from tests.pve_sim.state.errors import ApiError, param_error
from tests.pve_sim.state.guard import check_vmid
from tests.pve_sim.state.storage import space

VERSION = {"version": "8.2.4", "release": "8.2", "repoid": "faa83925c9641325"}


def _guest_resource(cluster, vm):
    entry = {"id": "qemu/%d" % vm.vmid, "type": "qemu", "vmid": vm.vmid, "name": vm.name,
             "node": vm.node, "status": vm.status, "template": 1 if vm.template else 0,
             "maxmem": int(vm.config.get("memory", 512)) << 20,
             "maxdisk": _disk_bytes(cluster, vm), "maxcpu": int(vm.config.get("cores", 1)),
             "cpu": 0, "mem": 0, "disk": 0, "uptime": 0,
             "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0}
    if vm.config.get("tags"):
        entry["tags"] = vm.config["tags"]
    if vm.lock:
        entry["lock"] = vm.lock
    if vm.pool:
        entry["pool"] = vm.pool
    return entry


def _disk_bytes(cluster, vm):
    for _, volid in vm.volumes():
        volume = cluster.volume(volid, vm.node)
        if volume is not None:
            return volume.size
    return 0


def _storage_resources(cluster):
    for node in sorted(cluster.nodes):
        for storage in sorted(cluster.storages.values(), key=lambda s: s.storage):
            yield {"id": "storage/%s/%s" % (node, storage.storage), "type": "storage",
                   "storage": storage.storage, "node": node,
                   "plugintype": storage.plugintype, "content": storage.content_text,
                   "shared": 1 if storage.shared else 0, "status": "available",
                   "disk": 0, "maxdisk": 100 << 30}


def resources(cluster, kind=None, visible=lambda vmid: True):
    if kind not in (None, "vm", "storage", "node", "sdn", "pool"):
        raise param_error(type="value '%s' does not have a value in the enumeration "
                               "'vm, storage, node, sdn'" % kind)
    answer = []
    if kind in (None, "vm"):
        answer += [_guest_resource(cluster, vm) for vmid, vm in sorted(cluster.vms.items())
                   if visible(vmid)]
    if kind in (None, "node"):
        answer += [{"id": "node/%s" % n.name, "type": "node", "node": n.name,
                    "status": "online" if n.online else "offline"}
                   for n in cluster.nodes.values()]
    if kind in (None, "storage"):
        answer += list(_storage_resources(cluster))
    return answer


def nextid(cluster, params):
    """A STRING, as the real answer (the API declares an integer but the
    value travels as text)."""
    if params.get("vmid"):
        vmid = check_vmid(params["vmid"])
        if vmid in cluster.vms:
            raise param_error(vmid="VM %d already exists" % vmid)
        return str(vmid)
    return str(cluster.free_vmid())


def nodes(cluster):
    return [{"node": n.name, "status": "online" if n.online else "offline", "type": "node",
             "id": "node/%s" % n.name, "maxcpu": 8, "maxmem": 32 << 30, "level": ""}
            for n in sorted(cluster.nodes.values(), key=lambda n: n.name)]


def node_time(cluster, node):
    """pve-manager API2/Nodes.pm ``time``: the node's clock (seconds since the
    epoch), its local time as such a number, and its time zone."""
    cluster.node(node)
    now = int(time.time())
    return {"time": now, "localtime": now, "timezone": "UTC"}


def node_storages(cluster, node, params):
    cluster.node(node)
    wanted = params.get("content")
    answer = []
    for storage in sorted(cluster.storages.values(), key=lambda s: s.storage):
        if wanted and not set(wanted.split(",")) & set(storage.content):
            continue
        total, used, avail = space(cluster, node, storage)
        answer.append({"storage": storage.storage, "type": storage.plugintype,
                       "content": storage.content_text, "shared": 1 if storage.shared else 0,
                       "active": 1, "enabled": 1, "total": total, "used": used,
                       "avail": avail})
    return answer


def node_guests(cluster, node, visible):
    """GET /nodes/{node}/qemu: the guests whose config is on ``node``."""
    cluster.node(node)
    answer = []
    for vmid, vm in sorted(cluster.vms.items()):
        if vm.node != node or not visible(vmid):
            continue
        entry = {"vmid": vmid, "name": vm.name, "status": vm.status,
                 "maxmem": int(vm.config.get("memory", 512)) << 20,
                 "maxdisk": _disk_bytes(cluster, vm), "cpus": int(vm.config.get("cores", 1)),
                 "uptime": 0}
        for key in ("lock", "tags"):
            if vm.config.get(key):
                entry[key] = vm.config[key]
        if vm.template:
            entry["template"] = 1
        answer.append(entry)
    return answer


def storage_config(cluster):
    """GET /storage: storage.cfg's entries."""
    return [{"storage": s.storage, "type": s.plugintype, "content": s.content_text,
             "shared": 1 if s.shared else 0, "digest": "0" * 40}
            for s in sorted(cluster.storages.values(), key=lambda s: s.storage)]


def pools(cluster):
    return [{"poolid": p, "comment": c} if c else {"poolid": p}
            for p, c in sorted(cluster.pools.items())]


def pool_members(cluster, poolid):
    if poolid not in cluster.pools:
        raise ApiError(500, "pool '%s' does not exist" % poolid)
    members = [_guest_resource(cluster, vm) for vm in cluster.vms.values() if vm.pool == poolid]
    return {"poolid": poolid, "members": members}
