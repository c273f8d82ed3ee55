"""A site of more rooms than the soft limit of open files.

A run holds one lock file per room for its whole length. cron and systemd
start vdictl with a soft limit of 1,024 (and a far higher hard one): the run
raises its soft limit to the hard one and resets every VM. When the hard
limit is too low for the rooms, it says so in one line and changes nothing.
The limits are set in the child process only (tests/integration's vdictl
runs as a process of its own here).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest

pytest.importorskip("ovirtsdk4")

from tests.ovirt_sim.fixtures import make_engine  # noqa: E402

ROOMS = 150
#: below ROOMS: one lock file per room cannot fit under it
LOW = 100
SNAPSHOT = "vdictl rollout"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def config_text(sim):
    lines = ["[general]", "    [[connect]]", "    driver = ovirt", f'    url = "{sim.url}"',
             f'    username = "{sim.username}"', f'    password = "{sim.password}"',
             "    [[throttle]]", "    snapshot_batch_size = 10", "    snapshot_batch_pause = 0",
             "    parallel = 10", "    operation_timeout = 60"]
    for r in range(ROOMS):
        lines += [f"[room lab{r:03d}]", "    template_name = tmpl-win10",
                  f'    snapshot_description = "{SNAPSHOT}"',
                  f'    reset_to_snapshot_regex = "^{SNAPSHOT}$"',
                  "    reset_startvm = Always", "    [[vms]]", '    ids = "1"',
                  '    names = "${roomname}-pc"']
    return "\n".join(lines) + "\n"


@pytest.fixture
def site(tmp_path):
    sim = make_engine()
    try:
        for r in range(ROOMS):
            name = f"lab{r:03d}-pc"
            sim.add_vm(name, template="tmpl-win10",
                       comment=f"vdictl:room=lab{r:03d};subsection=vms;version=0.1.0")
            sim.add_snapshot(name, SNAPSHOT)
            sim.set_vm_status(name, "up")
        config = tmp_path / "vdi.conf"
        config.write_text(config_text(sim))
        config.chmod(0o600)
        yield sim, config
    finally:
        sim.stop()


def run_limited(config, tmp_path, soft, hard):
    """`vdictl virtroom-reset --all` in a child whose RLIMIT_NOFILE is (soft, hard)."""
    code = (f"import resource; resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))\n"
            "import sys; from vdictl.cli import main; sys.argv[0] = 'vdictl'; main()")
    env = dict(os.environ, VDICTL_LOCK_DIR=str(tmp_path / "locks"),
               VDICTL_STATE_DIR=str(tmp_path / "state"))
    return subprocess.run([sys.executable, "-c", code, "--config", str(config),
                           "virtroom-reset", "--all", "-o", "json"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_more_rooms_than_the_soft_limit_still_resets_every_vm(site, tmp_path):
    sim, config = site
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < ROOMS + 300:
        pytest.skip(f"the hard limit of open files here ({hard}) is too low for the test")
    proc = run_limited(config, tmp_path, LOW, hard)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout)["results"]
    assert len(results) == ROOMS
    assert {r["outcome"] for r in results} == {"ok"}
    assert sum(r["path"].endswith("/restore") for r in sim.requests) == ROOMS


def test_a_hard_limit_too_low_for_the_rooms_is_one_line_and_changes_nothing(site, tmp_path):
    sim, config = site
    before = len(sim.requests)
    proc = run_limited(config, tmp_path, LOW, LOW)
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert f"{ROOMS} rooms need about" in proc.stderr
    assert "the limit is 100; raise the open-files limit: LimitNOFILE=" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(sim.requests) == before            # not even a login
    assert {sim.vm(f"lab{r:03d}-pc").status for r in range(ROOMS)} == {"up"}
