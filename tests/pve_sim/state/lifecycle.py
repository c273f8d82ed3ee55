# SPDX-License-Identifier: GPL-3.0-or-later
"""Turning a VM into a template and destroying a guest, as qemu-server's
template and destroy_vm: early checks answer a 500, the rest is the task's."""

from __future__ import annotations

from tests.pve_sim.state.clone import linked_clones
from tests.pve_sim.state.errors import ApiError, TaskFailed
from tests.pve_sim.state.guard import check_bool, check_lock, flock, root_only
from tests.pve_sim.wire.drives import is_cloudinit, parse_drive, with_file


def _template_checks(vm, fail):
    if vm.lock:
        fail("VM is locked (%s)" % vm.lock)
    if vm.snapshots:
        fail("unable to create template, because VM contains snapshots")
    if vm.template:
        fail("you can't convert a template to a template")
    if vm.status == "running":
        fail("you can't convert a VM to template if VM is running")


def _sync_fail(message):
    raise ApiError(500, message)


def _task_fail(message):
    raise TaskFailed(message)


def _to_base(cluster, vm):
    """vm-N-disk-M -> base-N-disk-M (template_create)."""
    for key, volid in vm.volumes():
        head, _, name = volid.rpartition("/") if "/" in volid else volid.partition(":")
        if is_cloudinit(vm.config[key]) or not name.startswith("vm-"):
            continue
        new_volid = "%s%s%s" % (head, "/" if "/" in volid else ":", "base-" + name[3:])
        old = cluster.volume(volid, vm.node)
        cluster.drop_volume(volid, vm.node)
        cluster.put_volume(new_volid, vm.node, size=old.size if old else 0,
                           base=old.base if old else None)
        vm.config[key] = with_file(vm.config[key], new_volid)


def make_template(cluster, user, node, vmid, params):
    vm = cluster.guest(node, vmid)
    _template_checks(vm, _sync_fail)

    def body():
        with flock(cluster, vm.vmid):
            current = cluster.guest(node, vmid)
            _template_checks(current, _task_fail)
            current.config["template"] = 1
            cluster.pause(cluster.durations["qmtemplate"])
            _to_base(cluster, current)

    return cluster.spawn(node, "qmtemplate", vm.vmid, user, body)


def destroy(cluster, user, node, vmid, params):
    root_only(user, params, "skiplock")
    skiplock = check_bool(params, "skiplock")
    vm = cluster.guest(node, vmid)
    if vm.status == "running":
        raise ApiError(500, "VM %d is running - destroy failed" % vm.vmid)

    def body():
        with flock(cluster, vm.vmid):
            current = cluster.guest(node, vmid)
            if not skiplock:
                check_lock(current)
            if current.template and linked_clones(cluster, current):
                for _, volid in current.volumes():
                    if any(v.base == volid for v in cluster.volumes.values()):
                        raise TaskFailed("base volume '%s' is still in use by linked cloned"
                                         % volid)
            cluster.pause(cluster.durations["qmdestroy"])
            for key, volid in current.volumes():
                if parse_drive(current.config[key])[0] == volid:
                    cluster.drop_volume(volid, current.node)
            del cluster.vms[current.vmid]

    return cluster.spawn(node, "qmdestroy", vm.vmid, user, body)
