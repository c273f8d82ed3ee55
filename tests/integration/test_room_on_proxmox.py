"""A whole room on the Proxmox VE simulator, through the real proxmoxer over
HTTPS (API token, the simulator's CA): rollout, show, reset, shutdown and
delete through the `vdictl` command line.

Room `ptest` has three VMs cloned on pve1 into resource pool `lab`, and one
cloned from the shared-storage template onto pve2.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytest.importorskip("proxmoxer")

from vdictl.cli import cli  # noqa: E402

from tests.pve_driver import fast_pve_polls, token_file  # noqa: E402,F401

PCS = ["ptest-vd01", "ptest-vd02", "ptest-vd03"]
ALL = PCS + ["ptest-far01"]

CONFIG = """\
[general]
    [[connect]]
    driver = proxmox
    url = "{url}"
    token_id = "{token_id}"
    token_secret_file = "{secret}"
    ca_file = "{ca_file}"
    [[throttle]]
    snapshot_batch_size = 2
    snapshot_batch_pause = 0.05
    shutdown_timeout = 0.5
    operation_timeout = 30
[room ptest]
    memory = 2GiB
    snapshot_description = "vdictl rollout ${{scripttime}}"
    reset_to_snapshot_regex = "^vdictl rollout"
    template_name = tmpl-win10
    pool = lab
    [[pcs]]
    ids = "1-3"
    names = "${{roomname}}-vd${{id}}"
    [[far]]
    ids = "1"
    names = "${{roomname}}-far${{id}}"
    template_name = tmpl-shared
    node = pve2
"""


@pytest.fixture
def room(pve_api, fast_pve_polls, tmp_path):
    path = tmp_path / "vdi.conf"
    path.write_text(CONFIG.format(url=pve_api.url, token_id=pve_api.token_id,
                                  secret=token_file(pve_api.token_secret),
                                  ca_file=pve_api.ca_file))

    def run(*args):
        result = CliRunner().invoke(cli, ["--config", str(path), *args, "-o", "json"],
                                    catch_exceptions=False)
        data = json.loads(result.stdout)
        return result.exit_code, {r["vm"]: r for r in data["results"]}

    return pve_api, run


def test_a_room_is_rolled_out_reset_and_deleted(room):
    sim, run = room
    code, results = run("virtroom-rollout", "ptest")
    assert code == 0, results
    assert {n: r["steps"] for n, r in results.items()} == {
        **{n: ["create from tmpl-win10", "take snapshot"] for n in PCS},
        "ptest-far01": ["create from tmpl-shared", "take snapshot"]}
    assert sim.vm("ptest-far01").node == "pve2"
    assert all(sim.vm(n).config["memory"] in (2048, "2048") for n in ALL)
    assert all(len(sim.vm(n).snapshots) == 1 for n in ALL)

    code, results = run("virtroom-start", "ptest", "--vm", "ptest-vd01")
    assert code == 0, results
    code, results = run("virtroom-reset", "ptest")
    assert code == 0, results
    assert results["ptest-vd01"]["outcome"] == "ok"
    assert any("start" in step for step in results["ptest-vd01"]["steps"])   # ran before
    assert not any("start" in step for step in results["ptest-vd02"]["steps"])

    code, results = run("virtroom-shutdown", "ptest")
    assert code == 0, results
    code, results = run("virtroom-delete", "ptest", "--yes")
    assert code == 0, results
    assert not [v.name for v in list(sim.vms.values()) if v.name.startswith("ptest-")]
