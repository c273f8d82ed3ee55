"""Who is at each VM, as the engine tells: one search of the room with the
VMs' sessions inlined (follow=sessions), never a request per VM.

The engine knows two kinds of session. The console user's: set when the
engine hands out a console ticket, with the client's address once the
hypervisor reports the graphics connect, cleared when it reports the
disconnect (no guest agent needed). The guest user's: the name the guest
agent reports logged in. Why this is enough to tell: docs/backends/ovirt.md,
"Who is at a VM"."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import ovirtsdk4.types as types

from vdictl.model import Sessions, UserSession

from .connection import OvirtConnection, name_search

VS = types.VmStatus

#: no QEMU behind these: nobody can be at the VM
_NOBODY = frozenset({VS.DOWN, VS.SUSPENDED, VS.IMAGE_LOCKED})
#: the engine has lost touch with the VM's host: what it shows is stale or reset
_CANNOT_TELL = frozenset({VS.UNKNOWN, VS.NOT_RESPONDING, VS.UNASSIGNED})

CONSOLE_SOURCE = "engine console"
GUEST_SOURCE = "guest agent"


def sessions(conn: OvirtConnection, *, names: Sequence[str]) -> Dict[str, Sessions]:
    """VM name -> its sessions ([] when nobody is there; None when the
    engine cannot tell); VMs the engine does not have are left out."""
    if not names:
        return {}
    search = name_search(names)
    wanted = set(names)
    found = conn.call(lambda s: s.vms_service().list(search=search, follow="sessions"))
    return {v.name: vm_sessions(v) for v in found if v.name in wanted}


def vm_sessions(v: Any) -> Sessions:
    """The sessions of one engine VM record fetched with follow=sessions."""
    if v.status in _NOBODY:
        return []
    if v.status in _CANNOT_TELL or v.status is None:
        return None
    found: List[UserSession] = []
    for s in v.sessions or []:
        user = _user_name(s.user)
        if s.console_user:
            client = s.ip.address if s.ip is not None else None
            # a ticket handed out, but no client connected (or gone): nobody there
            if client:
                found.append(UserSession(kind="console", user=user, client=client,
                                         source=CONSOLE_SOURCE))
        elif user:
            found.append(UserSession(kind="guest", user=user, source=GUEST_SOURCE))
    return found


def _user_name(u: Any) -> Any:
    """user@domain for the console user (the engine splits it), the name as
    the guest agent reported it for a guest user."""
    if u is None or not u.user_name:
        return None
    domain = u.domain.name if u.domain is not None else None
    return f"{u.user_name}@{domain}" if domain else u.user_name
