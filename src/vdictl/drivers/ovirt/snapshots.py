"""Snapshots: list, take, and restore one on a stopped VM (undoing a preview
first), checking the restore's engine job by its correlation id."""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, List, Optional, Tuple

import ovirtsdk4.types as types

from vdictl.errors import DriverError, NotFound, WrongState
from vdictl.model import Snapshot

from .connection import OvirtConnection
from .records import to_snapshot, user_snapshots

log = logging.getLogger(__name__)

SS = types.SnapshotStatus


def list_snapshots(conn: OvirtConnection, *, name: str) -> List[Snapshot]:
    snaps = None
    vm_id = conn.known_id(name)
    if vm_id is not None:
        try:
            snaps = conn.snapshots(vm_id, name)
        except NotFound:
            conn.forget_id(name)  # removed (and maybe re-created) since the search
    if snaps is None:
        snaps = conn.snapshots(conn.sdk_vm(name).id, name)
    return [to_snapshot(s) for s in user_snapshots(snaps)]


def create_snapshot(conn: OvirtConnection, *, name: str, description: str, timeout: float,
                    slot: Callable[[], ContextManager] = nullcontext) -> Snapshot:
    v = conn.sdk_vm(name)
    before = {s.id for s in conn.snapshots(v.id, name)}

    def adopt() -> Tuple[bool, Any]:
        new = [s for s in conn.snapshots(v.id, name)
               if s.id not in before and s.description == description
               and s.snapshot_type != types.SnapshotType.ACTIVE]
        return (True, new[0]) if new else (False, None)

    with slot():
        added = conn.call(
            lambda s: conn.vm_service(s, v.id).snapshots_service().add(
                types.Snapshot(description=description, persist_memorystate=False)),
            vm=name, what=f"VM {name!r}", before_retry=adopt)

        def fetch() -> Any:
            for snap in conn.snapshots(v.id, name):
                if snap.id == added.id:
                    return snap
            raise DriverError(f"snapshot failed: {description!r} ({added.id}) disappeared",
                              driver=conn.driver, vm=name)

        done = conn.wait(fetch, lambda s: s.snapshot_status == SS.OK,
                         timeout=timeout, what=f"snapshot {description!r}", vm=name)
    return to_snapshot(done)


def _wait_settled(conn: OvirtConnection, vm_id: str, name: str, timeout: float,
                  what: str) -> None:
    """Until the VM is down (seen by its room's shared polls) and then none of
    its snapshots is locked or in preview."""
    deadline = time.monotonic() + timeout
    conn.wait_status(name, types.VmStatus.DOWN, timeout, what)
    busy = (SS.LOCKED, SS.IN_PREVIEW)
    conn.wait(lambda: [s.snapshot_status for s in conn.snapshots(vm_id, name)],
              lambda states: not any(st in busy for st in states),
              timeout=max(0.0, deadline - time.monotonic()), what=what, vm=name)


def revert_snapshot(conn: OvirtConnection, *, name: str, snapshot: Snapshot, timeout: float,
                    slot: Callable[[], ContextManager] = nullcontext) -> List[str]:
    v = conn.sdk_vm(name)
    if v.status != types.VmStatus.DOWN:
        raise WrongState(f"VM is {v.status.value}; stop it before reverting",
                         driver=conn.driver, vm=name)
    snaps = conn.snapshots(v.id, name)
    if not any(s.id == snapshot.id for s in snaps):
        raise NotFound(f"snapshot {snapshot.description!r} ({snapshot.id}) not found",
                       driver=conn.driver, vm=name)

    def no_preview() -> Tuple[bool, None]:
        return not any(s.snapshot_status == SS.IN_PREVIEW
                       for s in conn.snapshots(v.id, name)), None

    done_first: List[str] = []
    # The engine unlocks a failed restore just like a finished one; only its
    # job says which it was, so the request carries a correlation id.
    correlation_id = f"vdictl-{uuid.uuid4()}"
    with slot():  # the lookups above and the job check below load the engine little
        if any(s.snapshot_status == SS.IN_PREVIEW for s in snaps):
            log.info("%s: a snapshot is in preview; undoing the preview first", name)
            conn.call(lambda s: conn.vm_service(s, v.id).undo_snapshot(), vm=name,
                      before_retry=no_preview)
            _wait_settled(conn, v.id, name, timeout, "the snapshot preview to be undone")
            done_first.append("undo snapshot preview")
        conn.call(lambda s: conn.vm_service(s, v.id).snapshots_service()
                  .snapshot_service(snapshot.id).restore(
                      restore_memory=False, query={"correlation_id": correlation_id}),
                  vm=name, what=f"snapshot {snapshot.description!r} ({snapshot.id})")
        _wait_settled(conn, v.id, name, timeout, "the snapshot restore to finish")
    failed = _restore_failed(conn, correlation_id, v.id, name, snapshot.id)
    if failed:
        raise DriverError(f"the engine reports that the restore of snapshot "
                          f"{snapshot.description!r} {failed}", driver=conn.driver, vm=name)
    return done_first


def _restore_failed(conn: OvirtConnection, correlation_id: str, vm_id: str, name: str,
                    snapshot_id: str) -> Optional[str]:
    """How the restore failed ("failed", "aborted"...), or None if it did not.

    Its engine job says so. An account that may not read jobs gets what the
    VM and its snapshots show, as oVirt's ansible modules wait for a restore:
    the VM down (seen by _wait_settled) and the snapshot ok."""
    if conn.jobs_unreadable is None:
        try:
            jobs = conn.call(lambda s: s.jobs_service().list(
                search=f"correlation_id={correlation_id}"), vm=name)
        except DriverError as err:
            conn.jobs_refused(err)
        else:
            failed = [j for j in jobs
                      if j.status in (types.JobStatus.FAILED, types.JobStatus.ABORTED)]
            return failed[0].status.value if failed else None
    snap = next((s for s in conn.snapshots(vm_id, name) if s.id == snapshot_id), None)
    if snap is None:
        return "left the snapshot missing"
    if snap.snapshot_status != SS.OK:
        return f"left the snapshot {snap.snapshot_status.value}"
    return None
