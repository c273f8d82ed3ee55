# SPDX-License-Identifier: GPL-3.0-or-later
"""Who is at a guest, as qemu-server lets one ask (Proxmox VE 8): the QEMU
monitor (POST .../monitor, one HMP command; "info *" and "help" need only
VM.Monitor on the VM, anything else also Sys.Modify on /) and the guest
agent (GET .../agent/get-users, VM.Monitor).  A monitor command on a VM
that does not run is not an HTTP error: the answer is the text
"ERROR: VM N not running".  Console clients and logins belong to one run
of the guest: a power change (a new ``generation``) ends them."""

from __future__ import annotations

import re
import time

from tests.pve_sim.state.errors import ApiError, param_error
from tests.pve_sim.wire import hmp

READ_ONLY = re.compile(r"^\s*info(\s+|$)|^\s*help\s*$")


def agent_enabled(config):
    """qemu-server's get_qga_key($conf, 'enabled'): "1", "enabled=1,...";
    "type=isa" alone is disabled (enabled defaults to 0)."""
    value = config.get("agent")
    if value is None:
        return False
    for part in str(value).split(","):
        key, eq, val = part.partition("=")
        if not eq and key.strip() in ("1", "0"):
            return key.strip() == "1"
        if key.strip() == "enabled":
            return val.strip() in ("1", "yes", "on", "true")
    return False


def vga_type(config):
    return str(config.get("vga", "std")).split(",")[0].split("=")[-1]


def has_spice(config):
    """A qxl or virtio display: qemu-server adds -spice (status/current's "spice")."""
    return bool(re.match(r"qxl|virtio", vga_type(config)))


def has_vnc(config):
    vga = vga_type(config)
    return vga != "none" and not vga.startswith("serial")


def _live(vm, entries):
    return [e for e in entries if e["generation"] == vm.generation] \
        if vm.status == "running" else []


def monitor(cluster, user, node, vmid, params):
    command = params.get("command")
    if not command:
        raise param_error(command="property is missing and it is not optional")
    if not READ_ONLY.match(command) and not cluster.auth.holds(user, "Sys.Modify"):
        raise ApiError(403, "Permission check failed (/, Sys.Modify)")
    vm = cluster.guest(node, vmid)          # "check if VM exists"
    if vm.status != "running":
        return "ERROR: VM %d not running\n" % vm.vmid
    if vm.monitor_error:
        return "ERROR: %s" % vm.monitor_error
    words = command.split()
    consoles = _live(vm, vm.consoles)
    if words == ["info", "vnc"]:
        return hmp.info_vnc(vm.vmid, [c for c in consoles if c["protocol"] == "vnc"],
                            has_vnc(vm.config))
    if words == ["info", "spice"]:
        return hmp.info_spice([(c["connection_id"], c["ports"]) for c in consoles
                               if c["protocol"] == "spice"], enabled=has_spice(vm.config))
    raise ApiError(501, "simulator: HMP command %r is not simulated" % command)


def get_users(cluster, node, vmid):
    vm = cluster.guest(node, vmid)
    if "agent" not in vm.config:
        raise ApiError(500, "No QEMU guest agent configured")
    if vm.status != "running":
        raise ApiError(500, "VM %d is not running" % vm.vmid)
    if not agent_enabled(vm.config) or not vm.agent_running:
        raise ApiError(500, "QEMU guest agent is not running")
    found = []
    for login in _live(vm, vm.logins):
        entry = {"user": login["user"], "login-time": login["login_time"]}
        if login["domain"]:
            entry["domain"] = login["domain"]
        found.append(entry)
    return {"result": found}


# -- knobs (the simulator's, under the cluster lock) ---------------------------------

def connect_console(cluster, vm, protocol):
    if vm.status != "running":
        raise ValueError("VM %s is %s: no console to connect to" % (vm.name, vm.status))
    if protocol == "spice" and not has_spice(vm.config):
        raise ValueError("VM %s has no SPICE display (vga: qxl or virtio)" % vm.name)
    if protocol == "vnc" and not has_vnc(vm.config):
        raise ValueError("VM %s has no VNC display (vga: %s)" % (vm.name, vga_type(vm.config)))
    if protocol not in ("vnc", "spice"):
        raise ValueError("protocol is vnc or spice, not %r" % protocol)
    ports = [cluster.rng.randrange(32768, 61000) for _ in hmp.SPICE_CHANNELS]
    vm.consoles.append({"protocol": protocol, "generation": vm.generation, "ports": ports,
                        "connection_id": cluster.rng.randrange(1, 1 << 31)})


def disconnect_console(vm, protocol=None):
    vm.consoles[:] = [c for c in vm.consoles if protocol not in (None, c["protocol"])]


def log_in(vm, user, domain=None, since=None):
    if vm.status != "running":
        raise ValueError("VM %s is %s: nobody can log in" % (vm.name, vm.status))
    if not agent_enabled(vm.config):
        raise ValueError("VM %s has no guest agent enabled (agent: 1)" % vm.name)
    vm.logins.append({"user": user, "domain": domain, "generation": vm.generation,
                      "login_time": time.time() if since is None else since})


def log_out(vm, user=None):
    vm.logins[:] = [e for e in vm.logins if user not in (None, e["user"])]
