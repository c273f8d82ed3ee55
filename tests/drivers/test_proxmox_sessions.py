"""Who is at a Proxmox VE VM (Driver.sessions) through the real proxmoxer on the
simulator: console clients from QEMU's monitor ("info vnc", "info spice"),
users from the guest agent, what it costs, and what a refusal changes.
The shared checks are in test_contract.py."""

from __future__ import annotations

import logging
import re

import pytest

pytest.importorskip("proxmoxer")

from vdictl.drivers import get_driver  # noqa: E402
from vdictl.drivers.proxmox.sessions import spice_sessions, vnc_sessions  # noqa: E402
from vdictl.model import UserSession  # noqa: E402

from tests.pve_driver import fast_pve_polls, token_connect  # noqa: E402,F401

VNC_PROXY = UserSession(kind="console", source="qemu vnc (through pve1's vncproxy)")
SPICE_PROXY = UserSession(kind="console", source="qemu spice (through pve1's spiceproxy)")
LOG = "vdictl.drivers.proxmox.sessions"


@pytest.fixture
def sim(request, pve_api):
    request.getfixturevalue("fast_pve_polls")
    for name in ("s-vd01", "s-vd02", "s-vd03"):
        pve_api.add_vm(name, template="tmpl-win10", running=True)
    pve_api.add_vm("s-off", template="tmpl-win10")
    return pve_api


def driver_of(sim, **kw):
    d = get_driver(token_connect(sim, **kw))
    d.open()
    return d


def asked(sim, since):
    """(method, what) of the requests after index `since`, VMIDs as names."""
    names = {str(vm.vmid): vm.name for vm in sim.vms.values()}
    found = []
    for method, path, _ in sim.requests[since:]:
        parts = path.split("/")
        if len(parts) > 4 and parts[3] == "qemu":
            found.append((method, names[parts[4]], "/".join(parts[5:])))
        else:
            found.append((method, path, ""))
    return found


def test_a_vnc_client_a_spice_client_and_nobody(sim):
    sim.vm("s-vd02").config["vga"] = "qxl"
    sim.connect_console("s-vd01")
    sim.connect_console("s-vd02", "spice")
    sim.connect_console("s-vd02", "spice")
    d = driver_of(sim)
    before = len(sim.requests)
    answer = d.sessions(names=["s-vd01", "s-vd02", "s-vd03", "s-off", "s-none"])
    assert answer == {"s-vd01": [VNC_PROXY], "s-vd02": [SPICE_PROXY, SPICE_PROXY],
                      "s-vd03": [], "s-off": []}
    # one listing; per running VM its status and "info vnc", "info spice" for
    # the SPICE display; nothing for the stopped VM, no agent where none is enabled
    assert sorted(asked(sim, before)) == sorted(
        [("GET", "/cluster/resources", "")]
        + [("GET", n, "status/current") for n in ("s-vd01", "s-vd02", "s-vd03")]
        + [("POST", n, "monitor") for n in ("s-vd01", "s-vd02", "s-vd02", "s-vd03")])
    sim.disconnect_console("s-vd01")
    assert d.sessions(names=["s-vd01"]) == {"s-vd01": []}


def test_guest_users_where_the_agent_is_enabled(sim):
    sim.vm("s-vd01").config["agent"] = "enabled=1,fstrim_cloned_disks=1"
    sim.vm("s-vd02").config["agent"] = "1"
    sim.log_in("s-vd01", "anna", since=1764753120.5)
    sim.log_in("s-vd02", "bob", domain="SCHOOL", since=1764753000)
    sim.connect_console("s-vd02")
    d = driver_of(sim)
    before = len(sim.requests)
    answer = d.sessions(names=["s-vd01", "s-vd02", "s-vd03"])
    anna = UserSession(kind="guest", user="anna", since=1764753120.5, source="guest agent")
    bob = UserSession(kind="guest", user="SCHOOL\\bob", since=1764753000.0,
                      source="guest agent")
    assert answer == {"s-vd01": [anna], "s-vd02": [VNC_PROXY, bob], "s-vd03": []}
    agent_calls = [a for a in asked(sim, before) if a[2].startswith("agent/")]
    assert sorted(agent_calls) == [("GET", "s-vd01", "agent/get-users"),
                                   ("GET", "s-vd02", "agent/get-users")]


def test_without_the_probe_only_the_agent_answers(sim):
    sim.vm("s-vd01").config["agent"] = "1"
    sim.log_in("s-vd01", "anna", since=1764753120)
    sim.connect_console("s-vd02")
    d = driver_of(sim, console_probe=False)
    before = len(sim.requests)
    answer = d.sessions(names=["s-vd01", "s-vd02", "s-off"])
    assert answer == {"s-vd01": [UserSession(kind="guest", user="anna", since=1764753120.0,
                                             source="guest agent")],
                      "s-vd02": None, "s-off": []}
    assert not [a for a in asked(sim, before) if a[2] == "monitor"]


def test_an_agent_that_does_not_run_cannot_tell(sim):
    sim.vm("s-vd01").config["agent"] = "1"
    sim.vm("s-vd01").agent_running = False
    assert driver_of(sim).sessions(names=["s-vd01"]) == {"s-vd01": []}     # the monitor: nobody
    assert driver_of(sim, console_probe=False).sessions(names=["s-vd01"]) == {"s-vd01": None}


def test_a_failed_monitor_command_cannot_tell_and_a_stopped_vm_has_nobody(sim):
    vd01, vd02 = sim.vm("s-vd01"), sim.vm("s-vd02")
    vd01.monitor_error = ("VM %d qmp command 'human-monitor-command' failed - got timeout\n"
                          % vd01.vmid)
    vd02.monitor_error = "VM %d not running\n" % vd02.vmid    # it stopped meanwhile
    assert driver_of(sim).sessions(names=["s-vd01", "s-vd02"]) == {"s-vd01": None,
                                                                  "s-vd02": []}


def test_a_refused_monitor_cannot_tell_and_is_warned_once_per_run(sim, caplog):
    sim.withhold("root@pam", "VM.Monitor")
    sim.connect_console("s-vd01")
    d = driver_of(sim)
    with caplog.at_level(logging.WARNING, logger=LOG):
        for _ in range(2):
            assert d.sessions(names=["s-vd01", "s-vd02", "s-off"]) == {
                "s-vd01": None, "s-vd02": None, "s-off": []}
    # whichever VM is asked first names its VMID
    warned = [re.sub(r"/vms/\d+", "/vms/N", r.getMessage())
              for r in caplog.records if r.name == LOG]
    assert warned == [
        f"{sim.url} refuses this account the QEMU monitor (Permission check failed "
        "(/vms/N, VM.Monitor)): who is at a VM cannot be told from "
        "it; give the account VM.Monitor on the VMs (Proxmox VE 8; Sys.Audit on Proxmox "
        "VE 9), or set console_probe = False"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOG):
        driver_of(sim).sessions(names=["s-vd01"])      # a new run warns again
    assert len([r for r in caplog.records if r.name == LOG]) == 1


def test_a_refused_monitor_still_leaves_the_agent(sim):
    sim.withhold("root@pam", "VM.Monitor")
    assert driver_of(sim).sessions(names=["s-vd01"]) == {"s-vd01": None}
    sim.vm("s-vd02").config["agent"] = "1"
    sim.accounts["root@pam"].withheld.clear()
    sim.log_in("s-vd02", "anna", since=1764753120)
    sim.withhold("root@pam", "VM.Monitor")
    # PVE 8: get-users needs VM.Monitor too: both sources refused
    assert driver_of(sim).sessions(names=["s-vd02"]) == {"s-vd02": None}


# -- QEMU's text, as ui/ui-hmp-cmds.c prints it -------------------------------------------

def test_vnc_clients_over_tcp_keep_their_address():
    text = ("default:\n"
            "  Server: 0.0.0.0:5901 (ipv4)\n"
            "    Auth: none (Sub: none)\n"
            "  Client: 192.0.2.7:51234 (ipv4)\n"
            "    x509_dname: none\n"
            "    sasl_username: none\n"
            "  Client: 2001:db8::7:40000 (ipv6 (Websocket))\n"
            "    x509_dname: none\n"
            "    sasl_username: none\n"
            "  Client: 127.0.0.1:40001 (ipv4)\n"
            "    x509_dname: none\n"
            "    sasl_username: none\n")
    assert vnc_sessions(text, "pve1") == [
        UserSession(kind="console", client="192.0.2.7:51234", source="qemu vnc"),
        UserSession(kind="console", client="[2001:db8::7]:40000", source="qemu vnc"),
        VNC_PROXY]
    assert vnc_sessions("None\n", "pve1") == []


def test_spice_clients_are_named_by_their_main_channel():
    def channel(address, session, kind):
        return (f"Channel:\n     address: {address} [tls]\n     session: {session}\n"
                f"     channel: {kind}:0\n     channel name: x\n")

    text = ("Server:\n     address: 0.0.0.0:61000 [tls]\n    migrated: false\n"
            "        auth: spice\n    compiled: 0.15.1\n  mouse-mode: client\n"
            + channel("192.0.2.9:1000", 7, 2) + channel("192.0.2.8:999", 7, 1)
            + channel("127.0.0.1:4000", 8, 1))
    assert spice_sessions(text, "pve2") == [
        UserSession(kind="console", client="192.0.2.8:999", source="qemu spice"),
        UserSession(kind="console", source="qemu spice (through pve2's spiceproxy)")]
    assert spice_sessions("Server: disabled\n", "pve2") == []
