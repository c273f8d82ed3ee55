"""oVirt engine connections for the ovirt driver: URL, password, error
mapping and a small pool of SDK connections sharing one SSO token.

Thread safety: an `ovirtsdk4.Connection` is NOT safe for concurrent use.
Its lock covers `send()` and `wait()` separately, and all requests share
one pycurl multi handle: a thread that drives the multi handle can read
(and raise) another thread's transfer error, after which that other thread
polls forever for a response that was already consumed. So each SDK call
here leases a whole Connection for its duration (`ConnectionPool.lease`).
The first connection does the one SSO login of the run; further ones (up to
`size`, created on demand) are built with `token=` and never log in
themselves, except to renew an expired token, which the SDK does on a 401.
Only the first connection revokes the token on close.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from typing import Iterator, List, Optional
from urllib.parse import urlsplit, urlunsplit

import ovirtsdk4 as sdk

from vdictl.errors import AlreadyExists, AuthError, Busy, DriverError, NotFound, Unreachable
from vdictl.rooms import Connect
from vdictl.wait import retry_transient

from .base import configured_password

log = logging.getLogger(__name__)

DRIVER = "ovirt"
PASSWORD_ENV = "VDICTL_OVIRT_PASSWORD"

#: engine fault texts that mean "busy, try again later" (HTTP 409 and some 400s)
CONFLICT_TEXTS = (
    "locked", "currently being created", "related operation is currently in progress",
    "performing an operation on a snapshot", "in progress", "try again",
)
#: curl texts that mean nothing listens at the URL (a login is not retried)
NOT_LISTENING_TEXTS = ("couldn't connect", "could not connect", "failed to connect",
                       "connection refused", "could not resolve")
#: SDK/curl texts that mean the engine could not be talked to
UNREACHABLE_TEXTS = (
    "failed to read response", "error while sending http request", "couldn't connect",
    "connection refused", "connection reset", "timed out", "isn't the expected",
    "empty reply", "recv failure", "send failure", "could not connect", "failed to connect",
    "server returned nothing",
)

_warned_insecure = False
_warn_lock = threading.Lock()


def normalize_url(url: str) -> str:
    """Amoothei accepted `https://engine/api`; the engine serves `/ovirt-engine/api`."""
    parts = urlsplit(url.strip())
    if parts.path.rstrip("/") == "/api":
        parts = parts._replace(path="/ovirt-engine/api")
    elif parts.path.endswith("/") and len(parts.path) > 1:
        parts = parts._replace(path=parts.path.rstrip("/"))
    return urlunsplit(parts)


def resolve_password(connect: Connect) -> Optional[str]:
    """connect.password, else the first line of password_file, else $VDICTL_OVIRT_PASSWORD."""
    password = configured_password(connect, DRIVER)
    return password if password is not None else os.environ.get(PASSWORD_ENV)


def _redact(text: str, secrets: List[Optional[str]]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


_CURL_WRAPPED = re.compile(r"^Error while sending HTTP request: \((\d+), ['\"](.*)['\"]\)$", re.S)


def _plain(text: str) -> str:
    """The SDK wraps curl errors as "Error while sending HTTP request: (7, '...')";
    keep curl's own sentence, which is what an operator can act on."""
    match = _CURL_WRAPPED.match(text.strip())
    return match.group(2) if match else text


def map_error(exc: BaseException, *, vm: Optional[str] = None, what: Optional[str] = None,
              secrets: Optional[List[Optional[str]]] = None) -> DriverError:
    """The vdictl error for an ovirtsdk4 (or pycurl) error.

    409 "already exists" → AlreadyExists; other 409s and busy faults → Busy
    (transient); 503, connection and curl
    errors → Unreachable (transient); 404 → NotFound (`what` names the
    object); 401/403 → AuthError; anything else (400 ...) → DriverError.
    """
    if isinstance(exc, DriverError):
        return exc
    msg = _redact(_plain(str(exc) or type(exc).__name__), secrets or [])
    low = msg.lower()
    code = getattr(exc, "code", None)
    kw = dict(driver=DRIVER, vm=vm)
    if isinstance(exc, sdk.NotFoundError) or code == 404:
        return NotFound(f"{what} not found ({msg})" if what else msg, **kw)
    if isinstance(exc, sdk.AuthError) or code in (401, 403):
        return AuthError(msg, **kw)
    if code == 409:
        if "already exists" in low or "already in use" in low:
            return AlreadyExists(msg, **kw)
        return Busy(msg, **kw)
    if code in (502, 503, 504):
        return Unreachable(msg, **kw)
    if isinstance(exc, (sdk.ConnectionError, sdk.TimeoutError, OSError)):
        return Unreachable(msg, **kw)
    if code is None and any(t in low for t in UNREACHABLE_TEXTS):
        return Unreachable(msg, **kw)
    if code in (400, None) and any(t in low for t in CONFLICT_TEXTS):
        return Busy(msg, **kw)
    return DriverError(msg, **kw)


class ConnectionPool:
    """Up to `size` SDK connections to one engine, one SSO token for all."""

    def __init__(self, connect: Connect, url: str, *, size: int = 10, timeout: int = 300,
                 login_retry: Optional[dict] = None):
        self.url = url
        #: retry_transient() arguments for the login (attempts, initial ...)
        self.login_retry = dict(login_retry or {})
        self.size = max(1, size)
        self.timeout = timeout
        self._connect = connect
        self._password = resolve_password(connect)
        self._cond = threading.Condition()
        self._idle: List[sdk.Connection] = []
        self._all: List[sdk.Connection] = []
        self._primary: Optional[sdk.Connection] = None
        self._token: Optional[str] = None
        self._closed = False

    @property
    def secrets(self) -> List[Optional[str]]:
        return [self._password, self._token]

    def _new(self, token: Optional[str]) -> sdk.Connection:
        c = self._connect
        return sdk.Connection(url=self.url, username=c.username, password=self._password,
                              token=token, ca_file=c.ca_file, insecure=bool(c.insecure),
                              timeout=self.timeout)

    def open(self) -> None:
        """Log in once (SSO) and check that the API answers."""
        global _warned_insecure
        c = self._connect
        if not c.username:
            raise AuthError(f"no username for {self.url}", driver=DRIVER)
        if self._password is None:
            raise AuthError(f"no password for {self.url} (set password, password_file or "
                            f"${PASSWORD_ENV})", driver=DRIVER)
        if c.insecure:
            with _warn_lock:
                if not _warned_insecure:
                    _warned_insecure = True
                    log.warning("TLS certificate of %s is NOT verified (insecure = True)",
                                self.url)
        elif c.ca_file and not os.path.exists(c.ca_file):
            raise Unreachable(f"cannot connect to {self.url}: CA file {c.ca_file} does not "
                              "exist", driver=DRIVER)
        log.debug("logging in to %s as %s (ca_file=%s, insecure=%s)", self.url, c.username,
                  c.ca_file or "system CAs", bool(c.insecure))

        def login() -> tuple:
            conn = None
            try:
                conn = self._new(None)
                token = conn.authenticate()
                conn.test(raise_exception=True)
                return conn, token
            except Exception as exc:  # noqa: BLE001 - every failure becomes a typed error
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close(logout=False)
                raise map_error(exc, secrets=self.secrets) from None

        def answered_but_failed(err: BaseException) -> bool:
            """503, dropped answer: retry. Nothing listening: fail now."""
            return (isinstance(err, DriverError) and err.transient
                    and not any(t in err.message.lower() for t in NOT_LISTENING_TEXTS))

        try:
            conn, token = retry_transient(login, retry_if=answered_but_failed,
                                          **self.login_retry)
        except DriverError as err:
            reason = _redact(err.message, self.secrets)
            if isinstance(err, AuthError):
                raise AuthError(f"login to {self.url} as {c.username} refused: {reason}",
                                driver=DRIVER) from None
            raise Unreachable(f"cannot connect to {self.url}: {reason}", driver=DRIVER) from None
        with self._cond:
            self._primary = conn
            self._token = token
            self._all.append(conn)
            self._idle.append(conn)
            self._closed = False

    @contextlib.contextmanager
    def lease(self) -> Iterator[sdk.Connection]:
        """A connection for this thread alone until the block ends."""
        with self._cond:
            while True:
                if self._closed or self._primary is None:
                    raise Unreachable(f"connection to {self.url} is closed", driver=DRIVER)
                if self._idle:
                    conn = self._idle.pop()
                    break
                if len(self._all) < self.size:
                    conn = self._new(self._token)
                    self._all.append(conn)
                    break
                self._cond.wait()
        try:
            yield conn
        finally:
            with self._cond:
                if not self._closed:
                    self._idle.append(conn)
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            conns, primary = list(self._all), self._primary
            self._all, self._idle, self._primary, self._closed = [], [], None, True
            self._cond.notify_all()
        for conn in conns:
            if conn is primary:
                continue
            with contextlib.suppress(Exception):
                conn.close(logout=False)
        if primary is not None:
            try:
                primary.close(logout=True)
            except Exception as exc:  # noqa: BLE001
                log.debug("logout from %s: %s", self.url, _redact(str(exc), self.secrets))
