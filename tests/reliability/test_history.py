"""Run records, `vdictl status` and the metrics file on the oVirt engine
simulator: a failed VM, and vdictl killed with kill -9 in the middle of a
reset (and in the middle of writing records)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime

import pytest

from .conftest import REPO
from tests.waiting import wait_until
from .test_kill9 import restores


def runs(command="reset"):
    """The records of `command`, oldest first, as the readers see them."""
    from vdictl.records.history import records

    return list(reversed(list(records(os.environ["VDICTL_STATE_DIR"], command))))


def local(iso):
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def metric_values(path):
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(path.read_text())
            for s in family.samples}


def test_a_failed_vm_on_the_engine_in_records_status_and_metrics(site_factory, tmp_path):
    site = site_factory({"hr": 4}, batch=2, parallel=4)
    prom = tmp_path / "vdictl.prom"
    with open(site.path, "a") as fh:
        fh.write(f"[logging]\n    metrics_file = {prom}\n")
    site.sim.add_snapshot("hr-pc02", "vdictl rollout again, by hand")  # two match: fails
    code, report = site.report("virtroom-reset", "hr")
    assert code == 1
    reason = {r["vm"]: r["reason"] for r in report["results"]}["hr-pc02"]
    assert "hr-pc02" in reason and reason
    [record] = runs()
    assert (record["status"], record["exit_status"], record["rooms"]) == ("partial", 1, ["hr"])
    assert {vm["vm"]: vm["outcome"] for vm in record["vms"]} == {
        "hr-pc01": "ok", "hr-pc02": "failed", "hr-pc03": "ok", "hr-pc04": "ok"}

    status = site.invoke("status", "hr")
    assert status.exit_code == 1
    assert status.stdout.splitlines() == [
        "ROOM  COMMAND  FAILED VM  REASON",
        f"hr    reset    hr-pc02    {reason}",
        f"room hr: last reset ({local(record['ended'])}) failed: 1 VM(s) failed",
        "status: 1 room(s): 1 with problems"]
    values = metric_values(prom)
    labels = (("command", "reset"), ("room", "hr"))
    assert values[("vdictl_vms", labels[:1] + (("outcome", "failed"),) + labels[1:])] == 1
    assert values[("vdictl_vms", labels[:1] + (("outcome", "ok"),) + labels[1:])] == 3
    assert values[("vdictl_last_run_failed", labels)] == 1
    assert values[("vdictl_last_success_timestamp_seconds", labels)] == 0  # never
    assert values[("vdictl_last_run_timestamp_seconds", labels)] == pytest.approx(
        datetime.fromisoformat(record["ended"]).timestamp(), abs=0.001)

    remove_snapshot(site, "hr-pc02", "vdictl rollout again, by hand")  # the operator's fix
    assert site.report("virtroom-reset", "hr")[0] == 0
    ok = site.invoke("status", "hr", "--max-age", "26h")
    assert (ok.exit_code, ok.stdout) == (0, "")
    assert metric_values(prom)[("vdictl_last_success_timestamp_seconds", labels)] > 0


def remove_snapshot(site, vm, description):
    """Remove a snapshot through the engine's API, as the admin portal would."""
    from ovirtsdk4 import Connection

    conn = Connection(url=site.sim.url, username=site.sim.username, password=site.sim.password)
    try:
        vms = conn.system_service().vms_service()
        snapshots = vms.vm_service(vms.list(search=f"name={vm}")[0].id).snapshots_service()
        [snapshot] = [s for s in snapshots.list() if s.description == description]
        snapshots.snapshot_service(snapshot.id).remove()
    finally:
        conn.close()
    site.sim.settle()


def test_kill_9_mid_reset_leaves_a_whole_record_that_status_calls_unfinished(site_factory):
    site = site_factory({"hk": 6}, batch=2, parallel=4, sim_knobs={"time_scale": 0.05})
    for vm in site.vms():
        site.sim.set_vm_status(vm, "up")
    proc = site.popen("virtroom-reset", "hk")
    wait_until(lambda: restores(site.sim), what="the first restore")
    proc.kill()
    proc.wait(timeout=10)
    [record] = runs()
    assert (record["status"], record["pid"], record["ended"], record["vms"]) == (
        "running", proc.pid, None, [])

    status = site.invoke("status", "hk")
    assert status.exit_code == 1
    assert status.stdout.splitlines() == [
        f"room hk: last reset ({local(record['started'])}) unfinished: it never ended (killed?)",
        "status: 1 room(s): 1 with problems"]
    data = json.loads(site.invoke("status", "hk", "-o", "json").stdout)
    assert data["rooms"][0]["runs"][0]["result"] == "unfinished"

    code, report = site.report("virtroom-reset", "hk")
    assert code == 0, report
    assert len(runs()) == 2
    after = site.invoke("status", "hk", "--max-age", "26h")
    assert (after.exit_code, after.stdout) == (0, "")


WRITER = """
import sys
from vdictl.records.history import RunRecord
vms = [{"room": "r", "vm": f"r-pc{i:03d}", "action": "reset", "outcome": "ok",
        "reason": "x" * 200, "steps": ["power off", "restore snapshot", "start"],
        "duration": 1.0} for i in range(400)]
print("writing", flush=True)
while True:
    record = RunRecord(sys.argv[1], "reset", ["r"])
    record.start()
    record.finish(exit_status=0, status="success", vms=vms)
"""


def test_kill_9_while_writing_records_leaves_only_whole_ones(tmp_path):
    """Records of 400 VMs written in a loop, the writer killed at random moments:
    every record there is whole, and the database passes its integrity check."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for attempt in range(5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=REPO,
                                stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout.readline() == "writing\n"
        time.sleep(0.05 + attempt * 0.07)
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
    from vdictl.records import history, store

    records = list(history.records(str(tmp_path), "reset"))
    assert len(records) > 5
    for data in records:
        assert data["status"] in ("running", "success")
        assert len(data["vms"]) == (0 if data["status"] == "running" else 400)
    conn = sqlite3.connect(store.db_path(str(tmp_path)))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
