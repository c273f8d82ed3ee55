"""A small pool of ovirtsdk4 connections to one engine sharing one SSO token,
and what the login needs: the engine URL, the password, the TLS settings.
Why a pool: docs/backends/ovirt.md, "One login, a pool of connections".
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Iterator, List, Optional
from urllib.parse import urlsplit, urlunsplit

import ovirtsdk4 as sdk

from vdictl.config.rooms import Connect
from vdictl.errors import AuthError, NoConnection, Unreachable, Unusable

from ..base import configured_password
from .errors import DRIVER, map_error, redact

log = logging.getLogger(__name__)

PASSWORD_ENV = "VDICTL_OVIRT_PASSWORD"  # nosec B105 # a name, not a password


class Once:
    """True the first time `first()` is asked, then False: a warning per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False

    def first(self) -> bool:
        with self._lock:
            done, self._done = self._done, True
            return not done


#: the "TLS is not verified" warning is logged once per process
insecure_warning = Once()


def normalize_url(url: str) -> str:
    """Amoothei accepted `https://engine/api`; the engine serves `/ovirt-engine/api`."""
    scheme, netloc, path, query, fragment = urlsplit(url.strip())
    if path.rstrip("/") == "/api":
        path = "/ovirt-engine/api"
    elif path.endswith("/") and len(path) > 1:
        path = path.rstrip("/")
    return urlunsplit((scheme, netloc, path, query, fragment))


def resolve_password(connect: Connect) -> Optional[str]:
    """connect.password, else the first line of password_file or of the systemd
    credential password_credential, else $VDICTL_OVIRT_PASSWORD."""
    password = configured_password(connect, DRIVER)
    return password if password is not None else os.environ.get(PASSWORD_ENV)


def user_api_headers(connect: Connect) -> dict:
    """`Filter: true` with filter = True: the engine runs every request as the
    account's user API (filtered by its permissions), whatever its roles."""
    return {"Filter": "true"} if connect.filter else {}


def no_connection_message(url: str, exc: BaseException, secrets: List[Optional[str]]) -> str:
    """Why no connection to `url` could be made here, and what to do about it."""
    import errno
    import resource

    reason = redact(str(exc) or type(exc).__name__, secrets)
    try:  # whether this process is out of descriptors now
        os.close(os.open(os.devnull, os.O_RDONLY))
    except OSError as err:
        if err.errno in (errno.EMFILE, errno.ENFILE):
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            reason = (f"out of open files (the limit is {soft}; raise it: LimitNOFILE= in "
                      f"the service unit, ulimit -n)")
    return f"cannot open a new connection to {url} on this machine, no request sent: {reason}"


class ConnectionPool:
    """Up to `size` SDK connections to one engine, one SSO token for all."""

    def __init__(self, connect: Connect, url: str, *, size: int = 10, timeout: int = 300):
        self.url = url
        self.size = max(1, size)
        self.timeout = timeout
        self._connect = connect
        self._password = resolve_password(connect)
        self._cond = threading.Condition()
        self._idle: List[sdk.Connection] = []
        self._all: List[sdk.Connection] = []
        self._primary: Optional[sdk.Connection] = None
        self._token: Optional[str] = None
        #: the engine's id of the account logged in (the API entry point's
        #: authenticated_user, read by the login's check; None before 4.1)
        self.account_id: Optional[str] = None
        self._closed = False

    @property
    def secrets(self) -> List[Optional[str]]:
        return [self._password, self._token]

    def _new(self, token: Optional[str]) -> sdk.Connection:
        """A new SDK connection; NoConnection when this machine cannot make one.
        The SDK makes its curl handles here, before any request: out of open
        files, curl_multi_init fails and pycurl says only "initializing
        curl-multi failed" (pycurl, src/multi.c, do_multi_new)."""
        c = self._connect
        try:
            return sdk.Connection(url=self.url, username=c.username, password=self._password,
                                  token=token, ca_file=c.ca_file, insecure=bool(c.insecure),
                                  timeout=self.timeout, headers=user_api_headers(c))
        except Exception as exc:  # noqa: BLE001 - pycurl.error, MemoryError, OSError
            raise NoConnection(no_connection_message(self.url, exc, self.secrets),
                               driver=DRIVER) from None

    def open(self) -> None:
        """Log in once (SSO) and check that the API answers. Tried once: the
        session retries a run's first contact (Driver.open_within_bound), so
        a 503 or a refused connection is Unreachable (transient), a
        certificate not trusted Unusable, refused credentials AuthError."""
        c = self._connect
        if not c.username:
            raise AuthError(f"no username for {self.url}", driver=DRIVER)
        if self._password is None:
            raise AuthError(f"no password for {self.url} (set password, password_file or "
                            f"${PASSWORD_ENV})", driver=DRIVER)
        if c.insecure:
            if insecure_warning.first():
                log.warning("TLS certificate of %s is NOT verified (insecure = True)", self.url)
        elif c.ca_file and not os.path.exists(c.ca_file):
            raise Unusable(f"cannot connect to {self.url}: CA file {c.ca_file} does not "
                           "exist", driver=DRIVER)
        log.debug("logging in to %s as %s (ca_file=%s, insecure=%s)", self.url, c.username,
                  c.ca_file or "system CAs", bool(c.insecure))

        conn = self._new(None)
        try:
            token = conn.authenticate()
            # what Connection.test(raise_exception=True) sends, kept: it names the account
            api = conn.system_service().get()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a typed error
            with contextlib.suppress(Exception):
                conn.close(logout=False)
            err = map_error(exc, secrets=self.secrets)
            reason = redact(err.message, self.secrets)
            if isinstance(err, AuthError):
                raise AuthError(f"login to {self.url} as {c.username} refused: {reason}",
                                driver=DRIVER) from None
            # a 503, a dropped answer, nothing listening: worth another try; a
            # certificate not trusted (curl 60) or another refusal: not
            kind = Unreachable if err.transient else Unusable
            raise kind(f"cannot connect to {self.url}: {reason}", driver=DRIVER) from None
        with self._cond:
            self._primary = conn
            self._token = token
            self.account_id = getattr(getattr(api, "authenticated_user", None), "id", None)
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

    def close(self, *, logout: bool = True) -> None:
        """Close every connection; log out (revoke the token) unless `logout` is False
        (an engine given up for the run would make the logout wait for the bound)."""
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
                primary.close(logout=logout)
            except Exception as exc:  # noqa: BLE001
                log.debug("logout from %s: %s", self.url, redact(str(exc), self.secrets))
