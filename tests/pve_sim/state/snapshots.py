# SPDX-License-Identifier: GPL-3.0-or-later
"""Snapshots as PVE::AbstractConfig does them: the lock file is held only
to prepare and to commit; in between the config lock (``snapshot``,
``rollback``, ``snapshot-delete``) keeps other actions out."""

from __future__ import annotations

import copy
import time

from tests.pve_sim.state.errors import ApiError, TaskFailed
from tests.pve_sim.state.guard import check_bool, check_lock, check_snapname, flock
from tests.pve_sim.state.records import Snapshot
from tests.pve_sim.state.vm_config import digest

#: keys a snapshot's config does not carry over to the VM on rollback
_KEPT_ON_ROLLBACK = ("lock",)


def list_snapshots(cluster, node, vmid):
    vm = cluster.guest(node, vmid)
    answer = []
    for snap in vm.snapshots.values():
        entry = {"name": snap.name, "description": snap.description,
                 "snaptime": snap.snaptime, "vmstate": 1 if snap.vmstate else 0}
        if snap.parent:
            entry["parent"] = snap.parent
        if snap.snapstate:
            entry["snapstate"] = snap.snapstate
        answer.append(entry)
    current = {"name": "current", "description": "You are here!",
               "running": 1 if vm.status == "running" else 0, "digest": digest(vm.config)}
    if vm.parent:
        current["parent"] = vm.parent
    answer.append(current)
    return answer


def _set_lock(cluster, node, vmid, lock, check):
    """Prepare phase: under the lock file, check and set the config lock."""
    with flock(cluster, int(vmid)):
        vm = cluster.guest(node, vmid)
        check(vm)
        vm.config["lock"] = lock
        return vm


def _commit(cluster, node, vmid, lock, change):
    with flock(cluster, int(vmid)):
        vm = cluster.guest(node, vmid)
        if vm.config.get("lock") != lock:
            raise TaskFailed("missing %s lock" % lock)
        change(vm)
        vm.config.pop("lock", None)


def create(cluster, user, node, vmid, params):
    name = params.get("snapname", "")
    check_snapname(name)
    if name == "current":
        raise ApiError(500, "unable to use snapshot name 'current' (reserved name)")
    if name.lower() == "pending":
        raise ApiError(500, "unable to use snapshot name 'pending' (reserved name)")
    cluster.guest(node, vmid)
    vmstate = check_bool(params, "vmstate")
    description = params.get("description", "")

    def check(vm):
        if vm.template:
            raise TaskFailed("you can't take a snapshot if it's a template")
        check_lock(vm)
        if name in vm.snapshots:
            raise TaskFailed("snapshot name '%s' already used" % name)
        vm.snapshots[name] = Snapshot(name, vm.snapshot_config(), description,
                                      int(time.time()), vm.parent,
                                      vmstate and vm.status == "running", "prepare",
                                      vm.booted)

    def record(vm):
        vm.snapshots[name].snapstate = None
        vm.parent = name

    prepared = []

    def body():
        _set_lock(cluster, node, vmid, "snapshot", check)
        prepared.append(True)
        cluster.pause(cluster.durations["qmsnapshot"])
        _commit(cluster, node, vmid, "snapshot", record)

    return cluster.spawn(node, "qmsnapshot", int(vmid), user, body,
                         cleanup=lambda: prepared and _undo_prepare(cluster, vmid, name))


def _undo_prepare(cluster, vmid, name):
    """A failed snapshot_create removes its lock and half-made snapshot."""
    vm = cluster.vms.get(int(vmid))
    if vm is None:
        return
    if vm.config.get("lock") == "snapshot":
        vm.config.pop("lock")
    if name in vm.snapshots and vm.snapshots[name].snapstate == "prepare":
        del vm.snapshots[name]


def _existing(vm, name):
    if name not in vm.snapshots:
        raise TaskFailed("snapshot '%s' does not exist" % name)
    return vm.snapshots[name]


def rollback(cluster, user, node, vmid, name, params):
    cluster.guest(node, vmid)
    start = check_bool(params, "start")

    def check(vm):
        if vm.template:
            raise TaskFailed("you can't rollback if vm is a template")
        snap = _existing(vm, name)
        if snap.snapstate:
            raise TaskFailed("unable to rollback to incomplete snapshot (snapstate = %s)"
                             % snap.snapstate)
        check_lock(vm)
        if vm.status == "running":     # __snapshot_rollback_vm_stop
            vm.status = "stopped"
            vm.generation += 1

    def restore(vm):
        snap = _existing(vm, name)
        config = copy.deepcopy(snap.config)
        for key in _KEPT_ON_ROLLBACK:
            if key in vm.config:
                config[key] = vm.config[key]
        vm.config = config
        vm.parent = name
        vm.booted = snap.booted        # a disk from before the first boot boots first again

    def body():
        _set_lock(cluster, node, vmid, "rollback", check)
        cluster.pause(cluster.durations["qmrollback"])
        _commit(cluster, node, vmid, "rollback", restore)
        if start or cluster.vms[int(vmid)].snapshots[name].vmstate:
            _start_after_rollback(cluster, node, vmid)

    return cluster.spawn(node, "qmrollback", int(vmid), user, body)


def _start_after_rollback(cluster, node, vmid):
    vm = cluster.guest(node, vmid)
    with flock(cluster, vm.vmid):
        cluster.pause(cluster.durations["qmstart"])
        vm.status = "running"
        vm.generation += 1


def delete(cluster, user, node, vmid, name, params):
    cluster.guest(node, vmid)

    def check(vm):
        check_lock(vm)
        _existing(vm, name).snapstate = "delete"

    def forget(vm):
        snap = _existing(vm, name)
        for other in vm.snapshots.values():
            if other.parent == name:
                other.parent = snap.parent
        if vm.parent == name:
            vm.parent = snap.parent
        del vm.snapshots[name]

    def body():
        _set_lock(cluster, node, vmid, "snapshot-delete", check)
        cluster.pause(cluster.durations["qmdelsnapshot"])
        _commit(cluster, node, vmid, "snapshot-delete", forget)

    return cluster.spawn(node, "qmdelsnapshot", int(vmid), user, body)
