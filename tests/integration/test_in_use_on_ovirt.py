"""Daytime safety end to end on the engine simulator, through the real SDK.

The engine reports a console client (console_user and the client's address,
learnt from the hypervisor's graphics connect) and guest-agent users in each
VM's sessions. virtroom-show names them, virtroom-reset --skip-in-use leaves
those VMs up and resets the others, and once the client is gone the next reset
includes its VM. The sessions of a room are asked in one request.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("ovirtsdk4")

from tests.ovirt_cli import LAB_VMS as VMS  # noqa: E402
from tests.ovirt_cli import connect_ini, lab, session_requests  # noqa: E402,F401
from tests.ovirt_sim.fixtures import make_engine  # noqa: E402
from tests.vdictl_cli import vdictl, write_config  # noqa: E402


def test_users_at_their_desks_are_shown_and_left_alone(lab):
    config, sim = lab
    sim.add_console_session("lab-pc02", "192.0.2.7")
    sim.add_guest_user("lab-pc03", "anna")

    asked_before = len(session_requests(sim))
    result = vdictl(config, "virtroom-show", "lab", "-o", "json")
    assert result.exit_code == 0, result.output
    in_use = {row["vm"]: row["in_use"] for row in json.loads(result.stdout)["vms"]}
    assert [(s["kind"], s["client"], s["source"]) for s in in_use["lab-pc02"]] == [
        ("console", "192.0.2.7", "engine console")]
    assert [(s["kind"], s["user"]) for s in in_use["lab-pc03"]] == [("guest", "anna")]
    assert in_use["lab-pc01"] == in_use["lab-pc04"] == []
    assert len(session_requests(sim)) - asked_before == 1   # one request for the room

    restores_before = sum(r["path"].endswith("/restore") for r in sim.requests)
    result = vdictl(config, "virtroom-reset", "lab", "--skip-in-use", "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    outcomes = {r["vm"]: (r["outcome"], r["reason"]) for r in report["results"]}
    assert report["skipped_in_use"] == 2
    assert outcomes["lab-pc02"][0] == outcomes["lab-pc03"][0] == "skipped"
    assert outcomes["lab-pc02"][1] == ("in use: console thinclient@internal-authz 192.0.2.7 "
                                       "(left alone: --skip-in-use)")
    assert outcomes["lab-pc03"][1].startswith("in use: guest anna")
    assert outcomes["lab-pc01"][0] == outcomes["lab-pc04"][0] == "ok"
    assert sum(r["path"].endswith("/restore") for r in sim.requests) - restores_before == 2
    sim.settle()
    assert {vm: sim.vm(vm).status for vm in VMS} == {vm: "up" for vm in VMS}

    sim.disconnect_console("lab-pc02")
    sim.clear_sessions("lab-pc03")
    result = vdictl(config, "virtroom-reset", "lab", "--skip-in-use", "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["skipped_in_use"] == 0
    assert {r["vm"]: r["outcome"] for r in report["results"]} == {vm: "ok" for vm in VMS}


EXAM = """\
{connect}
[room exam]
    cluster = Default
    network_name = vdi-net
    template_name = tmpl-win10
    [[theirs]]
    ids = "1"
    names = "${{roomname}}-pc${{id}}"
    [[adopted]]
    ids = "2"
    names = "${{roomname}}-pc${{id}}"
    adopt_unmarked = True
"""


def test_the_sessions_of_another_teams_vm_are_not_asked(fast_polls, tmp_path):
    """exam-pc01 and exam-pc02 are up, and vdictl created neither (another
    team's exam VMs whose names match desks); exam-pc02's subsection adopts
    unmarked VMs. The room's one sessions search names exam-pc02 alone, and
    exam-pc01's console user is not shown."""
    sim = make_engine()
    try:
        sim.add_vm("exam-pc01", template="tmpl-win10", status="up")
        sim.add_vm("exam-pc02", template="tmpl-win10", status="up")
        sim.add_console_session("exam-pc01", "192.0.2.7")
        config = write_config(tmp_path, EXAM.format(connect=connect_ini(sim)), mode=0o600)
        result = vdictl(config, "virtroom-show", "exam", "-o", "json")
        assert result.exit_code == 0, result.output
        in_use = {row["vm"]: row["in_use"] for row in json.loads(result.stdout)["vms"]}
        assert in_use == {"exam-pc01": None, "exam-pc02": []}
        assert [r["query"].get("search") for r in session_requests(sim)] == ["name=exam-pc02"]
    finally:
        sim.stop()
