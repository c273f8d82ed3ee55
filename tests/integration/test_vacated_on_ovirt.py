"""Between lessons on the engine simulator, through the real SDK (issue 26):
sessions appear and leave (a console client, a guest-agent user), and
`virtroom-reset --vacated` resets the desk its user left once the grace has
passed, never a desk nobody used; `virtroom-shutdown --idle-for` shuts down
the idle desks only. Each probe costs one sessions request per room (and one per desk picked,
asked again right before it is touched)."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("ovirtsdk4")

from tests.ovirt_cli import LAB_VMS as VMS, lab, session_requests  # noqa: E402,F401
from tests.vdictl_cli import vdictl  # noqa: E402


def restores(sim):
    return [r["path"].split("/")[-4] for r in sim.requests if r["path"].endswith("/restore")]


def run(config, sim, *args):
    """The desks acted on and the others counted: the probe is one request for the
    room, and each desk picked is asked about once more right before it is touched."""
    asked = len(session_requests(sim))
    result = vdictl(config, *args, "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(session_requests(sim)) - asked == 1 + len(data["results"])
    return {r["vm"]: r["outcome"] for r in data["results"]}, data["left_alone"]


def test_vacated_resets_the_desks_their_users_left_and_no_other(lab):
    config, sim = lab
    sim.add_console_session("lab-pc02", "192.0.2.7")
    sim.add_guest_user("lab-pc03", "anna")
    vm_ids = {sim.vm(vm).id: vm for vm in VMS}
    done, left = run(config, sim, "virtroom-reset", "lab", "--vacated", "--grace", "1s")
    assert (done, left) == ({}, {"in use": 2, "not used since their last reset": 2})

    sim.disconnect_console("lab-pc02")                   # pc02's user leaves
    done, left = run(config, sim, "virtroom-reset", "lab", "--vacated", "--grace", "1s")
    assert (done, left) == ({}, {"in use": 1, "not used since their last reset": 2,
                                 "vacated within the grace": 1})
    time.sleep(1.1)
    before = len(restores(sim))
    done, left = run(config, sim, "virtroom-reset", "lab", "--vacated", "--grace", "1s")
    assert done == {"lab-pc02": "ok"}
    assert left == {"in use": 1, "not used since their last reset": 2}
    assert [vm_ids.get(i, i) for i in restores(sim)[before:]] == ["lab-pc02"]

    sim.clear_sessions("lab-pc03")                       # anna logs out
    done, left = run(config, sim, "virtroom-reset", "lab", "--vacated", "--grace", "0s")
    assert done == {"lab-pc03": "ok"}
    assert left == {"not used since their last reset": 3}
    sim.settle()
    assert {vm: sim.vm(vm).status for vm in VMS} == {vm: "up" for vm in VMS}


def test_idle_for_shuts_down_the_idle_desks_only(lab):
    config, sim = lab
    sim.add_guest_user("lab-pc03", "anna")
    done, left = run(config, sim, "virtroom-shutdown", "lab", "--idle-for", "1s")
    assert (done, left) == ({}, {"in use": 1, "used within the idle time": 3})
    time.sleep(1.1)
    done, left = run(config, sim, "virtroom-shutdown", "lab", "--idle-for", "1s")
    assert done == {vm: "ok" for vm in VMS if vm != "lab-pc03"}
    assert left == {"in use": 1}
    sim.settle()
    assert {vm: sim.vm(vm).status for vm in VMS} == {
        vm: "up" if vm == "lab-pc03" else "down" for vm in VMS}
