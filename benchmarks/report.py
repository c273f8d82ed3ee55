# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/performance.md and docs/performance.png from the benchmark results."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
NOTES = os.path.join(HERE, "notes.md")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
            mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    qemu = _first_line(["qemu-system-x86_64", "--version"])
    return (f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}" + (f"; {qemu}" if qemu else ""))


def _first_line(cmd: List[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.splitlines()[0].strip() if out else ""


def _mmm(s: Dict[str, float], fmt: str = "{:.0f}", unit: str = "") -> str:
    if s["runs"] == 1:
        return fmt.format(s["median"]) + unit
    return (fmt.format(s["median"]) + unit + " (" + fmt.format(s["min"]) + "–"
            + fmt.format(s["max"]) + ")")


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def site_section(rows: List[Dict[str, Any]], scale: float) -> List[str]:
    out = [
        "## 1. Site reset on the engine simulator",
        "",
        "Engine latencies: stop 3 s, restore 20 s, start 10 s, snapshot 15 s; a restore is "
        f"complete when the VM is down and its snapshot unlocked. Time scale {scale:g}: every "
        "latency and every client's poll interval is multiplied by it and the wall time "
        "divided by it again, so all times below are engine seconds. 25 VMs per room, "
        "`snapshot_batch_pause = 0`, `parallel = 10`. Floor: "
        "`stop + ceil(VMs / batch) · restore + start`.",
        "",
        "vdictl: median (min–max) of the runs (one value: one run). Phase-barrier client: one run. Sequential "
        "(Amoothei's algorithm): measured on the first room, times the number of rooms.",
        "",
        "| rooms | VMs | batch | floor s | vdictl s | × floor | phase-barrier s | "
        "sequential s | speed-up vs sequential | vs phase-barrier | requests/VM | SSO logins "
        "| peak RSS MB | snapshot ops in flight |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        v = r["vdictl"]["median"]
        out.append(
            f"| {r['rooms']} | {r['vms']} | {r['batch']} | {r['floor']:.0f} | "
            f"{_mmm(r['vdictl'])} | {_mmm(r['ratio'], '{:.2f}')} | {r['barrier']:.0f} | "
            f"{r['sequential']:.0f} | {r['sequential'] / v:.1f}× | {r['barrier'] / v:.2f}× | "
            f"{r['requests_per_vm']:.1f} | {r['sso_logins']} | {r['rss_mb']:.0f} | "
            f"{r['max_snapshot_ops']} |")
    seq = rows[0]
    out += ["", f"Baselines: sequential {seq['sequential_per_vm']:.1f} s and "
            f"{seq['sequential_requests_per_vm']:.1f} requests per VM; phase-barrier "
            + ", ".join(f"b={r['batch']} {r['barrier_requests_per_vm']:.0f} requests/VM and "
                        f"{r['barrier_sso_logins']} SSO logins"
                        for r in rows if r["rooms"] == rows[-1]["rooms"]) + ".", ""]
    big = [r for r in rows if r["rooms"] >= 10]
    thousand = [r for r in rows if r["vms"] >= 1000]
    out += ["Targets:", ""]
    if big:
        worst = max(r["ratio"]["median"] for r in big)
        out.append(f"- at most 1.10× the floor for 10 and 40 rooms: worst median "
                   f"{worst:.2f}× — {_mark(worst <= 1.10)}")
    out.append(f"- one SSO session per run: at most {max(r['sso_logins'] for r in rows)} — "
               f"{_mark(all(r['sso_logins'] == 1 for r in rows))}")
    worst_req = max(r["requests_per_vm"] for r in rows)
    out.append(f"- at most 15 API requests per VM, polls included: at most {worst_req:.1f} — "
               f"{_mark(worst_req <= 15)}")
    if thousand:
        rss = max(r["rss_mb"] for r in thousand)
        out.append(f"- peak RSS at most 150 MB at 1,000 VMs: {rss:.0f} MB — {_mark(rss <= 150)}")
    out.append(f"- every VM reset: {_mark(all(r['all_ok'] for r in rows))}")
    out += ["", "Where vdictl's time goes (engine seconds, median run, seen from the engine; "
            "ideal in brackets): lead-in = login, inventory and snapshot lists before the "
            "first stop; slot gap = mean time a finished restore's slot stays unused (the "
            "poll that sees the end, the snapshot-unlock check, and the next VM's restore "
            "request: its lookups are done before it takes the slot).", "",
            "| rooms | batch | lead-in | first stop → first restore | restores | slot gap | "
            "last restore → end | client CPU ms/VM |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        t = r.get("timeline") or {}
        if not t:
            continue
        batches = -(-r["vms"] // r["batch"])
        out.append(f"| {r['rooms']} | {r['batch']} | {t['lead_in']:.1f} [0] | "
                   f"{t['to_first_restore']:.1f} [3] | {t['restores']:.0f} "
                   f"[{batches * 20}] | {t['slot_gap']:.2f} [0] | {t['tail']:.1f} [10] | "
                   f"{r.get('cpu_ms_per_vm', 0):.0f} |")
    kinds = rows[-1]["requests_by_kind"]
    out += ["", "Requests of the largest run by kind: " + ", ".join(
        f"{k} {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])) + ".", "",
        "![reset wall time against VM count](performance.png)", ""]
    return out


def scales_section(rows: List[Dict[str, Any]]) -> List[str]:
    if not rows:
        return []
    r0 = rows[0]
    out = [f"Time-scale sensitivity: {r0['rooms']} rooms, batch {r0['batch']}, one run per "
           "scale. The engine's latencies and vdictl's waits shrink with the scale, CPU time "
           "does not: an excess that falls as the scale grows is CPU spent by the client and "
           "the simulator (on the same cores), magnified by 1/scale.", "",
           "| time scale | vdictl s | × floor | slot gap s | requests/VM |",
           "|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['scale']:g} | {r['wall']:.0f} | {r['ratio']:.2f} | "
                   f"{r['timeline'].get('slot_gap', 0):.2f} | {r['requests_per_vm']:.1f} |")
    return out + [""]


def libvirt_section(res: Optional[Dict[str, Any]]) -> List[str]:
    out = ["## 2. Real libvirt (private QEMU sandbox, TCG)", ""]
    if not res:
        return out + ["Not run.", ""]
    if "skipped" in res:
        return out + [f"Skipped: {res['skipped']}.", ""]
    rs, ro = res["reset"], res["rollout"]
    out += [
        f"One room of {res['vms']} VMs (32 MiB guests). vdictl with `parallel = "
        f"{res['parallel']}`, `snapshot_batch_size = {res['parallel']}`, pause 0; the loops "
        "run `virsh destroy`, `snapshot-revert --current`, `start` per VM. Seconds, median "
        f"(min–max) of {rs['vdictl']['runs']} interleaved runs.",
        "",
        "| reset | seconds |", "|---|---:|",
        f"| vdictl virtroom-reset | {_mmm(rs['vdictl'], '{:.1f}')} |",
        f"| sequential virsh loop | {_mmm(rs['sequential'], '{:.1f}')} |",
        f"| virsh loop through xargs -P{res['parallel']} | {_mmm(rs['xargs'], '{:.1f}')} |",
        "",
        f"- vdictl / xargs -P{res['parallel']}: {res['reset_vs_xargs']:.2f}× (target at most "
        f"1.05×) — {_mark(res['reset_vs_xargs'] <= 1.05)}",
        f"- speed-up over the sequential loop: {res['reset_speedup_vs_sequential']:.1f}× "
        f"(target at least 2.5×) — {_mark(res['reset_speedup_vs_sequential'] >= 2.5)}",
        "",
        "| rollout (linked clone + snapshot) | seconds |", "|---|---:|",
        f"| vdictl virtroom-rollout | {_mmm(ro['vdictl'], '{:.1f}')} |",
        f"| qemu-img create -b + virsh define + snapshot-create-as loop | "
        f"{_mmm(ro['loop'], '{:.1f}')} |",
        "",
        f"- vdictl / loop: {res['rollout_vs_loop']:.2f}× (target at most 1.2×) — "
        f"{_mark(res['rollout_vs_loop'] <= 1.2)}",
        "",
    ]
    return out


def startup_section(res: Optional[Dict[str, Any]]) -> List[str]:
    out = ["## 3. Start-up", ""]
    if not res:
        return out + ["Not run.", ""]
    ms = lambda s: _mmm({k: (v * 1000 if k != "runs" else v) for k, v in s.items()}, "{:.0f}")  # noqa: E731
    out += [
        "Fresh processes, interleaved; milliseconds, median (min–max).", "",
        "| command | ms | ratio to `import click` |", "|---|---:|---:|",
        f"| `python -c 'import click'` | {ms(res['import_click'])} | 1 |",
        *([f"| `--help` of a click group of one command (the floor) | "
           f"{ms(res['click_group_help'])} | {res['click_group_ratio']:.2f} |"]
          if "click_group_help" in res else []),
        f"| `vdictl --help` | {ms(res['help'])} | {res['help_ratio']:.2f} |",
        f"| `vdictl rooms` (200 rooms, 5,000 VMs) | {ms(res['rooms200'])} | "
        f"{res['rooms_ratio']:.2f} |",
        *([f"| `vdictl rooms --resettable` (builds and checks the 5,000 VMs) | "
           f"{ms(res['rooms200_checked'])} | {res['rooms_checked_ratio']:.2f} |"]
          if "rooms200_checked" in res else []),
        "",
        f"- ratio at most 1.5: --help {res['help_ratio']:.2f}, rooms {res['rooms_ratio']:.2f} — "
        f"{_mark(max(res['help_ratio'], res['rooms_ratio']) <= 1.5)}",
        "- optional modules imported (ovirtsdk4, libvirt, pycurl, jinja2) by `--help`: "
        + (", ".join(res["modules_help"]) or "none")
        + "; by `rooms`: " + (", ".join(res["modules_rooms"]) or "none"),
        "",
        "Config load (in-process, 25 VMs per room):", "",
        "| rooms | ms | ms per room |", "|---:|---:|---:|",
    ]
    for n, s in sorted(res["load"].items(), key=lambda kv: int(kv[0])):
        out.append(f"| {n} | {ms(s)} | {s['median'] * 1000 / int(n):.2f} |")
    return out + [""]


def sites_section(res: Optional[Dict[str, Any]]) -> List[str]:
    out = ["## 4. Sites with several endpoints (libvirt test driver)", ""]
    if not res:
        return out + ["Not run.", ""]
    rows = res["rows"]
    out += [
        f"`virtroom-reset --all` of {res['vms_per_endpoint']} VMs per endpoint, each endpoint "
        "a libvirt test:///FILE hypervisor (in vdictl's process, so the backend costs almost "
        "nothing and vdictl's own cost shows); `parallel = 16`, `snapshot_batch_size = 16`, "
        "`parallel_per_host = 4`, pause 0. CPU seconds and peak RSS of the vdictl process, "
        "interpreter start-up included; median (min–max) of "
        f"{res['reps']} runs. The last row puts the same rooms on one endpoint.",
        "",
        "| run | endpoints | VMs | CPU s | CPU s per 100 VMs | peak RSS MB | "
        "RSS MB per 100 VMs | wall s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(f"| {r['label']} | {r['endpoints']} | {r['vms']} | "
                   f"{_mmm(r['cpu'], '{:.2f}')} | {r['cpu_per_100']:.2f} | "
                   f"{_mmm(r['maxrss_mb'], '{:.0f}')} | {r['rss_per_100']:.0f} | "
                   f"{_mmm(r['wall'], '{:.2f}')} |")
    first = rows[0]
    most = max((r for r in rows[:-1]), key=lambda r: r["endpoints"])
    growth_cpu = most["cpu"]["median"] / first["cpu"]["median"]
    growth_rss = most["maxrss_mb"]["median"] / first["maxrss_mb"]["median"]
    factor = most["endpoints"] / first["endpoints"]
    out += [
        "",
        f"- from {first['endpoints']} to {most['endpoints']} endpoints ({factor:.0f}× the VMs): "
        f"CPU {growth_cpu:.2f}×, peak RSS {growth_rss:.2f}× — linear or better: "
        f"{_mark(growth_cpu <= factor and growth_rss <= factor)}",
        f"- cost of one more endpoint (the same VMs on {most['endpoints']} endpoints against "
        f"one): {res['per_endpoint_ms']:.0f} ms CPU and {res['per_endpoint_rss_mb']:.1f} MB "
        f"each — at most 50 ms: {_mark(res['per_endpoint_ms'] <= 50)}",
        f"- every VM reset: {_mark(all(r['all_ok'] for r in rows))}",
        "",
    ]
    return out


def pve_section(rows: Optional[List[Dict[str, Any]]]) -> List[str]:
    out = ["## 5. Site reset on the Proxmox VE simulator", ""]
    if not rows:
        return out + ["Not run.", ""]
    from .pve import DURATIONS, REQUEST_LATENCY

    r0 = rows[0]
    stop, rollback, start = (DURATIONS[k] for k in ("qmstop", "qmrollback", "qmstart"))
    out += [
        f"`vdictl virtroom-reset --all` of {r0['rooms']} room(s) of 25 running VMs (linked clones "
        f"on LVM-thin, odd rooms on node pve1, even rooms on pve2, each with its vdictl "
        f"snapshot and owner mark) on the Proxmox VE simulator (tests/pve_sim) in a process "
        f"of its own, over HTTPS with a ticket login. Task durations: stop {stop:g} s, "
        f"rollback {rollback:g} s, start {start:g} s; {REQUEST_LATENCY * 1000:g} ms per "
        f"request (benchmarks/notes.md says where they come from). Time scale "
        f"{r0['scale']:g}: every duration and every client's poll interval is multiplied by "
        "it and the wall time divided by it again, so all times below are simulated "
        "seconds. `snapshot_batch_pause = 0`, `parallel = 10`. Floor: `stop + ceil(VMs / "
        "batch) · rollback + start`.",
        "",
        "vdictl: median (min–max) of the runs (one value: one run). Sequential: a `qm`-style "
        "loop through proxmoxer (for each VM stop, rollback, start, each task's status polled "
        f"once per second until it ends), measured on the first "
        f"{r0['sequential_measured_vms']} VMs and extrapolated to the site (marked *).",
        "",
        "| rooms | VMs | batch | floor s | vdictl s | × floor | sequential s | speed-up vs "
        "sequential | requests/VM | logins | peak RSS MB | snapshot ops in flight | all VMs ok |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        v = r["vdictl"]["median"]
        star = "*" if r["sequential_measured_vms"] < r["vms"] else ""
        out.append(
            f"| {r['rooms']} | {r['vms']} | {r['batch']} | {r['floor']:.0f} | "
            f"{_mmm(r['vdictl'])} | {_mmm(r['ratio'], '{:.2f}')} | {r['sequential']:.0f}{star} | "
            f"{r['sequential'] / v:.1f}× | {r['requests_per_vm']:.1f} | {r['logins']} | "
            f"{r['rss_mb']:.0f} | {r['max_snapshot_ops']} | {_mark(r['all_ok'])} |")
    out += ["", f"Sequential loop: {r0['sequential_per_vm']:.1f} s and "
            f"{r0['sequential_requests_per_vm']:.1f} requests per VM (polls included), "
            f"{r0['sequential_logins']} login; measured on {r0['sequential_measured_vms']} VMs.",
            "", "Targets:", ""]
    worst = max(r["ratio"]["median"] for r in rows)
    out += [
        f"- at most 1.10× the floor: worst median {worst:.2f}× — {_mark(worst <= 1.10)}",
        f"- one login per run: at most {max(r['logins'] for r in rows)} — "
        f"{_mark(all(r['logins'] == 1 for r in rows))}",
        "- snapshot operations in flight at most the batch size: "
        + ", ".join(f"{r['max_snapshot_ops']} at batch {r['batch']}" for r in rows) + " — "
        + _mark(all(r["max_snapshot_ops"] <= r["batch"] for r in rows)),
        f"- every VM reset (rolled back and running, no lock left, no task failed): "
        f"{_mark(all(r['all_ok'] for r in rows))}",
        "",
        "Where vdictl's time goes (simulated seconds, median run, seen from the simulator; "
        "ideal in brackets): lead-in = login, inventory (cluster resources, the config of "
        "each tagged VM) and the first VMs' snapshot lists before the first stop; slot gap "
        "= mean time from a rollback's end to the next rollback request on its batch slot "
        "(the node's task poll that sees the end, then the next VM's request: its lookups "
        "are done before it takes the slot); last rollback → end = the last VM's start and "
        "the poll that sees it.",
        "",
        "| rooms | batch | lead-in | first stop → first rollback | rollbacks | slot gap | "
        "last rollback → end | client CPU ms/VM | HTTPS connections |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        t = r.get("timeline") or {}
        if not t:
            continue
        batches = -(-r["vms"] // r["batch"])
        out.append(f"| {r['rooms']} | {r['batch']} | {t['lead_in']:.1f} [0] | "
                   f"{t['to_first_rollback']:.1f} [{stop:g}] | {t['rollbacks']:.0f} "
                   f"[{batches * rollback:g}] | {t['slot_gap']:.2f} [0] | "
                   f"{t['tail']:.1f} [{start:g}] | {r.get('cpu_ms_per_vm', 0):.0f} | "
                   f"{r['connections']} |")
    kinds = rows[-1]["requests_by_kind"]
    out += ["", f"Requests of the batch-{rows[-1]['batch']} run by kind: " + ", ".join(
        f"{k} {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])) + ".", ""]
    return out


#: the heading each result section of the report starts with, by results key
HEADINGS = {"site_reset": "## 1. ", "libvirt": "## 2. ", "startup": "## 3. ", "sites": "## 4. ",
            "pve": "## 5. ", "records": "## Run records", "scale_site": "## 6. ",
            "day": "## 7. "}


def previous_sections(md_path: str) -> Dict[str, Any]:
    """The sections of the report as it is now (as committed: the raw results
    file is not), by results key, and when each was measured."""
    try:
        with open(md_path) as fh:
            text = fh.read()
    except OSError:
        return {}
    import re

    written = re.search(r"^Written by .* on (.+?)\. Do not edit", text, re.M)
    line = re.search(r"^Sections not re-run .*$", text, re.M)
    kept = dict(re.findall(r"(\w+) from (\d{4}-\d\d-\d\d [\d:]+ \w+)",
                           line.group(0) if line else ""))
    machine_line = re.search(r"^Machine: (.+?)\. Load average", text, re.M)
    copied_on = re.search(r"^The copied sections were measured on: (.+)\.$", text, re.M)
    parts = re.split(r"^(?=## )", text, flags=re.M)
    found: Dict[str, Any] = {}
    for key, heading in HEADINGS.items():
        for part in parts:
            if part.startswith(heading):
                date = kept.get(key) or (written.group(1) if written else "an earlier run")
                on = copied_on if key in kept and copied_on else machine_line
                found[key] = {"text": part.rstrip("\n") + "\n", "date": date,
                              "machine": on.group(1) if on else ""}
    return found


def plot(rows: List[Dict[str, Any]], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batches = sorted({r["batch"] for r in rows})
    fig, axes = plt.subplots(1, len(batches), figsize=(6 * len(batches), 4.5), squeeze=False)
    for ax, b in zip(axes[0], batches):
        rs = sorted((r for r in rows if r["batch"] == b), key=lambda r: r["vms"])
        x = [r["vms"] for r in rs]
        ax.plot(x, [r["sequential"] for r in rs], "s:", label="sequential (Amoothei)")
        ax.plot(x, [r["barrier"] for r in rs], "^--", label="phase-barrier client")
        ax.errorbar(x, [r["vdictl"]["median"] for r in rs],
                    yerr=[[r["vdictl"]["median"] - r["vdictl"]["min"] for r in rs],
                          [r["vdictl"]["max"] - r["vdictl"]["median"] for r in rs]],
                    fmt="o-", capsize=3, label="vdictl")
        ax.plot(x, [r["floor"] for r in rs], "k-", lw=1, label="floor")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("VMs reset")
        ax.set_ylabel("wall time, engine seconds")
        ax.set_title(f"snapshot_batch_size = {b}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(results: Dict[str, Any], md_path: str, png_path: Optional[str]) -> None:
    """The report; the plot too unless png_path is None (matplotlib is a bench extra).

    A section neither run now nor in the results file is copied from the report
    as it is (benchmarks/results.json is not committed, so on a fresh clone
    docs/performance.md is the only record of the other sections)."""
    before = previous_sections(md_path)
    reuse = {key: before[key] for key in HEADINGS if key in before and not results.get(key)}
    kept = list(results.get("kept", [])) + [
        f"{key} from {old['date']} (copied from docs/performance.md)"
        for key, old in reuse.items()]
    results = dict(results, kept=kept)
    machines = sorted({old["machine"] for old in reuse.values()} - {machine(), ""})
    lines = [
        "# vdictl performance",
        "",
        "Written by `benchmarks/run" + (" " + results["args"] if results["args"] else "")
        + f"` on {results['date']}. Do not edit by hand; the text under \"What limits each "
        "number\" comes from benchmarks/notes.md.",
        "",
        f"Machine: {machine()}. Load average at the start: {results['loadavg']}.",
        "",
        *([f"Sections not re-run by that command, kept from earlier runs: "
           f"{'; '.join(results['kept'])}.", ""] if results.get("kept") else []),
        *([f"The copied sections were measured on: {'; '.join(machines)}.", ""]
          if machines else []),
        "Reproduce: `benchmarks/run` (about 50 minutes), or `benchmarks/run --quick` "
        "(a few minutes, smaller sizes, one run each). See benchmarks/README.md.",
        "",
    ]
    if "site_reset" in reuse:
        lines += [reuse["site_reset"]["text"]]   # section 1 holds the scales table too
    elif results.get("site_reset"):
        lines += site_section(results["site_reset"], results["scale"])
        if png_path:
            plot(results["site_reset"], png_path)
        lines += scales_section(results.get("scales") or [])
    else:
        lines += scales_section(results.get("scales") or [])
    from .records import records_section
    from .report_scale import scale_section
    from .vacated import day_section

    sections = (("libvirt", libvirt_section), ("startup", startup_section),
                ("sites", sites_section), ("pve", pve_section), ("records", records_section),
                ("scale_site", scale_section), ("day", day_section))
    for key, render in sections:
        lines += [reuse[key]["text"]] if key in reuse else render(results.get(key))
    if os.path.exists(NOTES):
        with open(NOTES) as fh:
            lines += [fh.read().rstrip(), ""]
    with open(md_path, "w") as fh:
        fh.write("\n".join(lines))
