"""A room reset on the engine simulator polls the room, not each VM.

Through the CLI and the real ovirtsdk4: every VM is reset, with one SSO
login and a bounded number of requests per VM, and no per-VM status polls
(waiting VMs share one search of their room per poll interval).
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

pytest.importorskip("ovirtsdk4")

from vdictl.cli import cli  # noqa: E402
from vdictl.drivers.ovirt import OvirtDriver  # noqa: E402

VMS = 12
CONFIG = """\
[general]
    [[connect]]
    driver = ovirt
    url = "{url}"
    username = "{user}"
    password = "{password}"
    [[throttle]]
    snapshot_batch_size = 4
    snapshot_batch_pause = 0
    parallel = 6
[room room01]
    template_name = tmpl-win10
    snapshot_description = "golden"
    reset_to_snapshot_regex = "^golden$"
    reset_startvm = Always
    [[pcs]]
    ids = "1-{vms}"
    names = "${{roomname}}-pc${{id}}"
"""


def test_room_reset_polls_the_room_with_one_search(ovirt_engine_factory, tmp_path,
                                                   monkeypatch):
    sim = ovirt_engine_factory(time_scale=0.005)
    for i in range(1, VMS + 1):
        name = f"room01-pc{i:02d}"
        sim.add_vm(name, template="tmpl-win10",
                   comment="vdictl:room=room01;subsection=pcs;version=0.1.0", status="up")
        sim.add_snapshot(name, "golden")
    monkeypatch.setattr(OvirtDriver, "poll_interval", 0.01)
    config = tmp_path / "vdi.conf"
    config.write_text(CONFIG.format(url=sim.url, user=sim.username, password=sim.password,
                                    vms=VMS))
    sim.requests.clear()

    result = CliRunner().invoke(cli, ["--config", str(config), "virtroom-reset", "room01",
                                      "--output", "json"])

    assert result.exit_code == 0, result.output
    outcomes = [r["outcome"] for r in json.loads(result.stdout)["results"]]
    assert outcomes == ["ok"] * VMS
    assert {v.status for v in sim.vms()} == {"up"}
    assert sim.sso_logins == 1
    vm_gets = [r for r in sim.requests if r["method"] == "GET"
               and re.fullmatch(r"/ovirt-engine/api/vms/[^/]+", r["path"])]
    # one lookup by id before each of stop, restore and start; the waits poll the room
    assert len(vm_gets) <= 3 * VMS
    room_polls = [r for r in sim.requests if r["method"] == "GET"
                  and r["query"].get("search") == "name=room01-pc*"]
    assert room_polls, "waiting VMs poll their room"
    assert len(sim.requests) / VMS <= 15


def test_a_room_poll_keeps_only_each_vms_status(ovirt_engine):
    """The watch holds every room's last answer for the whole run: the SDK's
    whole VM records of a 10,000-VM site took well over 100 MB of it."""
    from vdictl.config.rooms import Connect
    from vdictl.drivers.ovirt.connection import SeenVm

    for i in (1, 2):
        ovirt_engine.add_vm(f"lab-pc{i}", template="tmpl-win10", status="up")
    drv = OvirtDriver(Connect(driver="ovirt", url=ovirt_engine.url,
                              username=ovirt_engine.username,
                              password=ovirt_engine.password))
    drv.open()
    try:
        seen = drv.connection._statuses("name=lab-pc*")
    finally:
        drv.close()
    assert {name: (type(v), v.status.value) for name, v in seen.items()} == {
        "lab-pc1": (SeenVm, "up"), "lab-pc2": (SeenVm, "up")}
    assert SeenVm._fields == ("status",)
