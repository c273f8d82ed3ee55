"""libvirt driver: linked clones on qcow2 overlays, internal snapshots.

One libvirt connection per driver, shared by all threads (libvirt
connections are thread-safe). Ownership, and the overlay volumes a rollout
created, are recorded in the domain's <metadata> at define time, so that a
snapshot revert, which restores the domain XML saved with the snapshot,
cannot lose them.

Choices worth knowing:

- create_vm: every writable, unshared disk of the template (file or volume,
  qcow2 or raw) gets a qcow2 overlay `<vm>-<dev>.qcow2` created through the
  storage pool API (works on remote URIs); cdroms and readonly/shareable
  disks are shared as they are; any other writable disk (block, network) is
  refused with Unsupported rather than shared between clones.
- stateless: the overlays are additionally marked
  <transient shareBacking='yes'/>; QEMU then writes into a throw-away
  `<overlay>.TRANSIENT-<vm>` that libvirt deletes at power-off. If libvirt
  refuses or drops the element, create_vm raises Unsupported.
- shutdown_vm presses the ACPI power button (hypervisors without that flag,
  e.g. the test driver, get their default shutdown method); a paused VM
  cannot see the button and is powered off at once.
- revert_snapshot: a snapshot taken while the VM ran is reverted paused (no
  guest code runs) and the VM is then destroyed, so the VM is always off
  afterwards with the snapshot's disk state.
- delete_vm undefines (with snapshot, checkpoint, managed-save and NVRAM
  metadata where the hypervisor knows the flags), then deletes exactly the
  volumes recorded in the owner mark, and only if they still have the
  recorded path.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from typing import Callable, ContextManager, Dict, Iterator, List, Optional, Sequence, Set

import libvirt

from vdictl.errors import (AuthError, DriverError, NotFound, NotOwned, OperationTimeout,
                           Unreachable, WrongState)
from vdictl.model import Owner, Snapshot, Vm, VmState
from vdictl.rooms import Connect, VmSpec

from vdictl.wait import retry_transient, wait_for

from . import libvirt_create, libvirt_template
from . import libvirt_xml as lx
from .base import Driver, configured_password
from .libvirt_errors import (AUTH_CODES, is_not_running, is_unsupported_flags,
                             map_error)

log = logging.getLogger(__name__)

#: how often waits poll the domain state
POLL_INTERVAL = 0.2
#: seconds between presses of the ACPI power button during a graceful shutdown
PRESS_INTERVAL = 3.0
#: how long to wait for a domain to be gone after virDomainDestroy
DESTROY_WAIT = 30.0

def _quiet_error_handler(_ctx, _err) -> None:
    """libvirt prints every error to stderr unless a handler is set."""


def reconnecting(method):
    """For calls that are safe to repeat: when the connection to libvirtd is
    lost (libvirtd restarted), reconnect and call again, with bounded backoff.
    Calls that create something are not repeated; a rerun finishes them."""

    @functools.wraps(method)
    def wrapper(self: "LibvirtDriver", **kwargs):
        def once():
            try:
                return method(self, **kwargs)
            except Unreachable:
                self._drop_dead_connection()
                raise

        return retry_transient(once, attempts=self.reconnect_attempts,
                               max_time=self.reconnect_max_time, initial=0.5, maximum=5.0,
                               retry_if=lambda exc: isinstance(exc, Unreachable))

    return wrapper


class LibvirtDriver(Driver):
    """VMs as libvirt domains; clones are qcow2 overlays on the template's disks."""

    name = "libvirt"

    #: how often, and for how long, a repeatable call tries to reconnect
    reconnect_attempts: int = 6
    reconnect_max_time: float = 60.0

    STATE_MAP: Dict[int, VmState] = {
        libvirt.VIR_DOMAIN_NOSTATE: VmState.UNKNOWN,
        libvirt.VIR_DOMAIN_RUNNING: VmState.RUNNING,
        libvirt.VIR_DOMAIN_BLOCKED: VmState.RUNNING,
        libvirt.VIR_DOMAIN_PAUSED: VmState.PAUSED,
        libvirt.VIR_DOMAIN_SHUTDOWN: VmState.STOPPING,
        libvirt.VIR_DOMAIN_SHUTOFF: VmState.STOPPED,
        libvirt.VIR_DOMAIN_CRASHED: VmState.STOPPED,
        libvirt.VIR_DOMAIN_PMSUSPENDED: VmState.SUSPENDED,
    }

    def __init__(self, connect: Connect, *, uri: Optional[str] = None):
        super().__init__(connect, uri=uri or connect.uri)
        self._conn: Optional[libvirt.virConnect] = None
        self._lock = threading.RLock()
        self._used_macs: Optional[Set[str]] = None

    # -- connection -------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return self.uri or ""

    def open(self) -> None:
        with self._lock:
            if self._conn is not None:
                return
            libvirt.registerErrorHandler(_quiet_error_handler, None)
            uri = self.uri or None
            try:
                conn = self._open_connection(uri)
            except libvirt.libvirtError as exc:
                msg = f"cannot connect to {self.endpoint or 'the default URI'}: " \
                      f"{exc.get_error_message() or exc}"
                if exc.get_error_code() in AUTH_CODES:
                    raise AuthError(msg, driver=self.name) from None
                raise Unreachable(msg, driver=self.name) from None
            if conn is None:  # very old bindings returned None
                raise Unreachable(f"cannot connect to {self.endpoint}", driver=self.name)
            self._conn = conn
            if not self.uri:
                self.uri = conn.getURI()

    def _open_connection(self, uri: Optional[str]) -> "libvirt.virConnect":
        settings = self.connect_settings
        password = configured_password(settings, self.name)
        if settings.username is None and password is None:
            return libvirt.open(uri)

        def callback(creds, _data):
            for cred in creds:
                if cred[0] == libvirt.VIR_CRED_AUTHNAME:
                    cred[4] = settings.username or cred[3]
                elif cred[0] == libvirt.VIR_CRED_PASSPHRASE:
                    cred[4] = password or ""
                else:
                    return -1
            return 0

        auth = [[libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE], callback, None]
        return libvirt.openAuth(uri, auth, 0)

    def _drop_dead_connection(self) -> None:
        """Forget the connection if libvirtd no longer answers on it; the next
        call opens a new one. A live connection (another thread reconnected
        first) is kept."""
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            try:
                alive = conn.isAlive() == 1
            except libvirt.libvirtError:
                alive = False
            if alive:
                return
            self._conn = None
        log.info("lost the connection to %s; reconnecting", self.endpoint)
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            self._used_macs = None
        if conn is not None:
            try:
                conn.close()
            except libvirt.libvirtError as exc:
                log.debug("closing %s: %s", self.endpoint, exc)

    @property
    def conn(self) -> "libvirt.virConnect":
        if self._conn is None:
            self.open()
        return self._conn

    @contextlib.contextmanager
    def _errors(self, vm: Optional[str] = None, what: Optional[str] = None) -> Iterator[None]:
        try:
            yield
        except libvirt.libvirtError as exc:
            raise map_error(exc, vm=vm, what=what) from exc

    # -- helpers ------------------------------------------------------------
    def _domain(self, name: str) -> "libvirt.virDomain":
        with self._errors(vm=name, what=f"domain {name!r}"):
            return self.conn.lookupByName(name)

    def _state(self, dom: "libvirt.virDomain") -> VmState:
        with self._errors(vm=dom.name()):
            code = dom.state()[0]
        return self.STATE_MAP.get(code, VmState.UNKNOWN)

    def _is_off(self, dom: "libvirt.virDomain") -> bool:
        with self._errors(vm=dom.name()):
            return not dom.isActive()

    def _wait_until_state(self, dom: "libvirt.virDomain", wanted: VmState, timeout: float,
                          *, what: str) -> None:
        """Poll the domain until it is in state `wanted`; OperationTimeout otherwise."""
        wait_for(lambda: self._state(dom), lambda state: state == wanted,
                 timeout=max(0.0, timeout), interval=POLL_INTERVAL, what=what,
                 driver=self.name, vm=dom.name())

    def _vm(self, dom: "libvirt.virDomain") -> Vm:
        name = dom.name()
        with self._errors(vm=name, what=f"domain {name!r}"):
            xml = dom.XMLDesc(0)
            state = self.STATE_MAP.get(dom.state()[0], VmState.UNKNOWN)
        mark = lx.parse_owner(xml)
        macs = lx.domain_macs(xml)
        extra = {"uuid": dom.UUIDString(), "macs": macs, "uri": self.endpoint}
        if mark is not None:
            extra["volumes"] = [(v.pool, v.name) for v in mark.volumes]
        return Vm(name=name, id=dom.UUIDString(), state=state,
                  owner=mark.owner if mark else None, mac=macs[0] if macs else None,
                  phase=lx.parse_phase(xml), extra=extra)

    # -- inventory --------------------------------------------------------
    @reconnecting
    def find_vms(self, *, names: Sequence[str]) -> Dict[str, Vm]:
        wanted = set(names)
        with self._errors():
            domains = self.conn.listAllDomains(0)
        found: Dict[str, Vm] = {}
        for dom in domains:
            name = dom.name()
            if name not in wanted:
                continue
            try:
                found[name] = self._vm(dom)
            except NotFound:  # undefined between the listing and now
                continue
        return found

    @reconnecting
    def get_vm(self, *, name: str) -> Vm:
        return self._vm(self._domain(name))

    # -- lifecycle --------------------------------------------------------
    def create_vm(self, *, spec: VmSpec, owner: Owner, timeout: float) -> Vm:
        return libvirt_create.create_vm(self, spec=spec, owner=owner, timeout=timeout)

    def check_create(self, *, specs: Sequence[VmSpec]) -> None:
        libvirt_create.check_create(self, specs=specs)

    def _undefine(self, dom: "libvirt.virDomain") -> None:
        base = libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        attempts = [
            base | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
            | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
            base | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE,
            base,
        ]
        for flags in attempts:
            try:
                dom.undefineFlags(flags)
                return
            except libvirt.libvirtError as exc:
                if not is_unsupported_flags(exc) or flags == base:
                    raise

    def delete_vm(self, *, name: str, timeout: float) -> None:
        dom = self._domain(name)
        with self._errors(vm=name, what=f"domain {name!r}"):
            mark = lx.parse_owner(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            active = dom.isActive()
        if mark is None:
            raise NotOwned("domain has no vdictl owner mark; not deleting it",
                           driver=self.name, vm=name)
        if active:
            raise WrongState("domain is running; stop it before deleting", driver=self.name,
                             vm=name)
        with self._errors(vm=name, what=f"domain {name!r}"):
            self._undefine(dom)
        leftovers = self._delete_volumes(name, mark.volumes)
        if leftovers:
            raise DriverError(f"domain undefined, but volumes left behind: {', '.join(leftovers)}",
                              driver=self.name, vm=name)

    def _delete_volumes(self, name: str, volumes: Sequence[lx.OverlayVolume]) -> List[str]:
        """Delete the recorded volumes that still have their recorded path;
        returns pool/name of those left behind."""
        leftovers = []
        for rec in volumes:
            try:
                vol = self.conn.storagePoolLookupByName(rec.pool).storageVolLookupByName(rec.name)
                if rec.path and vol.path() != rec.path:
                    log.warning("%s: volume %s/%s is now at %s, not %s; left alone",
                                name, rec.pool, rec.name, vol.path(), rec.path)
                    leftovers.append(f"{rec.pool}/{rec.name}")
                    continue
                vol.delete(0)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() in (libvirt.VIR_ERR_NO_STORAGE_VOL,
                                            libvirt.VIR_ERR_NO_STORAGE_POOL):
                    log.info("%s: volume %s/%s is already gone", name, rec.pool, rec.name)
                    continue
                log.error("%s: could not delete %s/%s: %s", name, rec.pool, rec.name, exc)
                leftovers.append(f"{rec.pool}/{rec.name}")
        return leftovers

    # -- power ------------------------------------------------------------
    @reconnecting
    def start_vm(self, *, name: str, timeout: float) -> None:
        dom = self._domain(name)
        state = self._state(dom)
        if state == VmState.RUNNING:
            return
        try:
            if state == VmState.PAUSED:
                dom.resume()
            elif self._is_off(dom):
                dom.create()
        except libvirt.libvirtError as exc:
            if not (exc.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID
                    and "already running" in str(exc)):
                raise map_error(exc, vm=name) from exc
        self._wait_until_state(dom, VmState.RUNNING, timeout, what="the VM to run")

    @reconnecting
    def shutdown_vm(self, *, name: str, timeout: float) -> bool:
        dom = self._domain(name)
        if self._is_off(dom):
            return False
        if self._state(dom) == VmState.PAUSED:
            # a paused guest cannot see the power button
            return self._destroy(dom, name)
        # A press that arrives while the guest is still booting is lost (the
        # guest has not enabled the power-button event yet), so press again
        # every PRESS_INTERVAL seconds until it is off or the timeout passes.
        deadline = time.monotonic() + timeout
        while True:
            if not self._press_power_button(dom, name):
                return False
            try:
                self._wait_until_state(dom, VmState.STOPPED,
                                       min(PRESS_INTERVAL, deadline - time.monotonic()),
                                       what="graceful shutdown")
                return False
            except OperationTimeout:
                if time.monotonic() >= deadline:
                    break
        log.info("%s: no graceful shutdown within %gs; powering off", name, timeout)
        return self._destroy(dom, name)

    def _press_power_button(self, dom: "libvirt.virDomain", name: str) -> bool:
        """Press the ACPI power button; False when the domain is already off."""
        try:
            try:
                dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
            except libvirt.libvirtError as exc:
                if not is_unsupported_flags(exc):
                    raise
                dom.shutdown()  # hypervisors without the ACPI flag: their default
        except libvirt.libvirtError as exc:
            if is_not_running(exc):
                return False
            raise map_error(exc, vm=name) from exc
        return True

    def _destroy(self, dom: "libvirt.virDomain", name: str, timeout: float = DESTROY_WAIT) -> bool:
        """Destroy and wait until off. False when the domain was already off."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                dom.destroy()
                break
            except libvirt.libvirtError as exc:
                if is_not_running(exc):
                    return False
                # "Failed to terminate process ... Device or resource busy": retry
                if exc.get_error_code() == libvirt.VIR_ERR_SYSTEM_ERROR \
                        and time.monotonic() < deadline:
                    time.sleep(POLL_INTERVAL)
                    continue
                raise map_error(exc, vm=name) from exc
        self._wait_until_state(dom, VmState.STOPPED, deadline - time.monotonic(),
                               what="the VM to power off")
        return True

    @reconnecting
    def power_off_vm(self, *, name: str, timeout: float) -> None:
        dom = self._domain(name)
        if self._is_off(dom):
            return
        self._destroy(dom, name, timeout)

    # -- snapshots --------------------------------------------------------
    def _snapshot_infos(self, dom: "libvirt.virDomain", name: str) -> List[lx.SnapshotInfo]:
        infos = []
        with self._errors(vm=name, what=f"domain {name!r}"):
            snaps = dom.listAllSnapshots(0)
        for snap in snaps:
            try:
                infos.append(lx.parse_snapshot(snap.getXMLDesc(0)))
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
                    continue  # deleted meanwhile
                raise map_error(exc, vm=name) from exc
        return lx.order_snapshots(infos)

    @staticmethod
    def _snapshot(info: lx.SnapshotInfo) -> Snapshot:
        return Snapshot(id=info.name, description=info.description, created=info.created,
                        extra={"state": info.state, "parent": info.parent})

    @reconnecting
    def list_snapshots(self, *, name: str) -> List[Snapshot]:
        dom = self._domain(name)
        return [self._snapshot(i) for i in self._snapshot_infos(dom, name)]

    def create_snapshot(self, *, name: str, description: str, timeout: float,
                        slot: Callable[[], ContextManager] = contextlib.nullcontext) -> Snapshot:
        dom = self._domain(name)
        with self._errors(vm=name, what=f"domain {name!r}"):
            xml = dom.XMLDesc(0)
            running = bool(dom.isActive())
        inside, outside = lx.snapshot_disk_split(xml)
        snap_xml = lx.snapshot_xml(lx.snapshot_name(), description, running=running,
                                   internal_disks=inside, other_disks=outside)
        with slot():
            started = time.monotonic()
            with self._errors(vm=name):
                snap = dom.snapshotCreateXML(snap_xml, 0)
            log.debug("%s: snapshot took %.2fs", name, time.monotonic() - started)
        with self._errors(vm=name):
            info = lx.parse_snapshot(snap.getXMLDesc(0))
        return self._snapshot(info)

    @reconnecting
    def revert_snapshot(self, *, name: str, snapshot: Snapshot, timeout: float,
                        slot: Callable[[], ContextManager] = contextlib.nullcontext) -> List[str]:
        """Revert a stopped VM; the VM is stopped afterwards.

        A snapshot of a running VM is reverted paused (the guest runs no
        code) and the VM is then destroyed: the disks are as they were at
        the snapshot, the memory state is dropped.
        """
        dom = self._domain(name)
        if not self._is_off(dom):
            raise WrongState("domain is running; stop it before reverting", driver=self.name,
                             vm=name)
        with self._errors(vm=name, what=f"snapshot {snapshot.id!r}"):
            snap = dom.snapshotLookupByName(snapshot.id, 0)
            info = lx.parse_snapshot(snap.getXMLDesc(0))
        flags = 0
        if info.state not in ("shutoff", "disk-snapshot", "crashed", ""):
            flags = libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED
        with slot():
            started = time.monotonic()
            with self._errors(vm=name, what=f"snapshot {snapshot.id!r}"):
                dom.revertToSnapshot(snap, flags)
            if not self._is_off(dom):
                self._destroy(dom, name, max(DESTROY_WAIT, timeout - (time.monotonic() - started)))
            log.debug("%s: reverted to %s in %.2fs", name, snapshot.id,
                      time.monotonic() - started)
        return []

    # -- first boot (personalisation) ---------------------------------------
    def personalise_vm(self, *, spec: VmSpec, payload, timeout: float) -> None:
        libvirt_create.personalise_vm(self, spec=spec, payload=payload, timeout=timeout)

    def finish_vm(self, *, spec: VmSpec, timeout: float) -> None:
        libvirt_create.finish_vm(self, spec=spec, timeout=timeout)

    def set_phase(self, *, name: str, phase: str) -> None:
        libvirt_create.set_phase(self, name=name, phase=phase)

    # -- templates ----------------------------------------------------------
    def uses_template(self, *, spec: VmSpec) -> bool:
        return libvirt_template.uses_template(self, spec=spec)

    def create_template(self, *, vm: str, name: str, seal: bool, timeout: float) -> None:
        libvirt_template.create_template(self, vm=vm, name=name, seal=seal, timeout=timeout)

    def template_users(self, *, name: str) -> List[str]:
        return libvirt_template.template_users(self, name=name)

    def delete_template(self, *, name: str, adopt: bool, timeout: float) -> List[str]:
        return libvirt_template.delete_template(self, name=name, adopt=adopt, timeout=timeout)

    def template_running(self, *, name: str) -> bool:
        return libvirt_template.template_running(self, name=name)
