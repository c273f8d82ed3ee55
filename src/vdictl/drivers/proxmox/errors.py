"""The vdictl error for a proxmoxer or requests error, secrets redacted.

Proxmox VE puts its message in the HTTP reason phrase ("VM is locked
(snapshot)"), and parameter errors in the body's `errors`; a task's failure
is its exit status text, mapped by the same words."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

import requests
from proxmoxer import AuthenticationError, ResourceException

from vdictl.errors import (AlreadyExists, AuthError, Busy, DriverError, NotFound, Unreachable,
                           WrongState)

DRIVER = "proxmox"

#: texts of a VM busy with another task, or of a lock not had in time: retried
#: within limits. "can't lock file '...' - got timeout": pve-common
#: PVE::Tools::lock_file_full (a VM's lock file, taken by PVE::AbstractConfig
#: lock_config for a config change, a snapshot, a rollback, a start ...);
#: "cfs-lock '...' error: got lock request timeout": pve-cluster PVE::Cluster
#: $cfs_lock (a pmxcfs lock, e.g. cfs_lock_storage for a disk on shared storage),
#: under load. Both change nothing: the lock guards the work.
BUSY_TEXTS = ("is locked", "can't lock file", "got timeout while", "try again",
              "got lock request timeout")
ALREADY_TEXTS = ("already exists", "already used", "already in use", "file exists")
NOT_FOUND_TEXTS = ("does not exist", "no such", "not found")
WRONG_STATE_TEXTS = ("already running", "is running", "not running")
#: pveproxy's own codes for a node it cannot reach (AnyEvent::HTTP's 59x)
UNREACHABLE_CODES = (502, 503, 504, 595, 596, 597, 599)
#: what to write when the node's certificate is not trusted
TLS_HINT = ("set ca_file = the cluster's CA certificate (a copy of /etc/pve/pve-root-ca.pem "
            "from a node), or insecure = True for a test system")


class NodeSilent(Unreachable):
    """The node gave no answer at all (connection refused or reset, timed out):
    another node of the cluster may still answer (docs/backends/proxmox.md,
    "Several nodes in url")."""


def redact(text: str, secrets: List[Optional[str]]) -> str:
    """`text` with every non-empty secret replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def resource_text(exc: ResourceException) -> str:
    """Proxmox VE's own message: the reason phrase, and the parameter errors.
    An answer without a JSON body (pve-http-server sends a refusal of the
    authentication step, e.g. a wrong API token, as 401 with no content)
    becomes proxmoxer's {"errors": b"<the raw body>"}: no parameter errors."""
    text = str(exc.content or exc.status_message or "").strip()
    errors = exc.errors
    if isinstance(errors, dict) and set(errors) == {"errors"} \
            and isinstance(errors["errors"], bytes):
        raw = errors["errors"].decode("utf-8", "replace").strip()
        errors = {"body": raw[:200]} if raw else None
    if isinstance(errors, dict) and errors:
        said = "; ".join(f"{k}: {str(v).strip()}" for k, v in sorted(errors.items()))
        text = f"{text} ({said})" if text else said
    return text or str(exc)


def by_text(msg: str, kw: Dict[str, Any], what: Optional[str] = None) -> DriverError:
    """The error a Proxmox VE message (of a request or of a task) means."""
    low = msg.lower()
    if any(t in low for t in BUSY_TEXTS):
        return Busy(msg, **kw)
    if any(t in low for t in ALREADY_TEXTS):
        return AlreadyExists(msg, **kw)
    if any(t in low for t in NOT_FOUND_TEXTS):
        return NotFound(f"{what} not found ({msg})" if what else msg, **kw)
    if any(t in low for t in WRONG_STATE_TEXTS):
        return WrongState(msg, **kw)
    return DriverError(msg, **kw)


def map_error(exc: BaseException, *, vm: Optional[str] = None, what: Optional[str] = None,
              secrets: Optional[List[Optional[str]]] = None) -> DriverError:
    """401/403 → AuthError; locks → Busy (transient); "already exists" →
    AlreadyExists; "does not exist" → NotFound; a refused state → WrongState;
    59x, 50[234], connection errors → Unreachable (transient); a certificate
    not trusted → a DriverError saying what to write."""
    if isinstance(exc, DriverError):
        return exc
    kw: Dict[str, Any] = {"driver": DRIVER, "vm": vm}
    if isinstance(exc, ResourceException):
        msg = redact(resource_text(exc), secrets or [])
        if exc.status_code in (401, 403):
            return AuthError(msg, **kw)
        if exc.status_code in UNREACHABLE_CODES:
            return Unreachable(msg, **kw)
        return by_text(msg, kw, what)
    msg = redact(str(exc) or type(exc).__name__, secrets or [])
    if isinstance(exc, AuthenticationError):
        # proxmoxer raises it for any answer but 200 to POST /access/ticket:
        # a 503 of a restarting pveproxy is no refusal of the password
        if ticket_code(msg) in UNREACHABLE_CODES:
            return Unreachable(ticket_refusal(msg), **kw)
        return AuthError(ticket_refusal(msg), **kw)
    if isinstance(exc, requests.exceptions.SSLError):
        return DriverError(f"TLS certificate not trusted ({tls_reason(msg)}); {TLS_HINT}", **kw)
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                        OSError)):
        return NodeSilent(connection_reason(exc, msg), **kw)
    return DriverError(msg, **kw)


#: the socket's own words inside urllib3's wrapping: "[Errno 111] Connection refused"
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\"()\]]+)")
_TIMEOUT = re.compile(r"(?:Read|Connect|Connection) timed out\.?(?: \((?:read|connect) "
                      r"timeout=[\d.]+\))?")


def connection_reason(exc: BaseException, msg: str) -> str:
    """Why a request got no answer, in the socket's words ("Connection
    refused", "Read timed out. (read timeout=2)"), not urllib3's pool text."""
    found = _ERRNO.search(msg) or _TIMEOUT.search(msg)
    if found:
        text = found.group(1) if found.re is _ERRNO else found.group(0)
        return text.strip().rstrip(".")
    if isinstance(exc, requests.exceptions.Timeout):
        return f"timed out ({msg})"
    return msg


_TICKET_CODE = re.compile(r"^Couldn't authenticate user: .* code: (\d+)$")


def ticket_code(msg: str) -> Optional[int]:
    """The HTTP status in proxmoxer's "Couldn't authenticate user: root@pam to
    https://.../access/ticket code: 401", if it is one."""
    found = _TICKET_CODE.match(msg)
    return int(found.group(1)) if found else None


def ticket_refusal(msg: str) -> str:
    """proxmoxer's "Couldn't authenticate user: ... code: 401" in Proxmox VE's
    words and what is wrong."""
    code = ticket_code(msg)
    if code is None:
        return msg
    if code == 401:
        return "authentication failure (wrong user name, realm or password)"
    return f"the ticket request (POST /access/ticket) answered HTTP {code}"


def tls_reason(msg: str) -> str:
    """The certificate check's own words out of urllib3's long wrapping."""
    for marker in ("certificate verify failed: ", "CERTIFICATE_VERIFY_FAILED"):
        at = msg.find(marker)
        if at >= 0:
            return msg[at:].split(" (_ssl")[0].rstrip(")'\"")
    return msg
