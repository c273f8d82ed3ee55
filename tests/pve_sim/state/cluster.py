# SPDX-License-Identifier: GPL-3.0-or-later
"""The cluster: nodes, storages, volumes, pools, guests, accounts and tasks,
under one lock (``cond`` wakes tasks waiting for a lock file)."""

from __future__ import annotations

import random
import threading

from tests.pve_sim.state.errors import ApiError, config_missing
from tests.pve_sim.state.guard import check_vmid
from tests.pve_sim.state.locks import FileLocks
from tests.pve_sim.state.records import Account, Node, Storage, Vm, Volume
from tests.pve_sim.state.tasks import TaskRunner
from tests.pve_sim.wire.drives import storage_of

LOCK_WAIT = 10.0      # seconds PVE::AbstractConfig::lock_config waits for the flock
FIRSTBOOT = 2.0       # seconds a first boot (cloud-init/sysprep) runs before power-off
ACPI_DELAY = 1.0      # seconds a guest takes to honour an ACPI shutdown


class Cluster(TaskRunner):
    def __init__(self, *, time_scale=1.0, durations=None, lock_wait=LOCK_WAIT,
                 firstboot=FIRSTBOOT, seed=0):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.time_scale = time_scale
        self.lock_wait = lock_wait
        self.firstboot = firstboot
        self.acpi_delay = ACPI_DELAY
        self.rng = random.Random(seed)
        self.nodes = {}
        self.storages = {}
        self.volumes = {}            # (node or None, volid) -> Volume
        self.pools = {}              # poolid -> comment
        self.vms = {}                # vmid -> Vm
        self.accounts = {}           # userid -> Account
        self.starts = []             # StartRecord per start
        self.flocks = FileLocks(self.cond, self.settle)
        self._init_tasks(durations)

    # -- building ------------------------------------------------------------

    def add_node(self, name):
        with self.lock:
            self.nodes[name] = Node(name)

    def add_storage(self, storage, plugintype, content, shared=False):
        with self.lock:
            self.storages[storage] = Storage(storage, plugintype, tuple(content.split(",")),
                                             shared)

    def add_pool(self, poolid, comment=""):
        with self.lock:
            self.pools[poolid] = comment

    def add_account(self, userid, password=None, admin=False):
        with self.lock:
            self.accounts[userid] = Account(userid, password, admin)
            return self.accounts[userid]

    # -- lookups (the caller holds the lock) ----------------------------------

    def node(self, name):
        if name not in self.nodes:
            raise ApiError(500, "no such cluster node '%s'" % name)
        return self.nodes[name]

    def guest(self, node, vmid):
        """The VM ``vmid`` on ``node`` (the config file must be there)."""
        vm = self.vms.get(check_vmid(vmid))
        if vm is None or vm.node != node:
            raise config_missing(node, vmid)
        return vm

    def by_name(self, name):
        with self.lock:
            for vm in self.vms.values():
                if vm.config.get("name") == name:
                    return vm
        raise KeyError(name)

    def storage(self, storage_id):
        if storage_id not in self.storages:
            raise ApiError(500, "storage '%s' does not exist" % storage_id)
        return self.storages[storage_id]

    def volume_key(self, volid, node):
        storage = self.storages.get(storage_of(volid))
        return (None if storage is not None and storage.shared else node, volid)

    def volume(self, volid, node):
        return self.volumes.get(self.volume_key(volid, node))

    def put_volume(self, volid, node, **kw):
        key = self.volume_key(volid, node)
        self.volumes[key] = Volume(volid, key[0], **kw)
        return self.volumes[key]

    def drop_volume(self, volid, node):
        self.volumes.pop(self.volume_key(volid, node), None)

    def new_guest(self, vmid, node, config):
        self.vms[vmid] = Vm(vmid, node, config)
        return self.vms[vmid]

    def new_mac(self):
        """A MAC with the default datacenter prefix (random_ether_addr)."""
        return "BC:24:11:%02X:%02X:%02X" % tuple(self.rng.randrange(256) for _ in range(3))

    def free_vmid(self):
        vmid = 100
        while vmid in self.vms:
            vmid += 1
        return vmid
