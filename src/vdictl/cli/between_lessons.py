"""The daytime options: `virtroom-reset --vacated [--grace 5m]` and
`virtroom-shutdown --idle-for 45m` (vdictl.ops.vacated), the occupancy record
they read (vdictl.records.occupancy) and the locks their runs take
(vdictl.lock picking, vdictl.vm_lock)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import click

from vdictl.errors import UsageError

if TYPE_CHECKING:
    from vdictl.lock import RoomLocks
    from vdictl.records.occupancy import Occupancy
    from vdictl.vm_lock import VmLocks

    from .app import AppContext

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: the option of each picking run: its operation (vdictl.ops.vacated), and the
#: name its run records are kept under
PICKING = {"grace": ("vacated:reset_vacated", "reset-vacated"),
           "idle_for": ("vacated:shutdown_idle", "shutdown-idle")}


def parse_duration(text: str, option: str) -> float:
    """5m, 45m, 1h, 90s, 1.5h: a number and s, m, h or d. The unit is required:
    --idle-for 45 meant as minutes would shut desks down after 45 seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text or "")
    if not match:
        bare = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*", text or "")
        hint = (f"{bare.group(1)}m for minutes, {bare.group(1)}s for seconds" if bare
                else "e.g. 5m")
        raise UsageError(f"{option} {text!r} is not a duration: write a number and s, m, h "
                         f"or d ({hint})")
    return float(match.group(1)) * UNITS[match.group(2)]


vacated_options = (
    click.option("--vacated", is_flag=True,
                 help="Only the desks somebody used since their last reset and that have "
                      "been free for the grace since; desks in use, unused, or whose use "
                      "cannot be told are left alone and counted. For cron every few "
                      "minutes during the day."),
    click.option("--grace", metavar="DURATION", default=None,
                 help="With --vacated: how long a desk must have been seen free "
                      "(default 5m; 90s, 5m, 1h)."),
)


def vacated_values(vacated: bool = False, grace: Optional[str] = None) -> Dict[str, Any]:
    if grace is not None and not vacated:
        raise UsageError("--grace goes with --vacated: write virtroom-reset --vacated "
                         f"--grace {grace}")
    return {"grace": parse_duration(grace or "5m", "--grace")} if vacated else {}


idle_for_options = (
    click.option("--idle-for", "idle_for", metavar="DURATION", default=None,
                 help="Only the running desks nobody has been at for this long (45m, 2h); "
                      "desks whose use cannot be told are left running."),
)


def idle_for_values(idle_for: Optional[str] = None) -> Dict[str, Any]:
    return {} if idle_for is None else {"idle_for": parse_duration(idle_for, "--idle-for")}


def picks_desks(options: Dict[str, Any]) -> bool:
    """Whether the run picks its desks (holds its rooms only while it picks)."""
    return any(options.get(name) is not None for name in PICKING)


def operation_of(operation: str, options: Dict[str, Any]) -> str:
    """The operation ("module:function" under vdictl.ops) of a run with `options`."""
    for name, (picking, _) in PICKING.items():
        if options.get(name) is not None:
            return picking
    return operation


def record_name(function: str, options: Dict[str, Any]) -> str:
    """The run records of a picking run are kept apart ("reset-vacated"), so that
    `vdictl status` still says when the whole room was last reset."""
    for name, (_, record) in PICKING.items():
        if options.get(name) is not None:
            return record
    return function


def occupancy_record(app: "AppContext") -> "Occupancy":
    from vdictl.records.history import state_dir
    from vdictl.records.occupancy import Occupancy, occupancy_dir

    return Occupancy(occupancy_dir(state_dir(app.config.logging.state_dir)), warn=app.warn)


def vm_locks(app: "AppContext", rooms: "RoomLocks", dry_run: bool,
             options: Dict[str, Any]) -> "VmLocks":
    """The VM locks of a run: none for a dry run. A run waits for a VM another
    run works on up to what one VM's reset may take (3 x operation_timeout),
    or --lock-timeout if longer."""
    from vdictl.vm_lock import VmLocks

    wait = max(app.lock_timeout, 3 * app.config.throttle.operation_timeout)
    return VmLocks(None if dry_run else rooms.directory, wait=wait,
                   rooms=rooms if picks_desks(options) else None)


def echo_desk_counts(counts: Dict[str, Dict[str, Any]]) -> None:
    """The table vdictl status prints under its runs; nothing when no room was probed."""
    import time

    from .output import format_table

    rows = [[room, c["in use"], c["vacated"], c["idle"],
             time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(c["probed"]))]
            for room, c in counts.items() if c["probed"] is not None]
    if rows:
        click.echo(format_table(["room", "in use", "vacated (not yet reset)", "idle",
                                 "last probed"], rows))


def newer_vacated_resets(state_dir: str, desks: Dict[str, List[str]],
                         results: Dict[str, Any]) -> None:
    """Each VM's last reset (time, outcome, reason) in `results` (the nightly
    runs', records.last_resets) replaced by a --vacated run's ("reset-vacated"
    records) where that is later; a --vacated run's skip (in use again) is no
    reset: an earlier --vacated run's reset of the desk still counts. For the
    status page, in one pass over the records."""
    from vdictl.records.last_resets import last_resets

    _, vacated = last_resets(state_dir, desks, command=PICKING["grace"][1],
                             passed_over=("skipped",))
    for name, (when, outcome, reason) in vacated.items():
        earlier = results.get(name, (None, "", ""))[0]
        if when is not None and (earlier is None or when > earlier):
            results[name] = (when, outcome, reason)
