"""Who is at each VM: console clients that QEMU sees connected (query-vnc,
query-spice through libvirt's monitor passthrough) and users logged in, as
the guest agent says (virDomainGetGuestInfo users).

A stopped domain has nobody at it: []. A running one that no source could
answer for is None ("cannot tell"), never []: the test:/// driver has no
monitor, a remote daemon may refuse passthrough, and the probe can be turned
off (console_probe = False), because libvirt marks a domain "tainted"
(custom-monitor) once passthrough is used on it. See docs/backends/libvirt.md.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Optional, Sequence, Set

import libvirt
import libvirt_qemu

from vdictl.errors import DriverError, NotFound, Unreachable
from vdictl.model import Sessions, UserSession

from .connection import Connection

log = logging.getLogger(__name__)

AGENT_CHANNEL = "org.qemu.guest_agent.0"
#: SPICE's main channel (QEMU's SpiceChannel channel-type): one per client
SPICE_MAIN_CHANNEL = 1


def sessions(conn: Connection, names: Sequence[str], *, probe: bool) -> Dict[str, Sessions]:
    """The sessions of the domains among `names`, from one listing; names
    that are not domains are left out. `probe`: ask QEMU's monitor."""
    return conn.each_domain(names, lambda dom: vm_sessions(conn, dom, probe=probe))


def vm_sessions(conn: Connection, dom: "libvirt.virDomain", *, probe: bool) -> Sessions:
    name = dom.name()
    with conn.errors(vm=name, what=f"domain {name!r}"):
        if not dom.isActive():
            return []
        xml = dom.XMLDesc(0)
    graphics, agent = devices(xml)
    consoles = console_clients(conn, dom, graphics) if probe else None
    users = guest_users(conn, dom) if agent else None
    if consoles is None and users is None:
        return None
    return (consoles or []) + (users or [])


def devices(xml: str) -> "tuple[Set[str], bool]":
    """The graphics types of a live domain's XML, and whether its guest agent
    is connected (libvirt sees the agent's channel open)."""
    root = ET.fromstring(xml)  # nosec B314 # libvirtd's XML: see xmldoc.parse
    graphics = {g.get("type", "") for g in root.findall("devices/graphics")}
    agent = any(t.get("name") == AGENT_CHANNEL and t.get("state") == "connected"
                for t in root.findall("devices/channel/target"))
    return graphics, agent


def console_clients(conn: Connection, dom: "libvirt.virDomain",
                    graphics: Set[str]) -> Optional[List[UserSession]]:
    """The VNC clients (and SPICE clients, with SPICE graphics) connected;
    None when the monitor does not answer."""
    vnc = monitor(conn, dom, "query-vnc")
    if vnc is None:
        return None
    found = [vnc_session(client) for client in vnc.get("clients") or []]
    if "spice" in graphics:
        spice = monitor(conn, dom, "query-spice")
        if spice is None:
            return None
        found += spice_sessions(spice.get("channels") or [])
    return found


def monitor(conn: Connection, dom: "libvirt.virDomain", command: str) -> Optional[Dict]:
    """The "return" of a QMP query command; None when the monitor cannot be
    asked (no passthrough on this connection, refused, or not QEMU)."""
    name = dom.name()
    try:
        with conn.errors(vm=name):
            reply = libvirt_qemu.qemuMonitorCommand(
                dom, json.dumps({"execute": command}), 0)
    except (Unreachable, NotFound):
        raise
    except DriverError as exc:
        log.debug("%s: %s not answered: %s", name, command, exc.message)
        return None
    try:
        answer = json.loads(reply).get("return")
    except (ValueError, AttributeError):
        answer = None
    if not isinstance(answer, dict):
        log.debug("%s: %s answered %.200r", name, command, reply)
        return None
    return answer


def address(host: Any, port: Any) -> Optional[str]:
    if not host:
        return None
    host = str(host)
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{host}:{port}" if port not in (None, "") else host


def vnc_session(client: Dict[str, Any]) -> UserSession:
    user = client.get("sasl_username") or client.get("x509_dname")
    return UserSession(kind="console", user=user,
                       client=address(client.get("host"), client.get("service")),
                       source="qemu vnc")


def spice_sessions(channels: List[Dict[str, Any]]) -> List[UserSession]:
    """One session per SPICE client: a client opens several channels under
    one connection id; its main channel's address names it."""
    clients: Dict[Any, Dict[str, Any]] = {}
    for channel in channels:
        key = channel.get("connection-id")
        if key not in clients or channel.get("channel-type") == SPICE_MAIN_CHANNEL:
            clients[key] = channel
    return [UserSession(kind="console",
                        client=address(channel.get("host"), channel.get("port")),
                        source="qemu spice")
            for channel in clients.values()]


def guest_users(conn: Connection, dom: "libvirt.virDomain") -> Optional[List[UserSession]]:
    """The users logged in to the guest; None when the agent does not answer
    (not running yet, too old for guest-get-users, or busy)."""
    name = dom.name()
    try:
        with conn.errors(vm=name):
            info = dom.guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_USERS, 0)
    except (Unreachable, NotFound):
        raise
    except DriverError as exc:
        log.debug("%s: the guest agent did not list users: %s", name, exc.message)
        return None
    return logged_in(info)


def logged_in(info: Dict[str, Any]) -> List[UserSession]:
    """The users of virDomainGetGuestInfo's typed parameters (user.N.name,
    user.N.domain on Windows, user.N.login-time in milliseconds)."""
    found = []
    for i in range(int(info.get("user.count", 0))):
        user = info.get(f"user.{i}.name")
        domain = info.get(f"user.{i}.domain")
        login = info.get(f"user.{i}.login-time")
        found.append(UserSession(kind="guest", user=f"{domain}\\{user}" if domain else user,
                                 since=login / 1000.0 if login is not None else None,
                                 source="guest agent"))
    return found
