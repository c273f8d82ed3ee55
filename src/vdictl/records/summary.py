"""A room's part of a run record, summed up once when the run is stored, so
that readers of a room (vdictl status, the metrics) need not read the VMs."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

RECORD_FORMAT = 1
#: outcomes that make a room's run a failure (vdictl.result.Report.failed)
FAILING = ("failed", "not-started")


def summarize(data: Dict[str, Any], room: str) -> Tuple[bool, Dict[str, Any]]:
    """Whether the run `data` succeeded over the whole room (if it ended), and
    the room's part of it: counts by outcome, failed VMs, the VMs given."""
    vms = [vm for vm in data.get("vms") or [] if vm.get("room") == room]
    counts: Dict[str, int] = {}
    for vm in vms:
        counts[vm["outcome"]] = counts.get(vm["outcome"], 0) + 1
    failed = [[vm["vm"], vm.get("reason", "")] for vm in vms if vm["outcome"] in FAILING]
    room_vms = {vm["vm"] for vm in vms}
    only = [vm for vm in data.get("only_vms", []) if vm in room_vms or not room_vms]
    whole_ok = (data.get("status") not in ("running", None) and not failed
                and not data.get("error") and not only)
    return whole_ok, {"counts": counts, "failed_vms": failed, "only_vms": only}


def rooms_of(data: Dict[str, Any]) -> List[Tuple[str, bool, Dict[str, Any]]]:
    """(room, whole room succeeded, summary) of each room of the run `data`."""
    by_room: Dict[str, List[Dict[str, Any]]] = {room: [] for room in data.get("rooms", [])}
    for vm in data.get("vms") or []:
        if vm.get("room") in by_room:
            by_room[vm["room"]].append(vm)
    return [(room, *summarize({**data, "vms": vms}, room)) for room, vms in by_room.items()]
