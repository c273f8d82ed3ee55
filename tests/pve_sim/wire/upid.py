# SPDX-License-Identifier: GPL-3.0-or-later
"""Task identifiers: ``UPID:node:PID:PSTART:STARTTIME:type:id:user:`` with the
numbers in upper-case hex (8 digits), as PVE::Tools::upid_encode writes them."""

from __future__ import annotations

import re

UPID_RE = re.compile(r"^UPID:([a-zA-Z0-9][a-zA-Z0-9.-]*):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):"
                     r"([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$")


def encode_upid(node, pid, pstart, starttime, type_, id_, user):
    return "UPID:%s:%08X:%08X:%08X:%s:%s:%s:" % (node, pid, pstart, starttime, type_, id_, user)


def decode_upid(upid):
    """dict node, pid, pstart, starttime, type, id, user; None if malformed."""
    match = UPID_RE.match(upid)
    if not match:
        return None
    node, pid, pstart, starttime, type_, id_, user = match.groups()
    return {"node": node, "pid": int(pid, 16), "pstart": int(pstart, 16),
            "starttime": int(starttime, 16), "type": type_, "id": id_, "user": user}
