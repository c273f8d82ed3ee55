"""The shipped nightly schedule (cron/) run for real, and the summary cron mails.

libvirt's test:///default forgets everything when a process ends, so the
rooms are rolled out there in-process and the result (domains with vdictl's
owner mark and their snapshots) is written to a test:///FILE node document
that each `vdictl` subprocess loads afresh. The audit log says what each
process did.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.libvirt_test_hv import node_document
from tests.sandbox import in_ci
from tests.terminal import open_terminal, read_terminal
from tests.vdictl_cli import vdictl, write_config

libvirt = pytest.importorskip("libvirt")

REPO = Path(__file__).resolve().parents[2]
CRON = REPO / "cron"
VENV_BIN = Path(sys.executable).parent

CONFIG = """\
[general]
    [[connect]]
    driver = libvirt
    uri = "test:///default"
    [[throttle]]
    snapshot_batch_pause = 0
    shutdown_timeout = 5
    operation_timeout = 30

[logging]
    log_file = audit.log

[room lab1]
    template_name = tmpl
    snapshot_description = "vdictl rollout at ${scripttime}"
    reset_to_snapshot_regex = "vdictl rollout .*"
    [[students]]
    ids = "1-3"
    names = "${roomname}-vd${id}"

[room lab 2]
    [[pcs]]
    ids = "1-2"
    names = "lab2-pc${id}"
    template_name = tmpl
    snapshot_description = "vdictl rollout at ${scripttime}"
    reset_to_snapshot_regex = "vdictl rollout .*"

[room kiosk]
    [[terminals]]
    ids = "1-2"
    names = "kiosk-${id}"
    template_name = tmpl
    stateless = True

[room archive]
    [[old]]
    ids = "1"
    names = "archive-${id}"
    template_name = tmpl
"""

RESETTABLE_VMS = {"lab1-vd01", "lab1-vd02", "lab1-vd03", "lab2-pc01", "lab2-pc02"}


@pytest.fixture
def site(tmp_path, hypervisor):
    """A config whose libvirt URI is a test:///FILE with lab1 and 'lab 2' rolled out."""
    config = write_config(tmp_path, CONFIG, name="vdi-rollout.conf")
    for room in ("lab1", "lab 2"):
        result = vdictl(config, "virtroom-rollout", room)
        assert result.exit_code == 0, result.output
    node = tmp_path / "node.xml"
    node.write_text(node_document(hypervisor.conn))
    write_config(tmp_path, CONFIG.replace("test:///default", f"test://{node}"),
                 name="vdi-rollout.conf")
    (tmp_path / "audit.log").write_text("")
    return tmp_path


def audit(site: Path):
    """(room, vm, action, outcome) of every per-VM audit line, in order (the run's
    start and end lines name no VM)."""
    pattern = re.compile(r"room=(.+?) vm=(\S+) action=(\S+) outcome=(\S+)")
    return [pattern.search(line).groups() for line in (site / "audit.log").read_text().splitlines()
            if "vdictl.audit" in line and " vm=" in line]


def env_with_venv(**extra):
    """The environment with the venv's `vdictl` first on PATH."""
    assert (VENV_BIN / "vdictl").exists(), f"no vdictl entry point in {VENV_BIN}"
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("VDICTL_CONFIG", None)
    env.update(extra)
    return env


def test_script_resets_exactly_the_resettable_rooms_quietly(site):
    result = subprocess.run(["sh", str(CRON / "reset-virtrooms-every-night.sh"),
                             "--config", str(site / "vdi-rollout.conf")],
                            capture_output=True, text=True, env=env_with_venv(), timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    lines = audit(site)
    assert {vm for room, vm, action, outcome in lines} == RESETTABLE_VMS
    assert {(room, action, outcome) for room, vm, action, outcome in lines} == {
        ("lab1", "reset", "ok"), ("lab 2", "reset", "ok")}


def lose_snapshot(site: Path, vm: str) -> None:
    """`vm` loses its snapshot in the node document: its reset fails."""
    node = site / "node.xml"
    text = node.read_text()
    start = text.index(f"<name>{vm}</name>")
    snap_start = text.index("<test:domainsnapshot>", start)
    snap_end = text.index("</test:domainsnapshot>", snap_start) + len("</test:domainsnapshot>")
    node.write_text(text[:snap_start] + text[snap_end:])


#: what cron mails when lab1-vd02 lost its snapshot: the failed VM and the total
FAILED_VD02 = [
    "ROOM  VM         ACTION  RESULT  DETAILS",
    "lab1  lab1-vd02  reset   failed  VM lab1-vd02: no snapshot matches "
    "reset_to_snapshot_regex 'vdictl rollout .*' (0 snapshot(s))",
    "reset: 3 VM(s): 2 ok, 1 failed (partial)",
]


def test_script_goes_on_after_a_failed_room_and_prints_its_failures(site):
    lose_snapshot(site, "lab1-vd02")  # lab 2 is still reset
    result = subprocess.run(["sh", str(CRON / "reset-virtrooms-every-night.sh"),
                             "--config", str(site / "vdi-rollout.conf")],
                            capture_output=True, text=True, env=env_with_venv(), timeout=120)
    assert result.returncode == 1
    assert result.stdout.splitlines() == FAILED_VD02
    assert ("lab 2", "lab2-pc01", "reset", "ok") in audit(site)


def test_a_failed_run_off_a_terminal_shows_the_failed_vms_and_the_total(site):
    lose_snapshot(site, "lab1-vd02")
    config = site / "vdi-rollout.conf"
    result = vdictl(config, "virtroom-reset", "lab1")
    assert (result.exit_code, result.stdout.splitlines()) == (1, FAILED_VD02)
    full = vdictl(config, "virtroom-reset", "lab1", "--output", "table")
    assert full.exit_code == 1
    assert [line.split()[1] for line in full.stdout.splitlines()[1:-1]] == [
        "lab1-vd01", "lab1-vd02", "lab1-vd03"]
    assert full.stdout.splitlines()[-1] == FAILED_VD02[-1]


#: four VMs of two rooms lost their snapshot: one cause, said once
NO_SNAPSHOT_GROUP = ("no snapshot matches reset_to_snapshot_regex 'vdictl rollout .*' "
                     "(0 snapshot(s)): 4 VMs of 2 rooms (lab1, lab 2) not reset")


def test_many_vms_failed_for_one_cause_are_said_once(site):
    """The cron mail, the summary asked for, and `status` say the cause once with
    the count and the rooms, then list the rest one by one; the JSON keeps
    every VM (issue 24 item 4)."""
    for vm in ("lab1-vd01", "lab1-vd02", "lab1-vd03", "lab2-pc01"):
        lose_snapshot(site, vm)
    config = site / "vdi-rollout.conf"
    cron = vdictl(config, "virtroom-reset", "lab1", "lab 2")
    assert (cron.exit_code, cron.stdout.splitlines()) == (1, [
        NO_SNAPSHOT_GROUP, "reset: 5 VM(s): 1 ok, 4 failed (partial)"])
    table = vdictl(config, "virtroom-reset", "lab1", "lab 2", "-o", "table")
    lines = table.stdout.splitlines()
    assert lines[0] == NO_SNAPSHOT_GROUP
    assert lines[1].split() == ["ROOM", "VM", "ACTION", "RESULT", "DETAILS"]
    assert lines[2].split()[:5] == ["lab", "2", "lab2-pc02", "reset", "ok"]
    assert lines[3:] == ["reset: 5 VM(s): 1 ok, 4 failed (partial)"]
    data = json.loads(vdictl(config, "virtroom-reset", "lab1", "lab 2", "-o", "json").stdout)
    assert {r["vm"]: r["reason"] for r in data["results"] if r["outcome"] == "failed"} == {
        vm: f"VM {vm}: no snapshot matches reset_to_snapshot_regex 'vdictl rollout .*' "
            "(0 snapshot(s))" for vm in ("lab1-vd01", "lab1-vd02", "lab1-vd03", "lab2-pc01")}

    runs = json.loads(vdictl(config, "status", "lab1", "lab 2", "-o", "json").stdout)["rooms"]
    ended = [datetime.fromisoformat(room["runs"][0]["ended"]).astimezone().strftime(
        "%Y-%m-%d %H:%M:%S") for room in runs]
    status = vdictl(config, "status", "lab1", "lab 2")
    assert (status.exit_code, status.stdout.splitlines()) == (1, [
        NO_SNAPSHOT_GROUP,
        f"room lab1: last reset ({ended[0]}) failed: 3 VM(s) failed",
        f"room lab 2: last reset ({ended[1]}) failed: 1 VM(s) failed",
        "status: 2 room(s): 2 with problems"])

    lose_snapshot(site, "lab2-pc02")    # a fifth VM, with the same cause
    one = vdictl(config, "virtroom-reset", "lab 2")
    assert one.stdout.splitlines() == [
        "ROOM   VM         ACTION  RESULT  DETAILS",
        *(f"lab 2  {vm}  reset   failed  VM {vm}: no snapshot matches "
          "reset_to_snapshot_regex 'vdictl rollout .*' (0 snapshot(s))"
          for vm in ("lab2-pc01", "lab2-pc02")),
        "reset: 2 VM(s): 2 failed"]          # two of one cause: listed one by one


def test_json_carries_each_vms_duration_and_the_total(site):
    """One snapshot at a time with 0.5 s between: the third VM waits about 1 s for
    its turn, and the run takes at least that long."""
    config = site / "vdi-rollout.conf"
    config.write_text(config.read_text().replace(
        "snapshot_batch_pause = 0", "snapshot_batch_size = 1\n    snapshot_batch_pause = 0.5"))
    result = vdictl(config, "virtroom-reset", "lab1", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    durations = sorted(r["duration"] for r in data["results"])
    assert all(isinstance(d, float) for d in durations + [data["duration"]])
    assert durations[0] < durations[-1] and durations[-1] >= 1.0
    assert data["duration"] >= durations[-1]


def cron_entry():
    """(schedule, user, command) of the one job line of the cron.d file, and its variables."""
    variables, jobs = {}, []
    for line in (CRON / "vdictl-reset-virtrooms").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([A-Z_]+)=(.*)", line)
        if match:
            variables[match.group(1)] = match.group(2)
            continue
        fields = line.split(None, 6)
        jobs.append((" ".join(fields[:5]), fields[5], fields[6]))
    assert len(jobs) == 1
    return jobs[0], variables


def test_cron_file_runs_one_reset_of_every_room_at_one_as_root(site):
    (schedule, user, command), variables = cron_entry()
    assert (schedule, user, command) == ("0 1 * * *", "root", "vdictl virtroom-reset --all")
    assert variables["SHELL"] == "/bin/sh"
    # The job's command as cron runs it: the file's PATH, with the venv's vdictl first.
    env = env_with_venv(VDICTL_CONFIG=str(site / "vdi-rollout.conf"))
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{variables['PATH']}"
    result = subprocess.run([variables["SHELL"], "-c", command], capture_output=True, text=True,
                            env=env, timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    lines = audit(site)
    assert {vm for room, vm, action, outcome in lines if outcome == "ok"} == RESETTABLE_VMS
    assert {room for room, vm, action, outcome in lines if outcome == "skipped"} == {
        "kiosk", "archive"}


def test_summary_is_printed_on_a_terminal(site):
    """Run by hand, the same successful reset shows its per-VM table."""
    controller, terminal = open_terminal()
    try:
        proc = subprocess.Popen(["vdictl", "--config", str(site / "vdi-rollout.conf"),
                                 "virtroom-reset", "lab1"], stdout=terminal,
                                stderr=subprocess.PIPE, env=env_with_venv())
        os.close(terminal)
        shown = read_terminal(controller, proc)
        assert proc.wait(timeout=10) == 0
    finally:
        os.close(controller)
    lines = shown.decode().splitlines()
    assert lines[0].split() == ["ROOM", "VM", "ACTION", "RESULT", "DETAILS"]
    assert lines[-1] == "reset: 3 VM(s): 3 ok"


@pytest.mark.parametrize("args, shows_table", [
    ((), False), (("-o", "table"), True), (("--dry-run",), True)])
def test_success_off_a_terminal_prints_only_what_was_asked(site, args, shows_table):
    result = vdictl(site / "vdi-rollout.conf", "virtroom-reset", "lab1", *args)
    assert result.exit_code == 0
    assert bool(result.stdout) is shows_table
    if shows_table:
        assert result.stdout.splitlines()[0].split() == ["ROOM", "VM", "ACTION", "RESULT",
                                                         "DETAILS"]


def test_json_is_always_printed(site):
    result = vdictl(site / "vdi-rollout.conf", "virtroom-reset", "lab1", "-o", "json")
    assert result.exit_code == 0
    assert '"status": "success"' in result.stdout


# --- systemd units ------------------------------------------------------------

def unit(name):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(CRON / name)
    return parser


def test_systemd_units_run_the_same_reset_nightly_and_catch_up():
    service, timer = unit("vdictl-reset.service"), unit("vdictl-reset.timer")
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["ExecStart"] == "vdictl virtroom-reset --all"
    assert timer["Timer"]["OnCalendar"] == "*-*-* 01:00:00"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"


def systemd_verify(*paths, manpath=None):
    """Problems systemd-analyze verify reports, less a vdictl not installed system-wide.
    With `manpath`, the units' Documentation=man: pages are looked up there too."""
    man = ["--man=yes"] if manpath else ["--man=no"]
    env = dict(os.environ, **({"MANPATH": str(manpath)} if manpath else {}))
    result = subprocess.run(["systemd-analyze", "verify", *man, *map(str, paths)],
                            capture_output=True, text=True, timeout=60, env=env)
    return [line for line in (result.stdout + result.stderr).splitlines()
            if line.strip() and "Command vdictl is not executable" not in line]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None or shutil.which("man") is None,
                    reason="no systemd-analyze or man")
def test_the_units_man_page_resolves_after_install_deps(tmp_path):
    """Documentation=man:vdictl(1) of the service: there once scripts/install-deps linked
    the page (here into a private MAN_DIR; apt and the venv skipped)."""
    service = CRON / "vdictl-reset.service"
    assert systemd_verify(service, manpath=tmp_path / "man") == [
        "vdictl-reset.service: Command 'man vdictl(1)' failed with code 16"]
    env = dict(os.environ, SKIP_APT="1", SKIP_VENV="1", MAN_DIR=str(tmp_path / "man"))
    subprocess.run([str(REPO / "scripts" / "install-deps")], check=True, capture_output=True,
                   env=env, timeout=60)
    assert systemd_verify(service, manpath=tmp_path / "man") == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    assert systemd_verify(CRON / "vdictl-reset.service", CRON / "vdictl-reset.timer") == []
    # ... and would say so if a key were wrong.
    broken = tmp_path / "vdictl-reset.service"
    broken.write_text((CRON / "vdictl-reset.service").read_text()
                      .replace("Type=oneshot", "Type=oneshot\nExecStrat=/bin/true"))
    assert any("ExecStrat" in line for line in systemd_verify(broken))


# --- run records, metrics and the status page under cron --------------------------

def cron_env(site):
    """The environment of the cron.d file's jobs, with the venv's vdictl first."""
    _, variables = cron_entry()
    env = env_with_venv(VDICTL_CONFIG=str(site / "vdi-rollout.conf"))
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{variables['PATH']}"
    return env


def test_records_and_metrics_keep_a_successful_cron_run_silent(site):
    config = site / "vdi-rollout.conf"
    config.write_text(config.read_text().replace(
        "log_file = audit.log", "log_file = audit.log\n    metrics_file = textfile/vdictl.prom"))
    (site / "textfile").mkdir()
    (_, _, command), variables = cron_entry()
    env = cron_env(site)
    result = subprocess.run([variables["SHELL"], "-c", command], capture_output=True, text=True,
                            env=env, timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert "vdictl_vms{" in (site / "textfile" / "vdictl.prom").read_text()
    check = subprocess.run([variables["SHELL"], "-c", "vdictl status --all --max-age 26h"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert (check.returncode, check.stdout, check.stderr) == (0, "", "")


def commented_jobs(command: str):
    """The commented lines of the cron.d file whose command has `command`:
    (schedule, user, command)."""
    jobs = []
    for line in (CRON / "vdictl-reset-virtrooms").read_text().splitlines():
        if re.match(r"#[*0-9]", line):
            fields = line[1:].split(None, 6)
            if command in fields[6]:
                jobs.append((" ".join(fields[:5]), fields[5], fields[6]))
    return jobs


def status_page_jobs():
    """The commented status page lines of the cron.d file: (schedule, user, command)."""
    return commented_jobs("vdictl report")


def test_the_between_lessons_lines_run_quietly(site):
    """The commented --vacated and --idle-for examples (issue 26) run as cron
    would run them: nothing to do on a fresh site, exit 0, no output."""
    jobs = commented_jobs("--vacated") + commented_jobs("--idle-for")
    assert [(schedule, user) for schedule, user, _ in jobs] == [
        ("*/5 7-18 * * 1-5", "root"), ("*/15 18-22 * * 1-5", "root")]
    for _, _, command in jobs:
        result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True,
                                env=cron_env(site), timeout=120)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), command


def test_the_status_page_lines_write_the_page_quietly(site, tmp_path):
    jobs = status_page_jobs()
    assert [(schedule, user) for schedule, user, _ in jobs] == [
        ("30 1 * * *", "root"), ("*/15 7-18 * * 1-5", "root")]
    assert {command for _, _, command in jobs} == {
        "vdictl report --html /var/www/html/vdi/index.html"}
    page = tmp_path / "www" / "index.html"
    page.parent.mkdir()
    command = jobs[0][2].replace("/var/www/html/vdi/index.html", str(page))
    assert vdictl(site / "vdi-rollout.conf", "virtroom-reset", "lab1").exit_code == 0
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True,
                            env=cron_env(site), timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    text = page.read_text()
    assert "<script" not in text and "lab1-vd03" in text
    assert os.listdir(page.parent) == ["index.html"]
    assert oct(page.stat().st_mode & 0o777) == "0o644"


# --- logrotate -----------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("logrotate") is None and not in_ci(),
                    reason="no logrotate (scripts/install-deps installs it)")
def test_logrotate_file_rotates_the_audit_log(tmp_path):
    shipped = (CRON / "vdictl-logrotate").read_text()
    assert "/var/log/vdictl/audit.log {" in shipped
    log = tmp_path / "audit.log"
    log.write_text("2026-12-03 01:00:01 INFO vdictl.audit: reset of room(s) lab1 started\n")
    conf = tmp_path / "vdictl"
    conf.write_text(shipped.replace("/var/log/vdictl/audit.log", str(log)))
    state = tmp_path / "state"
    debug = subprocess.run(["logrotate", "-d", "-s", str(state), str(conf)],
                           capture_output=True, text=True, timeout=30)
    assert debug.returncode == 0, debug.stderr
    assert "error" not in debug.stderr.lower()
    assert f"rotating pattern: {log}  weekly (52 rotations)" in debug.stderr
    forced = subprocess.run(["logrotate", "-f", "-s", str(state), str(conf)],
                            capture_output=True, text=True, timeout=30)
    assert forced.returncode == 0, forced.stderr
    assert sorted(os.listdir(tmp_path)) == ["audit.log", "audit.log.1", "state", "vdictl"]
    assert log.read_text() == ""
    assert "reset of room(s) lab1" in (tmp_path / "audit.log.1").read_text()
    # ... and -d does see a mistake (it says "error:", though its exit status stays 0)
    conf.write_text(conf.read_text().replace("weekly", "weekyl"))
    broken = subprocess.run(["logrotate", "-d", "-s", str(state), str(conf)],
                            capture_output=True, text=True, timeout=30)
    assert f"error: {conf}:11 unknown option 'weekyl' -- ignoring line" in broken.stderr
