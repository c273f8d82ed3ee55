"""Shared pieces of the reliability tests: oVirt rooms on the engine
simulator, and vdictl run as a real process against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Dict, List, Optional

import pytest
from click.testing import CliRunner

pytest.importorskip("ovirtsdk4")

from vdictl.cli import cli  # noqa: E402
from vdictl.drivers.ovirt import OvirtDriver  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROOM = """
[room {room}]
    template_name = tmpl-win10
    cluster = Default
    network_name = vdi-net
    snapshot_description = "vdictl rollout at ${{scripttime}}"
    reset_to_snapshot_regex = "vdictl rollout .*"
    reset_startvm = {startvm}
    [[pcs]]
    ids = "1-{count}"
    names = "${{roomname}}-pc${{id}}"
"""

GENERAL = """
[general]
    [[connect]]
    driver = ovirt
    url = "{url}"
    username = "{username}"
    password = "{password}"
    [[throttle]]
    snapshot_batch_size = {batch}
    snapshot_batch_pause = {pause}
    parallel = {parallel}
    shutdown_timeout = {shutdown}
    operation_timeout = {timeout}
"""


def room_vms(room: str, count: int) -> List[str]:
    return [f"{room}-pc{i:02d}" for i in range(1, count + 1)]


class OvirtSite:
    """A config file of rooms on one simulated engine, and ways to run vdictl on it."""

    def __init__(self, sim, path, rooms: Dict[str, int], *, startvm="Always", batch=3,
                 pause=0.0, parallel=6, shutdown=2.0, timeout=30.0):
        self.sim = sim
        self.path = str(path)
        self.rooms = rooms
        text = GENERAL.format(url=sim.url, username=sim.username, password=sim.password,
                              batch=batch, pause=pause, parallel=parallel, shutdown=shutdown,
                              timeout=timeout)
        text += "".join(ROOM.format(room=r, count=n, startvm=startvm) for r, n in rooms.items())
        with open(self.path, "w") as fh:
            fh.write(text)
        os.chmod(self.path, 0o600)

    def vms(self, room: Optional[str] = None) -> List[str]:
        rooms = [room] if room else list(self.rooms)
        return [vm for r in rooms for vm in room_vms(r, self.rooms[r])]

    # -- in this process (fast polling through the driver's class knobs) --
    def invoke(self, *args):
        return CliRunner().invoke(cli, ["--config", self.path, *args], catch_exceptions=False)

    def report(self, *args):
        result = self.invoke(*args, "-o", "json")
        assert result.stdout, f"exit {result.exit_code}: {result.stderr}"
        return result.exit_code, json.loads(result.stdout)

    # -- as a real process --------------------------------------------------
    def popen(self, *args, **kwargs) -> subprocess.Popen:
        kwargs = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kwargs}
        return subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.fast_vdictl", "--config", self.path,
             *args], cwd=REPO, text=True, **kwargs)

    # -- the engine's view ----------------------------------------------------
    def user_snapshots(self, vm: str) -> List[str]:
        return [s.description for s in self.sim.vm(vm).snapshots if s.type != "active"]

    def statuses(self, room: Optional[str] = None) -> Dict[str, str]:
        return {vm: self.sim.vm(vm).status for vm in self.vms(room)}


@pytest.fixture
def fast_ovirt(monkeypatch):
    """The oVirt driver polls and backs off in milliseconds (a timing seam)."""
    monkeypatch.setattr(OvirtDriver, "poll_interval", 0.02)
    monkeypatch.setattr(OvirtDriver, "retry_initial", 0.02)
    monkeypatch.setattr(OvirtDriver, "retry_maximum", 0.2)


@pytest.fixture
def site_factory(ovirt_engine_factory, tmp_path, fast_ovirt):
    """factory(rooms={name: count}, sim_knobs={...}, **throttle) -> a rolled-out OvirtSite."""

    def make(rooms, *, sim_knobs=None, rollout=True, **kwargs):
        sim = ovirt_engine_factory(**(sim_knobs or {}))
        site = OvirtSite(sim, tmp_path / f"site{len(os.listdir(tmp_path))}.conf", rooms,
                         **kwargs)
        if rollout:
            code, data = site.report("virtroom-rollout", *rooms)
            assert code == 0, data
        return site

    return make


def vdictl_process(config):
    """vdictl(*args, wait=True) with `config`, as a real process: (exit status,
    stdout, stderr), or with wait=False the running Popen."""

    def vdictl(*args, wait=True):
        proc = subprocess.Popen([sys.executable, "-c", "from vdictl.cli import main; main()",
                                 "--config", str(config), *args], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not wait:
            return proc
        out, err = proc.communicate(timeout=300)
        return proc.returncode, out, err

    return vdictl
