# SPDX-License-Identifier: GPL-3.0-or-later
"""Section 6 of docs/performance.md: a site of several engines (benchmarks/scale.py)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def scale_section(res: Optional[Dict[str, Any]]) -> List[str]:
    out = ["## 6. A site of several engines", ""]
    if not res or not res.get("rows"):
        return out + ["Not run.", ""]
    rows, lat = res["rows"], res["latencies"]
    per = res["per_engine"]
    rooms = res.get("rooms_per_engine", 40)
    batches = -(-rooms * 25 // per)
    out += [
        f"`vdictl virtroom-reset --all` of {rooms * 25:,} running VMs per engine ({rooms} rooms "
        "of 25), each "
        "engine an engine simulator (tests/ovirt_sim) in a process of its own; one config "
        f"with a `[connect engNN]` profile per engine carrying its own `[[throttle]]` "
        f"(`parallel = {per}`, `snapshot_batch_size = {per}`), the global `[[throttle]]` "
        f"{per} × the engines, pause 0; the rooms listed engine by engine. Engine latencies "
        f"as in section 1 (stop {lat['stop']:g} s, restore {lat['restore']:g} s, start "
        f"{lat['start']:g} s); time scale {res['scale']:g}, times in engine seconds. The "
        f"engines work side by side, so the floor is one engine's: `stop + {batches} · restore "
        "+ start`. One run per size, all sizes in one command. vdictl's process is sampled "
        "every half second from /proc (threads, descriptors, TCP sockets by engine).",
        "",
        "| engines | VMs | floor s | vdictl s | × floor | peak RSS MB | CPU ms/VM | threads "
        "| open files | sockets per engine | logins per engine | requests/VM | snapshot "
        "ops in flight per engine | first restore, last engine s | first progress s | "
        "first VM done s | all VMs ok | load at start |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:"
        "|---|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['engines']} | {r['vms']:,} | {r['floor']:.0f} | {r['wall']:.0f} | "
            f"{r['ratio']:.2f} | {r['rss_mb']:.0f} | {r['cpu_ms_per_vm']:.1f} | "
            f"{r['threads']} | {r['fds']} | ≤ {r['sockets_max']} | "
            f"{min(r['logins'])}–{max(r['logins'])} | {r['requests_per_vm']:.1f} | "
            f"{min(r['snapshot_peaks'])}–{max(r['snapshot_peaks'])} | "
            f"{max(r['first_restores']):.1f} | {r['first_progress']:.1f} | "
            f"{r['first_done']:.0f} | {_mark(r['all_ok'])} | {r['load']:.1f} |")
    big, small = rows[-1], rows[0]
    views = res.get("views") or {}
    cpu_growth = big["cpu_ms_per_vm"] / small["cpu_ms_per_vm"] - 1
    out += ["", "Targets:", "",
            f"- at most 1.10× the slowest engine's floor: {max(r['ratio'] for r in rows):.2f}× "
            f"at worst — {_mark(all(r['ratio'] <= 1.10 for r in rows))}",
            f"- peak RSS at most 200 MB at {big['vms']:,} VMs: {big['rss_mb']:.0f} MB — "
            f"{_mark(big['rss_mb'] <= 200)}",
            f"- CPU per VM flat within 20% from {small['vms']:,} to {big['vms']:,} VMs: "
            f"{cpu_growth:+.0%} — {_mark(abs(cpu_growth) <= 0.20)}",
            f"- one login per engine: {_mark(all(set(r['logins']) == {1} for r in rows))}; "
            f"sockets per engine at most its connection pool (10): "
            f"{_mark(all(r['sockets_max'] <= 10 for r in rows))}",
            f"- at most 13 requests per VM: {max(r['requests_per_vm'] for r in rows):.1f} — "
            f"{_mark(all(r['requests_per_vm'] <= 13 for r in rows))}",
            f"- snapshot operations in flight per engine at most its own "
            f"snapshot_batch_size ({per}): "
            f"{_mark(all(max(r['snapshot_peaks']) <= per for r in rows))}",
            f"- every VM reset: {_mark(all(r['all_ok'] for r in rows))}", ""]
    if views:
        out += [f"The operator's views after the {big['vms']:,}-VM run (fresh processes, real "
                "seconds, the run's record on disk):", "", "| command | seconds |",
                "|---|---:|"]
        out += [f"| `vdictl {k}` | {v:.1f} |" for k, v in views.items() if isinstance(v, float)]
        out += [""]
    return out
