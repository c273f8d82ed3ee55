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

from vdictl.errors import (AuthError, Conflict, DriverError, NotFound, NotOwned,
                           OperationTimeout, Unreachable, Unsupported)
from vdictl.model import Owner, Snapshot, Vm, VmState
from vdictl.rooms import Connect, VmSpec

from . import libvirt_template
from . import libvirt_xml as lx
from . import seed_image
from vdictl.wait import retry_transient, wait_for

from .base import Driver

log = logging.getLogger(__name__)

#: how often waits poll the domain state
POLL_INTERVAL = 0.2
#: seconds between presses of the ACPI power button during a graceful shutdown
PRESS_INTERVAL = 3.0
#: how long to wait for a domain to be gone after virDomainDestroy
DESTROY_WAIT = 30.0

STATELESS_UNSUPPORTED = ("stateless needs transient disks with shareBacking "
                         "(libvirt >= 8.10 with QEMU)")

_AUTH_CODES = {libvirt.VIR_ERR_AUTH_FAILED, libvirt.VIR_ERR_AUTH_CANCELLED,
               libvirt.VIR_ERR_AUTH_UNAVAILABLE, libvirt.VIR_ERR_ACCESS_DENIED}
_NOT_FOUND_CODES = {libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT,
                    libvirt.VIR_ERR_NO_STORAGE_VOL, libvirt.VIR_ERR_NO_STORAGE_POOL}
_CONFLICT_CODES = {libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_ERR_OPERATION_TIMEOUT,
                   libvirt.VIR_ERR_DOM_EXIST, libvirt.VIR_ERR_STORAGE_VOL_EXIST}
_UNREACHABLE_CODES = {libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INVALID_CONN,
                      libvirt.VIR_ERR_RPC}
_UNSUPPORTED_CODES = {libvirt.VIR_ERR_CONFIG_UNSUPPORTED, libvirt.VIR_ERR_NO_SUPPORT,
                      libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED}


def _quiet_error_handler(_ctx, _err) -> None:
    """libvirt prints every error to stderr unless a handler is set."""


def _is_not_running(exc: "libvirt.libvirtError") -> bool:
    """The domain stopped under our feet (destroy/shutdown of an off domain)."""
    msg = (exc.get_error_message() or str(exc)).lower()
    return (exc.get_error_code() in (libvirt.VIR_ERR_OPERATION_INVALID,
                                     libvirt.VIR_ERR_INTERNAL_ERROR)
            and "not running" in msg)


def _is_unsupported_flags(exc: "libvirt.libvirtError") -> bool:
    return (exc.get_error_code() in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT)
            and "unsupported flags" in (exc.get_error_message() or str(exc)))


def map_error(exc: "libvirt.libvirtError", *, vm: Optional[str] = None,
              what: Optional[str] = None) -> DriverError:
    """The vdictl error for a libvirt error. `what` names the object for NotFound."""
    code = exc.get_error_code()
    msg = exc.get_error_message() or str(exc)
    low = msg.lower()
    kw = dict(driver=LibvirtDriver.name, vm=vm)
    if code in _NOT_FOUND_CODES:
        return NotFound(f"{what} not found ({msg})" if what else msg, **kw)
    if code in _AUTH_CODES:
        return AuthError(msg, **kw)
    if code in _CONFLICT_CODES or "in progress" in low or "cannot acquire state change lock" in low:
        return Conflict(msg, **kw)
    if code in _UNREACHABLE_CODES or exc.get_error_domain() == libvirt.VIR_FROM_RPC:
        return Unreachable(msg, **kw)
    if code in _UNSUPPORTED_CODES:
        return Unsupported(msg, **kw)
    return DriverError(msg, **kw)


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
                if exc.get_error_code() in _AUTH_CODES:
                    raise AuthError(msg, driver=self.name) from None
                raise Unreachable(msg, driver=self.name) from None
            if conn is None:  # very old bindings returned None
                raise Unreachable(f"cannot connect to {self.endpoint}", driver=self.name)
            self._conn = conn
            if not self.uri:
                self.uri = conn.getURI()

    def _open_connection(self, uri: Optional[str]) -> "libvirt.virConnect":
        settings = self.connect_settings
        password = settings.password
        if password is None and settings.password_file:
            try:
                with open(settings.password_file, encoding="utf-8") as fh:
                    password = fh.read().strip()
            except OSError as exc:
                raise AuthError(f"cannot read password file {settings.password_file}: "
                                f"{exc.strerror}", driver=self.name) from None
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
        extra = {"uuid": dom.UUIDString(), "macs": macs, "uri": self.endpoint,
                 "phase": lx.parse_phase(xml)}
        if mark is not None:
            extra["volumes"] = [(v.pool, v.name) for v in mark.volumes]
        return Vm(name=name, id=dom.UUIDString(), state=state,
                  owner=mark.owner if mark else None,
                  mac=macs[0] if macs else None, extra=extra)

    # -- inventory --------------------------------------------------------
    @reconnecting
    def find_vms(self, *, room: str, names: Sequence[str]) -> Dict[str, Vm]:
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
        name = spec.name
        conn = self.conn
        try:
            conn.lookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise map_error(exc, vm=name) from exc
        else:
            raise Conflict("domain already exists", driver=self.name, vm=name)

        template = self._domain_or_template(spec)
        with self._errors(vm=name, what=f"template {spec.template_name!r}"):
            template_xml = template.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        try:
            disks = lx.template_disks(template_xml)
        except lx.XmlError as exc:
            raise Unsupported(f"template {spec.template_name!r}: {exc}",
                              driver=self.name, vm=name) from None

        created: List["libvirt.virStorageVol"] = []
        defined: Optional["libvirt.virDomain"] = None
        try:
            overlays: Dict[str, str] = {}
            records: List[lx.OverlayVolume] = []
            for disk in disks:
                vol, pool = self._create_overlay(spec, disk)
                created.append(vol)
                with self._errors(vm=name):
                    path = vol.path()
                    pool_name = pool.name()
                overlays[disk.target] = path
                records.append(lx.OverlayVolume(pool=pool_name, name=vol.name(), path=path))
            macs = self._new_macs(lx.interface_count(template_xml))
            try:
                xml = lx.clone_domain_xml(
                    template_xml, name=name, overlays=overlays, macs=macs, owner=owner,
                    volumes=records,
                    memory_kib=(spec.memory // 1024) if spec.memory else None,
                    description=spec.description, transient=spec.stateless)
            except lx.XmlError as exc:
                raise DriverError(f"cannot build the domain XML from template "
                                  f"{spec.template_name!r}: {exc}", driver=self.name,
                                  vm=name) from None
            try:
                defined = conn.defineXML(xml)
            except libvirt.libvirtError as exc:
                if spec.stateless and exc.get_error_code() in (
                        _UNSUPPORTED_CODES | {libvirt.VIR_ERR_XML_ERROR,
                                              libvirt.VIR_ERR_XML_DETAIL}):
                    raise Unsupported(f"{STATELESS_UNSUPPORTED}: {exc.get_error_message()}",
                                      driver=self.name, vm=name) from None
                if exc.get_error_code() in (libvirt.VIR_ERR_DOM_EXIST,
                                            libvirt.VIR_ERR_OPERATION_FAILED) \
                        and "already exists" in str(exc):
                    raise Conflict("domain already exists", driver=self.name,
                                   vm=name) from None
                raise map_error(exc, vm=name) from exc
            if spec.stateless:
                with self._errors(vm=name):
                    got = lx.transient_disks(defined.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
                if any(got.get(dev) != "yes" for dev in overlays):
                    raise Unsupported(f"{STATELESS_UNSUPPORTED}; this libvirt dropped "
                                      "<transient shareBacking='yes'/>",
                                      driver=self.name, vm=name)
            return self._vm(defined)
        except BaseException:
            self._undo_create(name, defined, created)
            raise

    def check_create(self, *, specs: Sequence[VmSpec]) -> None:
        for spec in specs:
            if spec.stateless and spec.personalisation is not None:
                raise Unsupported("stateless VMs with first-boot personalisation are not "
                                  "supported on libvirt (the transient disk would drop the "
                                  "first boot's work)", driver=self.name, vm=spec.name)
        missing = []
        for template in sorted({spec.template_name for spec in specs}):
            try:
                self.conn.lookupByName(template)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise map_error(exc) from exc
                missing.append(f"template domain {template!r} not found")
        if missing:
            raise NotFound("; ".join(missing), driver=self.name)

    def _domain_or_template(self, spec: VmSpec) -> "libvirt.virDomain":
        try:
            return self.conn.lookupByName(spec.template_name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise NotFound(f"template domain {spec.template_name!r} not found",
                               driver=self.name, vm=spec.name) from None
            raise map_error(exc, vm=spec.name) from exc

    def _backing_volume(self, vm: str, disk: lx.TemplateDisk):
        """(backing path, backing volume or None) of a template disk."""
        conn = self.conn
        if disk.source_type == "volume":
            with self._errors(vm=vm, what=f"template volume {disk.pool}/{disk.volume}"):
                vol = conn.storagePoolLookupByName(disk.pool).storageVolLookupByName(disk.volume)
                return vol.path(), vol
        try:
            return disk.path, conn.storageVolLookupByPath(disk.path)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
                raise map_error(exc, vm=vm) from exc
            return disk.path, None

    def _create_overlay(self, spec: VmSpec, disk: lx.TemplateDisk):
        name = spec.name
        path, backing = self._backing_volume(name, disk)
        with self._errors(vm=name):
            if self.connect_settings.pool:
                try:
                    pool = self.conn.storagePoolLookupByName(self.connect_settings.pool)
                except libvirt.libvirtError as exc:
                    raise map_error(exc, vm=name,
                                    what=f"storage pool {self.connect_settings.pool!r}") from exc
            elif backing is not None:
                pool = backing.storagePoolLookupByVolume()
            else:
                raise Unsupported(
                    f"template disk {path} is in no libvirt storage pool; set pool = <name> "
                    "in the connect settings, or refresh the pool that holds it",
                    driver=self.name, vm=name)
            fmt = disk.format
            capacity = None
            if backing is not None:
                capacity = backing.info()[1]
                fmt = fmt or lx.volume_format(backing.XMLDesc(0))
        if fmt not in lx.OVERLAY_BACKING_FORMATS:
            raise Unsupported(f"template disk {path} has format {fmt!r}; vdictl clones only "
                              "qcow2 or raw disks", driver=self.name, vm=name)
        vol_name = lx.overlay_volume_name(name, disk.target)
        xml = lx.overlay_volume_xml(vol_name, path, fmt, capacity)
        try:
            vol = pool.createXML(xml, 0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_STORAGE_VOL_EXIST or \
                    "already exists" in str(exc) or "already in use" in str(exc):
                raise Conflict(f"storage volume {vol_name!r} already exists in pool "
                               f"{pool.name()!r}", driver=self.name, vm=name) from None
            raise map_error(exc, vm=name) from exc
        log.debug("%s: created overlay %s on %s", name, vol_name, path)
        return vol, pool

    def _new_macs(self, count: int) -> List[str]:
        with self._lock:
            if self._used_macs is None:
                used: Set[str] = set()
                with self._errors():
                    for dom in self.conn.listAllDomains(0):
                        try:
                            used.update(lx.domain_macs(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))
                        except libvirt.libvirtError:
                            continue
                self._used_macs = used
            return [lx.random_mac(self._used_macs) for _ in range(count)]

    def _undo_create(self, name: str, dom: Optional["libvirt.virDomain"],
                     volumes: List["libvirt.virStorageVol"]) -> None:
        """Remove what a failed create_vm made; log, never raise."""
        if dom is not None:
            try:
                self._undefine(dom)
            except (libvirt.libvirtError, DriverError) as exc:
                log.error("%s: could not undefine the half-created domain: %s", name, exc)
        for vol in volumes:
            try:
                vol.delete(0)
            except libvirt.libvirtError as exc:
                log.error("%s: could not delete overlay %s: %s", name, vol.name(), exc)

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
                if not _is_unsupported_flags(exc) or flags == base:
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
            raise Conflict("domain is running; stop it before deleting", driver=self.name,
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
                if not _is_unsupported_flags(exc):
                    raise
                dom.shutdown()  # hypervisors without the ACPI flag: their default
        except libvirt.libvirtError as exc:
            if _is_not_running(exc):
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
                if _is_not_running(exc):
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
            raise Conflict("domain is running; stop it before reverting", driver=self.name,
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
        """Attach the payload's image as a CD-ROM, boot, wait for the guest's power-off."""
        name = spec.name
        dom = self._domain(name)
        if self._is_off(dom):
            self._attach_seed(dom, spec, payload)
            with self._errors(vm=name):
                dom.create()
            log.info("%s: booted with its %s media; waiting for the guest's power-off",
                     name, payload.kind)
        self._wait_until_state(dom, VmState.STOPPED, timeout,
                               what=f"the guest to power itself off after {payload.kind}")

    def _seed_pool(self, name: str, mark: Optional[lx.OwnerMark]) -> "libvirt.virStoragePool":
        pool_name = self.connect_settings.pool or next(
            (v.pool for v in (mark.volumes if mark else ())), None)
        if not pool_name:
            raise Unsupported("no storage pool for the first-boot image; set pool = <name> "
                              "in the connect settings", driver=self.name, vm=name)
        with self._errors(vm=name, what=f"storage pool {pool_name!r}"):
            return self.conn.storagePoolLookupByName(pool_name)

    def _attach_seed(self, dom: "libvirt.virDomain", spec: VmSpec, payload) -> None:
        name = spec.name
        data = seed_image.build_seed_image(payload)
        with self._errors(vm=name):
            xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        mark = lx.parse_owner(xml)
        pool = self._seed_pool(name, mark)
        vol_name = lx.seed_volume_name(name)
        with self._errors(vm=name):
            try:  # left over by an interrupted run: replace it
                old = pool.storageVolLookupByName(vol_name)
                xml = lx.without_seed_cdrom(xml, old.path())
                old.delete(0)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
                    raise
            vol = pool.createXML(
                f"<volume><name>{vol_name}</name><capacity unit='bytes'>{len(data)}</capacity>"
                "<target><format type='raw'/></target></volume>", 0)
            stream = self.conn.newStream(0)
            try:
                vol.upload(stream, 0, len(data), 0)
                view, sent = memoryview(data), 0
                while sent < len(data):
                    sent += stream.send(view[sent:sent + 262144].tobytes())
                stream.finish()
            except BaseException:
                stream.abort()
                vol.delete(0)
                raise
            record = lx.OverlayVolume(pool=pool.name(), name=vol_name, path=vol.path())
            self.conn.defineXML(lx.with_seed_cdrom(xml, vol.path(), record))

    def finish_vm(self, *, spec: VmSpec, timeout: float) -> None:
        """Detach and delete the first-boot image (before the snapshot)."""
        name = spec.name
        dom = self._domain(name)
        with self._errors(vm=name):
            xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        mark = lx.parse_owner(xml)
        vol_name = lx.seed_volume_name(name)
        for rec in (mark.volumes if mark else ()):
            if rec.name != vol_name:
                continue
            with self._errors(vm=name):
                self.conn.defineXML(lx.without_seed_cdrom(xml, rec.path))
                try:
                    self.conn.storagePoolLookupByName(rec.pool) \
                        .storageVolLookupByName(rec.name).delete(0)
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() not in (libvirt.VIR_ERR_NO_STORAGE_VOL,
                                                    libvirt.VIR_ERR_NO_STORAGE_POOL):
                        raise

    def set_phase(self, *, name: str, phase: str) -> None:
        dom = self._domain(name)
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if not self._is_off(dom):
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        with self._errors(vm=name):
            dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, lx.phase_xml(phase),
                            lx.PHASE_KEY, lx.PHASE_NS, flags)

    # -- templates ----------------------------------------------------------
    def uses_template(self, *, spec: VmSpec) -> bool:
        """True when the VM's overlays sit on exactly the template's disks."""
        name = spec.name
        template = self._domain_or_template(spec)
        with self._errors(vm=name, what=f"template {spec.template_name!r}"):
            template_xml = template.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        wanted = {self._backing_volume(name, d)[0] for d in lx.template_disks(template_xml)}
        with self._errors(vm=name, what=f"domain {name!r}"):
            xml = self._domain(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        has = set()
        for disk in lx.template_disks(xml):
            try:
                vol = self.conn.storageVolLookupByPath(disk.path or "")
                has.add(lx.backing_path(vol.XMLDesc(0)))
            except libvirt.libvirtError:
                has.add(None)   # not a volume we know: not the template's overlay
        return has == wanted

    def create_template(self, *, vm: str, name: str, seal: bool, timeout: float) -> None:
        libvirt_template.create_template(self, vm=vm, name=name, seal=seal, timeout=timeout)

    def template_users(self, *, name: str) -> List[str]:
        return libvirt_template.template_users(self, name=name)

    def delete_template(self, *, name: str, adopt: bool, timeout: float) -> List[str]:
        return libvirt_template.delete_template(self, name=name, adopt=adopt, timeout=timeout)

    def template_running(self, *, name: str) -> bool:
        return libvirt_template.template_running(self, name=name)
