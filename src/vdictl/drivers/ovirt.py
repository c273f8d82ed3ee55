"""oVirt driver: VMs from templates through the engine's REST API (ovirtsdk4).

Choices worth knowing:

- One SSO login per run; SDK connections are pooled and leased one per
  call, because an ovirtsdk4.Connection is not safe for concurrent use
  (see vdictl.drivers.ovirt_conn).
- Ownership is the VM comment `vdictl:room=..;subsection=..;version=..`
  (values percent-encoded); a VM whose comment lacks the prefix is foreign.
- Inventory is one search per call (`name=<common prefix>*`), names are
  then matched exactly.
- Every SDK call maps its errors with ovirt_conn.map_error and retries the
  transient ones (409 busy/locked, 503, connection drops) with bounded
  backoff. A state-changing call that is retried first checks whether the
  previous attempt took effect (the request may have reached the engine
  before the connection dropped), so nothing is done twice.
- create_vm picks the newest version of the template and, without a
  configured cluster, the template's cluster. The NIC `nic1` is added on
  the vNIC profile of `network_name` (or re-pointed if the template gave the
  VM a `nic1`). Network, template, cluster and user are looked up before
  the VM is added; a failure after the add removes the half-made VM.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Dict, List, Optional, Sequence, Tuple

import ovirtsdk4 as sdk
import ovirtsdk4.types as types
import pycurl

from vdictl.errors import DriverError, NotFound, NotOwned, OperationTimeout, WrongState
from vdictl.model import Owner, Snapshot, Vm, VmState
from vdictl.rooms import Connect, VmSpec
from vdictl.wait import retry_transient, wait_for

from .base import Driver
from . import ovirt_create, ovirt_template
from .ovirt_conn import ConnectionPool, map_error, normalize_url
from .ovirt_watch import StatusWatch
from .ovirt_create import parse_owner, parse_phase

log = logging.getLogger(__name__)

_SEARCH_SAFE = re.compile(r"[A-Za-z0-9_.\-]*")

VS = types.VmStatus
STATE_MAP: Dict[Any, VmState] = {
    VS.UP: VmState.RUNNING,
    VS.MIGRATING: VmState.RUNNING,
    VS.DOWN: VmState.STOPPED,
    VS.PAUSED: VmState.PAUSED,
    VS.WAIT_FOR_LAUNCH: VmState.STARTING,
    VS.POWERING_UP: VmState.STARTING,
    VS.REBOOT_IN_PROGRESS: VmState.STARTING,
    VS.RESTORING_STATE: VmState.STARTING,
    VS.POWERING_DOWN: VmState.STOPPING,
    VS.SAVING_STATE: VmState.STOPPING,
    VS.IMAGE_LOCKED: VmState.LOCKED,
    VS.SUSPENDED: VmState.SUSPENDED,
}


# -- search ---------------------------------------------------------------
def name_search(names: Sequence[str]) -> str:
    """One engine search that finds every name of `names` (and maybe more).

    The engine's search language needs no quoting for [A-Za-z0-9_.-], which
    is all an oVirt VM name may hold; the prefix is cut at anything else.
    """
    names = list(names)
    if len(names) == 1 and _SEARCH_SAFE.fullmatch(names[0]) and names[0]:
        return f"name={names[0]}"
    prefix = _SEARCH_SAFE.match(os.path.commonprefix(names)).group(0)
    return f"name={prefix}*"


class OvirtDriver(Driver):
    """VMs in an oVirt/RHV engine, cloned from templates."""

    name = "ovirt"
    STATE_MAP = STATE_MAP

    #: seconds between polls of the engine (tests shrink it)
    poll_interval: float = 1.0
    #: pooled SDK connections (concurrent requests)
    max_connections: int = 10
    #: bounded retry of transient engine errors
    retry_attempts: int = 8
    retry_max_time: float = 300.0
    retry_initial: float = 0.5
    retry_maximum: float = 15.0
    #: how long to wait for a hard power-off after the graceful timeout
    stop_timeout: float = 120.0

    def __init__(self, connect: Connect, *, uri: Optional[str] = None):
        url = uri or connect.url or ""
        super().__init__(connect, uri=normalize_url(url) if url else url)
        self._pool: Optional[ConnectionPool] = None
        #: templates, clusters, networks, vNIC profiles and users by name, per run
        self._lookups: Dict[Tuple[str, str], Any] = {}
        #: VM name -> the search that finds its room (recorded by find_vms), for polls
        self._room_search: Dict[str, str] = {}
        #: VM name -> id from the last search (an id never changes; a 404 drops it)
        self._ids: Dict[str, str] = {}
        self._watch = StatusWatch(self._statuses, interval=lambda: self.poll_interval,
                                  driver=self.name)

    # -- connection -------------------------------------------------------
    def open(self) -> None:
        if self._pool is not None:
            return
        if not self.uri:
            raise DriverError("no engine url configured", driver=self.name)
        pool = ConnectionPool(self.connect_settings, self.uri, size=self.max_connections,
                              login_retry=dict(attempts=4, max_time=60.0,
                                               initial=self.retry_initial,
                                               maximum=self.retry_maximum))
        pool.open()
        self._pool = pool

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def _call(self, fn: Callable[[Any], Any], *, vm: Optional[str] = None,
              what: Optional[str] = None,
              before_retry: Optional[Callable[[], Tuple[bool, Any]]] = None) -> Any:
        """fn(system_service) on a leased connection, errors mapped, transient
        ones retried. `before_retry` -> (done, value) may end the retries when
        an earlier attempt turns out to have worked."""
        if self._pool is None:
            self.open()
        pool = self._pool
        attempt = [0]

        def once() -> Any:
            attempt[0] += 1
            if attempt[0] > 1 and before_retry is not None:
                done, value = before_retry()
                if done:
                    return value
            with pool.lease() as conn:
                try:
                    return fn(conn.system_service())
                except (sdk.Error, pycurl.error) as exc:
                    raise map_error(exc, vm=vm, what=what, secrets=pool.secrets) from exc

        return retry_transient(once, attempts=self.retry_attempts, max_time=self.retry_max_time,
                               initial=self.retry_initial, maximum=self.retry_maximum)

    def _wait(self, fetch: Callable[[], Any], cond: Callable[[Any], bool], *, timeout: float,
              what: str, vm: str, fail: Optional[Callable[[Any], bool]] = None) -> Any:
        return wait_for(fetch, cond, timeout=timeout, interval=self.poll_interval, what=what,
                        driver=self.name, vm=vm, fail_condition=fail)

    # -- lookups ------------------------------------------------------------
    def _search_vms(self, names: Sequence[str]) -> Dict[str, Any]:
        search = name_search(names)
        wanted = set(names)
        found = self._call(lambda s: s.vms_service().list(search=search, follow="nics"))
        vms = {v.name: v for v in found if v.name in wanted}
        self._ids.update((n, v.id) for n, v in vms.items())
        return vms

    def _sdk_vm(self, name: str) -> Any:
        vm_id = self._ids.get(name)
        if vm_id is not None:  # a GET by id: far cheaper for the engine than a search
            try:
                vm = self._call(lambda s: s.vms_service().vm_service(vm_id).get(follow="nics"),
                                vm=name, what=f"VM {name!r}")
                if vm.name == name:
                    return vm
            except NotFound:
                pass
            self._ids.pop(name, None)  # removed or renamed since: search by name
        vm = self._search_vms([name]).get(name)
        if vm is None:
            raise NotFound(f"VM {name!r} not found", driver=self.name, vm=name)
        return vm

    def _status(self, vm_id: str, name: str) -> Any:
        return self._call(lambda s: s.vms_service().vm_service(vm_id).get().status,
                          vm=name, what=f"VM {name!r}")

    def _vm(self, v: Any) -> Vm:
        macs = [n.mac.address for n in (v.nics or []) if n.mac is not None and n.mac.address]
        return Vm(name=v.name, id=v.id, state=self.STATE_MAP.get(v.status, VmState.UNKNOWN),
                  owner=parse_owner(v.comment), mac=macs[0] if macs else None,
                  phase=parse_phase(v.comment),
                  extra={"status": str(v.status.value if v.status else None), "macs": macs,
                         "url": self.endpoint,
                         "template_id": v.template.id if v.template is not None else None})

    def _vm_service(self, s: Any, vm_id: str) -> Any:
        return s.vms_service().vm_service(vm_id)

    # -- inventory --------------------------------------------------------
    def find_vms(self, *, names: Sequence[str]) -> Dict[str, Vm]:
        if not names:
            return {}
        search = name_search(names)
        self._room_search.update((n, search) for n in names)
        return {n: self._vm(v) for n, v in self._search_vms(names).items()}

    def get_vm(self, *, name: str) -> Vm:
        return self._vm(self._sdk_vm(name))

    # -- lifecycle --------------------------------------------------------
    def create_vm(self, *, spec: VmSpec, owner: Owner, timeout: float) -> Vm:
        return ovirt_create.create_vm(self, spec=spec, owner=owner, timeout=timeout)

    def check_create(self, *, specs: Sequence[VmSpec]) -> None:
        ovirt_create.check_create(self, specs)

    def personalise_vm(self, *, spec: VmSpec, payload: Any, timeout: float) -> None:
        ovirt_create.personalise_vm(self, spec=spec, payload=payload, timeout=timeout)

    def finish_vm(self, *, spec: VmSpec, timeout: float) -> None:
        ovirt_create.finish_vm(self, spec=spec, timeout=timeout)

    def set_phase(self, *, name: str, phase: str) -> None:
        ovirt_create.set_phase(self, name=name, phase=phase)

    def uses_template(self, *, spec: VmSpec) -> bool:
        v = self._sdk_vm(spec.name)
        return v.template is not None and v.template.id == ovirt_create.find_template(
            self, spec).id

    def create_template(self, *, vm: str, name: str, seal: bool, timeout: float) -> None:
        ovirt_template.create_template(self, vm=vm, name=name, seal=seal, timeout=timeout)

    def template_users(self, *, name: str) -> List[str]:
        return ovirt_template.template_users(self, name=name)

    def delete_template(self, *, name: str, adopt: bool, timeout: float) -> List[str]:
        return ovirt_template.delete_template(self, name=name, adopt=adopt, timeout=timeout)

    def delete_vm(self, *, name: str, timeout: float) -> None:
        v = self._sdk_vm(name)
        if parse_owner(v.comment) is None:
            raise NotOwned("VM has no vdictl owner mark in its comment; not deleting it",
                           driver=self.name, vm=name)
        if v.status != VS.DOWN:
            raise WrongState(f"VM is {v.status.value}; stop it before deleting", driver=self.name,
                             vm=name)

        def gone() -> Tuple[bool, None]:
            return name not in self._search_vms([name]), None

        try:
            self._call(lambda s: self._vm_service(s, v.id).remove(), vm=name,
                       what=f"VM {name!r}", before_retry=gone)
        except NotFound:
            pass
        self._wait_room(name, lambda st: st is None, timeout, "the VM to be removed")

    # -- power ------------------------------------------------------------
    def _statuses(self, search: str) -> Dict[str, Any]:
        found = self._call(lambda s: s.vms_service().list(search=search))
        return {v.name: v for v in found}

    def _wait_status(self, name: str, status: Any, timeout: float, what: str) -> None:
        """Until the VM has `status`, seen by a poll of its whole room begun after now."""
        self._wait_room(name, lambda st: st == status, timeout, what)

    def _wait_room(self, name: str, done: Callable[[Any], bool], timeout: float,
                   what: str) -> None:
        """Until done(the VM's status; None while it is missing), seen by a poll of
        its whole room begun after now: one search per room and poll, never a
        request per waiting VM."""
        search = self._room_search.get(name) or name_search([name])
        self._watch.wait(search, name, lambda v: done(v.status if v is not None else None),
                         since=time.monotonic(), timeout=timeout, what=what)

    def _action(self, vm_id: str, name: str, action: str, skip: Callable[[Any], bool]) -> None:
        """POST an action; on a retry, skip it when the status shows it took effect."""
        def check() -> Tuple[bool, None]:
            return skip(self._status(vm_id, name)), None
        self._call(lambda s: getattr(self._vm_service(s, vm_id), action)(), vm=name,
                   what=f"VM {name!r}", before_retry=check)

    def start_vm(self, *, name: str, timeout: float) -> None:
        v = self._sdk_vm(name)
        if v.status == VS.UP:
            return
        self._action(v.id, name, "start",
                     lambda st: st in (VS.UP, VS.POWERING_UP, VS.WAIT_FOR_LAUNCH))
        self._wait_status(name, VS.UP, timeout, "the VM to run")

    def shutdown_vm(self, *, name: str, timeout: float) -> bool:
        v = self._sdk_vm(name)
        if v.status == VS.DOWN:
            return False
        self._action(v.id, name, "shutdown", lambda st: st in (VS.DOWN, VS.POWERING_DOWN))
        try:
            self._wait_status(name, VS.DOWN, timeout, "graceful shutdown")
            return False
        except OperationTimeout:
            log.info("%s: no graceful shutdown within %gs; powering off", name, timeout)
        self._action(v.id, name, "stop", lambda st: st == VS.DOWN)
        self._wait_status(name, VS.DOWN, self.stop_timeout, "the VM to power off")
        return True

    def power_off_vm(self, *, name: str, timeout: float) -> None:
        v = self._sdk_vm(name)
        if v.status == VS.IMAGE_LOCKED:
            # a restore or preview still running (a killed run left it): the VM
            # is down underneath; the engine refuses "stop" until it ends
            self._wait_room(name, lambda st: st != VS.IMAGE_LOCKED, timeout,
                            "the VM's disks to be unlocked")
            v = self._sdk_vm(name)
        if v.status == VS.DOWN:
            return
        self._action(v.id, name, "stop", lambda st: st == VS.DOWN)
        self._wait_status(name, VS.DOWN, timeout, "the VM to power off")

    # -- snapshots --------------------------------------------------------
    def _snapshots(self, vm_id: str, name: str) -> List[Any]:
        return list(self._call(
            lambda s: self._vm_service(s, vm_id).snapshots_service().list(),
            vm=name, what=f"VM {name!r}"))

    @staticmethod
    def _snapshot(s: Any) -> Snapshot:
        return Snapshot(id=s.id, description=s.description or "",
                        created=s.date.timestamp() if s.date else None,
                        extra={"status": s.snapshot_status.value if s.snapshot_status else None,
                               "type": s.snapshot_type.value if s.snapshot_type else None})

    @staticmethod
    def _user_snapshots(snaps: List[Any]) -> List[Any]:
        user = [s for s in snaps if s.snapshot_type != types.SnapshotType.ACTIVE]
        return sorted(user, key=lambda s: s.date.timestamp() if s.date else 0.0)

    def list_snapshots(self, *, name: str) -> List[Snapshot]:
        snaps = None
        vm_id = self._ids.get(name)
        if vm_id is not None:
            try:
                snaps = self._snapshots(vm_id, name)
            except NotFound:
                self._ids.pop(name, None)  # removed (and maybe re-created) since the search
        if snaps is None:
            snaps = self._snapshots(self._sdk_vm(name).id, name)
        return [self._snapshot(s) for s in self._user_snapshots(snaps)]

    def create_snapshot(self, *, name: str, description: str, timeout: float,
                        slot: Callable[[], ContextManager] = nullcontext) -> Snapshot:
        v = self._sdk_vm(name)
        before = {s.id for s in self._snapshots(v.id, name)}

        def adopt() -> Tuple[bool, Any]:
            new = [s for s in self._snapshots(v.id, name)
                   if s.id not in before and s.description == description
                   and s.snapshot_type != types.SnapshotType.ACTIVE]
            return (True, new[0]) if new else (False, None)

        with slot():
            added = self._call(
                lambda s: self._vm_service(s, v.id).snapshots_service().add(
                    types.Snapshot(description=description, persist_memorystate=False)),
                vm=name, what=f"VM {name!r}", before_retry=adopt)

            def fetch() -> Any:
                for snap in self._snapshots(v.id, name):
                    if snap.id == added.id:
                        return snap
                raise DriverError(f"snapshot failed: {description!r} ({added.id}) disappeared",
                                  driver=self.name, vm=name)

            done = self._wait(fetch, lambda s: s.snapshot_status == types.SnapshotStatus.OK,
                              timeout=timeout, what=f"snapshot {description!r}", vm=name)
        return self._snapshot(done)

    def _wait_settled(self, vm_id: str, name: str, timeout: float, what: str) -> None:
        """Until the VM is down (seen by its room's shared polls) and then none of
        its snapshots is locked or in preview."""
        deadline = time.monotonic() + timeout
        self._wait_status(name, VS.DOWN, timeout, what)
        busy = (types.SnapshotStatus.LOCKED, types.SnapshotStatus.IN_PREVIEW)
        self._wait(lambda: [s.snapshot_status for s in self._snapshots(vm_id, name)],
                   lambda states: not any(st in busy for st in states),
                   timeout=max(0.0, deadline - time.monotonic()), what=what, vm=name)

    def revert_snapshot(self, *, name: str, snapshot: Snapshot, timeout: float,
                        slot: Callable[[], ContextManager] = nullcontext) -> List[str]:
        v = self._sdk_vm(name)
        if v.status != VS.DOWN:
            raise WrongState(f"VM is {v.status.value}; stop it before reverting",
                             driver=self.name, vm=name)
        snaps = self._snapshots(v.id, name)
        if not any(s.id == snapshot.id for s in snaps):
            raise NotFound(f"snapshot {snapshot.description!r} ({snapshot.id}) not found",
                           driver=self.name, vm=name)

        def no_preview() -> Tuple[bool, None]:
            return not any(s.snapshot_status == types.SnapshotStatus.IN_PREVIEW
                           for s in self._snapshots(v.id, name)), None

        done_first: List[str] = []
        # The engine unlocks a failed restore just like a finished one; only its
        # job says which it was, so the request carries a correlation id.
        correlation_id = f"vdictl-{uuid.uuid4()}"
        with slot():  # the lookups above and the job check below load the engine little
            if any(s.snapshot_status == types.SnapshotStatus.IN_PREVIEW for s in snaps):
                log.info("%s: a snapshot is in preview; undoing the preview first", name)
                self._call(lambda s: self._vm_service(s, v.id).undo_snapshot(), vm=name,
                           before_retry=no_preview)
                self._wait_settled(v.id, name, timeout, "the snapshot preview to be undone")
                done_first.append("undo snapshot preview")
            self._call(lambda s: self._vm_service(s, v.id).snapshots_service()
                       .snapshot_service(snapshot.id).restore(
                           restore_memory=False, query={"correlation_id": correlation_id}),
                       vm=name, what=f"snapshot {snapshot.description!r} ({snapshot.id})")
            self._wait_settled(v.id, name, timeout, "the snapshot restore to finish")
        self._check_jobs(correlation_id, name, f"restore of snapshot {snapshot.description!r}")
        return done_first

    def _check_jobs(self, correlation_id: str, name: str, what: str) -> None:
        """Raise when the engine's job for `correlation_id` failed."""
        jobs = self._call(lambda s: s.jobs_service().list(
            search=f"correlation_id={correlation_id}"), vm=name)
        failed = [j for j in jobs if j.status in (types.JobStatus.FAILED, types.JobStatus.ABORTED)]
        if failed:
            raise DriverError(f"the engine reports that the {what} {failed[0].status.value}",
                              driver=self.name, vm=name)
