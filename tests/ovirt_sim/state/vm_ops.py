# SPDX-License-Identifier: GPL-3.0-or-later
"""VM commands: add, edit, remove, templates made from a VM, start, stop,
shutdown, NICs and permissions.

Each checks what the engine checks (the messages are the engine's), changes
what changes at once, and schedules the rest on the engine's clock.  Called
with the engine's lock held; ``engine`` is a
:class:`tests.ovirt_sim.state.engine.Engine`.
"""

from __future__ import annotations

from tests.ovirt_sim.state.entities import BLANK_TEMPLATE_ID, RUNNING_STATUSES, Entity
from tests.ovirt_sim.state.errors import Conflict, Incomplete, NotFound
from tests.ovirt_sim.state import storage
from tests.ovirt_sim.state.records import StartRecord


def check_unlocked(vm, action, type_="VM"):
    if vm.status == "image_locked":
        raise Conflict("Cannot %s %s: VM is locked. Please try again in a "
                       "few minutes." % (action, type_))
    if vm.snapshot_busy:
        raise Conflict("Cannot %s %s. The VM is performing an operation "
                       "on a Snapshot. Please wait for the operation to "
                       "finish, and try again." % (action, type_))


def add_vm(engine, name, cluster, template, fields):
    """``cluster``/``template``: :class:`Ref` or None; ``fields``: the VM's
    settings as :meth:`Vm.update` takes them.  Locked until the disks exist."""
    inv = engine.inventory
    if not name:
        raise Incomplete("Vm [name] required for add")
    if cluster is None:
        raise Incomplete("Vm [cluster.id|name] required for add")
    cl = inv.resolve(inv.clusters, cluster, "Cluster")
    tp = (inv.resolve(inv.templates, template, "Template")
          if template is not None else inv.templates[BLANK_TEMPLATE_ID])
    inv.check_vm_name_free(name, "add")
    storage.check_clone(inv, tp)
    vm = inv.add_vm(name, cl, tp, fields)
    storage.clone_from_template(inv, vm, tp)
    vm.status = "image_locked"

    def done():
        if vm.status == "image_locked":
            vm.status = "down"
            engine.event("VM %s creation has been completed." % vm.name)
    engine.schedule("add", done)
    return vm


def update_vm(engine, vm, fields):
    check_unlocked(vm, "edit")
    new_name = fields.get("name")
    if new_name and new_name != vm.name:
        engine.inventory.check_vm_name_free(new_name, "edit")
    vm.update(fields)


def remove_vm(engine, vm):
    check_unlocked(vm, "remove")
    if vm.status != "down":
        raise Conflict("Cannot remove VM. VM is running.")
    vm.status = "image_locked"
    vm.power_gen += 1

    def done():
        engine.inventory.vms.pop(vm.id, None)
        storage.drop_disks(engine.inventory, vm)
        engine.event("VM %s was successfully removed." % vm.name)
    engine.schedule("delete", done)


def add_template(engine, name, vm, description="", comment="", seal=False):
    """A template made from VM ``vm`` (a :class:`Ref`): locked while the disks
    are copied (and sealed when ``seal``, recorded as ``sealed``), then ok."""
    inv = engine.inventory
    if not name or vm is None:
        raise Incomplete("Template [name, vm.id|name] required for add")
    vm = inv.resolve(inv.vms, vm, "VM")
    if any(t.name == name for t in inv.templates.values()):
        raise Conflict("Cannot add Template. The Template name is already in use, "
                       "please choose a unique name and try again.")
    if vm.status != "down":
        raise Conflict("Cannot add Template. VM is running.")
    t = Entity(name, cluster=vm.cluster, memory=vm.memory, os_type=vm.os,
               description=description, comment=comment,
               nics=tuple(n.profile for n in vm.nics), status="locked",
               sealed=seal, source_vm=vm.name)
    inv.templates[t.id] = t
    storage.copy_disks(inv, vm, t)
    vm.status = "image_locked"

    def done():
        t.status = "ok"
        if vm.status == "image_locked":
            vm.status = "down"
        engine.event("Template %s creation has been completed." % name)
    engine.schedule("add", done)
    return t


def remove_template(engine, ident):
    inv = engine.inventory
    t = inv.templates.get(ident)
    if t is None:
        raise NotFound("Template: id=%s" % ident, addressed=True)
    if getattr(t, "status", "ok") == "locked":
        raise Conflict("Cannot remove Template. Template is being updated.")
    users = [v.name for v in inv.vms.values() if v.template is t]
    if users:
        raise Conflict("Cannot remove Template. The following VMs are based on "
                       "this Template: %s." % ", ".join(users))
    del inv.templates[ident]
    storage.drop_disks(inv, t)


def start(engine, vm, use_sysprep=False, use_cloud_init=False,
          initialization=None, initialization_xml=None):
    """Run ``vm``; with sysprep or cloud-init the guest powers itself off
    once first-boot initialization is over (unless it is in
    ``engine.first_boot_hangs``).  The engine runs a VM in preview fine."""
    check_unlocked(vm, "run")
    if vm.status in RUNNING_STATUSES:
        raise Conflict("Cannot run VM. VM is running.")
    engine.starts.append(StartRecord(
        vm=vm.name, use_sysprep=use_sysprep, use_cloud_init=use_cloud_init,
        initialization=initialization or {}, initialization_xml=initialization_xml))
    gen = _power_op(vm, "wait_for_launch")

    def powering_up():
        if vm.power_gen == gen:
            vm.status = "powering_up"

    def up():
        if vm.power_gen == gen:
            vm.status = "up"
            engine.event("VM %s started on Host sim-host" % vm.name)

    def guest_off():  # sysprep / cloud-init finished and powered off
        if vm.power_gen == gen and vm.status == "up":
            vm.status = "down"
            engine.event("VM %s is down. Exit message: guest powered off after "
                         "first-boot initialization" % vm.name)
    engine.schedule("start", powering_up, 0.3)
    engine.schedule("start", up)
    if (use_sysprep or use_cloud_init) and vm.name not in engine.first_boot_hangs:
        engine.schedule_after(engine.delay("start") + engine.delay("first_boot"),
                              guest_off)


def _power_op(vm, status):
    """A new power operation: older ones' timers become no-ops."""
    vm.power_gen += 1
    vm.status = status
    return vm.power_gen


def stop(engine, vm):
    check_unlocked(vm, "stop")
    if vm.status not in RUNNING_STATUSES:
        raise Conflict("Cannot stop VM. VM is not running.")
    gen = _power_op(vm, "powering_down")

    def down():
        if vm.power_gen == gen:
            vm.status = "down"
            engine.event("VM %s powered off by admin@internal-authz." % vm.name)
    engine.schedule("stop", down)


def shutdown(engine, vm):
    check_unlocked(vm, "shutdown")
    if vm.status not in RUNNING_STATUSES:
        raise Conflict("Cannot shutdown VM. VM is not running.")
    gen = _power_op(vm, "powering_down")
    ignores = vm.name in engine.ignore_acpi

    def done():
        if vm.power_gen != gen:
            return
        if ignores:
            # The guest never reacted to the ACPI event: VDSM gives up
            # and the VM is reported up again.
            vm.status = "up"
            engine.event("Shutdown of VM %s failed." % vm.name)
        else:
            vm.status = "down"
            engine.event("VM %s is down. Exit message: User shut down from "
                         "within the guest" % vm.name)
    engine.schedule("shutdown", done)


def add_nic(engine, vm, name, profile=None):
    """``profile``: a :class:`Ref` by id, or None for a NIC on no network."""
    if not name:
        raise Incomplete("Nic [name] required for add")
    if any(n.name == name for n in vm.nics):
        raise Conflict("Cannot add Interface. The VM Network Interface "
                       "name is already in use.")
    found = None
    if profile is not None:
        if not profile.id:
            raise Incomplete("Nic [vnic_profile.id] required for add")
        found = engine.inventory.profiles.get(profile.id)
        if found is None:
            raise NotFound("VnicProfile: id=%s" % profile.id)
    nic = engine.inventory.new_nic(name, found)
    vm.nics.append(nic)
    return nic


def make_owner(engine, vm, user):
    """AddVmCommand.addVmPermission: the creator of a VM who may not
    manipulate permissions on it becomes its UserVmManager."""
    inv = engine.inventory
    role = inv.find_by_name(inv.roles, "UserVmManager", "Role")
    vm.permissions.append(Entity(role.name, role=role, user=user))


def add_permission(engine, vm, role, user):
    """``role``: a :class:`Ref`; ``user``: a :class:`Ref` by id (or None)."""
    inv = engine.inventory
    if role is None or user is None:
        raise Incomplete("Permission [role.id|name, user.id|group.id] "
                         "required for add")
    role = inv.resolve(inv.roles, role, "Role")
    if not user.id:
        raise Incomplete("Permission [user.id] required for add")
    found = inv.users.get(user.id)
    if found is None:
        raise NotFound("User: id=%s" % user.id)
    for p in vm.permissions:
        if p.role is role and p.user is found:
            raise Conflict("Cannot add permission. Permission already exists.")
    perm = Entity(role.name, role=role, user=found)
    vm.permissions.append(perm)
    return perm
