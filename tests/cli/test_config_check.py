"""`vdictl config check`: the resolved rooms, offline."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner

from vdictl.cli import cli

from tests.vdictl_cli import vdictl, write_config

DATA = Path(__file__).resolve().parents[1] / "data"
AMOOTHEI = DATA / "amoothei-vm-rollout.conf"


def check(*args):
    return CliRunner().invoke(cli, [*args], catch_exceptions=False)


def test_table_shows_every_vm_with_ip_and_rendered_snapshot_description():
    before = datetime.now().strftime("%Y-%m-%d-%H%M")
    result = check("--config", str(AMOOTHEI), "config", "check")
    after = datetime.now().strftime("%Y-%m-%d-%H%M")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == (f"{AMOOTHEI}: OK; driver ovirt at https://rhevm.example.org/api; "
                        "2 room(s), 8 VM(s)")
    assert lines[1].split() == ["ROOM", "SUBSECTION", "VM", "IP", "TEMPLATE", "MEMORY",
                                "RESET", "SNAPSHOT", "DESCRIPTION"]
    rows = [line.split(None, 7) for line in lines[2:10]]
    assert [row[2] for row in rows] == [f"room01-vd0{i}" for i in range(1, 6)] + [
        f"room02-vd0{i}" for i in range(1, 4)]
    scripttime = rows[0][7].rsplit("scripttime=", 1)[1]
    assert before <= scripttime <= after
    assert rows[1] == ["room01", "student_vms", "room01-vd02", "192.0.2.102",
                       "win10-goldimage-03", "4GiB", "snapshot",
                       "Automatic snapshot after amoothei-vmrollout, IP=192.0.2.102/24, "
                       f"scripttime={scripttime}"]
    assert rows[7] == ["room02", "vms", "room02-vd03", "192.0.2.203", "win10-goldimage-03",
                       "2GiB", "stateless"]
    assert lines[10] == (f"note: ${{scripttime}} is rendered as {scripttime}, the time of "
                         "this check; a rollout renders the time it starts")
    assert len(lines) == 11
    # logs/ does not exist next to the example: said, and nothing is created.
    # nothing next to the example exists: said, and nothing is created
    assert result.stderr == (
        f"warning: {AMOOTHEI} [general/connect] password_file: password file "
        f"{DATA / 'secrets' / 'engine.pw'} does not exist or is not a file\n"
        f"warning: {AMOOTHEI} [logging] log_file: directory "
        f"{DATA / 'logs'} does not exist\n")
    assert not (DATA / "logs").exists()



def test_quiet_check_prints_the_rooms_and_no_warning():
    loud = check("--config", str(AMOOTHEI), "config", "check")
    quiet = check("-q", "--config", str(AMOOTHEI), "config", "check")
    assert (quiet.exit_code, quiet.stderr) == (0, "")
    # the same table (but for ${scripttime}, should a minute pass in between)
    assert [line.split()[:3] for line in quiet.stdout.splitlines()] == [
        line.split()[:3] for line in loud.stdout.splitlines()]
    assert loud.stderr.count("warning: ") == 2

def test_json_lists_rooms_and_vms(config_file):
    result = check("--config", config_file, "config", "check", "-o", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["config"], data["driver"], data["endpoint"], data["warnings"]) == (
        config_file, "libvirt", "test:///default", [])
    assert [(r["name"], r["resettable"], r["stateless"]) for r in data["rooms"]] == [
        ("lab1", True, False), ("kiosk", False, True)]
    teacher = data["rooms"][0]["vms"][-1]
    assert teacher == {
        "subsection": "teacher", "vm": "lab1-teacher01", "id": 1, "ip": "192.0.2.10",
        "endpoint": "test:///default", "connect": None,
        "template": "tmpl", "memory": None, "stateless": False, "resettable": True,
        "snapshot_description": f"vdictl rollout IP=192.0.2.10/24 at {data['scripttime']}",
        "reset_to_snapshot_regex": "vdictl rollout .*", "maintenance": False,
        "adopt_unmarked": False}
    assert data["rooms"][1]["vms"][0]["snapshot_description"] == ""


def test_no_note_when_no_description_uses_scripttime_and_maintenance_shown(tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text('[general]\n[[connect]]\nuri = "qemu:///system"\n'
                    '[room r]\n[[s]]\nids = 1-2\nnames = "r-${id}"\ntemplate_name = t\n'
                    'snapshot_description = "clean"\nreset_to_snapshot_regex = clean\n'
                    '[[m]]\nids = 3\nnames = "r-${id}"\ntemplate_name = t\nmaintenance = True\n')
    result = check("--config", str(conf), "config", "check")
    assert result.exit_code == 0
    assert [line.split() for line in result.stdout.splitlines()[-2:]] == [
        ["r", "s", "r-02", "t", "(template's)", "snapshot", "clean"],
        ["r", "m", "r-03", "t", "(template's)", "no", "(maintenance)"]]


def test_config_error_is_one_line_naming_file_section_and_key(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text('[general]\n[[connect]]\nuri = "qemu:///system"\n'
                    '[room r]\n[[s]]\nids = 1\nnames = "r-${id}"\ntemplate_name = t\n'
                    'memory = lots\n')
    result = check("--config", str(conf), "config", "check")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {conf} [room r/s] memory: ")
    assert result.stderr.count("\n") == 1


# Runs `vdictl config check` in a fresh interpreter; prints the modules it loaded.
PROBE = """
import sys
sys.argv = ["vdictl", "--config", sys.argv[1], "config", "check"]
from vdictl.cli import cli

from tests.vdictl_cli import vdictl, write_config
try:
    cli()
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print(sorted(m for m in sys.modules
             if m.split(".")[0] in ("libvirt", "ovirtsdk4", "pycurl")
             or m.startswith(("vdictl.drivers", "vdictl.ops.session"))))
"""


def test_check_imports_no_driver_and_opens_no_session(config_file):
    for path in (config_file, str(AMOOTHEI)):
        result = subprocess.run([sys.executable, "-c", PROBE, path], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == "[]"


# -- console_probe: the QEMU monitor probe of libvirt and Proxmox VE -------------------

ROOM = '[room r]\n[[s]]\nids = 1\nnames = "r-${id}"\ntemplate_name = t\n'
ENGINE_URL = "https://engine.example.org/ovirt-engine/api"


def test_console_probe_false_loads_on_libvirt_and_defaults_to_true(tmp_path):
    from vdictl.config.load import load_config

    off = tmp_path / "off.conf"
    off.write_text('[general]\n[[connect]]\nuri = "test:///default"\nconsole_probe = False\n'
                   '[connect other]\nuri = "test:///default"\n' + ROOM)
    result = check("--config", str(off), "config", "check")
    assert result.exit_code == 0
    assert result.stderr == ""
    config = load_config(str(off))
    assert (config.connect.console_probe, config.profiles["other"].console_probe) == \
        (False, True)


def test_console_probe_on_ovirt_is_refused_in_general_and_in_a_profile(tmp_path):
    general = tmp_path / "general.conf"
    general.write_text(f"[general]\n[[connect]]\nurl = {ENGINE_URL}\nconsole_probe = False\n"
                       + ROOM)
    profile = tmp_path / "profile.conf"
    profile.write_text('[general]\n[[connect]]\nuri = "test:///default"\n'
                       f"[connect eng]\nurl = {ENGINE_URL}\nconsole_probe = True\n" + ROOM)
    for conf, section in ((general, "[general/connect]"), (profile, "[connect eng]")):
        result = check("--config", str(conf), "config", "check")
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr == (
            f"Error: {conf} {section} console_probe: console_probe (the QEMU monitor "
            "probe of libvirt and Proxmox VE) means nothing to the ovirt driver, whose "
            "engine reports console "
            "sessions itself; remove it\n")


def test_a_console_probe_that_is_no_boolean_is_one_config_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text('[general]\n[[connect]]\nuri = "test:///default"\n'
                    "console_probe = sometimes\n" + ROOM)
    result = check("--config", str(conf), "config", "check")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {conf} [general/connect] console_probe: 'sometimes' is "
                             "not a boolean; use one of True/False, yes/no, on/off, 1/0, "
                             "enabled/disabled\n")


PROXMOX_ROOMS = """\
[general]
    [[connect]]
    driver = proxmox
    url = "https://pve1.example.org:8006"
    token_id = "vdictl@pve!rollout"
    token_secret_env = "VDICTL_TEST_TOKEN"
[connect lv]
    driver = libvirt
    uri = "qemu:///system"
[room lab]
    template_name = tmpl-win10
    [[front]]
    ids = 1
    names = "lab-pc${id}"
    node = pve2
    pool = lab
    storage = shared-nfs
    vmid_range = 5000-5999
    [[back]]
    ids = 2
    names = "lab-pc${id}"
[room kvm]
    connect = lv
    template_name = golden
    [[pcs]]
    ids = 1
    names = "kvm-pc${id}"
"""


def test_proxmox_rooms_show_the_node_pool_storage_and_vmids_of_each_vm(tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("VDICTL_TEST_TOKEN", "secret")
    path = tmp_path / "vdi.conf"
    path.write_text(PROXMOX_ROOMS)
    result = check("--config", str(path), "config", "check")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["ROOM", "SUBSECTION", "ENDPOINT", "VM", "IP", "TEMPLATE",
                                "NODE", "POOL", "STORAGE", "VMIDS", "MEMORY", "RESET",
                                "SNAPSHOT", "DESCRIPTION"]
    assert [line.split() for line in lines[2:5]] == [
        ["lab", "front", "https://pve1.example.org:8006", "lab-pc01", "tmpl-win10", "pve2",
         "lab", "shared-nfs", "5000-5999", "(template's)", "no"],
        ["lab", "back", "https://pve1.example.org:8006", "lab-pc02", "tmpl-win10",
         "(template's)", "-", "(template's)", "(any)", "(template's)", "no"],
        ["kvm", "pcs", "qemu:///system", "kvm-pc01", "golden", "(template's)", "no"]]
    data = json.loads(check("--config", str(path), "config", "check", "-o", "json").stdout)
    vms = {vm["vm"]: vm for room in data["rooms"] for vm in room["vms"]}
    assert {k: vms["lab-pc01"][k] for k in ("node", "pool", "storage", "vmid_range")} == \
        {"node": "pve2", "pool": "lab", "storage": "shared-nfs", "vmid_range": [5000, 5999]}
    assert {k: vms["lab-pc02"][k] for k in ("node", "pool", "storage", "vmid_range")} == \
        {"node": None, "pool": None, "storage": None, "vmid_range": None}
    assert not {"node", "pool", "storage", "vmid_range"} & set(vms["kvm-pc01"])


def test_a_wrong_vmid_range_is_one_line_naming_what_to_write(tmp_path, monkeypatch):
    monkeypatch.setenv("VDICTL_TEST_TOKEN", "secret")
    path = tmp_path / "vdi.conf"
    path.write_text(PROXMOX_ROOMS.replace("5000-5999", "5999-5000"))
    result = check("--config", str(path), "config", "check")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {path} [room lab/front] vmid_range: '5999-5000' is not a range of VMIDs "
        "from 100 to 999999999 with the lower first; write e.g. 5000-5999\n")
    path.write_text(PROXMOX_ROOMS.replace("5000-5999", "lots"))
    assert check("--config", str(path), "config", "check").stderr == (
        f"Error: {path} [room lab/front] vmid_range: 'lots' is not a range of VMIDs; write "
        "the lowest and the highest with a dash, e.g. 5000-5999\n")


def test_min_free_storage_without_a_unit_is_one_line_not_a_guard_of_ten_bytes(tmp_path):
    """`min_free_storage = 10` meant as 10% was read as 10 bytes: the guard off."""
    conf = write_config(tmp_path, '[general]\n[[connect]]\nuri = "qemu:///system"\n'
                        '[[throttle]]\nmin_free_storage = 10\n'
                        '[room r]\n[[s]]\nids = 1\nnames = "r-${id}"\ntemplate_name = t\n')
    result = vdictl(conf, "config", "check")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {conf} [general/throttle] min_free_storage: '10' has no unit; write 10% "
        "for a percentage of the storage or 10GiB for a size (0 turns the guard off)\n")
