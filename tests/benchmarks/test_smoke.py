"""The benchmark harness at a tiny size, so that it cannot rot.

Asserts that its outputs are sane (every VM reset, counts that add up, a
report with the tables and the plot), never timings.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("ovirtsdk4")

from benchmarks import report  # noqa: E402
from benchmarks.site_reset import bench_size, floor_seconds  # noqa: E402
from benchmarks.startup import bench_startup  # noqa: E402


def test_floor_follows_the_issue():
    # stop + ceil(25 R / b) * restore + start
    assert floor_seconds(250, 10) == 3 + 25 * 20 + 10
    assert floor_seconds(1000, 5) == 3 + 200 * 20 + 10
    assert floor_seconds(25, 10, pause=30) == 3 + 20 + 2 * 30 + 10


def test_site_reset_and_report_at_a_tiny_size(tmp_path):
    rows = bench_size(1, [10], scale=0.002, reps=1, log=lambda _msg: None)
    [row] = rows
    assert row["vms"] == 25 and row["batch"] == 10 and row["all_ok"]
    assert row["sso_logins"] == 1
    assert row["max_snapshot_ops"] <= 10
    assert row["requests_per_vm"] > 3       # at least stop, restore and start
    assert row["vdictl"]["median"] > 0 and row["barrier"] > 0 and row["sequential"] > 0
    assert row["barrier_sso_logins"] == 10   # one login per worker of the baseline
    assert row["ratio"]["median"] == pytest.approx(row["vdictl"]["median"] / row["floor"])

    startup = bench_startup(runs=1, sizes=(10,), log=lambda _msg: None)
    assert startup["modules_help"] == [] and "ovirtsdk4" not in startup["modules_rooms"]
    assert set(startup["load"]) == {10}

    results = {"args": "--quick", "date": "today", "loadavg": "0.0", "scale": 0.002,
               "site_reset": rows, "startup": startup, "libvirt": {"skipped": "not here"}}
    md, png = tmp_path / "performance.md", tmp_path / "performance.png"
    try:
        import matplotlib  # noqa: F401  (the bench extra; tests do not need it)
    except ImportError:
        png = None
    report.write(results, str(md), str(png) if png else None)
    text = md.read_text()
    assert "| 1 | 25 | 10 |" in text
    assert "## 2. Real libvirt" in text and "Skipped: not here." in text
    assert "`vdictl --help`" in text
    assert png is None or png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(results)   # the raw results are plain data


def test_sites_benchmark_and_its_report_section_at_a_tiny_size(tmp_path):
    pytest.importorskip("libvirt")
    from benchmarks.sites import bench_sites

    res = bench_sites(sizes=(1, 2), reps=1, log=lambda _msg: None)
    assert [(r["label"], r["endpoints"], r["vms"], r["all_ok"]) for r in res["rows"]] == [
        ("1 endpoint(s)", 1, 25, True), ("2 endpoint(s)", 2, 50, True),
        ("2 rooms on 1 endpoint", 1, 50, True)]
    text = "\n".join(report.sites_section(res))
    assert "| 2 endpoint(s) | 2 | 50 |" in text and "every VM reset: yes" in text


def test_a_partial_run_keeps_the_other_sections_of_the_committed_report(tmp_path):
    """results.json is not committed: on a fresh clone the report itself keeps them."""
    import shutil
    from pathlib import Path

    committed = Path(__file__).resolve().parents[2] / "docs" / "performance.md"
    md = tmp_path / "performance.md"
    shutil.copy(committed, md)
    before = report.previous_sections(str(md))
    report.write({"args": "--only sites", "date": "today", "loadavg": "0", "scale": 0.05},
                 str(md), None)
    after = report.previous_sections(str(md))
    for key in ("site_reset", "libvirt", "startup", "pve"):
        assert after[key]["text"] == before[key]["text"]
        assert after[key]["date"] == before[key]["date"]


def test_pve_floor_follows_the_brief():
    pytest.importorskip("proxmoxer")
    from benchmarks.pve_reset import floor_seconds as pve_floor

    # stop 2 + ceil(VMs / batch) * rollback 10 + start 3
    assert pve_floor(250, 10) == 2 + 25 * 10 + 3
    assert pve_floor(250, 5) == 2 + 50 * 10 + 3
    assert pve_floor(25, 10) == 2 + 3 * 10 + 3


def test_pve_site_reset_and_its_report_section_at_a_tiny_size():
    pytest.importorskip("proxmoxer")
    from benchmarks.pve_reset import bench_pve

    [row] = bench_pve(1, [10], scale=0.005, reps=1, sequential_vms=5, log=lambda _msg: None)
    assert row["vms"] == 25 and row["batch"] == 10 and row["all_ok"]
    assert row["logins"] == 1 and row["sequential_logins"] == 1
    assert 1 <= row["max_snapshot_ops"] <= 10
    assert row["requests_per_vm"] > 4          # stop, rollback, start and their lookups
    assert row["requests_by_kind"]["action"] == 3 * 25
    assert row["sequential_measured_vms"] == 5
    assert row["sequential"] == pytest.approx(row["sequential_per_vm"] * 25)
    assert row["ratio"]["median"] == pytest.approx(row["vdictl"]["median"] / row["floor"])
    assert set(row["timeline"]) == {"lead_in", "to_first_rollback", "rollbacks", "slot_gap",
                                    "tail"}
    text = "\n".join(report.pve_section([row]))
    assert "## 5. Site reset on the Proxmox VE simulator" in text
    assert "| 1 | 25 | 10 | 35 |" in text
    assert "every VM reset (rolled back and running, no lock left, no task failed): yes" in text
    json.dumps(row)   # plain data


def test_run_records_benchmark_at_a_tiny_size(tmp_path):
    from benchmarks.records import bench_migration, bench_records, records_section

    res = bench_records(str(tmp_path), rooms=4, vms_per_room=3, runs=2, log=lambda _m: None)
    assert (res["rooms"], res["vms"], res["runs"]) == (4, 12, 2)
    assert res["db_bytes"] > 0 and res["status_cli"] > 0 and res["read_whole"] > 0
    migration = bench_migration(str(tmp_path), 4, 3, 2, log=lambda _m: None)
    assert migration["runs"] == 2 and migration["json_bytes"] > 0
    assert not list((tmp_path / "legacy" / "runs").glob("reset/*.json"))   # moved in
    res.update(migrate=migration["migrate"], json_bytes=migration["json_bytes"],
               migrate_runs=2)
    lines = records_section(res)
    assert lines[0] == "## Run records at the size of a site"
    assert any(line.startswith("| move 2 JSON records") for line in lines)


def test_scale_benchmark_and_its_report_section_at_a_tiny_size(tmp_path):
    from benchmarks.report_scale import scale_section
    from benchmarks.scale import bench_scale

    res = bench_scale([1, 2], scale=0.002, rooms=1, log=lambda _msg: None)
    small, big = res["rows"]
    assert (small["engines"], small["vms"], big["engines"], big["vms"]) == (1, 25, 2, 50)
    assert small["all_ok"] and big["all_ok"]
    assert big["logins"] == [1, 1]                       # one login per engine
    assert max(big["snapshot_peaks"]) <= res["per_engine"]
    assert big["threads"] > 0 and big["requests_per_vm"] > 3
    assert set(res["views"]) >= {"virtroom-show --all", "status --all", "report --html"}
    text = "\n".join(scale_section(res))
    assert "## 6. A site of several engines" in text and "| 2 | 50 |" in text
    json.dumps(res)


def test_the_day_section_reports_vacated_and_the_preflight_cost():
    from benchmarks.vacated import day_section

    run = {"desks": 250, "median_wall": 0.24, "median_cpu": 0.36, "requests": 23}
    text = "\n".join(day_section({"runs": 4, "ovirt": dict(run, preflight=267, show=273),
                                  "proxmox": dict(run, requests=772)}))
    assert text.startswith("## 7. Between lessons and the evening check")
    assert "| oVirt (engine simulator) | 250 | 0.24 | 0.36 | 23 |" in text
    assert "| Proxmox VE | 250 | 0.24 | 0.36 | 772 |" in text
    assert "on the engine simulator: 267 requests; `virtroom-show --all`: 273." in text
    assert day_section(None)[-2] == "Not run."
