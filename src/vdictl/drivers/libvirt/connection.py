"""The libvirt connection shared by the driver's parts and by all threads: the
virConnect handle (opened lazily, reopened when libvirtd restarts), libvirt
errors as vdictl errors, domain lookups and state waits, the MACs in use."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, TypeVar

import libvirt

from vdictl.errors import AuthError, NotFound, Unreachable, Unusable
from vdictl.model import VmState
from vdictl.config.rooms import Connect
from vdictl.wait import is_transient, retry_transient, wait_for

from ..base import configured_password
from ..outage import Outage
from .domain_xml import domain_macs, random_mac
from .errors import AUTH_CODES, DRIVER, SSH_REFUSALS, UNUSABLE_CODES, map_error
from .remote import is_remote
from .keepalive import ensure_event_loop, open_within, start_keepalive

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
    #: how often a repeatable call tries to reconnect; for how long: the outage's bound
    reconnect_attempts: int = 20

    def __init__(self, settings: Connect, *, uri: Optional[str] = None):
        self.settings = settings
        self.uri = uri
        # One virConnect per thread: when keepalive closes a connection, libvirt
        # wakes only one of the calls waiting on it, and the others would wait
        # for ever. In-process drivers (test:///) share one: their state is
        # per connection, and they have no endpoint to lose.
        self._per_thread = not (uri or "").startswith("test:")
        self._shared: Optional[libvirt.virConnect] = None
        self._local = threading.local()
        self._opened: List[libvirt.virConnect] = []
        self._lock = threading.RLock()
        self._used_macs: Optional[Set[str]] = None
        #: how long libvirtd has not answered; given up after endpoint_timeout
        self.outage = Outage(self.endpoint or "the default URI", settings.endpoint_timeout,
                             driver=DRIVER)

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

    @property
    def _handle(self) -> Optional["libvirt.virConnect"]:
        if self._per_thread:
            return getattr(self._local, "handle", None)
        return self._shared

    @_handle.setter
    def _handle(self, handle: Optional["libvirt.virConnect"]) -> None:
        if self._per_thread:
            self._local.handle = handle
        else:
            self._shared = handle

    # -- the handle ---------------------------------------------------------
    def open(self) -> None:
        """Connect, within endpoint_timeout (a reconnect: within what is left of it)."""
        with self._lock:
            if self._handle is not None:
                return
            self.outage.check()
            libvirt.registerErrorHandler(_quiet_error_handler, None)
            ensure_event_loop()  # before the open: keepalive needs it
            timeout = max(1.0, self.outage.remaining())
            try:
                handle = open_within(lambda: self._open_handle(self.uri or None), timeout,
                                     self.endpoint or "the default URI")
            except libvirt.libvirtError as exc:
                msg = f"cannot connect to {self.endpoint or 'the default URI'}: " \
                      f"{exc.get_error_message() or exc}"
                if exc.get_error_code() in AUTH_CODES or any(
                        refusal in msg for refusal in SSH_REFUSALS):
                    raise AuthError(msg, driver=self.name) from None
                if "certificate" in msg.lower() or exc.get_error_code() in UNUSABLE_CODES:
                    # qemu+tls: trust, not the daemon; a URI no wait can mend
                    raise Unusable(msg, driver=self.name) from None
                raise Unreachable(msg, driver=self.name) from None
            if handle is None:  # very old bindings returned None
                raise Unreachable(f"cannot connect to {self.endpoint}", driver=self.name)
            start_keepalive(handle, self.settings.endpoint_timeout, self.endpoint)
            if not self.uri:
                self.uri = handle.getURI()
                self.outage.endpoint = self.uri
            self._handle = handle
            self._opened.append(handle)
            self.outage.answered()

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
        """Close every thread's connection."""
        with self._lock:
            handles, self._opened = self._opened, []
            self._shared, self._local = None, threading.local()
            self._used_macs = None
        for handle in handles:
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

    def _drop_dead_handle(self) -> bool:
        """Forget the handle if libvirtd no longer answers on it; the next
        call opens a new one. A live handle (another thread reconnected
        first) is kept. Returns whether the connection is lost."""
        with self._lock:
            handle = self._handle
            if handle is None:
                return True
            try:
                alive = handle.isAlive() == 1
            except libvirt.libvirtError:
                alive = False
            if alive:
                return False
            self._handle = None
            if handle in self._opened:
                self._opened.remove(handle)
        log.info("lost the connection to %s; reconnecting", self.endpoint)
        with contextlib.suppress(libvirt.libvirtError):
            handle.close()
        return True

    def _lost(self, err: Unreachable) -> Unreachable:
        """`err` (a call failed for want of libvirtd) naming the URI; the outage
        notes it. A keepalive timeout means libvirtd has been silent for the
        whole bound already: it is not waited for again."""
        if not self._drop_dead_handle():
            self.outage.answered()
            return err
        if "keepalive" in err.message:
            self.outage.failed(silent_for=self.outage.bound)
        else:
            self.outage.failed()
        if self.endpoint in err.message:
            return err
        return Unreachable(f"lost the connection to {self.endpoint}: {err.message}",
                           driver=err.driver, vm=err.vm)

    def repeat(self, call: Callable[[], T]) -> T:
        """Run `call`, which must be safe to repeat: when the connection to
        libvirtd is lost (libvirtd restarted), reconnect and call again, with
        backoff, for up to endpoint_timeout after libvirtd stopped answering;
        then the endpoint is given up for the run (Outage). Calls that create
        something are not repeated; a rerun finishes them."""
        def once():
            try:
                return call()
            except Unreachable:
                self.outage.failed()
                raise

        try:
            return retry_transient(
                once, attempts=self.reconnect_attempts, max_time=2 * self.outage.bound,
                initial=0.5, maximum=5.0,
                retry_if=lambda exc: is_transient(exc) and isinstance(exc, Unreachable)
                and self.outage.remaining() > 0)
        except Unreachable as exc:
            if self.outage.remaining() > 0:
                raise
            raise self.outage.give_up(exc.message, vm=exc.vm) from None

    @contextlib.contextmanager
    def errors(self, vm: Optional[str] = None, what: Optional[str] = None) -> Iterator[None]:
        """libvirt errors raised inside become vdictl errors about `vm`;
        `what` names the object for NotFound."""
        try:
            yield
        except libvirt.libvirtError as exc:
            err = map_error(exc, vm=vm, what=what)
            raise (self._lost(err) if isinstance(err, Unreachable) else err) from exc

    # -- domains ------------------------------------------------------------
    def domain(self, name: str) -> "libvirt.virDomain":
        """The domain called `name`; NotFound naming it otherwise."""
        with self.errors(vm=name, what=f"domain {name!r}"):
            return self.handle.lookupByName(name)

    def each_domain(self, names: Sequence[str],
                    read: Callable[["libvirt.virDomain"], T]) -> Dict[str, T]:
        """read(domain) for each domain among `names`, from one listing; names
        that are not domains, or are undefined meanwhile, are left out."""
        wanted = set(names)
        with self.errors():
            domains = self.handle.listAllDomains(0)
        found: Dict[str, T] = {}
        for dom in domains:
            name = dom.name()
            if name in wanted:
                try:
                    found[name] = read(dom)
                except NotFound:  # undefined between the listing and now
                    continue
        return found

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
