# SPDX-License-Identifier: GPL-3.0-or-later
"""/nodes/{node}/tasks and /nodes/{node}/tasks/{upid}/status (pve-manager's
Tasks.pm): ``source`` archive (ended, the default), active (running, status
"RUNNING") or all; newest first; ``since``, ``limit`` (50), ``start``,
``vmid``, ``typefilter``, ``errors``."""

from __future__ import annotations

from tests.pve_sim.state.errors import ApiError, param_error
from tests.pve_sim.wire.upid import decode_upid


def _entry(task):
    user, _, tokenid = task.user.partition("!")
    entry = {"upid": task.upid, "node": task.node, "pid": task.pid, "pstart": task.pstart,
             "starttime": task.starttime, "type": task.type, "id": task.id, "user": user}
    if tokenid:
        entry["tokenid"] = tokenid
    if task.running:
        entry["status"] = "RUNNING"
    else:
        entry["endtime"] = task.endtime
        entry["status"] = task.exitstatus
    return entry


def _wanted(task, params):
    if params.get("typefilter") and task.type != params["typefilter"]:
        return False
    if params.get("vmid") and task.id != str(params["vmid"]):
        return False
    if params.get("since") and task.starttime < int(params["since"]):
        return False
    if params.get("until") and task.starttime > int(params["until"]):
        return False
    if str(params.get("errors", "0")) == "1" and task.exitstatus in (None, "OK"):
        return False
    return True


def _own(task, authid):
    """A user sees its tasks and its tokens'; a token only its own."""
    return task.user == authid or task.user.split("!")[0] == authid


def list_tasks(cluster, request):
    params = request.params
    node = request.m["node"]
    cluster.node(node)
    source = params.get("source", "archive")
    if source not in ("archive", "active", "all"):
        raise param_error(source="value '%s' does not have a value in the enumeration "
                                 "'archive, active, all'" % source)
    mine = [t for t in reversed(cluster.tasks) if t.node == node and _wanted(t, params)
            and (request.admin or _own(t, request.user))]
    active = [t for t in mine if t.running] if source in ("active", "all") else []
    archive = [t for t in mine if not t.running] if source != "active" else []
    start = int(params.get("start", 0))
    limit = int(params.get("limit", 50))
    return [_entry(t) for t in (active + archive)[start:start + limit]]


def task_status(cluster, request):
    upid = request.m["upid"]
    decoded = decode_upid(upid)
    if decoded is None:
        raise param_error(upid="unable to parse worker upid")
    task = cluster.task(upid)
    if task is None or task.node != request.m["node"]:
        raise param_error(upid="no such task")
    if not (request.admin or _own(task, request.user)):
        raise ApiError(403, "Permission check failed (/nodes/%s, Sys.Audit)" % task.node)
    answer = _entry(task)
    answer.pop("endtime", None)
    answer["status"] = "running" if task.running else "stopped"
    if not task.running:
        answer["exitstatus"] = task.exitstatus
    return answer


def task_log(cluster, request):
    """GET .../tasks/{upid}/log: [{"n": 1, "t": line}, ...]."""
    task = cluster.task(request.m["upid"])
    if task is None or task.node != request.m["node"]:
        raise param_error(upid="no such task")
    start = int(request.params.get("start", 0))
    limit = int(request.params.get("limit", 50))
    lines = task.log[start:start + limit]
    return [{"n": start + i + 1, "t": line} for i, line in enumerate(lines)]
