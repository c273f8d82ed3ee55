"""The vdictl error for an ovirtsdk4 or pycurl error, secrets redacted."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

import ovirtsdk4 as sdk

from vdictl.errors import AlreadyExists, AuthError, Busy, DriverError, NotFound, Unreachable

DRIVER = "ovirt"

#: engine fault texts that mean "busy, try again later" (HTTP 409 and some 400s)
CONFLICT_TEXTS = (
    "locked", "currently being created", "related operation is currently in progress",
    "performing an operation on a snapshot", "in progress", "try again",
)
#: SDK/curl texts that mean the engine could not be talked to
UNREACHABLE_TEXTS = (
    "failed to read response", "error while sending http request", "couldn't connect",
    "connection refused", "connection reset", "timed out", "isn't the expected",
    "empty reply", "recv failure", "send failure", "could not connect", "failed to connect",
    "server returned nothing",
)

_CURL_WRAPPED = re.compile(r"^Error while sending HTTP request: \((\d+), ['\"](.*)['\"]\)$", re.S)


def redact(text: str, secrets: List[Optional[str]]) -> str:
    """`text` with every non-empty secret replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


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
    msg = redact(_plain(str(exc) or type(exc).__name__), secrets or [])
    low = msg.lower()
    code = getattr(exc, "code", None)
    kw: Dict[str, Any] = {"driver": DRIVER, "vm": vm}
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
