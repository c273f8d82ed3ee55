"""Snapshots: list, take, and restore one on a stopped VM (undoing a preview
first), checking the restore's engine job by its correlation id."""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Dict, List, Optional, Sequence, Tuple

import ovirtsdk4.types as types

from vdictl.errors import DriverError, NotFound, WrongState
from vdictl.model import Snapshot

from .connection import OvirtConnection, name_search
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


def room_snapshots(conn: OvirtConnection, names: Sequence[str]) -> Dict[str, List[Snapshot]]:
    """The snapshots of the VMs among `names`, inline in one search
    (follow=snapshots): the preflight of a room of 250 VMs is one request,
    not 250."""
    wanted = set(names)
    found = conn.call(lambda s: s.vms_service().list(search=name_search(names),
                                                     follow="snapshots"))
    return {v.name: [to_snapshot(s) for s in user_snapshots(list(v.snapshots or []))]
            for v in found if v.name in wanted}


def left_in_preview(snapshots: Sequence[Snapshot]) -> List[Tuple[str, str]]:
    """For vdictl preflight: a snapshot in preview (someone's preview left
    open, or an engine restart between a restore's preview and its commit)
    or locked (a task on it, or one the engine lost)."""
    found = []
    for snap in snapshots:
        status = snap.extra.get("status")
        if status == SS.IN_PREVIEW.value:
            found.append((f"snapshot {snap.description!r} is in preview",
                          "the reset undoes the preview first (or commits it, if it is the "
                          "snapshot it restores); if the preview is someone's work, commit "
                          "or undo it in the Administration Portal now"))
        elif status == SS.LOCKED.value:
            found.append((f"snapshot {snap.description!r} is locked",
                          "wait for the engine's task on it; if none runs (Tasks tab), ask "
                          "the engine's admin to unlock it (unlock_entity.sh)"))
    return found


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


#: restores of one VM whose tasks the engine failed, tried before it is named failed
RESTORE_ATTEMPTS = 3
#: restores of one VM cut short by an engine restart (their jobs ended
#: UNKNOWN, or the preview left uncommitted), tried again before it is named
#: failed; these do not count as the engine failing the restore
RESTORE_INTERRUPTIONS = 3
#: what _restore_failed says of a restore that an engine restart cut short
INTERRUPTED = "was cut short by an engine restart"


def _wait_settled(conn: OvirtConnection, vm_id: str, name: str, timeout: float,
                  what: str) -> List[Any]:
    """Until the VM is down (seen by its room's shared polls) and then none of
    its snapshots is locked; the snapshots then. A snapshot left in preview
    is not waited for: the caller decides what to do with it."""
    deadline = time.monotonic() + timeout
    conn.wait_status(name, types.VmStatus.DOWN, timeout, what)
    return conn.wait(lambda: conn.snapshots(vm_id, name),
                     lambda snaps: not any(s.snapshot_status == SS.LOCKED for s in snaps),
                     timeout=max(0.0, deadline - time.monotonic()), what=what, vm=name)


def _in_preview(snaps: List[Any]) -> Optional[Any]:
    return next((s for s in snaps if s.snapshot_status == SS.IN_PREVIEW), None)


def _busy_or_previewing(conn: OvirtConnection, vm_id: str, name: str) -> bool:
    """Whether the VM is locked or has a snapshot locked or in preview: an
    earlier request took effect (or another command runs), so a request is
    not sent again before the VM has settled and been looked at."""
    if conn.vm_status(vm_id, name) == types.VmStatus.IMAGE_LOCKED:
        return True
    return any(s.snapshot_status in (SS.LOCKED, SS.IN_PREVIEW)
               for s in conn.snapshots(vm_id, name))


def _end_preview(conn: OvirtConnection, vm_id: str, name: str, timeout: float,
                 commit: bool) -> List[Any]:
    """Commit (or undo) the VM's snapshot preview and wait for the end; the
    snapshots then. A repeated request first looks whether the preview ended."""
    def ended() -> Tuple[bool, None]:
        return not _busy_or_previewing(conn, vm_id, name), None

    def send(s: Any) -> Any:
        service = conn.vm_service(s, vm_id)
        return service.commit_snapshot() if commit else service.undo_snapshot()

    conn.call(send, vm=name, before_retry=ended)
    what = "the snapshot preview to be " + ("committed" if commit else "undone")
    return _wait_settled(conn, vm_id, name, timeout, what)


def revert_snapshot(conn: OvirtConnection, *, name: str, snapshot: Snapshot, timeout: float,
                    slot: Callable[[], ContextManager] = nullcontext) -> List[str]:
    """Restore `snapshot`: the engine's `restore` action previews it and then
    commits the preview. Each request carries its own correlation id, so the
    jobs found are those of this restore; what the VM and its snapshots show
    is read before a verdict. A VM left in preview of `snapshot` (an engine
    restart between the preview and its commit) is committed; one in preview
    of another snapshot is undone and restored again; a restore whose tasks
    the engine failed is tried again, RESTORE_ATTEMPTS in all; one an engine
    restart cut short (its jobs UNKNOWN) is sent again without counting as
    failed, up to RESTORE_INTERRUPTIONS times."""
    v = conn.sdk_vm(name)
    if v.status != types.VmStatus.DOWN:
        raise WrongState(f"VM is {v.status.value}; stop it before reverting",
                         driver=conn.driver, vm=name)
    snaps = conn.snapshots(v.id, name)
    if not any(s.id == snapshot.id for s in snaps):
        raise NotFound(f"snapshot {snapshot.description!r} ({snapshot.id}) not found",
                       driver=conn.driver, vm=name)
    done_first: List[str] = []
    failures: List[str] = []
    interruptions = 0
    while len(failures) < RESTORE_ATTEMPTS and interruptions < RESTORE_INTERRUPTIONS:
        # a slot per attempt, around the requests and the waits: the lookups
        # above and the job checks below load the engine little
        with slot():
            preview = _in_preview(snaps)
            if preview is not None and preview.id != snapshot.id:
                log.info("%s: a snapshot is in preview; undoing the preview first", name)
                snaps = _end_preview(conn, v.id, name, timeout, commit=False)
                done_first.append("undo snapshot preview")
            elif preview is not None:
                log.info("%s: snapshot %r is in preview; committing it", name,
                         snapshot.description)
                _end_preview(conn, v.id, name, timeout, commit=True)
                return done_first + ["commit snapshot preview"]
            sent = _send_restore(conn, v.id, name, snapshot)
            snaps = _wait_settled(conn, v.id, name, timeout, "the snapshot restore to finish")
        failed = (INTERRUPTED if _in_preview(snaps) is not None  # nobody committed it
                  else _restore_failed(conn, sent, v.id, name, snapshot.id, snaps))
        if failed is None:
            return done_first
        if failed == INTERRUPTED:
            interruptions += 1
        else:
            failures.append(failed)
        log.info("%s: the restore of snapshot %r %s; trying again", name,
                 snapshot.description, failed)
    if failures:
        said = f"{failures[-1]} ({len(failures)} of {RESTORE_ATTEMPTS} attempts)"
    else:
        said = f"{INTERRUPTED} {interruptions} times"
    raise DriverError(f"the engine reports that the restore of snapshot "
                      f"{snapshot.description!r} {said}", driver=conn.driver, vm=name)


def _send_restore(conn: OvirtConnection, vm_id: str, name: str, snapshot: Snapshot) -> List[str]:
    """Send the restore; the correlation ids of the requests sent, one per
    request: a request sent again (its answer lost, the engine busy) is
    another command to the engine, with a job of its own. Before it is sent
    again the VM is looked at: locked or in preview, an earlier one took
    effect."""
    sent: List[str] = []

    def send(s: Any) -> Any:
        correlation_id = f"vdictl-{uuid.uuid4()}"
        sent.append(correlation_id)
        return (conn.vm_service(s, vm_id).snapshots_service().snapshot_service(snapshot.id)
                .restore(restore_memory=False, query={"correlation_id": correlation_id}))

    def took_effect() -> Tuple[bool, None]:
        return _busy_or_previewing(conn, vm_id, name) or _finished(conn, sent, name), None

    conn.call(send, vm=name, what=f"snapshot {snapshot.description!r} ({snapshot.id})",
              before_retry=took_effect)
    return sent


def _jobs(conn: OvirtConnection, correlation_id: str, name: str) -> Optional[List[Any]]:
    """The engine's jobs of one request, or None when this account may not read jobs."""
    if conn.jobs_unreadable is not None:
        return None
    try:
        return list(conn.call(lambda s: s.jobs_service().list(
            search=f"correlation_id={correlation_id}"), vm=name))
    except DriverError as err:
        conn.jobs_refused(err)
        return None


def _all_finished(jobs: Optional[List[Any]]) -> bool:
    """Whether one request's jobs (the restore's preview and commit) all finished."""
    return bool(jobs) and all(j.status == types.JobStatus.FINISHED for j in jobs or [])


def _finished(conn: OvirtConnection, sent: List[str], name: str) -> bool:
    """Whether an earlier request of `sent` restored (all its jobs finished)."""
    return any(_all_finished(_jobs(conn, correlation_id, name)) for correlation_id in sent)


def _restore_failed(conn: OvirtConnection, sent: List[str], vm_id: str, name: str,
                    snapshot_id: str, snaps: List[Any]) -> Optional[str]:
    """How the restore failed ("failed", "aborted"...), or None if it did not.

    The VM and its snapshots are read first (`snaps`, settled): the snapshot
    missing or not ok is a failure whatever a job says. Then the jobs of the
    requests sent: the restore worked if every job of one request finished
    (the engine's restore is a preview and its commit, one job each); a
    request refused (sent again while the first ran) has a failed job of its
    own that says nothing of the first. An account that may not read jobs
    gets what the VM and its snapshots show, as oVirt's ansible modules wait
    for a restore: the VM down (seen by _wait_settled) and the snapshot ok."""
    snap = next((s for s in snaps if s.id == snapshot_id), None)
    if snap is None:
        return "left the snapshot missing"
    if snap.snapshot_status != SS.OK:
        return f"left the snapshot {snap.snapshot_status.value}"
    ended: List[str] = []
    for correlation_id in sent:
        jobs = _jobs(conn, correlation_id, name)
        if jobs is None or _all_finished(jobs):
            return None
        ended.extend(j.status.value for j in jobs
                     if j.status in (types.JobStatus.FAILED, types.JobStatus.ABORTED))
        if any(j.status == types.JobStatus.UNKNOWN for j in jobs):
            # the engine's start ends the jobs it found running UNKNOWN
            # (JobRepositoryImpl.finalizeJobs): whether the disks were
            # reverted is not known, so the restore is sent again
            ended.append(INTERRUPTED)
    return ended[0] if ended else "left no job"
