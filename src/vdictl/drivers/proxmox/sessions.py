"""Who is at each VM: console clients that QEMU sees connected (the human
monitor's "info vnc" and "info spice", POST /nodes/{node}/qemu/{vmid}/monitor)
and users logged in, as the guest agent lists them
(GET .../agent/get-users, where the VM's config enables the agent).

Proxmox VE's own consoles reach QEMU through the node: noVNC in the web
interface and VNC viewers through vncproxy, on the VM's unix socket (QEMU
sees a client without an address), SPICE through spiceproxy (a client from
127.0.0.1). Such a client is still somebody at the console; only where they
sit is unknown. See docs/backends/proxmox.md, "Who is at a VM".

A stopped VM has nobody at it: []. A running one that no source could answer
for is None ("cannot tell"). An account the monitor or the agent refuses
(403: Proxmox VE 8 wants VM.Monitor on the VM) makes that source "cannot
tell", logged once per run, never an error of the run.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from typing import Any, Dict, List, Optional, Sequence, Set

from vdictl.errors import AuthError, DriverError, NotFound, Unreachable
from vdictl.executor import run_each
from vdictl.model import Sessions, UserSession

from .connection import PveConnection, VmRef

log = logging.getLogger(__name__)

#: VMs of one room asked at once
PARALLEL = 4

#: "  Client: HOST:SERVICE (FAMILY)" (ui/ui-hmp-cmds.c hmp_info_VncBasicInfo;
#: a websocket client has " (Websocket)" inside the parentheses)
_VNC_CLIENT = re.compile(r"^\s*Client: (?P<addr>.*) \((?P<family>[a-z0-9]+)\b.*\)\s*$")
_LOOPBACK = ("127.0.0.1", "::1", "")

#: the sources each connection (one per endpoint and run) was refused, logged once
_refused: "weakref.WeakKeyDictionary[PveConnection, Set[str]]" = weakref.WeakKeyDictionary()
_refused_lock = threading.Lock()


class _Stopped(Exception):
    """The VM stopped while it was asked: nobody is at it."""


def sessions(conn: PveConnection, names: Sequence[str], *, probe: bool) -> Dict[str, Sessions]:
    """The sessions of the VMs among `names`, from one cluster listing and,
    per running VM, its status (is the agent enabled, has it SPICE), one
    "info vnc" (and "info spice" for a SPICE display) when `probe`, and one
    get-users where the agent is enabled. Names that are no VM are left out."""
    if not names:
        return {}
    refs = conn.refs(names)
    found: Dict[str, Sessions] = {name: [] for name, ref in refs.items()
                                  if ref.entry.get("status") != "running"}
    running = [name for name in refs if name not in found]
    for result in run_each(lambda name: vm_sessions(conn, name, probe=probe), running,
                           max_workers=PARALLEL):
        if not result.succeeded:
            if isinstance(result.error, Unreachable):
                raise result.error
            log.info("%s: who is at it cannot be told: %s", result.item, result.error)
        found[result.item] = result.value if result.succeeded else None
    return found


def vm_sessions(conn: PveConnection, name: str, *, probe: bool) -> Sessions:
    try:
        ref = conn.ref(name)
    except NotFound:
        return []
    status = ref.entry
    if status.get("status") != "running":
        return []
    try:
        consoles = console_clients(conn, ref, spice=bool(status.get("spice"))) if probe \
            else None
        users = guest_users(conn, ref) if status.get("agent") else None
    except _Stopped:
        return []
    if consoles is None and users is None:
        return None
    return (consoles or []) + (users or [])


def _refused_once(conn: PveConnection, source: str, err: AuthError, needs: str) -> None:
    with _refused_lock:
        seen = _refused.setdefault(conn, set())
        first = source not in seen
        seen.add(source)
    if first:
        log.warning("%s refuses this account the %s (%s): who is at a VM cannot be told "
                    "from it; give the account %s", conn.url, source, err.message, needs)


def monitor(conn: PveConnection, ref: VmRef, command: str) -> Optional[str]:
    """The HMP answer text; None when it cannot be had (refused, or QEMU
    did not answer). _Stopped when the VM no longer runs."""
    try:
        text = conn.call(lambda a: a.nodes(ref.node).qemu(ref.vmid).monitor.post(
            command=command), vm=ref.name)
    except AuthError as err:
        _refused_once(conn, "QEMU monitor", err, "VM.Monitor on the VMs (Proxmox VE 8; "
                      "Sys.Audit on Proxmox VE 9), or set console_probe = False")
        return None
    except (Unreachable, NotFound):
        raise
    except DriverError as err:
        log.debug("%s: %s not answered: %s", ref.name, command, err.message)
        return None
    text = str(text or "")
    if not text.strip():  # "info vnc" prints at least "None": an empty answer says nothing
        return None
    if text.startswith("ERROR:"):  # qemu-server answers a failed command as text
        if re.match(r"ERROR: VM \d+ not running", text):
            raise _Stopped()
        log.debug("%s: %s answered %.200r", ref.name, command, text)
        return None
    return text


def console_clients(conn: PveConnection, ref: VmRef, *, spice: bool) -> Optional[List[UserSession]]:
    """The VNC clients (and SPICE clients, for a SPICE display); None when
    the monitor does not answer."""
    vnc = monitor(conn, ref, "info vnc")
    if vnc is None:
        return None
    found = vnc_sessions(vnc, ref.node)
    if spice:
        text = monitor(conn, ref, "info spice")
        if text is None:
            return None
        found += spice_sessions(text, ref.node)
    return found


def address(host: str, port: str) -> Optional[str]:
    """192.0.2.7:51234, [2001:db8::7]:51234; None for the node itself (its
    console proxies) or a unix socket."""
    if host in _LOOPBACK:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def vnc_sessions(text: str, node: str) -> List[UserSession]:
    found = []
    for line in text.splitlines():
        match = _VNC_CLIENT.match(line)
        if not match:
            continue
        host, _, port = match["addr"].rpartition(":")
        client = None if match["family"] == "unix" else address(host, port)
        found.append(UserSession(kind="console", client=client,
                                 source="qemu vnc" if client else
                                 f"qemu vnc (through {node}'s vncproxy)"))
    return found


def spice_sessions(text: str, node: str) -> List[UserSession]:
    """One session per SPICE client: a client opens several channels under
    one session id; its main channel's (type 1) address names it."""
    clients: Dict[str, Dict[str, Any]] = {}
    for block in text.split("Channel:")[1:]:
        fields = dict(line.strip().split(": ", 1) for line in block.splitlines()
                      if ": " in line)
        addr = fields.get("address", "").replace(" [tls]", "")
        session = fields.get("session", "")
        if session not in clients or fields.get("channel", "").startswith("1:"):
            clients[session] = {"addr": addr}
    found = []
    for entry in clients.values():
        host, _, port = entry["addr"].rpartition(":")
        client = address(host.strip("[]"), port)
        found.append(UserSession(kind="console", client=client,
                                 source="qemu spice" if client else
                                 f"qemu spice (through {node}'s spiceproxy)"))
    return found


def guest_users(conn: PveConnection, ref: VmRef) -> Optional[List[UserSession]]:
    """The users logged in to the guest; None when the agent does not answer
    ("QEMU guest agent is not running", too old for get-users, refused)."""
    try:
        answer = conn.call(lambda a: a.nodes(ref.node).qemu(ref.vmid).agent(
            "get-users").get(), vm=ref.name)
    except AuthError as err:
        _refused_once(conn, "guest agent", err, "VM.Monitor on the VMs (Proxmox VE 8; "
                      "VM.GuestAgent.Audit on Proxmox VE 9)")
        return None
    except (Unreachable, NotFound):
        raise
    except DriverError as err:
        if re.search(r"VM \d+ is not running", err.message):
            raise _Stopped() from None
        log.debug("%s: the guest agent did not list users: %s", ref.name, err.message)
        return None
    result = (answer or {}).get("result") if isinstance(answer, dict) else None
    if not isinstance(result, list):
        return None
    return [logged_in(entry) for entry in result if isinstance(entry, dict)]


def logged_in(entry: Dict[str, Any]) -> UserSession:
    """qemu-ga's guest-get-users entry: user, domain (Windows), login-time
    (seconds since the epoch, with a fraction)."""
    user, domain = entry.get("user"), entry.get("domain")
    login = entry.get("login-time")
    return UserSession(kind="guest", user=f"{domain}\\{user}" if domain else user,
                       since=float(login) if isinstance(login, (int, float)) else None,
                       source="guest agent")
