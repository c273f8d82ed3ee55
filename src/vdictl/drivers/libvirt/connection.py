"""The libvirt connection shared by the driver's parts and by all threads: the
virConnect handle (opened lazily, reopened when libvirtd restarts), libvirt
errors as vdictl errors, domain lookups and state waits, the MACs in use."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Callable, Dict, Iterator, List, Optional, Set, TypeVar

import libvirt

from vdictl.errors import AuthError, Unreachable
from vdictl.model import VmState
from vdictl.rooms import Connect
from vdictl.wait import retry_transient, wait_for

from ..base import configured_password
from .domain_xml import domain_macs, random_mac
from .errors import AUTH_CODES, DRIVER, map_error
from .remote import is_remote

log = logging.getLogger(__name__)

T = TypeVar("T")

#: how often waits poll the domain state
POLL_INTERVAL = 0.2

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


def _quiet_error_handler(_ctx, _err) -> None:
    """libvirt prints every error to stderr unless a handler is set."""


class Connection:
    """One libvirt URI: the handle, its errors, lookups and waits."""

    #: the driver's name, for errors
    name = DRIVER
    #: how often, and for how long, a repeatable call tries to reconnect
    reconnect_attempts: int = 6
    reconnect_max_time: float = 60.0

    def __init__(self, settings: Connect, *, uri: Optional[str] = None):
        self.settings = settings
        self.uri = uri
        self._handle: Optional[libvirt.virConnect] = None
        self._lock = threading.RLock()
        self._used_macs: Optional[Set[str]] = None

    @property
    def endpoint(self) -> str:
        return self.uri or ""

    def is_remote(self) -> bool:
        """True when libvirtd (and the disk files) are on another host. A
        configured URI answers without connecting; the default URI or an alias
        is resolved by the connection."""
        if self.uri and "://" in self.uri:
            return is_remote(self.uri)
        with self.errors():
            return is_remote(self.handle.getURI())

    # -- the handle ---------------------------------------------------------
    def open(self) -> None:
        with self._lock:
            if self._handle is not None:
                return
            libvirt.registerErrorHandler(_quiet_error_handler, None)
            try:
                handle = self._open_handle(self.uri or None)
            except libvirt.libvirtError as exc:
                msg = f"cannot connect to {self.endpoint or 'the default URI'}: " \
                      f"{exc.get_error_message() or exc}"
                if exc.get_error_code() in AUTH_CODES:
                    raise AuthError(msg, driver=self.name) from None
                raise Unreachable(msg, driver=self.name) from None
            if handle is None:  # very old bindings returned None
                raise Unreachable(f"cannot connect to {self.endpoint}", driver=self.name)
            self._handle = handle
            if not self.uri:
                self.uri = handle.getURI()

    def _open_handle(self, uri: Optional[str]) -> "libvirt.virConnect":
        settings = self.settings
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

    def close(self) -> None:
        with self._lock:
            handle, self._handle = self._handle, None
            self._used_macs = None
        if handle is not None:
            try:
                handle.close()
            except libvirt.libvirtError as exc:
                log.debug("closing %s: %s", self.endpoint, exc)

    @property
    def handle(self) -> "libvirt.virConnect":
        """The virConnect, opened on first use."""
        if self._handle is None:
            self.open()
        return self._handle

    def _drop_dead_handle(self) -> None:
        """Forget the handle if libvirtd no longer answers on it; the next
        call opens a new one. A live handle (another thread reconnected
        first) is kept."""
        with self._lock:
            handle = self._handle
            if handle is None:
                return
            try:
                alive = handle.isAlive() == 1
            except libvirt.libvirtError:
                alive = False
            if alive:
                return
            self._handle = None
        log.info("lost the connection to %s; reconnecting", self.endpoint)
        with contextlib.suppress(libvirt.libvirtError):
            handle.close()

    def repeat(self, call: Callable[[], T]) -> T:
        """Run `call`, which must be safe to repeat: when the connection to
        libvirtd is lost (libvirtd restarted), reconnect and call again, with
        bounded backoff. Calls that create something are not repeated; a rerun
        finishes them."""
        def once():
            try:
                return call()
            except Unreachable:
                self._drop_dead_handle()
                raise

        return retry_transient(once, attempts=self.reconnect_attempts,
                               max_time=self.reconnect_max_time, initial=0.5, maximum=5.0,
                               retry_if=lambda exc: isinstance(exc, Unreachable))

    @contextlib.contextmanager
    def errors(self, vm: Optional[str] = None, what: Optional[str] = None) -> Iterator[None]:
        """libvirt errors raised inside become vdictl errors about `vm`;
        `what` names the object for NotFound."""
        try:
            yield
        except libvirt.libvirtError as exc:
            raise map_error(exc, vm=vm, what=what) from exc

    # -- domains ------------------------------------------------------------
    def domain(self, name: str) -> "libvirt.virDomain":
        """The domain called `name`; NotFound naming it otherwise."""
        with self.errors(vm=name, what=f"domain {name!r}"):
            return self.handle.lookupByName(name)

    def state(self, dom: "libvirt.virDomain") -> VmState:
        with self.errors(vm=dom.name()):
            code = dom.state()[0]
        return STATE_MAP.get(code, VmState.UNKNOWN)

    def is_off(self, dom: "libvirt.virDomain") -> bool:
        with self.errors(vm=dom.name()):
            return not dom.isActive()

    def wait_until_state(self, dom: "libvirt.virDomain", wanted: VmState, timeout: float,
                         *, what: str) -> None:
        """Poll the domain until it is in state `wanted`; OperationTimeout otherwise."""
        wait_for(lambda: self.state(dom), lambda state: state == wanted,
                 timeout=max(0.0, timeout), interval=POLL_INTERVAL, what=what,
                 driver=self.name, vm=dom.name())

    def new_macs(self, count: int) -> List[str]:
        """`count` MAC addresses used by no domain on this host, nor handed out before."""
        with self._lock:
            if self._used_macs is None:
                used: Set[str] = set()
                with self.errors():
                    for dom in self.handle.listAllDomains(0):
                        try:
                            used.update(domain_macs(
                                dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))
                        except libvirt.libvirtError:
                            continue
                self._used_macs = used
            return [random_mac(self._used_macs) for _ in range(count)]
