"""The virtroom-* commands end to end, on libvirt's test:///default hypervisor."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.vdictl_cli import vdictl, write_config

LAB1 = ["lab1-teacher01", "lab1-vd01", "lab1-vd02", "lab1-vd03", "lab1-vd04"]


def outcomes(result):
    data = json.loads(result.stdout)
    return {r["vm"]: (r["outcome"], r["steps"], r["reason"]) for r in data["results"]}


def test_rooms_lists_names_and_filters(run):
    assert run("rooms").stdout == "lab1\nkiosk\n"
    assert run("rooms", "--resettable").stdout == "lab1\n"
    assert run("rooms", "--stateless").stdout == "kiosk\n"
    assert json.loads(run("rooms", "-o", "json").stdout) == ["lab1", "kiosk"]


def test_unknown_room_is_one_line_with_known_rooms(run, config_file):
    result = run("virtroom-reset", "nosuchroom")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: unknown room 'nosuchroom' in {config_file}; "
                             "known rooms: lab1, kiosk\n")


def test_no_room_and_all_together_are_usage_errors(run):
    assert run("virtroom-reset").exit_code == 2
    result = run("virtroom-reset", "--all", "lab1")
    assert result.exit_code == 2
    assert "not both" in result.stderr


def test_unreachable_backend_exits_3_naming_uri(tmp_path):
    conf = write_config(tmp_path, '[general]\n[[connect]]\ndriver = libvirt\n'
                        'uri = "test:///nonexistent/hypervisor.xml"\n'
                        '[room r]\n[[s]]\nids = 1\nnames = "r-${id}"\ntemplate_name = t\n',
                        name="c.conf")
    result = vdictl(conf, "virtroom-start", "r")
    assert result.exit_code == 3
    assert "test:///nonexistent/hypervisor.xml" in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_rollout_creates_snapshots_once_and_is_idempotent(run, hypervisor):
    result = run("virtroom-rollout", "lab1", "-o", "json")
    assert result.exit_code == 0, result.output
    assert {vm: o[0] for vm, o in outcomes(result).items()} == {vm: "ok" for vm in LAB1}
    assert outcomes(result)["lab1-vd01"][1] == ["create from tmpl", "take snapshot"]
    assert hypervisor.domains() == sorted(LAB1 + ["test", "tmpl"])
    descriptions = hypervisor.snapshot_descriptions("lab1-vd02")
    assert len(descriptions) == 1
    assert re.fullmatch(r"vdictl rollout IP=192\.0\.2\.12/24 at \d{4}-\d\d-\d\d-\d{4}",
                        descriptions[0])
    assert hypervisor.snapshot_descriptions("lab1-teacher01")[0].startswith(
        "vdictl rollout IP=192.0.2.10/24 at ")

    again = run("virtroom-rollout", "lab1", "-o", "json")
    assert again.exit_code == 0
    assert outcomes(again)["lab1-vd01"] == ("ok", ["already exists", "snapshot already taken"],
                                            "")
    assert [len(hypervisor.snapshot_descriptions(vm)) for vm in LAB1] == [1] * 5


def test_rollout_refuses_a_foreign_vm_with_a_computed_name(run, hypervisor):
    hypervisor.conn.defineXML("<domain type='test'><name>lab1-vd03</name>"
                              "<memory unit='KiB'>1024</memory>"
                              "<os><type>hvm</type></os></domain>")
    before = hypervisor.dom("lab1-vd03").XMLDesc()
    result = run("virtroom-rollout", "lab1", "-o", "json")
    assert result.exit_code == 1
    outcome, steps, reason = outcomes(result)["lab1-vd03"]
    assert outcome == "failed"
    assert "not created by vdictl" in reason
    assert outcomes(result)["lab1-vd04"][0] == "ok"
    assert hypervisor.dom("lab1-vd03").XMLDesc() == before
    assert hypervisor.dom("lab1-vd03").listAllSnapshots() == []
    # and delete leaves it alone too
    deleted = run("virtroom-delete", "--yes", "lab1", "-o", "json")
    assert outcomes(deleted)["lab1-vd03"][0] == "failed"
    assert hypervisor.domains() == ["lab1-vd03", "test", "tmpl"]


def test_reset_follows_reset_startvm(run, hypervisor):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    hypervisor.dom("lab1-vd02").create()
    result = run("virtroom-reset", "lab1", "-o", "json")
    assert result.exit_code == 0, result.output
    by_vm = outcomes(result)
    assert by_vm["lab1-vd02"][1][0] == "power off"
    assert by_vm["lab1-vd02"][1][-1] == "start"
    assert by_vm["lab1-vd01"][1] == [by_vm["lab1-vd01"][1][0]]  # only the restore
    assert by_vm["lab1-vd01"][1][0].startswith("restore snapshot 'vdictl rollout IP=192.0.2.11")
    # Auto: only vd02 ran before; Always: the teacher VM starts regardless
    assert hypervisor.running() == ["lab1-teacher01", "lab1-vd02"]


def test_reset_with_two_matching_snapshots_fails_that_vm_only(run, hypervisor):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    hypervisor.dom("lab1-vd01").snapshotCreateXML(
        "<domainsnapshot><description>vdictl rollout by hand</description></domainsnapshot>", 0)
    result = run("virtroom-reset", "lab1", "-o", "json")
    assert result.exit_code == 1
    by_vm = outcomes(result)
    assert by_vm["lab1-vd01"][0] == "failed"
    assert "2 snapshots match" in by_vm["lab1-vd01"][2]
    assert [by_vm[vm][0] for vm in LAB1 if vm != "lab1-vd01"] == ["ok"] * 4
    assert json.loads(result.stdout)["status"] == "partial"


STATELESS = ("Error: room 'kiosk' has no VM to reset: it is stateless (its VMs discard "
             "their changes at every power-off)\n")


@pytest.mark.parametrize("args", [("kiosk",), ("lab1", "kiosk"), ("kiosk", "--dry-run")])
def test_reset_naming_a_stateless_room_is_an_error(run, hypervisor, args):
    assert run("virtroom-rollout", "lab1", "kiosk").exit_code == 0
    hypervisor.dom("lab1-vd01").create()
    result = run("virtroom-reset", *args, "-o", "json")
    assert (result.exit_code, result.stderr) == (2, STATELESS)
    assert json.loads(result.stdout)["error"] == {
        "message": STATELESS[len("Error: "):-1], "exit_status": 2, "exit_name": "USAGE"}
    assert hypervisor.running() == ["lab1-vd01"]  # nothing was touched, lab1 neither


def test_reset_of_vms_given_that_cannot_be_reset_is_an_error(run, hypervisor):
    result = run("virtroom-reset", "--vm", "kiosk-01")
    assert (result.exit_code, result.stderr) == (
        2, "Error: room 'kiosk' has no VM to reset: of the VMs given, 1 stateless\n")


def test_reset_all_skips_a_stateless_room_with_a_note(run, hypervisor):
    assert run("virtroom-rollout", "lab1", "kiosk").exit_code == 0
    result = run("virtroom-reset", "--all", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["notes"] == [
        "room 'kiosk' skipped, no VM to reset: it is stateless (its VMs discard their "
        "changes at every power-off)"]
    by_vm = outcomes(result)
    assert {vm: by_vm[vm][0] for vm in ("kiosk-01", "kiosk-02")} == {
        "kiosk-01": "skipped", "kiosk-02": "skipped"}
    assert {by_vm[vm][0] for vm in LAB1} == {"ok"}
    result = run("virtroom-reset", "--all", "-o", "table")
    assert result.stdout.splitlines()[0] == (
        "note: room 'kiosk' skipped, no VM to reset: it is stateless (its VMs discard their "
        "changes at every power-off)")


NO_SNAPSHOT = """
[room plain]
    [[pcs]]
    ids = "1-2"
    names = "plain-${id}"
    template_name = tmpl
[room mixed]
    [[kiosks]]
    ids = "1"
    names = "mixed-kiosk${id}"
    template_name = tmpl
    stateless = True
    [[pcs]]
    ids = "1-2"
    names = "mixed-pc${id}"
    template_name = tmpl
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "vdictl rollout"
    maintenance = True
"""


def test_reset_naming_a_room_without_snapshots_says_which_keys(run, config_file, hypervisor):
    with open(config_file, "a") as fh:
        fh.write(NO_SNAPSHOT)
    result = run("virtroom-reset", "plain")
    assert (result.exit_code, result.stderr) == (2, (
        "Error: room 'plain' has no VM to reset: no snapshot is configured (set "
        "snapshot_description and reset_to_snapshot_regex in [room plain])\n"))
    result = run("virtroom-reset", "mixed", "plain")
    assert (result.exit_code, result.stderr) == (2, (
        "Error: room 'mixed' has no VM to reset: 1 stateless, 2 under maintenance = True "
        "(--include-maintenance resets them); "
        "room 'plain' has no VM to reset: no snapshot is configured (set "
        "snapshot_description and reset_to_snapshot_regex in [room plain])\n"))
    # --include-maintenance: mixed's two pcs are resettable after all
    assert run("virtroom-rollout", "mixed").exit_code == 0
    result = run("virtroom-reset", "--include-maintenance", "mixed", "-o", "json")
    assert result.exit_code == 0, result.output
    assert {vm: o[0] for vm, o in outcomes(result).items()} == {
        "mixed-kiosk01": "skipped", "mixed-pc01": "ok", "mixed-pc02": "ok"}


def test_dry_run_changes_nothing(run, hypervisor):
    result = run("virtroom-rollout", "lab1", "--dry-run", "-o", "json")
    assert result.exit_code == 0
    assert outcomes(result)["lab1-vd01"] == ("planned", ["would create from tmpl",
                                                        "would take snapshot"], "")
    assert hypervisor.domains() == ["test", "tmpl"]


def test_start_shutdown_and_table_summary(run, hypervisor):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    started = run("virtroom-start", "lab1", "-o", "table")  # off a terminal, only when asked
    assert started.exit_code == 0
    assert hypervisor.running() == LAB1
    assert started.stdout.splitlines()[-1] == "start: 5 VM(s): 5 ok"
    assert started.stdout.splitlines()[0].split() == ["ROOM", "VM", "ACTION", "RESULT", "DETAILS"]
    stopped = run("virtroom-shutdown", "--all", "-o", "json")
    assert stopped.exit_code == 1  # the kiosk room was never rolled out
    assert {vm: o[0] for vm, o in outcomes(stopped).items() if vm in LAB1} == {
        vm: "ok" for vm in LAB1}
    assert hypervisor.running() == []
    assert outcomes(stopped)["kiosk-01"][0] == "failed"  # never rolled out
    assert "does not exist" in outcomes(stopped)["kiosk-01"][2]


def test_delete_removes_owned_vms_and_their_volumes_only(run, hypervisor):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    assert len(hypervisor.volumes()) == 6
    refused = run("virtroom-delete", "lab1")  # CliRunner's stdin is not a terminal
    assert refused.exit_code == 2
    assert hypervisor.domains() == sorted(LAB1 + ["test", "tmpl"])
    result = run("virtroom-delete", "--yes", "lab1")
    assert result.exit_code == 0, result.output
    assert hypervisor.domains() == ["test", "tmpl"]
    assert hypervisor.volumes() == ["tmpl.qcow2"]


def test_show_reports_state_ownership_and_snapshot(run, hypervisor):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    data = json.loads(run("virtroom-show", "lab1", "-o", "json").stdout)
    row = data["vms"][0]
    assert (row["vm"], row["subsection"], row["ip"], row["state"], row["owned"]) == (
        "lab1-vd01", "students", "192.0.2.11", "stopped", True)
    assert re.fullmatch(r"52:54:00(:[0-9a-f]{2}){3}", row["mac"])
    assert row["reset_snapshot"].startswith("vdictl rollout IP=192.0.2.11/24 at ")
    assert data["unused_keys"] == {"lab1": []}
    kiosk = json.loads(run("virtroom-show", "kiosk", "-o", "json").stdout)["vms"]
    assert [(r["vm"], r["state"], r["owned"]) for r in kiosk] == [
        ("kiosk-01", "absent", None), ("kiosk-02", "absent", None)]


def test_show_has_each_vms_template_and_memory(run, hypervisor, config_file):
    text = Path(config_file).read_text()
    Path(config_file).write_text(text.replace(
        "    reset_startvm = Always\n", "    reset_startvm = Always\n    memory = 512MiB\n", 1))
    data = json.loads(run("virtroom-show", "lab1", "-o", "json").stdout)
    assert [(r["vm"], r["template"], r["memory"]) for r in data["vms"]] == [
        (f"lab1-vd0{i}", "tmpl", None) for i in range(1, 5)] + [
        ("lab1-teacher01", "tmpl", 512 * 2 ** 20)]
    assert set(data["vms"][0]) == {
        "room", "subsection", "vm", "ip", "mac", "state", "owned", "reset_snapshot", "note",
        "phase", "template", "memory", "endpoint", "location", "in_use",
        "last_used"}
    # libvirt's endpoint says where a domain is: no location, and no NODE/VMID column
    assert {r["location"] for r in data["vms"]} == {None}
    lines = run("virtroom-show", "lab1").stdout.splitlines()
    assert lines[0].split()[:9] == ["ROOM", "SUBSECTION", "VM", "IP", "MAC", "TEMPLATE",
                                    "MEMORY", "STATE", "OWNED"]
    assert lines[1].split()[:6] == ["lab1", "students", "lab1-vd01", "192.0.2.11", "tmpl",
                                    "(template's)"]
    assert lines[5].split()[:6] == ["lab1", "teacher", "lab1-teacher01", "192.0.2.10", "tmpl",
                                    "512MiB"]


def test_log_file_records_every_state_change(run, hypervisor, tmp_path, config_file):
    log = tmp_path / "audit.log"
    with open(config_file, "a") as f:
        f.write(f'[logging]\nlog_file = "{log}"\n')
    assert run("virtroom-rollout", "lab1").exit_code == 0
    lines = log.read_text().splitlines()
    audit = [line for line in lines if "vdictl.audit" in line and " vm=" in line]
    assert len(audit) == 5
    runs = [line for line in lines if "vdictl.audit" in line and " vm=" not in line]
    assert "rollout of room(s) lab1 started (pid " in runs[0]
    assert runs[1].endswith("rollout: 5 VM(s): 5 ok")
    assert any("room=lab1 vm=lab1-vd03 action=rollout outcome=ok "
               "detail=create from tmpl, take snapshot" in line for line in audit)
