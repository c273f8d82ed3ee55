# SPDX-License-Identifier: GPL-3.0-or-later
"""Snapshot commands: create, restore (revert), remove, preview, commit, undo.

Storage work holds the VM lock (``image_locked`` or ``snapshot_busy``) until
its transition fires; VMs in ``engine.fail_snapshots`` fail creates and
restores.  Called with the engine's lock held.
"""

from __future__ import annotations

from tests.ovirt_sim.state.entities import Snapshot
from tests.ovirt_sim.state.errors import Conflict, Incomplete
from tests.ovirt_sim.state.vm_ops import check_unlocked


def create(engine, vm, description=""):
    check_unlocked(vm, "create", "Snapshot")
    if vm.status not in ("down", "up", "paused"):
        raise Conflict("Cannot create Snapshot. The VM status is illegal.")
    if vm.in_preview:
        raise Conflict("Cannot create Snapshot. VM is previewing a Snapshot.")
    snap = Snapshot(description, "regular", "locked", vm.config())
    vm.insert_snapshot(snap)
    vm.snapshot_busy += 1
    engine.snapshot_op_begin()
    fail = vm.name in engine.fail_snapshots

    def done():
        vm.snapshot_busy -= 1
        engine.snapshot_op_end()
        if fail:
            vm.snapshots.remove(snap)
            engine.event("Failed to complete snapshot '%s' creation for VM "
                         "'%s'." % (description, vm.name))
        else:
            snap.status = "ok"
            engine.event("Snapshot '%s' creation for VM '%s' has been "
                         "completed." % (description, vm.name))
    engine.schedule("snapshot", done)
    return snap


def _check_restore(vm, snap):
    check_unlocked(vm, "revert to", "Snapshot")
    if vm.status != "down":
        raise Conflict("Cannot revert to Snapshot. VM is running.")
    if snap.type == "active":
        raise Conflict("Cannot revert to Snapshot. The VM's active "
                       "snapshot cannot be restored.")
    if snap.status != "ok":
        raise Conflict("Cannot revert to Snapshot. Snapshot is locked.")


def restore(engine, vm, snap, correlation_id=None):
    """Revert ``vm`` to ``snap``.  The engine's job for it exists from the
    moment the request arrives, even when the engine refuses the command."""
    job = engine.inventory.add_job("Restoring VM %s from Snapshot" % vm.name,
                                   correlation_id)
    _check_restore(vm, snap)
    vm.status = "image_locked"
    snap.status = "locked"
    vm.power_gen += 1
    engine.snapshot_op_begin()
    fail = vm.name in engine.fail_snapshots

    def done():
        engine.snapshot_op_end()
        snap.status = "ok"
        vm.status = "down"
        job.status = "failed" if fail else "finished"
        if fail:
            engine.event("Failed to restore VM %s from Snapshot." % vm.name)
            return
        vm.drop_snapshots_after(snap)
        vm.apply_config(snap.config)
        engine.event("VM %s restored from Snapshot." % vm.name)
    engine.schedule("restore", done)


def remove(engine, vm, snap):
    check_unlocked(vm, "remove", "Snapshot")
    if snap.type == "active":
        raise Conflict("Cannot remove Snapshot. Removing the VM active "
                       "Snapshot is not allowed.")
    if snap.status != "ok":
        raise Conflict("Cannot remove Snapshot. Snapshot is locked.")
    snap.status = "locked"
    vm.snapshot_busy += 1

    def done():
        vm.snapshot_busy -= 1
        if snap in vm.snapshots:
            vm.snapshots.remove(snap)
        engine.event("Snapshot '%s' deletion for VM '%s' has been "
                     "completed." % (snap.description, vm.name))
    engine.schedule("delete", done)


def preview(engine, vm, snapshot_id):
    """Preview the snapshot of id ``snapshot_id`` (None: the request named
    none); the VM's configuration before it is kept as a preview snapshot."""
    check_unlocked(vm, "preview", "Snapshot")
    if vm.status != "down":
        raise Conflict("Cannot preview Snapshot. VM is running.")
    if vm.in_preview:
        raise Conflict("Cannot preview Snapshot. VM is previewing a Snapshot.")
    if not snapshot_id:
        raise Incomplete("Action [snapshot.id] required for previewSnapshot")
    snap = vm.snapshot(snapshot_id)
    vm.insert_snapshot(Snapshot("Active VM before the preview", "preview", "ok",
                                vm.config()))
    vm.status = "image_locked"
    vm.power_gen += 1
    vm.in_preview = snap.id
    engine.snapshot_op_begin()

    def done():
        engine.snapshot_op_end()
        vm.status = "down"
        snap.status = "in_preview"
        vm.apply_config(snap.config)
    engine.schedule("restore", done)


def _end_preview(vm):
    """Commit and undo both start here: the previewed snapshot, VM locked."""
    check_unlocked(vm, "revert to", "Snapshot")
    if not vm.in_preview:
        raise Conflict("Cannot revert to Snapshot. VM is not previewing a "
                       "Snapshot.")
    snap = vm.snapshot(vm.in_preview)
    vm.status = "image_locked"
    return snap


def commit(engine, vm):
    snap = _end_preview(vm)

    def done():
        vm.status = "down"
        snap.status = "ok"
        vm.drop_snapshots_after(snap)
        vm.in_preview = None
    engine.schedule("delete", done)


def undo(engine, vm):
    snap = _end_preview(vm)

    def done():
        vm.status = "down"
        snap.status = "ok"
        for s in [s for s in vm.snapshots if s.type == "preview"]:
            vm.apply_config(s.config)
            vm.snapshots.remove(s)
        vm.in_preview = None
    engine.schedule("delete", done)
