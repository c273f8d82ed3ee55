# SPDX-License-Identifier: GPL-3.0-or-later
"""What the engine knows of: data centers, clusters, networks and their vNIC
profiles, templates, users, roles, VMs and jobs, and how requests find them."""

from __future__ import annotations

import uuid
from typing import NamedTuple, Optional

from tests.ovirt_sim.state.entities import BLANK_TEMPLATE_ID, ROLES, Entity, Vm
from tests.ovirt_sim.state.errors import Conflict, Incomplete, NotFound


class VmSession(NamedTuple):
    """One session of a VM's sessions list (``user``: the engine's user
    entity the console user is, when it knows them)."""
    key: str
    console_user: Optional[bool]
    ip: Optional[str]
    user_name: str
    domain: Optional[str]
    user: Optional[Entity]

    @property
    def id(self):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, self.key))


class Inventory:
    def __init__(self, rng):
        self.rng = rng                    # MAC addresses (shared with fault rolls)
        self.datacenters = {}
        self.clusters = {}
        self.networks = {}
        self.profiles = {}
        self.templates = {}
        self.users = {}
        self.vms = {}                     # id -> Vm
        self.jobs = {}                    # id -> Entity (the engine's job of a command)
        self.storage_domains = {}         # id -> Entity (state/storage.py)
        self.disks = {}                   # id -> Entity: a template's or a VM's disk
        self.roles = {rid: Entity(name, id=rid) for name, rid in ROLES.items()}
        self.templates[BLANK_TEMPLATE_ID] = Entity(
            "Blank", id=BLANK_TEMPLATE_ID, cluster=None, memory=1 << 30,
            os_type="other", description="Blank template", nics=())

    def table(self, kind):
        """The id -> entity dict of ``kind`` (cluster, template, vm, ...)."""
        return {"cluster": self.clusters, "template": self.templates,
                "network": self.networks, "profile": self.profiles,
                "user": self.users, "role": self.roles, "vm": self.vms,
                "datacenter": self.datacenters, "job": self.jobs,
                "storage_domain": self.storage_domains}[kind]

    # -- finding -------------------------------------------------------------

    @staticmethod
    def find_by_name(table, name, kind):
        for e in table.values():
            if e.name == name:
                return e
        raise NotFound("%s: name=%s" % (kind, name))

    def resolve(self, table, ref, kind):
        """The entity a request's :class:`Ref` names, by id first."""
        if ref.id:
            if ref.id not in table:
                raise NotFound("%s: id=%s" % (kind, ref.id))
            return table[ref.id]
        if not ref.name:
            raise Incomplete("%s [id|name] required" % kind)
        return self.find_by_name(table, ref.name, kind)

    def vm_by_id(self, ident):
        vm = self.vms.get(ident)
        if vm is None:
            raise NotFound("VM: id=%s" % ident, addressed=True)
        return vm

    def vm_by_name(self, name):
        for vm in self.vms.values():
            if vm.name == name:
                return vm
        raise KeyError(name)

    def vm_sessions(self, vm):
        """Who is at ``vm`` as the engine's VM sessions list it: the console
        user's session (console_user true, the client's address when one is
        connected), then the guest agent's user.  The engine keeps no
        sessions; their ids are made from the user name and address."""
        found = []
        if vm.console_user:
            name, _, domain = vm.console_user.partition("@")
            user = next((u for u in self.users.values() if u.principal == name
                         and domain in (u.domain, u.domain.replace("-authz", ""))), None)
            found.append(VmSession(vm.console_user + (vm.client_ip or ""), True,
                                   vm.client_ip, name, domain or None, user))
        if vm.guest_user:
            found.append(VmSession(vm.guest_user, None, None, vm.guest_user, None, None))
        return found

    def check_vm_name_free(self, name, action):
        if any(v.name == name for v in self.vms.values()):
            raise Conflict("Cannot %s VM. The VM name is already in use, please "
                           "choose a unique name and try again." % action)

    # -- adding ----------------------------------------------------------------

    def datacenter(self, name="Default"):
        for dc in self.datacenters.values():
            if dc.name == name:
                return dc
        dc = Entity(name)
        self.datacenters[dc.id] = dc
        return dc

    def add_cluster(self, name, datacenter="Default"):
        for c in self.clusters.values():
            if c.name == name:
                return c
        c = Entity(name, datacenter=self.datacenter(datacenter))
        self.clusters[c.id] = c
        return c

    def add_network(self, name, cluster):
        """A VM network attached to ``cluster`` and its vNIC profile of the
        same name; returns the profile."""
        cl = self.find_by_name(self.clusters, cluster, "Cluster")
        net = Entity(name, datacenter=cl.datacenter, clusters=[cl])
        self.networks[net.id] = net
        prof = Entity(name, network=net)
        self.profiles[prof.id] = prof
        return prof

    def add_template(self, name, cluster, memory, os_type, nics):
        cl = self.find_by_name(self.clusters, cluster, "Cluster")
        profiles = [self.find_by_name(self.profiles, n, "VnicProfile") for n in nics]
        t = Entity(name, cluster=cl, memory=memory, os_type=os_type,
                   description="", nics=tuple(profiles))
        self.templates[t.id] = t
        return t

    def add_user(self, name, domain=None):
        principal, _, dom = name.partition("@")
        dom = domain or (dom + "-authz" if dom else "internal-authz")
        u = Entity(principal, user_name=name, principal=principal, domain=dom)
        self.users[u.id] = u
        return u

    def add_vm(self, name, cluster, template, fields):
        """A VM from ``template`` with the template's NICs copied (nic1,
        nic2... as the engine names them)."""
        vm = Vm(name, cluster, template)
        vm.update(fields)
        for i, prof in enumerate(getattr(template, "nics", ()), start=1):
            vm.nics.append(self.new_nic("nic%d" % i, prof))
        self.vms[vm.id] = vm
        return vm

    def new_nic(self, name, profile):
        return Entity(name, profile=profile, mac=self.mac())

    def mac(self):
        return "56:6f:%02x:%02x:%02x:%02x" % tuple(
            self.rng.randrange(256) for _ in range(4))

    def add_job(self, description, correlation_id=None):
        """The engine's job for a command; a correlation id tags it for a search."""
        job = Entity(description, description=description, status="started",
                     correlation_id=correlation_id)
        self.jobs[job.id] = job
        return job
