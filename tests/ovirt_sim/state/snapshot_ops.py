# SPDX-License-Identifier: GPL-3.0-or-later
"""Snapshot commands: create, restore (revert), remove, preview, commit, undo.

Storage work holds the VM lock (``image_locked`` or ``snapshot_busy``) until
its transition fires; VMs in ``engine.fail_snapshots`` fail creates and
restores.  Called with the engine's lock held.
"""

from __future__ import annotations

from tests.ovirt_sim.state import storage
from tests.ovirt_sim.state.entities import Snapshot
from tests.ovirt_sim.state.errors import Conflict, Incomplete
from tests.ovirt_sim.state.vm_ops import check_unlocked


def create(engine, vm, description=""):
    check_unlocked(vm, "create", "Snapshot")
    if vm.status not in ("down", "up", "paused"):
        raise Conflict("Cannot create Snapshot. The VM status is illegal.")
    if vm.in_preview:
        raise Conflict("Cannot create Snapshot. VM is previewing a Snapshot.")
    storage.check_snapshot(engine.inventory, vm)
    snap = Snapshot(description, "regular", "locked", vm.config())
    vm.insert_snapshot(snap)
    storage.snapshot_volumes(engine.inventory, vm)
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


def _check_restore(engine, vm, snap):
    """The checks of TryBackToAllSnapshotsOfVmCommand, in CommandBase's order
    (internalValidateInTransaction: acquireLock() before validate())."""
    check_vm_lock(engine, vm, "preview")
    check_unlocked(vm, "revert to", "Snapshot")
    if vm.status != "down":
        raise Conflict("Cannot revert to Snapshot. VM is running.")
    if vm.in_preview:
        # snapshotsValidator.vmNotInPreview: ACTION_TYPE_FAILED_VM_IN_PREVIEW
        raise Conflict("Cannot preview Snapshot. VM is previewing a Snapshot.")
    if snap.type == "active":
        raise Conflict("Cannot revert to Snapshot. The VM's active "
                       "snapshot cannot be restored.")
    if snap.status != "ok":
        raise Conflict("Cannot revert to Snapshot. Snapshot is locked.")


#: BackendSnapshotResource.RESTORE_SNAPSHOT_CORRELATION_ID: the restore's
#: commands' correlation id when the request gave none
RESTORE_CORRELATION_ID = "RestoreSnapshot"
#: AppErrors.properties ACTION_TYPE_FAILED_OBJECT_LOCKED (${action} ${type})
OBJECT_LOCKED = ("Cannot %s Snapshot. Related operation is currently in progress. "
                 "Please try again later.")


def check_vm_lock(engine, vm, action):
    """The VM's in-memory exclusive lock (the snapshot commands'
    getExclusiveLocks: LockingGroup.VM with ACTION_TYPE_FAILED_OBJECT_LOCKED),
    found held by a command of the engine's own (``engine.lock_conflict_rate``)."""
    if engine.lock_conflict(vm.name):
        raise Conflict(OBJECT_LOCKED % action)


def restore(engine, vm, snap, correlation_id=None):
    """The REST ``restore`` action of a snapshot, as the engine's
    BackendSnapshotResource.restore runs it: TryBackToAllSnapshotsOfVm (a
    preview of ``snap``), waited for by the request's thread, then
    RestoreAllSnapshots(COMMIT) by that same thread; both commands carry the
    request's correlation_id (BackendResource.setCorrelationId), so a search
    for it finds both jobs.  A command's job exists from the moment the
    request arrives: a refused one ends FAILED at its VALIDATING step
    (CommandBase.executeAction).

    Without a correlation_id both carry "RestoreSnapshot"
    (BackendSnapshotResource.RESTORE_SNAPSHOT_CORRELATION_ID); the job
    descriptions are ExecutionMessages.properties' job.TryBackToAllSnapshotsOfVm
    and job.RestoreAllSnapshots.

    A known difference: the engine sets async=false and answers only after
    both (AbstractBackendActionableResource.doAction -> awaitCompletion ->
    BackendResource.actionStatus: 200, status "complete", or "failed" when the
    preview's job failed); the simulator answers 202 at once and runs the
    request thread's commit on the clock, so tests can act between the two.  An engine
    restart (:meth:`Engine.restart`) loses that thread: the preview is ended
    or compensated, and nothing commits it."""
    correlation_id = correlation_id or RESTORE_CORRELATION_ID
    job = engine.inventory.add_job("Preview VM Snapshot %s of VM %s"
                                   % (snap.description, vm.name), correlation_id)
    try:
        _check_restore(engine, vm, snap)
    except Conflict:
        job.status = "failed"
        raise
    # TryBackToAllSnapshotsOfVmCommand.execute: the active snapshot becomes the
    # "preview" one (locked), the VM is locked while the disks are previewed
    before = Snapshot("Active VM before the preview", "preview", "locked", vm.config())
    vm.insert_snapshot(before)
    vm.status = "image_locked"
    snap.status = "locked"
    vm.power_gen += 1
    engine.snapshot_op_begin()
    fail = vm.name in engine.fail_snapshots or engine.restore_fails(vm.name)
    op = engine.in_flight_op(vm, "preview")
    commit = []   # the commit's InFlight and job, once the request's thread started it

    def preview_ended():
        engine.snapshot_op_end()
        engine.in_flight_done(op)
        if fail or op.compensated:
            _preview_failed(engine, vm, snap, before, job)
            return
        # TryBackToAllSnapshotsOfVmCommand.endSuccessfully: unlocked, the
        # snapshot in preview (restoreVmConfigFromSnapshot)
        vm.status = "down"
        snap.status = "in_preview"
        before.status = "ok"
        vm.in_preview = snap.id
        vm.apply_config(snap.config)
        _end_job(job, "finished")
        if op.orphaned:
            # the request's thread died with the engine: nobody commits
            engine.event("VM %s is previewing Snapshot %s (not committed)."
                         % (vm.name, snap.description))
            return
        # RestoreAllSnapshots(COMMIT), run by the request's thread once the
        # preview's job ended (AbstractBackendResource.awaitCompletion)
        commit.append(engine.in_flight_op(vm, "commit"))
        commit.append(engine.inventory.add_job("Restoring VM Snapshot %s of VM %s"
                                               % (snap.description, vm.name), correlation_id))
        vm.status = "image_locked"

    def commit_done():
        if not commit:
            return
        commit_op, commit_job = commit
        engine.in_flight_done(commit_op)
        vm.status = "down"
        snap.status = "ok"
        vm.drop_snapshots_after(snap)
        vm.in_preview = None
        _end_job(commit_job, "finished")
        engine.event("VM %s restored from Snapshot." % vm.name)
    engine.schedule("restore", preview_ended, 0.75)
    engine.schedule("restore", commit_done)


def _preview_failed(engine, vm, snap, before, job):
    """TryBackToAllSnapshotsOfVmCommand.endWithFailure: the preview snapshot
    becomes the active one again, the VM is unlocked (down), the job FAILED."""
    if before in vm.snapshots:
        vm.snapshots.remove(before)
    snap.status = "ok"
    vm.status = "down"
    vm.in_preview = None
    _end_job(job, "failed")
    engine.event("Failed to restore VM %s from Snapshot." % vm.name)


def _end_job(job, status):
    """A command's job ends (ExecutionHandler.endJob); one the engine's start
    already ended UNKNOWN (Engine.restart) stays so."""
    if job.status == "started":
        job.status = status


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
    check_vm_lock(engine, vm, "preview")
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


def _end_preview(engine, vm):
    """Commit and undo both start here: the previewed snapshot, VM locked."""
    check_vm_lock(engine, vm, "revert to")
    check_unlocked(vm, "revert to", "Snapshot")
    if not vm.in_preview:
        raise Conflict("Cannot revert to Snapshot. VM is not previewing a "
                       "Snapshot.")
    snap = vm.snapshot(vm.in_preview)
    vm.status = "image_locked"
    return snap


def commit(engine, vm):
    snap = _end_preview(engine, vm)

    def done():
        vm.status = "down"
        snap.status = "ok"
        vm.drop_snapshots_after(snap)
        vm.in_preview = None
    engine.schedule("delete", done)


def undo(engine, vm):
    snap = _end_preview(engine, vm)

    def done():
        vm.status = "down"
        snap.status = "ok"
        for s in [s for s in vm.snapshots if s.type == "preview"]:
            vm.apply_config(s.config)
            vm.snapshots.remove(s)
        vm.in_preview = None
    engine.schedule("delete", done)
