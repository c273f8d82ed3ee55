"""vdictl preflight on libvirt's test:///default hypervisor: what the night
would meet, each problem named with its exit status; the run record beside
the reset's in status and the metrics file; what a libvirt URI has for a
TLS certificate."""

from __future__ import annotations

import json
import re

import pytest

from vdictl.cli import exit_codes

from tests.vdictl_cli import vdictl, write_config

LAB1 = ["lab1-teacher01", "lab1-vd01", "lab1-vd02", "lab1-vd03", "lab1-vd04"]


@pytest.fixture
def rolled_out(run, hypervisor):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    return hypervisor


def preflight(run, *args):
    result = run("preflight", "lab1", "-o", "json", *args)
    data = json.loads(result.stdout)
    assert data["exit_status"] == result.exit_code and "Traceback" not in result.output
    return result.exit_code, data


def test_all_well_exits_0_silently_and_notes_that_a_local_uri_has_no_certificate(run,
                                                                                 rolled_out):
    result = run("preflight", "lab1")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    code, data = preflight(run)
    assert (code, data["problems"], data["purpose"]) == (0, [], "reset")
    assert data["notes"] == ["test:///default: a local hypervisor: no TLS certificate"]
    table = run("preflight", "lab1", "-o", "table")   # asked for: the notes and the total
    assert table.stdout.splitlines() == [
        "note: test:///default: a local hypervisor: no TLS certificate",
        "preflight (reset): 5 VM(s) in 1 room(s): all well"]


def test_a_deleted_snapshot_and_two_matching_ones_are_named(run, rolled_out):
    rolled_out.dom("lab1-vd02").listAllSnapshots()[0].delete()
    rolled_out.dom("lab1-vd03").snapshotCreateXML(
        "<domainsnapshot><name>second</name><description>vdictl rollout by hand"
        "</description></domainsnapshot>")
    code, data = preflight(run)
    assert code == exit_codes.VM_FAILED
    found = {p["vm"]: p for p in data["problems"]}
    assert sorted(found) == ["lab1-vd02", "lab1-vd03"]
    assert found["lab1-vd02"]["what"] == ("no snapshot matches reset_to_snapshot_regex "
                                          "'vdictl rollout .*' (0 snapshot(s)): deleted?")
    assert found["lab1-vd03"]["what"].startswith(
        "2 snapshots match reset_to_snapshot_regex 'vdictl rollout .*': ")
    assert {p["severity"] for p in data["problems"]} == {"error"}


def test_a_vm_that_does_not_exist_is_a_problem_for_a_reset_not_for_a_rollout(run, hypervisor,
                                                                             config_file):
    assert run("virtroom-rollout", "lab1", "--vm", "lab1-vd01").exit_code == 0
    code, data = preflight(run)
    assert code == exit_codes.VM_FAILED
    assert [(p["vm"], p["what"], p["what_to_do"]) for p in data["problems"]][:1] == [
        ("lab1-teacher01", "does not exist",
         f"vdictl -c {config_file} virtroom-rollout lab1 --vm lab1-teacher01")]
    assert len(data["problems"]) == 4
    assert preflight(run, "--for", "rollout") == (0, {
        "purpose": "rollout", "rooms": ["lab1"], "problems": [],
        "notes": ["test:///default: a local hypervisor: no TLS certificate"], "exit_status": 0})


def test_a_missing_template_is_named_for_the_room(tmp_path, run, rolled_out, config_file):
    text = open(config_file).read().replace("template_name = tmpl\n",
                                            "template_name = tmpl-gone\n")
    conf = write_config(tmp_path, text, name="gone.conf")
    result = vdictl(conf, "preflight", "lab1", "--for", "rebuild", "-o", "table")
    assert result.exit_code == exit_codes.VM_FAILED
    header, row, total = result.stdout.splitlines()[1:]
    assert row.split(None, 3)[:3] == ["test:///default", "lab1", "error"]
    assert "template domain 'tmpl-gone' not found" in row
    assert total == "preflight (rebuild): 5 VM(s) in 1 room(s): 1 problem(s)"


def test_an_endpoint_that_cannot_be_reached_exits_3(tmp_path):
    conf = write_config(tmp_path, '[general]\n[[connect]]\ndriver = libvirt\n'
                        'uri = "test:///nonexistent/hypervisor.xml"\nendpoint_timeout = 2\n'
                        '[room r]\n[[s]]\nids = 1\nnames = "r-${id}"\ntemplate_name = t\n'
                        'snapshot_description = s\nreset_to_snapshot_regex = s\n', name="c.conf")
    result = vdictl(conf, "preflight", "r")
    assert result.exit_code == exit_codes.UNREACHABLE
    lines = result.stdout.splitlines()
    assert lines[1].split(None, 3)[:3] == ["test:///nonexistent/hypervisor.xml", "unreachable",
                                           "libvirt:"]
    assert lines[-1] == "preflight (reset): 1 VM(s) in 1 room(s): 1 problem(s)"


def test_the_last_preflight_shows_beside_the_last_reset_in_status_and_metrics(
        tmp_path, run, rolled_out, config_file):
    metrics = tmp_path / "vdictl.prom"
    conf = write_config(tmp_path, open(config_file).read()
                        + f'[logging]\nmetrics_file = "{metrics}"\n', name="m.conf")
    assert vdictl(conf, "virtroom-reset", "lab1").exit_code == 0
    rolled_out.dom("lab1-vd02").listAllSnapshots()[0].delete()
    assert vdictl(conf, "preflight", "lab1").exit_code == exit_codes.VM_FAILED
    status = json.loads(vdictl(conf, "status", "lab1", "-o", "json").stdout)
    runs = [(r["command"], r["result"], r["counts"]["ok"], r["counts"]["failed"])
            for r in status["rooms"][0]["runs"]]
    assert runs[:2] == [("reset", "ok", 5, 0), ("preflight", "failed", 4, 1)]
    assert [vm["vm"] for vm in status["rooms"][0]["runs"][1]["failed_vms"]] == ["lab1-vd02"]
    text = metrics.read_text()
    assert 'vdictl_last_run_failed{command="preflight",room="lab1"} 1.0' in text
    assert 'vdictl_last_run_failed{command="reset",room="lab1"} 0.0' in text


@pytest.mark.parametrize("uri, expected", [
    ("qemu+ssh://root@host1/system", "reached over ssh: its host key is checked by ssh, "
                                     "there is no TLS certificate to read"),
    ("qemu+tcp://host1/system", "qemu+tcp: no TLS (use qemu+tls:// or qemu+ssh:// across a "
                                "network)"),
    ("qemu:///system", "a local hypervisor: no TLS certificate"),
    ("qemu+tls://host1/system", ("host1", 16514, "/etc/pki/CA/cacert.pem", False)),
    ("qemu://host2:16600/system?pkipath=/etc/vdi/pki", ("host2", 16600,
                                                        "/etc/vdi/pki/cacert.pem", False)),
    ("qemu+tls://host3/system?no_verify=1", ("host3", 16514, "/etc/pki/CA/cacert.pem", True)),
])
def test_what_a_libvirt_uri_has_for_a_tls_certificate(uri, expected):
    from vdictl.drivers.libvirt.remote import tls_endpoint

    found = tls_endpoint(uri)
    if isinstance(expected, str):
        assert found == expected
    else:
        assert (found.host, found.port, found.ca_file, found.insecure) == expected


def test_the_status_page_has_a_fact_line_of_the_last_preflight(tmp_path, run, rolled_out):
    page = tmp_path / "index.html"
    assert run("report", "--html", str(page)).exit_code == 0
    assert "Last preflight" not in page.read_text()
    assert run("preflight", "lab1").exit_code == 0
    assert run("report", "--html", str(page)).exit_code == 0
    assert re.search(r"Last preflight \d{4}-\d\d-\d\d \d\d:\d\d:\d\d: all well\.",
                     page.read_text())
    rolled_out.dom("lab1-vd02").listAllSnapshots()[0].delete()
    assert run("preflight", "lab1").exit_code == exit_codes.VM_FAILED
    assert run("report", "--html", str(page)).exit_code == 0
    assert re.search(r"Last preflight [-0-9: ]+: 1 VM\(s\) with problems\.", page.read_text())


def test_a_check_added_to_the_list_reports_beside_the_others(run, rolled_out, config_file):
    """What adding the storage check to CHECKS does: its problems come with the
    others, worst first, and only the reachable rooms are handed to it."""
    from vdictl.config.load import load_config
    from vdictl.ops.preflight import CHECKS, Problem, preflight
    from vdictl.ops.session import Session

    from vdictl.cli.preflight import exit_status

    handed = []

    def storage_headroom(pf):
        handed.append([room.name for room in pf.reachable_rooms()])
        yield Problem("test:///default", "lab1", "", "storage 'default-pool': 1 GiB free of "
                      "10 GiB (10.0%)", "free space", "error")

    rolled_out.dom("lab1-vd02").listAllSnapshots()[0].delete()
    config = load_config(config_file)
    with Session(config) as session:
        problems, notes = preflight(session, [config.rooms["lab1"]],
                                    checks=CHECKS + (storage_headroom,))
    assert handed == [["lab1"]]
    assert [(p.vm, p.what.split(":")[0]) for p in problems] == [
        ("", "storage 'default-pool'"),
        ("lab1-vd02", "no snapshot matches reset_to_snapshot_regex 'vdictl rollout .*' "
                      "(0 snapshot(s))")]
    assert exit_status(problems) == exit_codes.VM_FAILED


def test_status_says_what_the_vms_of_one_preflight_problem_are_not(run, rolled_out):
    """Three VMs of one cause are one line in status; it read '... not preflight done'."""
    for vm in ("lab1-vd01", "lab1-vd02", "lab1-vd03"):
        rolled_out.dom(vm).listAllSnapshots()[0].delete()
    assert run("preflight", "lab1").exit_code == exit_codes.VM_FAILED
    result = run("status", "lab1")
    assert result.exit_code == exit_codes.VM_FAILED
    assert ("no snapshot matches reset_to_snapshot_regex 'vdictl rollout .*' (0 snapshot(s)): "
            "deleted?: 3 VMs of 1 room (lab1) not ready"
            in result.stdout.splitlines()), result.output


def test_the_cli_offers_the_purposes_the_checks_know():
    """cli/preflight.py keeps its own --for words (`vdictl --help` loads no ops)."""
    from vdictl.cli.preflight import PURPOSES as OFFERED
    from vdictl.ops.preflight import PURPOSES

    assert OFFERED == PURPOSES
