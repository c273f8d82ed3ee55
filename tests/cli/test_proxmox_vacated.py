"""Between lessons on Proxmox VE, through proxmoxer on the simulator (issue 26):
a console client (noVNC through the node's vncproxy) and a guest-agent user
appear and leave; `virtroom-reset --vacated` resets only the desk whose user
left once the grace passed, `virtroom-shutdown --idle-for` shuts down only the
idle desks. A probe asks each running desk of ours: QEMU's monitor and the
guest agent, per VM (measured here)."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("proxmoxer")

from tests.cli.test_proxmox_in_use import VMS, lab  # noqa: E402,F401 (the fixture)
from tests.pve_driver import fast_pve_polls  # noqa: E402,F401
from tests.vdictl_cli import vdictl  # noqa: E402


def probe_requests(sim, since):
    return [p for _, p, _ in sim.requests[since:] if p.endswith(("/monitor", "/agent/get-users"))]


def run(sim, config, *args):
    before = len(sim.requests)
    result = vdictl(config, *args, "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    return ({r["vm"]: r["outcome"] for r in data["results"]}, data["left_alone"],
            probe_requests(sim, before))


def rollbacks(sim):
    return [p.split("/")[-4] for _, p, _ in sim.requests if p.endswith("/rollback")]


def test_vacated_resets_only_the_desk_its_user_left(lab):  # noqa: F811
    sim, config, _ = lab
    sim.connect_console("plab-vd01")
    sim.log_in("plab-vd02", "anna")
    done, left, asked = run(sim, config, "virtroom-reset", "plab", "--vacated", "--grace", "1s")
    assert (done, left) == ({}, {"in use": 2, "not used since their last reset": 1})
    assert len(asked) == 2 * len(VMS)      # per running VM: the monitor and the agent

    sim.disconnect_console("plab-vd01")
    done, left, _ = run(sim, config, "virtroom-reset", "plab", "--vacated", "--grace", "1s")
    assert (done, left) == ({}, {"in use": 1, "not used since their last reset": 1,
                                 "vacated within the grace": 1})
    time.sleep(1.1)
    vmid = {vm: str(sim.vm(vm).vmid) for vm in VMS}
    before = len(rollbacks(sim))
    done, left, _ = run(sim, config, "virtroom-reset", "plab", "--vacated", "--grace", "1s")
    assert done == {"plab-vd01": "ok"}
    assert left == {"in use": 1, "not used since their last reset": 1}
    assert rollbacks(sim)[before:] == [vmid["plab-vd01"]]

    sim.log_out("plab-vd02")
    time.sleep(0.1)
    done, left, _ = run(sim, config, "virtroom-reset", "plab", "--vacated", "--grace", "0s")
    assert (done, left) == ({"plab-vd02": "ok"}, {"not used since their last reset": 2})


def test_idle_for_shuts_down_only_the_idle_desks(lab):  # noqa: F811
    sim, config, _ = lab
    sim.log_in("plab-vd02", "anna")
    done, left, _ = run(sim, config, "virtroom-shutdown", "plab", "--idle-for", "1s")
    assert (done, left) == ({}, {"in use": 1, "used within the idle time": 2})
    time.sleep(1.1)
    done, left, _ = run(sim, config, "virtroom-shutdown", "plab", "--idle-for", "1s")
    assert (done, left) == ({"plab-vd01": "ok", "plab-vd03": "ok"}, {"in use": 1})
    assert {vm: sim.vm(vm).status for vm in VMS} == {
        "plab-vd01": "stopped", "plab-vd02": "running", "plab-vd03": "stopped"}
