# SPDX-License-Identifier: GPL-3.0-or-later
"""Answer bodies: ``{"data": ...}``; on error the message is the HTTP
reason phrase and the body ``{"data": null}`` plus ``errors`` for
parameter errors (PVE::APIServer::Formatter::JSON)."""

from __future__ import annotations

import json

JSON = "application/json;charset=UTF-8"


def success(data):
    return json.dumps({"data": data}).encode()


def failure(errors=None):
    body = {"data": None}
    if errors:
        body["errors"] = errors
    return json.dumps(body).encode()


def reason_phrase(message):
    """A reason phrase is one line: newlines (PVE's die "...\\n") go."""
    return " ".join(message.split("\n")).strip()
