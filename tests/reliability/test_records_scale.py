"""Run records at the size of a large site (issue 24 item 5), on the real
vdictl.records.history and its SQLite store: a record of 10,000 VMs, `vdictl
status --all` over 400 rooms of 60 records, pruning per room, two processes
writing at once, and the move of the JSON records of earlier versions.

Sizes and counts only; the times are in benchmarks/records.py
(`benchmarks/run --only records`, docs/performance.md)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timezone

import pytest

from benchmarks.records import build_state, room_names, site_config, vm_results
from tests.vdictl_cli import vdictl
from vdictl.records import history, store

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNREACHABLE = ("ovirt: engine2 unreachable, given up for this run after 30s without an "
               "answer: Connection refused")


def rows(directory, table):
    conn = sqlite3.connect(store.db_path(str(directory)))
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def test_a_record_of_10000_vms_is_written_and_read_back_whole(tmp_path):
    vms = vm_results(400, 25, failed_room=3)
    record = history.RunRecord(str(tmp_path), "reset", room_names(400))
    record.start()
    [running] = history.records(str(tmp_path), "reset")
    assert (running["status"], running["vms"]) == ("running", [])
    record.finish(exit_status=1, status="partial", vms=vms)
    [whole] = history.records(str(tmp_path), "reset")
    assert whole["vms"] == vms and len(vms) == 10_000
    assert {k: whole[k] for k in ("status", "exit_status", "rooms")} == {
        "status": "partial", "exit_status": 1, "rooms": room_names(400)}
    # one row per VM and per room; about 300 bytes a VM on disk
    assert (rows(tmp_path, "vms"), rows(tmp_path, "rooms"), rows(tmp_path, "runs")) == (
        10_000, 400, 1)
    assert os.path.getsize(store.db_path(str(tmp_path))) < 6_000_000
    run = history.last_runs(str(tmp_path), "lab004")["reset"]
    assert (run.result, run.counts, len(run.failed_vms)) == ("failed", {"failed": 25}, 25)


def test_status_all_over_400_rooms_of_60_records_reads_no_vm(tmp_path, monkeypatch):
    """60 nightly records of 400 rooms; in the last, lab001's VMs failed. status
    says the cause once, and reads two rows per room, never the VMs' rows."""
    state = tmp_path / "state"
    build_state(str(state), rooms=400, vms_per_room=3, runs=60)
    monkeypatch.setenv("VDICTL_STATE_DIR", str(state))
    config = tmp_path / "site.conf"
    site_config(str(config), 400, 3)
    config.chmod(0o600)
    statements = []
    conn = store.reader(str(state))
    conn.set_trace_callback(statements.append)
    data = json.loads(vdictl(config, "status", "--all", "-o", "json").stdout)
    conn.set_trace_callback(None)
    assert len(data["rooms"]) == 400
    assert len([s for s in statements if s.startswith("SELECT")]) == 2 * 400
    assert not [s for s in statements if "vms" in s.split("FROM")[1].split()[0]]
    runs = [record["run"] for record in history.records(str(state), "reset")]
    assert len(runs) == 60
    lab001, lab002 = data["rooms"][0], data["rooms"][1]
    assert (lab001["runs"][0]["run"], lab001["runs"][0]["result"],
            lab001["last_successful_reset"]["run"]) == (runs[0], "failed", runs[1])
    assert (lab002["runs"][0]["result"], lab002["last_successful_reset"]["run"]) == (
        "ok", runs[0])

    text = vdictl(config, "status", "--all")   # off a terminal: the problems only
    ended = datetime.fromisoformat(lab001["runs"][0]["ended"]).astimezone()
    assert (text.exit_code, text.stdout.splitlines()) == (1, [
        f"{UNREACHABLE}: 3 VMs of 1 room (lab001) not reset",
        f"room lab001: last reset ({ended.strftime('%Y-%m-%d %H:%M:%S')}) failed: "
        "3 VM(s) failed",
        "status: 400 room(s): 1 with problems"])


def test_pruning_keeps_the_last_records_of_each_room(tmp_path):
    directory = str(tmp_path)

    def run(rooms, vms=2):
        record = history.RunRecord(directory, "reset", rooms)
        record.start()
        record.finish(exit_status=0, status="success",
                      vms=[v for v in vm_results(3, vms) if v["room"] in rooms])
        history.prune(directory, "reset", 3)
        return record.run_id

    every = [run(["lab001", "lab002", "lab003"]) for _ in range(4)]
    alone = [run(["lab001"]) for _ in range(5)]   # one room's runs by hand
    kept = [r["run"] for r in history.records(directory, "reset")]
    # lab001 keeps its last 3; lab002 and lab003 keep theirs (the site runs), which
    # per command alone would have been pruned away by lab001's
    assert kept == alone[-3:][::-1] + every[-3:][::-1]
    assert history.last_runs(directory, "lab002")["reset"].run == every[-1]
    assert rows(tmp_path, "vms") == 3 * 2 + 3 * 6      # no VM row of a pruned run is left
    assert rows(tmp_path, "rooms") == 3 + 3 * 3


WRITER = textwrap.dedent("""
    import sys, time
    from vdictl.records.history import RunRecord, prune
    directory, name, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
    vms = [{"room": name, "vm": f"{name}-pc{i:03d}", "outcome": "ok", "reason": ""}
           for i in range(500)]
    while time.time() < start:
        time.sleep(0.001)
    for _ in range(25):
        record = RunRecord(directory, "reset", [name])
        record.start()
        record.finish(exit_status=0, status="success", vms=vms)
        prune(directory, "reset", 60)
    """)


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    start = datetime.now(timezone.utc).timestamp() + 1.5   # both started by then
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), name, str(start)],
                              cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
             for name in ("north", "south")]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
        proc.stderr.close()
    records = list(history.records(str(tmp_path), "reset"))
    assert sorted(r["rooms"][0] for r in records) == ["north"] * 25 + ["south"] * 25
    assert all(r["status"] == "success" and len(r["vms"]) == 500 for r in records)
    assert len({r["run"] for r in records}) == 50
    assert rows(tmp_path, "vms") == 50 * 500
    # the two writers were at it at the same time: their runs interleave
    rooms = [r["rooms"][0] for r in sorted(records, key=lambda r: r["run"])]
    assert rooms[:25] != ["north"] * 25 and rooms[:25] != ["south"] * 25


def old_record(run, command, rooms, vms, status="success", error=""):
    """A record as vdictl wrote it before the database: one JSON file per run."""
    return {"format": 1, "run": run, "command": command, "rooms": rooms, "only_vms": [],
            "pid": 4242, "started": "2026-12-01T01:00:00.100+00:00",
            "ended": "2026-12-01T01:02:00.200+00:00", "duration": 120.1, "status": status,
            "exit_status": 1 if error or status != "success" else 0, "error": error,
            "notes": [], "vms": vms, "run_by": {"user": "root", "uid": 0}}


def test_the_json_records_of_earlier_versions_are_moved_in(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    (runs / "reset").mkdir(parents=True)
    (runs / "rollout").mkdir()
    older = old_record("20261130T010000.000000Z-41", "reset", ["lab001", "lab002"],
                       vm_results(2, 3))
    newer = old_record("20261201T010000.000000Z-42", "reset", ["lab001", "lab002"],
                       vm_results(2, 3, failed_room=0), status="partial")
    rollout = old_record("20261120T140000.000000Z-40", "rollout", ["lab001"],
                         vm_results(1, 3))
    for record in (older, newer, rollout):
        path = runs / record["command"] / f"{record['run']}.json"
        path.write_text(json.dumps(record, indent=1) + "\n")
    (runs / "reset" / ".x1.tmp").write_text("{")               # a killed writer's, old
    os.utime(runs / "reset" / ".x1.tmp", (0, 0))
    (runs / "reset" / "notes.json").write_text('{"mine": 1}')  # not a record: stays

    monkeypatch.setenv("VDICTL_STATE_DIR", str(tmp_path))
    config = tmp_path / "site.conf"
    site_config(str(config), 2, 3)
    config.chmod(0o600)
    data = json.loads(vdictl(config, "status", "--all", "-o", "json").stdout)
    lab001 = data["rooms"][0]
    assert [(r["command"], r["run"], r["result"]) for r in lab001["runs"]] == [
        ("reset", newer["run"], "failed"), ("rollout", rollout["run"], "ok")]
    assert lab001["last_successful_reset"]["run"] == older["run"]
    assert [r["vm"] for r in lab001["runs"][0]["failed_vms"]] == [
        "lab001-pc01", "lab001-pc02", "lab001-pc03"]
    # moved: the records are in the database, whole, and their files are gone
    assert [r["run"] for r in history.records(str(tmp_path), "reset")] == [
        newer["run"], older["run"]]
    assert next(history.records(str(tmp_path), "reset")) == newer
    assert sorted(p.name for p in runs.iterdir() if not p.name.startswith("records.")) == [
        "reset"]
    assert [p.name for p in (runs / "reset").iterdir()] == ["notes.json"]


def test_a_database_that_cannot_be_opened_says_why(tmp_path):
    """The error names SQLite's reason and the file (it read "[Errno None] None")."""
    from vdictl.records import store

    (tmp_path / "runs" / store.DB_NAME).mkdir(parents=True)   # a directory in its place
    with pytest.raises(store.StoreError) as caught:
        with store.writing(str(tmp_path)):
            pass
    assert str(caught.value) == (f"unable to open database file: "
                                 f"{tmp_path / 'runs' / store.DB_NAME}")
