# SPDX-License-Identifier: GPL-3.0-or-later
"""Who is at a guest, through proxmoxer: the QEMU monitor's "info vnc" and
"info spice" text (POST .../monitor) and the guest agent's logins
(GET .../agent/get-users), with Proxmox VE 8's privileges and wording."""

import pytest
from proxmoxer import ResourceException

from tests.pve_sim.clients import ticket_client, token_client, wait_task


@pytest.fixture
def api(pve_api):
    return token_client(pve_api)


def running_vm(sim, name="s-vd01", **config):
    vm = sim.add_vm(name, template="tmpl-win10", running=True)
    vm.config.update(config)
    return vm


def refused(call):
    with pytest.raises(ResourceException) as caught:
        call()
    return str(caught.value)


def test_info_vnc_lists_the_clients_of_the_vncproxy_socket(pve_api, api):
    vm = running_vm(pve_api)
    monitor = api.nodes("pve1").qemu(vm.vmid).monitor
    idle = monitor.post(command="info vnc")
    assert idle == ("default:\n"
                    "  Server: :/var/run/qemu-server/%d.vnc (unix)\n"
                    "    Auth: vnc (Sub: none)\n" % vm.vmid)
    pve_api.connect_console("s-vd01")
    assert monitor.post(command="info vnc") == idle + (
        "  Client: : (unix)\n    x509_dname: none\n    sasl_username: none\n")
    pve_api.disconnect_console("s-vd01")
    assert monitor.post(command="info vnc") == idle


def test_info_spice_lists_one_session_per_client_in_its_channels(pve_api, api):
    vm = running_vm(pve_api, vga="qxl")
    monitor = api.nodes("pve1").qemu(vm.vmid).monitor
    assert monitor.post(command="info spice").endswith(
        "     address: 127.0.0.1:61000 [tls]\n    migrated: false\n        auth: spice\n"
        "    compiled: 0.15.1\n  mouse-mode: client\nChannels: none\n")
    pve_api.connect_console("s-vd01", "spice")
    text = monitor.post(command="info spice")
    channels = text.split("Channel:\n")[1:]
    assert [c.splitlines()[3] for c in channels] == [
        "     channel name: main", "     channel name: display",
        "     channel name: inputs", "     channel name: cursor"]
    assert len({c.splitlines()[1] for c in channels}) == 1    # one session id
    assert all(c.startswith("     address: 127.0.0.1:") for c in channels)
    assert api.nodes("pve1").qemu(vm.vmid).status.current.get()["spice"] == 1


def test_a_spice_less_vm_and_a_display_less_vm(pve_api, api):
    vm = running_vm(pve_api)
    assert api.nodes("pve1").qemu(vm.vmid).monitor.post(command="info spice") == \
        "Server: disabled\n"
    assert "spice" not in api.nodes("pve1").qemu(vm.vmid).status.current.get()
    other = running_vm(pve_api, "s-vd02", vga="serial0")
    assert api.nodes("pve1").qemu(other.vmid).monitor.post(command="info vnc") == "None\n"
    with pytest.raises(ValueError):
        pve_api.connect_console("s-vd01", "spice")


def test_a_monitor_command_on_a_stopped_vm_is_an_error_text_not_an_http_error(pve_api, api):
    vm = running_vm(pve_api)
    pve_api.connect_console("s-vd01")
    wait_task(api, api.nodes("pve1").qemu(vm.vmid).status.stop.post())
    assert api.nodes("pve1").qemu(vm.vmid).monitor.post(command="info vnc") == \
        "ERROR: VM %d not running\n" % vm.vmid
    wait_task(api, api.nodes("pve1").qemu(vm.vmid).status.start.post())
    assert "Client:" not in api.nodes("pve1").qemu(vm.vmid).monitor.post(command="info vnc")


def test_the_monitor_needs_vm_monitor_and_sys_modify_beyond_info(pve_api, api):
    vm = running_vm(pve_api)
    assert refused(lambda: api.nodes("pve1").qemu(vm.vmid).monitor.post()) == (
        "400 Bad Request: Parameter verification failed. - "
        "{'command': 'property is missing and it is not optional'}")
    student = ticket_client(pve_api, user=pve_api.student, password=pve_api.student_password)
    assert refused(lambda: student.nodes("pve1").qemu(vm.vmid).monitor.post(
        command="info vnc")) == \
        "403 Forbidden: Permission check failed (/vms/%d, VM.Monitor)" % vm.vmid
    pve_api.withhold("root@pam", "VM.Monitor")
    assert refused(lambda: api.nodes("pve1").qemu(vm.vmid).monitor.post(
        command="info vnc")) == \
        "403 Forbidden: Permission check failed (/vms/%d, VM.Monitor)" % vm.vmid
    assert api.nodes("pve1").qemu(vm.vmid).status.current.get()["status"] == "running"


def test_non_info_commands_need_sys_modify_on_root(pve_api, api):
    vm = running_vm(pve_api)
    pve_api.withhold("root@pam", "Sys.Modify")
    assert refused(lambda: api.nodes("pve1").qemu(vm.vmid).monitor.post(
        command="system_reset")) == "403 Forbidden: Permission check failed (/, Sys.Modify)"
    assert api.nodes("pve1").qemu(vm.vmid).monitor.post(command="  info   vnc").startswith(
        "default:\n")


def test_get_users_lists_the_guest_agent_logins(pve_api, api):
    vm = running_vm(pve_api, agent="enabled=1,fstrim_cloned_disks=1")
    users = api.nodes("pve1").qemu(vm.vmid).agent("get-users")
    assert users.get() == {"result": []}
    pve_api.log_in("s-vd01", "anna", since=1764753120.25)
    pve_api.log_in("s-vd01", "bob", domain="SCHOOL")
    found = users.get()["result"]
    assert found[0] == {"user": "anna", "login-time": 1764753120.25}
    assert (found[1]["user"], found[1]["domain"]) == ("bob", "SCHOOL")
    pve_api.log_out("s-vd01", "anna")
    assert [u["user"] for u in users.get()["result"]] == ["bob"]
    assert api.nodes("pve1").qemu(vm.vmid).status.current.get()["agent"] == 1


def test_get_users_refusals_are_qemu_servers(pve_api, api):
    vm = running_vm(pve_api)
    users = api.nodes("pve1").qemu(vm.vmid).agent("get-users")
    assert refused(users.get) == \
        "500 Internal Server Error: No QEMU guest agent configured"
    vm.config["agent"] = "0"
    assert refused(users.get) == "500 Internal Server Error: QEMU guest agent is not running"
    vm.config["agent"] = "1"
    vm.agent_running = False
    assert refused(users.get) == "500 Internal Server Error: QEMU guest agent is not running"
    vm.agent_running = True
    wait_task(api, api.nodes("pve1").qemu(vm.vmid).status.stop.post())
    assert refused(users.get) == "500 Internal Server Error: VM %d is not running" % vm.vmid
    with pytest.raises(ValueError):
        pve_api.log_in("s-vd01", "anna")
    pve_api.withhold("root@pam", "VM.Monitor")
    assert refused(users.get) == \
        "403 Forbidden: Permission check failed (/vms/%d, VM.Monitor)" % vm.vmid
