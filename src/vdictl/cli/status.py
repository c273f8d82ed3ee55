"""vdictl status: the last run of each command in each room, from the run
records (vdictl.records.history), with exit statuses for a monitoring check."""

from __future__ import annotations

import re
import sys
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import click

from vdictl.errors import UsageError

from . import exit_codes
from .app import AppContext, cli, pass_app, reports_errors
from .between_lessons import echo_desk_counts
from .output import echo_json, format_table, output_given, output_option, stdout_is_terminal
from .virtroom import all_option, rooms_argument

if TYPE_CHECKING:
    from vdictl.config.rooms import Room
    from vdictl.records.history import RoomRun

#: the order commands are listed in; others follow by name
COMMAND_ORDER = ("reset", "preflight", "rollout", "start", "shutdown", "rebuild", "delete")
AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> float:
    """--max-age: a number and a unit, 26h, 90m, 2d, 30s."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text or "")
    if not match:
        raise UsageError(f"--max-age {text!r} is not an age: write a number and s, m, h or d "
                         "(e.g. 26h)")
    return float(match.group(1)) * AGE_UNITS[match.group(2)]


def age_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def local_time(seconds: Optional[float]) -> str:
    if seconds is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def ordered(runs: Dict[str, RoomRun]) -> List[RoomRun]:
    def rank(command: str) -> Tuple[int, str]:
        return (COMMAND_ORDER.index(command) if command in COMMAND_ORDER
                else len(COMMAND_ORDER), command)

    return [runs[command] for command in sorted(runs, key=rank)]


class RoomStatus:
    """What status says about one room."""

    def __init__(self, room: Room, directory: str, max_age: Optional[float], now: float,
                 max_age_text: str = ""):
        from vdictl.records import history

        self.room = room.name
        self.runs = ordered(history.last_runs(directory, room.name))
        self.last_reset = history.last_success(directory, room.name, "reset")
        self.problems: List[str] = []
        #: False: --max-age failed; None: not checked
        self.fresh: Optional[bool] = None
        for run in self.runs:
            if run.result in ("failed", "unfinished"):
                what = run.error or f"{len(run.failed_vms)} VM(s) failed"
                if run.result == "unfinished":
                    what = "it never ended (killed?)"
                self.problems.append(f"room {self.room}: last {run.command} "
                                     f"({local_time(run.when)}) {run.result}: {what}")
        if max_age is not None and room.resettable:
            when = self.last_reset.when if self.last_reset else None
            self.fresh = when is not None and now - when <= max_age
            if when is None:
                self.problems.append(f"room {self.room}: no successful reset of the whole "
                                     f"room on record (--max-age {max_age_text})")
            elif not self.fresh:
                self.problems.append(
                    f"room {self.room}: last successful reset {local_time(when)}, "
                    f"{age_text(now - when)} ago, older than --max-age {max_age_text}")

    @property
    def failed(self) -> bool:
        return any(run.result in ("failed", "unfinished") for run in self.runs)

    def to_dict(self) -> Dict[str, Any]:
        return {"room": self.room, "runs": [run.to_dict() for run in self.runs],
                "last_successful_reset": self.last_reset.to_dict() if self.last_reset else None,
                "fresh": self.fresh, "problems": list(self.problems)}


def exit_status(statuses: List[RoomStatus]) -> int:
    """1 when a last run failed or never ended, else 6 when --max-age failed, else 0."""
    if any(status.failed for status in statuses):
        return exit_codes.VM_FAILED
    if any(status.fresh is False for status in statuses):
        return exit_codes.STALE
    return exit_codes.OK


@cli.command("status")
@rooms_argument(offers_all=True)
@all_option
@click.option("--max-age", metavar="AGE",
              help="Also exit 6 when a room's last successful reset of the whole room is "
                   "older than AGE (26h, 90m, 2d, 30s) or there is none; rooms that cannot "
                   "be reset (stateless, no snapshot) are not checked.")
@output_option
@pass_app
@reports_errors
def status(app: AppContext, room_names, all_rooms: bool, max_age: Optional[str],
           output: str) -> None:
    """Show each room's last run of each command: when, the result, the VMs ok,
    failed and skipped, how long it took, and the failed VMs with their reasons.

    Reads the run records ([logging] state_dir) and never connects. The exit
    status suits a monitoring check: 0 when every last run succeeded, 1 when
    one failed or never ended, 6 when --max-age finds a room whose last
    successful reset is too old. Off a terminal, without --output, it prints
    only the problems (nothing when there are none), as the virtroom commands
    do for cron.

    \b
    Example (a monitoring check after the nightly reset):
        vdictl status --all --max-age 26h
        vdictl status room01 -o json
    """
    from vdictl.records import history
    from vdictl.records.occupancy import desks_of_rooms

    app.offline = True  # reads records only: no audit trail, no secrets needed
    limit = parse_age(max_age) if max_age is not None else None
    rooms = app.select_rooms(room_names, all_rooms)
    directory = history.state_dir(app.config.logging.state_dir)
    now = time.time()
    statuses = [RoomStatus(room, directory, limit, now, max_age or "") for room in rooms]
    code = exit_status(statuses)
    desks = desks_of_rooms(directory, [room.name for room in rooms])
    if output == "json":
        echo_json({"state_dir": directory, "rooms": [s.to_dict() for s in statuses],
                   "desks": desks, "exit_status": code})
    else:
        full = output_given() or (stdout_is_terminal() and not app.quiet)
        echo_status(statuses, full=full)
        if full:
            echo_desk_counts(desks)
    if code:
        sys.exit(code)


def echo_status(statuses: List[RoomStatus], *, full: bool) -> None:
    problems = [problem for status in statuses for problem in status.problems]
    if not (full or problems):
        return
    if full:
        rows: List[List[Any]] = []
        for status in statuses:
            runs: List[Optional[RoomRun]] = list(status.runs) or [None]
            rows.extend(run_row(status, run) for run in runs)
        click.echo(format_table(["room", "command", "last run", "result", "ok", "failed",
                                 "skipped", "duration", "vms", "by", "last ok reset"], rows))
    lines, failed = grouped_failures(statuses)
    for line in lines:
        click.echo(line)
    if failed:
        click.echo(format_table(["room", "command", "failed vm", "reason"], failed))
    for problem in problems:
        click.echo(problem)
    bad = sum(1 for status in statuses if status.problems)
    click.echo(f"status: {len(statuses)} room(s): "
               + (f"{bad} with problems" if bad else "ok"))


def grouped_failures(statuses: List[RoomStatus]) -> Tuple[List[str], List[List[str]]]:
    """The lines of the causes many VMs failed for, command by command, and the
    rows [room, command, vm, reason] of the failures left to list one by one
    (vdictl.records.causes)."""
    from vdictl.records.causes import group_lines

    failed = [[status.room, run.command, vm, reason] for status in statuses
              for run in status.runs for vm, reason in run.failed_vms]
    lines: List[str] = []
    said: set = set()
    for command in dict.fromkeys(row[1] for row in failed):
        indexes = [i for i, row in enumerate(failed) if row[1] == command]
        found, rest = group_lines([(failed[i][0], failed[i][2], failed[i][3])
                                   for i in indexes], command)
        lines += found
        said.update(set(indexes) - {indexes[i] for i in rest})
    return lines, [row for i, row in enumerate(failed) if i not in said]


def run_row(status: RoomStatus, run: Optional[RoomRun]) -> List[Any]:
    last_ok = local_time(status.last_reset.when) if status.last_reset else ""
    if run is None:
        return [status.room, "-", "never", "", "", "", "", "", "", "", last_ok]
    failed = run.counts.get("failed", 0) + run.counts.get("not-started", 0)
    duration = "" if run.duration is None else f"{run.duration:.1f} s"
    return [status.room, run.command, local_time(run.when), run.result,
            run.counts.get("ok", 0), failed, run.counts.get("skipped", 0), duration,
            ", ".join(run.only_vms) or "all", run.by,
            last_ok if run.command == "reset" else ""]
