"""Run records, `vdictl status` and the metrics file after real runs on libvirt's
test:///default hypervisor (the room lab1 of tests/cli/conftest.py)."""

from __future__ import annotations

import json
import os
import pwd
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.vdictl_cli import vdictl, write_config

from tests.cli.conftest import CONFIG

LAB1 = ["lab1-teacher01", "lab1-vd01", "lab1-vd02", "lab1-vd03", "lab1-vd04"]
NO_SNAPSHOT = ("VM lab1-vd02: no snapshot matches reset_to_snapshot_regex "
               "'vdictl rollout .*' (0 snapshot(s))")


def state_dir() -> Path:
    return Path(os.environ["VDICTL_STATE_DIR"])


def records(command="reset", directory=None):
    """The records of `command`, oldest first, as the readers see them."""
    from vdictl.records.history import records as newest_first

    return list(reversed(list(newest_first(str(directory or state_dir()), command))))


def lose_snapshot(hypervisor, vm="lab1-vd02"):
    for snapshot in hypervisor.dom(vm).listAllSnapshots():
        snapshot.delete()


def local(iso):
    """A record's ISO time as status prints it."""
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def rolled_out(run, hypervisor):
    result = run("virtroom-rollout", "lab1")
    assert result.exit_code == 0, result.output
    return hypervisor


def test_a_reset_writes_one_record_with_every_vm(run, rolled_out):
    before = time.time()
    assert run("virtroom-reset", "lab1").exit_code == 0
    [record] = records()
    assert {k: record[k] for k in ("format", "command", "rooms", "only_vms", "pid", "status",
                                   "exit_status", "error", "notes")} == {
        "format": 1, "command": "reset", "rooms": ["lab1"], "only_vms": [], "pid": os.getpid(),
        "status": "success", "exit_status": 0, "error": "", "notes": []}
    assert record["run_by"] == {"user": pwd.getpwuid(os.getuid()).pw_name, "uid": os.getuid()}
    started = datetime.fromisoformat(record["started"]).timestamp()
    ended = datetime.fromisoformat(record["ended"]).timestamp()
    assert before - 0.01 <= started <= ended <= time.time()
    assert isinstance(record["duration"], float)
    assert sorted(vm["vm"] for vm in record["vms"]) == LAB1
    vd01 = {vm["vm"]: vm for vm in record["vms"]}["lab1-vd01"]
    assert (vd01["outcome"], vd01["reason"], vd01["action"]) == ("ok", "", "reset")
    assert vd01["steps"][0].startswith("restore snapshot 'vdictl rollout IP=192.0.2.11/24")
    # the rollout before it has its own record, in the one database of the records
    assert [r["command"] for r in records("rollout")] == ["rollout"]
    assert {name.split("-")[0] for name in os.listdir(state_dir() / "runs")} == {
        "records.sqlite3"}


def test_status_names_the_failed_vm_and_exits_1(run, rolled_out):
    lose_snapshot(rolled_out)
    assert run("virtroom-reset", "lab1").exit_code == 1
    [record] = records()
    assert (record["status"], record["exit_status"]) == ("partial", 1)
    vd02 = {vm["vm"]: vm for vm in record["vms"]}["lab1-vd02"]
    assert (vd02["outcome"], vd02["reason"]) == ("failed", NO_SNAPSHOT)
    # off a terminal (cron, a monitoring check): the problems only
    result = run("status", "lab1")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "ROOM  COMMAND  FAILED VM  REASON",
        f"lab1  reset    lab1-vd02  {NO_SNAPSHOT}",
        f"room lab1: last reset ({local(record['ended'])}) failed: 1 VM(s) failed",
        "status: 1 room(s): 1 with problems"]
    table = run("status", "lab1", "-o", "table").stdout.splitlines()
    assert table[0].split() == ["ROOM", "COMMAND", "LAST", "RUN", "RESULT", "OK", "FAILED",
                                "SKIPPED", "DURATION", "VMS", "BY", "LAST", "OK", "RESET"]
    # BY, the last column here (no successful reset): who ran it, without sudo
    assert table[1].split()[-1] == pwd.getpwuid(os.getuid()).pw_name
    assert table[1].split()[:2] + table[1].split()[4:8] == ["lab1", "reset", "failed", "4", "1",
                                                             "0"]
    assert table[2].split()[:2] + table[2].split()[4:8] == ["lab1", "rollout", "ok", "5", "0",
                                                             "0"]
    data = json.loads(run("status", "lab1", "-o", "json").stdout)
    reset = data["rooms"][0]["runs"][0]
    assert (data["exit_status"], reset["command"], reset["result"], reset["counts"],
            reset["failed_vms"], data["rooms"][0]["last_successful_reset"]) == (
        1, "reset", "failed", {"ok": 4, "failed": 1, "not-started": 0, "skipped": 0},
        [{"vm": "lab1-vd02", "reason": NO_SNAPSHOT}], None)


def test_status_exit_statuses_for_a_monitoring_check(run, rolled_out):
    never = run("status", "--all", "--max-age", "26h")
    assert never.exit_code == 6
    # kiosk is stateless: it has no reset to be late
    assert never.stdout.splitlines() == [
        "room lab1: no successful reset of the whole room on record (--max-age 26h)",
        "status: 2 room(s): 1 with problems"]
    assert run("virtroom-reset", "--all").exit_code == 0
    fresh = run("status", "--all", "--max-age", "26h")
    assert (fresh.exit_code, fresh.stdout, fresh.stderr) == (0, "", "")
    time.sleep(1.1)
    late = run("status", "--all", "--max-age", "1s")
    ended = records()[-1]["ended"]
    assert late.exit_code == 6
    assert late.stdout.splitlines() == [
        f"room lab1: last successful reset {local(ended)}, 1 s ago, older than --max-age 1s",
        "status: 2 room(s): 1 with problems"]
    assert json.loads(run("status", "lab1", "--max-age", "1s", "-o", "json").stdout)[
        "rooms"][0]["fresh"] is False
    # a failed last run wins over a late one: 1
    lose_snapshot(rolled_out)
    assert run("virtroom-reset", "lab1").exit_code == 1
    assert run("status", "--all", "--max-age", "1s").exit_code == 1


def test_bad_max_age_is_one_line_and_exit_2(run):
    result = run("status", "--all", "--max-age", "26x")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == ("Error: --max-age '26x' is not an age: write a number and s, m, "
                             "h or d (e.g. 26h)\n")


def test_status_of_a_room_never_run(run):
    result = run("status", "lab1", "-o", "table")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].split() == ["lab1", "-", "never"]
    assert result.stdout.splitlines()[-1] == "status: 1 room(s): ok"


def test_a_single_vm_reset_is_not_a_reset_of_the_room(run, rolled_out):
    assert run("virtroom-reset", "lab1", "--vm", "lab1-vd03").exit_code == 0
    [record] = records()
    assert record["only_vms"] == ["lab1-vd03"]
    assert [vm["vm"] for vm in record["vms"]] == ["lab1-vd03"]
    result = run("status", "lab1", "--max-age", "26h", "-o", "table")
    assert result.exit_code == 6
    assert result.stdout.splitlines()[1].split()[-2:] == ["lab1-vd03", pwd.getpwuid(os.getuid()).pw_name]  # VMS, BY


def test_dry_run_writes_no_record(run, rolled_out):
    assert run("virtroom-reset", "lab1", "--dry-run").exit_code == 0
    assert records() == []


def test_records_are_bounded_per_command(tmp_path, hypervisor):
    config = write_config(tmp_path, CONFIG + "[logging]\n    keep_runs = 3\n")
    assert vdictl(config, "virtroom-rollout", "lab1").exit_code == 0
    runs = []
    for _ in range(5):
        assert vdictl(config, "virtroom-reset", "lab1").exit_code == 0
        runs.append(records()[-1]["run"])
    assert [r["run"] for r in records()] == runs[2:]
    assert len(records("rollout")) == 1  # per command


def test_state_dir_from_the_config_and_a_broken_one_warns(tmp_path, hypervisor):
    config = write_config(tmp_path, CONFIG + "[logging]\n    state_dir = records\n")
    assert vdictl(config, "virtroom-rollout", "lab1").exit_code == 0
    assert [r["command"] for r in records("rollout", tmp_path / "records")] == ["rollout"]
    assert not (state_dir() / "runs").exists()
    (tmp_path / "file").write_text("")
    config = write_config(tmp_path, CONFIG + "[logging]\n    state_dir = file\n")
    result = vdictl(config, "virtroom-reset", "lab1")
    assert (result.exit_code, result.stdout) == (0, "")  # the VMs were reset
    assert result.stderr == (f"warning: cannot write the run record: {tmp_path}/file/runs: "
                             "Not a directory ([logging] state_dir)\n"
                             f"warning: cannot write the occupancy record: {tmp_path}/file/"
                             "occupancy: Not a directory ([logging] state_dir)\n")


def test_a_run_that_fails_as_a_whole_is_recorded(tmp_path):
    config = write_config(tmp_path, CONFIG.replace("test:///default",
                                                   "test:///nonexistent/hypervisor.xml"))
    result = vdictl(config, "virtroom-start", "lab1")
    assert result.exit_code == 3
    [record] = records("start")
    assert (record["status"], record["exit_status"], record["vms"]) == ("error", 3, [])
    assert record["error"] == result.stderr.removeprefix("Error: ").rstrip("\n")
    status = vdictl(config, "status", "lab1")
    assert status.exit_code == 1
    assert status.stdout.splitlines()[0] == (
        f"room lab1: last start ({local(record['ended'])}) failed: {record['error']}")


# --- the Prometheus textfile ----------------------------------------------------

def metrics(path):
    from prometheus_client.parser import text_string_to_metric_families

    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(path.read_text())
            for sample in family.samples}


def test_metrics_file_says_what_the_runs_did(tmp_path, hypervisor):
    prom = tmp_path / "textfile" / "vdictl.prom"
    prom.parent.mkdir()
    config = write_config(tmp_path, CONFIG + f"[logging]\n    metrics_file = {prom}\n")
    assert vdictl(config, "virtroom-rollout", "lab1").exit_code == 0
    assert vdictl(config, "virtroom-reset", "lab1").exit_code == 0
    lose_snapshot(hypervisor)
    assert vdictl(config, "virtroom-reset", "lab1").exit_code == 1
    good, bad = records()
    [rollout] = records("rollout")
    values = metrics(prom)

    def value(name, command="reset", **labels):
        return values[(name, tuple(sorted({"command": command, "room": "lab1",
                                           **labels}.items())))]

    def at(record):
        return datetime.fromisoformat(record["ended"]).timestamp()

    assert value("vdictl_last_run_timestamp_seconds") == pytest.approx(at(bad), abs=0.01)
    assert value("vdictl_last_success_timestamp_seconds") == pytest.approx(at(good), abs=0.01)
    assert value("vdictl_last_success_timestamp_seconds", "rollout") == pytest.approx(
        at(rollout), abs=0.01)
    assert value("vdictl_last_run_failed") == 1
    assert value("vdictl_last_run_failed", "rollout") == 0
    assert value("vdictl_run_duration_seconds") == bad["duration"]
    assert {outcome: value("vdictl_vms", outcome=outcome)
            for outcome in ("ok", "failed", "skipped", "not-started")} == {
        "ok": 4, "failed": 1, "skipped": 0, "not-started": 0}
    assert value("vdictl_vms", "rollout", outcome="ok") == 5
    # the room never run (kiosk) has no series; no temporary file is left beside the file
    assert not any(dict(labels).get("room") == "kiosk" for _, labels in values)
    assert os.listdir(prom.parent) == ["vdictl.prom"]


def test_metrics_file_must_end_in_prom(tmp_path):
    config = write_config(tmp_path, CONFIG + "[logging]\n    metrics_file = /tmp/vdictl.txt\n")
    result = vdictl(config, "status", "--all")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {config} [logging] metrics_file: /tmp/vdictl.txt does not end in .prom, and "
        "node_exporter's textfile collector reads only *.prom files; write e.g. "
        "/tmp/vdictl.prom\n")


def test_a_run_that_never_got_its_room_writes_no_record(run, rolled_out):
    """Another run holds lab1 (exit 5): nothing was done, so nothing is recorded."""
    from vdictl.lock import RoomLocks

    with RoomLocks(["lab1"]):
        result = run("virtroom-reset", "lab1")
    assert result.exit_code == 5
    assert result.stderr.startswith(f"Error: room 'lab1' is busy: pid {os.getpid()} holds ")
    assert records() == []
