"""The shipped evening preflight (cron/vdictl-preflight and its systemd
units) run as cron runs it: silent when all is well, the problems when not."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import file_hypervisor

pytest.importorskip("libvirt")

CRON = Path(__file__).resolve().parents[2] / "cron"
VENV_BIN = Path(sys.executable).parent


def cron_job():
    """(schedule, user, command) of the file's one job, and its variables."""
    variables, jobs = {}, []
    for line in (CRON / "vdictl-preflight").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Z_]+)=(.*)", line)
        if match:
            variables[match.group(1)] = match.group(2)
        else:
            fields = line.split(None, 6)
            jobs.append((" ".join(fields[:5]), fields[5], fields[6]))
    [job] = jobs
    return job, variables


def run_as_cron(config):
    (_, _, command), variables = cron_job()
    env = dict(os.environ, VDICTL_CONFIG=str(config),
               PATH=f"{VENV_BIN}{os.pathsep}{variables['PATH']}")
    return subprocess.run([variables["SHELL"], "-c", command], capture_output=True, text=True,
                          env=env, timeout=120)


def test_the_cron_job_checks_every_room_at_six_as_root():
    (schedule, user, command), variables = cron_job()
    assert (schedule, user, command) == ("0 18 * * *", "root", "vdictl preflight --all")
    assert variables["SHELL"] == "/bin/sh" and variables["MAILTO"] == "root"


def test_the_cron_job_is_silent_when_all_is_well_and_mails_the_problems(hypervisor, tmp_path):
    config = file_hypervisor(hypervisor, tmp_path, ["virtroom-rollout", "lab1"])
    result = run_as_cron(config)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    # a desk added to the config and not rolled out: tonight's reset would fail it
    config.write_text(config.read_text().replace(
        "[room kiosk]", '    [[late]]\n    ids = "9"\n    names = "${roomname}-late${id}"\n'
        "    ip_addresses_suffix = 30\n\n[room kiosk]"))
    result = run_as_cron(config)
    assert (result.returncode, result.stderr) == (1, "")
    header, row, total = result.stdout.splitlines()
    assert header.split()[:4] == ["ENDPOINT", "ROOM", "VM", "SEVERITY"]
    assert row.split(None, 5) == ["test://" + str(tmp_path / "node.xml"), "lab1",
                                  "lab1-late09", "error", "does",
                                  f"not exist  vdictl -c {config} virtroom-rollout lab1 --vm "
                                  "lab1-late09"]
    assert total == "preflight (reset): 8 VM(s) in 2 room(s): 1 problem(s)"


def unit(name):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read(CRON / name)
    return parser


def test_the_systemd_units_run_the_same_preflight_at_six():
    service, timer = unit("vdictl-preflight.service"), unit("vdictl-preflight.timer")
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["ExecStart"] == "vdictl preflight --all"
    assert timer["Timer"]["OnCalendar"] == "*-*-* 18:00:00"
    assert timer["Install"]["WantedBy"] == "timers.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify_accepts_the_units():
    result = subprocess.run(["systemd-analyze", "verify", "--man=no",
                             str(CRON / "vdictl-preflight.service"),
                             str(CRON / "vdictl-preflight.timer")],
                            capture_output=True, text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if line.strip() and "Command vdictl is not executable" not in line]
    assert problems == []
