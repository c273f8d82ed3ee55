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


FIRST_BOOT = """\
[general]
    [[connect]]
    driver = proxmox
    url = "{url}"
    token_id = "{token_id}"
    token_secret_file = "{secret}"
    ca_file = "{ca_file}"
    [[throttle]]
    operation_timeout = 30
[room fb]
    template_name = {template}
    cloud_init_user_data = "{user_data}"
    stateless = {stateless}
    [[pcs]]
    ids = "1-2"
    names = "${{roomname}}-pc${{id}}"
"""


def first_boot_room(sim, tmp_path, template="tmpl-win10", stateless=False):
    user_data = tmp_path / "user-data.j2"
    user_data.write_text("#cloud-config\nhostname: {{ name }}\n")
    path = tmp_path / "fb.conf"
    path.write_text(FIRST_BOOT.format(url=sim.url, token_id=sim.token_id,
                                      secret=token_file(sim.token_secret),
                                      ca_file=sim.ca_file, template=template,
                                      user_data=user_data, stateless=stateless))
    return CliRunner().invoke(cli, ["--config", str(path), "virtroom-rollout", "fb", "-o",
                                    "json"], catch_exceptions=False)


def test_first_boot_gets_the_cloud_init_cd_once_and_stateless_after(pve_api, fast_pve_polls,
                                                                   tmp_path):
    from vdictl.drivers.seed_image import read_seed_image

    result = first_boot_room(pve_api, tmp_path, stateless=True)
    assert result.exit_code == 0, result.stdout
    for name in ("fb-pc01", "fb-pc02"):
        [first, *later] = [s for s in pve_api.starts if s.name == name]
        assert later == []
        [iso] = first.isos.values()
        label, files = read_seed_image(iso)
        assert label == "cidata"
        assert files["user-data"].decode() == f"#cloud-config\nhostname: {name}\n"
        config = pve_api.vm(name).config
        assert not [v for v in config.values() if "iso/" in str(v)]      # the CD is gone
        assert "snapshot=1" in config["scsi0"]                             # stateless now
        assert "snapshot=1" not in first.config["scsi0"]   # not during the first boot
    assert not [volid for (_, volid) in list(pve_api.volumes) if "vdictl-seed-" in volid]
    # the guests' power-offs were watched in the shared cluster poll, not per VM
    assert [p for _, p, _ in list(pve_api.requests) if p.endswith("/status/current")] == []


def test_a_template_with_a_proxmox_cloud_init_drive_is_refused_before_any_clone(
        pve_api, fast_pve_polls, tmp_path):
    result = first_boot_room(pve_api, tmp_path, template="tmpl-linux")
    assert result.exit_code != 0
    data = json.loads(result.stdout)
    reasons = {r["reason"] for r in data["results"]}
    assert reasons == {
        "room fb not rolled out, nothing created: proxmox: fb-pc01: template 'tmpl-linux' has a Proxmox VE cloud-init drive (ide2), "
        "and cloud_init_user_data comes on vdictl's own cloud-init CD: two sources would "
        "compete; remove the drive from the template (qm set 9001 --delete ide2 on pve1) "
        "or use a template without one"}
    assert not [v.name for v in list(pve_api.vms.values()) if v.name.startswith("fb-")]
