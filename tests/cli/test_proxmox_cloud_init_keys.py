"""Proxmox VE's own cloud-init keys through the CLI, on the simulator: a room
without a first-boot payload on a template with a cloud-init drive gets
ipconfig0 from its IP keys and nameserver, searchdomain, ciuser and sshkeys
from its own, set before the rollout's snapshot; what cannot reach the guest
is refused before any clone, in one line."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

pytest.importorskip("proxmoxer")
pytestmark = pytest.mark.usefixtures("fast_pve_polls")

from vdictl.cli import exit_codes  # noqa: E402

from tests.pve_driver import fast_pve_polls, token_file  # noqa: E402,F401
from tests.vdictl_cli import vdictl, write_config  # noqa: E402

HEAD = """\
[general]
    [[connect]]
    driver = {driver}
    {where}
    [[throttle]]
    operation_timeout = 30
"""
ROOM = """\
[room ci]
    template_name = {template}
    {keys}
    [[pcs]]
    ids = "1-2"
    names = "ci-pc${{id}}"
"""
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
ALL_KEYS = """\
ip_addresses = "192.0.2.${{suffix}}"
    ip_addresses_suffix = 11
    netmask_suffix = 24
    default_gateway = 192.0.2.1
    nameserver = "192.0.2.53  192.0.2.54"
    searchdomain = lab.example.org
    ciuser = student
    ssh_keys_file = "{keys_file}"
    snapshot_description = "clean"
    reset_to_snapshot_regex = "^clean$"
"""


def keys_file(tmp_path, text=f"# the teachers\n{KEY} teacher@lab\n\n{KEY}2 admin@lab\n"):
    path = tmp_path / "keys.pub"
    path.write_text(text)
    return path


def room(sim, tmp_path, keys, template="tmpl-linux"):
    where = (f'url = "{sim.url}"\n    token_id = "{sim.token_id}"\n    token_secret_file = '
             f'"{token_file(sim.token_secret)}"\n    ca_file = "{sim.ca_file}"')
    text = HEAD.format(driver="proxmox", where=where) + ROOM.format(template=template,
                                                                    keys=keys)
    return write_config(tmp_path, text, mode=0o600)


def run(path, *args):
    result = vdictl(path, *args, "-o", "json")
    return result.exit_code, json.loads(result.stdout) if result.stdout else None, result


def reasons(data):
    return {r["reason"] for r in data["results"]}


def config_at_start(sim, name):
    return [s.config for s in list(sim.starts) if s.name == name][-1]


def test_the_cloud_init_keys_reach_the_clone_before_its_snapshot(pve_api, tmp_path):
    path = room(pve_api, tmp_path, ALL_KEYS.format(keys_file=keys_file(tmp_path)))
    code, data, result = run(path, "virtroom-rollout", "ci")
    assert code == 0, result.stdout + result.stderr
    code, data, result = run(path, "virtroom-start", "ci")
    assert code == 0, result.stdout + result.stderr
    for name, ip in (("ci-pc01", "192.0.2.11"), ("ci-pc02", "192.0.2.12")):
        config = config_at_start(pve_api, name)
        assert config["ipconfig0"] == f"ip={ip}/24,gw=192.0.2.1"
        assert config["nameserver"] == "192.0.2.53 192.0.2.54"
        assert config["searchdomain"] == "lab.example.org"
        assert config["ciuser"] == "student"
        # urlencoded as qemu-server wants it; the comment and blank lines left out
        assert unquote(config["sshkeys"]) == f"{KEY} teacher@lab\n{KEY}2 admin@lab"
        assert "%20" in config["sshkeys"] and " " not in config["sshkeys"]
        assert config["name"] == name     # cloud-init's host name comes from here
    # the rollout's snapshot has them: a reset (rollback) keeps them
    code, data, result = run(path, "virtroom-reset", "ci")
    assert code == 0, result.stdout + result.stderr
    code, data, result = run(path, "virtroom-start", "ci")
    assert code == 0, result.stdout + result.stderr
    assert config_at_start(pve_api, "ci-pc01")["ipconfig0"] == "ip=192.0.2.11/24,gw=192.0.2.1"
    assert config_at_start(pve_api, "ci-pc01")["ciuser"] == "student"


def test_without_ip_addresses_ipconfig0_stays_as_the_template_has_it(pve_api, tmp_path):
    template = next(v for v in pve_api.vms.values() if v.name == "tmpl-linux")
    template.config["ipconfig0"] = "ip=dhcp"
    path = room(pve_api, tmp_path, "ciuser = student")
    code, data, result = run(path, "virtroom-rollout", "ci")
    assert code == 0, result.stdout + result.stderr
    code, data, result = run(path, "virtroom-start", "ci")
    assert code == 0, result.stdout + result.stderr
    config = config_at_start(pve_api, "ci-pc01")
    assert config["ipconfig0"] == "ip=dhcp"
    assert config["ciuser"] == "student"
    assert "nameserver" not in config and "sshkeys" not in config


def test_keys_without_a_cloud_init_drive_are_refused_before_any_clone(pve_api, tmp_path):
    path = room(pve_api, tmp_path, 'nameserver = 192.0.2.53\n    ciuser = student',
                template="tmpl-win10")
    code, data, result = run(path, "virtroom-rollout", "ci")
    assert code == exit_codes.VM_FAILED
    assert reasons(data) == {
        "room ci not rolled out, nothing created: proxmox: ci-pc01: nameserver, ciuser: "
        "template 'tmpl-win10' has no Proxmox VE cloud-init drive to carry them; add one "
        "(qm set 9000 --ide2 local-lvm:cloudinit on pve1) or remove them"}
    assert not [v for v in list(pve_api.vms.values()) if v.name.startswith("ci-")]


def test_keys_with_a_first_boot_payload_are_refused(pve_api, tmp_path):
    user_data = tmp_path / "user-data.j2"
    user_data.write_text("#cloud-config\n")
    path = room(pve_api, tmp_path, f'cloud_init_user_data = "{user_data}"\n    ciuser = student',
                template="tmpl-win10")
    code, data, result = run(path, "virtroom-rollout", "ci")
    assert code == exit_codes.VM_FAILED
    assert reasons(data) == {
        "room ci not rolled out, nothing created: proxmox: ci-pc01: ciuser: Proxmox VE's "
        "cloud-init keys do not reach a VM that boots with vdictl's own first-boot CD "
        "(cloud_init_user_data); write it into that payload instead, or remove it"}
    assert not [v for v in list(pve_api.vms.values()) if v.name.startswith("ci-")]


@pytest.mark.parametrize("keys, reason", [
    ('ip_addresses = "192.0.2.${suffix}"\n    ip_addresses_suffix = 11',
     "ip_addresses without netmask_suffix: template 'tmpl-linux' has a Proxmox VE "
     "cloud-init drive, and its ipconfig0 needs the address with its prefix length "
     "(ip=ADDRESS/PREFIX); set netmask_suffix, e.g. 24"),
    ('ssh_keys_file = "{keys}"',
     "ssh_keys_file {keys} line 2: not an SSH public key; write one per line as in "
     "authorized_keys (TYPE BASE64 [COMMENT], e.g. ssh-ed25519 AAAA... teacher@lab)"),
    ('ssh_keys_file = "{keys}.missing"',
     "ssh_keys_file {keys}.missing: cannot read it (No such file or directory)"),
])
def test_what_would_not_reach_the_guest_is_refused(pve_api, tmp_path, keys, reason):
    keys_path = keys_file(tmp_path, f"{KEY} a@b\nteacher@lab\n")
    path = room(pve_api, tmp_path, keys.replace("{keys}", str(keys_path)))
    code, data, result = run(path, "virtroom-rollout", "ci")
    assert code == exit_codes.VM_FAILED
    assert reasons(data) == {"room ci not rolled out, nothing created: proxmox: ci-pc01: "
                             + reason.replace("{keys}", str(keys_path))}
    assert not [v for v in list(pve_api.vms.values()) if v.name.startswith("ci-")]


def test_the_keys_are_refused_for_another_driver(tmp_path):
    text = HEAD.format(driver="libvirt", where='uri = "test:///default"') + ROOM.format(
        template="tmpl", keys="ciuser = student")
    path = write_config(tmp_path, text)
    result = vdictl(path, "virtroom-show", "ci")
    assert result.exit_code == exit_codes.USAGE
    assert result.stderr == (f"Error: {path} [room ci] ciuser: ciuser is for the proxmox "
                             "driver; these VMs use libvirt: remove it\n")


def test_a_nameserver_that_is_no_address_is_a_config_error(pve_api, tmp_path):
    path = room(pve_api, tmp_path, 'nameserver = "192.0.2.53 dns.example.org"')
    result = vdictl(path, "virtroom-show", "ci")
    assert result.exit_code == exit_codes.USAGE
    assert result.stderr == (
        f"Error: {path} [room ci/pcs] nameserver: 'dns.example.org' is not an IP address; "
        "write the DNS servers' addresses separated by spaces, e.g. nameserver = "
        "\"192.0.2.53 192.0.2.54\"\n")
