"""The last reset of every room and VM of a site, in one pass over the records.

`history.last_runs` and `history.last_vm_results` ask the records one room
(one VM) at a time; the status page of a site of hundreds of rooms reads the
reset records newest first, once, until every room and VM has its answer.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import history

#: a VM's last result: (when, outcome, reason), as history.last_vm_results gives it
VmResult = Tuple[Optional[float], str, str]


def last_resets(directory: str, rooms: Mapping[str, Sequence[str]], command: str = "reset",
                *, passed_over: Sequence[str] = ()
                ) -> Tuple[Dict[str, history.RoomRun], Dict[str, VmResult]]:
    """For `rooms` ({room: its VMs' names}): the last run of `command` that took
    each room (as history.last_runs gives it) and the last finished result of
    each VM (as history.last_vm_results), leaving out the results whose outcome
    is one of `passed_over` (an older one answers); rooms and VMs never taken
    are left out."""
    runs: Dict[str, history.RoomRun] = {}
    results: Dict[str, VmResult] = {}
    wanted = {vm for names in rooms.values() for vm in names}
    for data in history.records(directory, command):
        by_room: Dict[Any, List[Dict[str, Any]]] = {}
        for vm in data.get("vms", []):
            by_room.setdefault(vm.get("room"), []).append(vm)
        for room in data.get("rooms", []):
            if room in rooms and room not in runs:
                runs[room] = history.room_run(dict(data, vms=by_room.get(room, [])), room)
        if data.get("status") != "running":
            when = history.parse_time(data.get("ended")) or history.parse_time(
                data.get("started"))
            for vm in data.get("vms", []):
                name = vm.get("vm")
                if name in wanted and name not in results and \
                        vm.get("outcome", "") not in passed_over:
                    results[name] = (when, vm.get("outcome", ""), vm.get("reason", ""))
        if len(runs) == len(rooms) and len(results) == len(wanted):
            break
    return runs, results
