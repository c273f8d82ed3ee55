# SPDX-License-Identifier: GPL-3.0-or-later
"""Clones as qemu-server's clone_vm (``PVE/API2/Qemu.pm``, ``clone_vm``).

The request runs ``$load_and_check`` (a 500 then) and forks the worker
(``fork_worker('qmclone', ...)``); it answers with the UPID before the worker
has done anything, so until the worker writes the new config,
``/cluster/nextid`` still offers the new VMID. The worker
(``$lock_source_vm`` -> ``$lock_target_vm`` -> ``$clonefn``) takes the
source's lock file (shared when the source is stopped), then the new VMID's
(``lock_config_full($newid, 1, ...)``: both waited for 1 s, then "can't lock
file '/var/lock/qemu-server/lock-N.conf' - got timeout"), runs
``$load_and_check`` again ("unable to create VM N: config file already
exists" when another clone got there first), writes the temporary config
(``# qmclone temporary file`` / ``lock: clone``), copies the disks (full) or
makes them on the template's base volume (linked), writing the whole config
(name, description, still ``lock: clone``) after each disk, then removes the
lock. A failure after the temporary config removes what the clone made; one
before it (the locks, the second check) leaves nothing, and nothing of the
clone that holds the VMID. Only a worker killed outright (SIGKILL, a node
that lost power: the eval turns INT/TERM/QUIT/HUP into a clean failure)
leaves the config with ``lock: clone`` (:meth:`kill_clone`)."""

from __future__ import annotations

from tests.pve_sim.state.errors import ApiError, TaskFailed, WorkerKilled, param_error
from tests.pve_sim.state.guard import (check_bool, check_dns_name, check_lock_sync, check_vmid,
                                       flock)
from tests.pve_sim.wire.drives import (NET_KEY, is_cdrom, is_cloudinit, is_drive_key,
                                       parse_drive, print_drive, storage_of)
from tests.pve_sim.wire.net import renewed

SKIPPED = ("snapshots", "parent", "snaptime", "vmstate", "snapstate", "runningcpu",
           "runningmachine", "lock", "template", "name", "description")
#: qemu-server's clone_vm: lock_config_shared/lock_config_full($vmid or $newid, 1, ...)
CLONE_LOCK_WAIT = 1.0
#: where kill_clone stops a clone's worker: during its disk copy (the config is
#: still the temporary "lock: clone" file, without a name) or after its config
#: (name, description, disks) was written and before the lock was removed
KILL_POINTS = ("copy", "config")


def _check_storage(cluster, storage, target):
    if storage is None:
        return
    scfg = cluster.storage(storage)
    if "images" not in scfg.content:
        raise param_error(storage="storage '%s' does not support vm images" % storage)
    if target and not scfg.shared:
        raise ApiError(500, "can't clone to non-shared storage '%s'" % storage)


def _plan_drives(cluster, vm, full):
    """key -> "full"/"linked"/"copy" for each drive; checks linked clones."""
    plan = {}
    for key, value in vm.config.items():
        if not is_drive_key(key):
            continue
        if is_cdrom(value) and not is_cloudinit(value):
            plan[key] = "copy"
            continue
        file = parse_drive(value)[0]
        if full or is_cloudinit(value):
            plan[key] = "full"
        elif not is_base(file):
            raise ApiError(500, "Linked clone feature is not supported for '%s' (%s)"
                           % (file, key))
        else:
            plan[key] = "linked"
    return plan


def is_base(volid):
    """A template's volume (``base-9000-disk-0``, also on a base of its own:
    ``base-9000-disk-0/base-100-disk-0``): only those clone linked."""
    return volid.split(":", 1)[-1].split("/")[-1].startswith("base-")


def _shared(cluster, vm):
    for key, value in vm.config.items():
        if is_drive_key(key):
            file = parse_drive(value)[0] or ""
            store = cluster.storages.get(storage_of(file))
            if store is not None and not store.shared:
                return False
    return True


def check_clone(cluster, user, node, vmid, params):
    """load_and_check: returns (vm, newid, full, plan, target)."""
    if "newid" not in params:
        raise param_error(newid="property is missing and it is not optional")
    newid = check_vmid(params["newid"], "newid")
    if "name" in params:
        check_dns_name(params["name"])
    target = params.get("target") or None
    if target == node:
        target = None
    pool = params.get("pool")
    if pool is not None and pool not in cluster.pools:
        raise denied_pool(pool)
    if target:
        cluster.node(target)
    _check_storage(cluster, params.get("storage"), target)
    vm = cluster.guest(node, vmid)
    check_lock_sync(vm)
    full = check_bool(params, "full") if "full" in params else not vm.template
    if params.get("storage") is not None and not full:
        raise ApiError(500, "parameter 'storage' not allowed for linked clones")
    plan = _plan_drives(cluster, vm, full)
    if target and not _shared(cluster, vm):
        raise ApiError(500, "can't clone VM to node '%s' (VM uses local storage)" % target)
    if newid in cluster.vms:
        raise ApiError(500, "unable to create VM %d: config file already exists" % newid)
    return vm, newid, full, plan, target


def denied_pool(pool):
    return ApiError(403, "Permission check failed (pool '%s' does not exist)" % pool)


def _first_config(cluster, vm, newid, params):
    config = {"lock": "clone"}
    for key, value in vm.config.items():
        if key in SKIPPED or key.startswith("unused") or is_drive_key(key):
            continue
        if NET_KEY.match(key):
            value = renewed(value, cluster.new_mac)
        config[key] = value
    config["name"] = params.get("name") or "Copy-of-VM-%s" % vm.name
    if params.get("description") is not None:
        config["description"] = params["description"]
    elif vm.config.get("description"):
        config["description"] = vm.config["description"]
    return config


def _new_volume(cluster, newid, key, value, mode, storage, node):
    """The drive string of the clone's copy of drive ``key``."""
    file, options = parse_drive(value)
    if mode == "copy":
        return value
    source_store, _, name = file.partition(":")
    store = storage or source_store
    if is_cloudinit(value):
        volid = "%s:vm-%d-cloudinit" % (store, newid)
        cluster.put_volume(volid, node, size=4 << 20)
        return print_drive(volid, options)
    index = 0
    while cluster.volume("%s:vm-%d-disk-%d" % (store, newid, index), node) is not None:
        index += 1
    disk = "vm-%d-disk-%d" % (newid, index)
    source = cluster.volume(file, node)
    size = source.size if source is not None else 0
    # what a clone takes on its storage (pve-storage's clone_image and
    # qemu-server's clone_disk): a linked clone is a thin snapshot of the base
    # volume (LvmThinPlugin::clone_image "lvcreate -s"; a qcow2 overlay on dir,
    # a ZFS clone, an RBD clone) and takes nothing until the guest writes; a
    # full clone copies what the source holds (qemu-img convert / drive-mirror
    # skip what is unallocated on thin targets)
    if mode == "linked":
        volid = "%s:%s/%s" % (source_store, name.split("/")[-1], disk)
        cluster.put_volume(volid, node, size=size, base=file, used=0)
    else:
        volid = "%s:%s" % (store, disk)
        cluster.put_volume(volid, node, size=size,
                           used=source.taken if source is not None else 0)
    return print_drive(volid, options)


def clone(cluster, user, node, vmid, params):
    vm, newid, full, plan, target = check_clone(cluster, user, node, vmid, params)
    storage = params.get("storage")
    killed_at = cluster.take_clone_kill(vm.vmid)
    made = []          # the new guest, once the worker wrote its temporary config

    def write_clone():
        """$clonefn, with both lock files held."""
        source, _, _, plan_now, _ = check_clone(cluster, user, node, vmid, params)
        new = cluster.new_guest(newid, node, {"lock": "clone"})   # "# qmclone temporary file"
        made.append(new)
        cluster.pause(cluster.durations["qmclone"])               # the disks are copied
        if killed_at == "copy":
            raise WorkerKilled()
        config = _first_config(cluster, source, newid, params)
        for key, mode in sorted(plan_now.items()):
            if key in source.config:
                config[key] = _new_volume(cluster, newid, key, source.config[key], mode,
                                          storage, node)
        new.config = config                                       # write_config, still locked
        if killed_at == "config":
            raise WorkerKilled()
        if target:
            _move(cluster, new, target)
        if params.get("pool"):
            new.pool = params["pool"]
        new.config.pop("lock", None)

    def body():
        cluster.answered()                  # fork_worker: the UPID is answered first
        cluster.pause(cluster.durations["qmclone-start"])
        with flock(cluster, vm.vmid, CLONE_LOCK_WAIT, shared=vm.status != "running"), \
                flock(cluster, newid, CLONE_LOCK_WAIT):
            try:
                write_clone()
            except ApiError as error:       # $load_and_check's die, inside the task
                raise TaskFailed(error.message) from None

    def cleanup():
        # only what this clone made: a clone that lost its VMID leaves the winner's
        for new in made:
            for _, volid in new.volumes(include_cdrom=False):
                cluster.drop_volume(volid, new.node)
            if cluster.vms.get(newid) is new:
                cluster.vms.pop(newid)

    return cluster.spawn(node, "qmclone", vm.vmid, user, body, cleanup=cleanup)


def _move(cluster, vm, target):
    """Local volumes follow the config to ``target`` (there are none: the
    checks allow a target only for VMs on shared storage)."""
    vm.node = target


def linked_clones(cluster, template):
    """The guests whose disks sit on ``template``'s base volumes."""
    bases = {volid for _, volid in template.volumes() if is_base(volid)}
    found = []
    for volume in cluster.volumes.values():
        if volume.base in bases:
            for vm in cluster.vms.values():
                if any(v == volume.volid for _, v in vm.volumes()) and vm not in found:
                    found.append(vm)
    return found

