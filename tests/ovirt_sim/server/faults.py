# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine's refusals as HTTP answers: a status code and a ``<fault>``."""

from __future__ import annotations

from tests.ovirt_sim.state.permits import NotAuthorized
from tests.ovirt_sim.state.errors import (Conflict, Incomplete, InsufficientPermissions,
                                          InvalidSearch, NotFound)
from tests.ovirt_sim.wire.xml import BadRequest


class Fault(Exception):
    """An engine fault to be answered as ``<fault>`` with an HTTP code."""

    def __init__(self, code, detail, reason="Operation Failed"):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.reason = reason


def not_found(detail):
    """An address that names nothing."""
    return Fault(404, detail, reason="Not Found")


def not_allowed():
    return Fault(405, "Method not allowed", reason="Method Not Allowed")


def fault_for(error, denied_status=400):
    """The fault the engine answers a refused command with.  A query refused
    for lack of permission is a 400: the REST API's BackendFailureException
    for a message that has no ErrorType (``denied_status`` may say otherwise,
    as a proxy in front of the engine would)."""
    if isinstance(error, InsufficientPermissions):
        return Fault(denied_status, error.message)
    if isinstance(error, NotAuthorized):
        # ErrorType NO_PERMISSION: 403 (ErrorMessageHelper.getStatus)
        return Fault(403, "[%s]" % error.message)
    if isinstance(error, Conflict):
        # validation failures come back as 409 with the message in brackets
        return Fault(409, "[%s]" % error.message)
    if isinstance(error, NotFound):
        detail = "Entity not found: %s" % error.message
        return not_found(detail) if error.addressed else Fault(404, detail)
    if isinstance(error, Incomplete):
        return Fault(400, error.message, reason="Incomplete parameters")
    if isinstance(error, InvalidSearch):
        return Fault(400, "[%s]" % error.message)
    if isinstance(error, BadRequest):
        return Fault(400, error.message, reason="Bad Request")
    raise TypeError("no fault for %r" % (error,))
