"""vdictl report --html: the site status page for helpdesk staff and teachers."""

from __future__ import annotations

import os
import tempfile
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

import click

from vdictl.errors import UsageError, VdictlError

from .app import AppContext, cli, pass_app, reports_errors
from .output import stdout_is_terminal
from .virtroom import complete_room_names, open_session

if TYPE_CHECKING:
    from vdictl.config.rooms import Room
    from vdictl.ops.show import VmRow
    from vdictl.records.history import RoomRun
    from vdictl.records.last_resets import VmResult
    from vdictl.records.status_page import RoomBlock


@cli.command("report")
@click.argument("room_names", metavar="[ROOM]...", nargs=-1, shell_complete=complete_room_names)
@click.option("--html", "html_file", metavar="FILE", required=True,
              help="Write the page to FILE (replaced whole, so a web server never serves "
                   "half of it).")
@pass_app
@reports_errors
def report(app: AppContext, room_names, html_file: str) -> None:
    """Write a status page of the site (all rooms without ROOM): one HTML
    file, readable on a phone, that leads with the answer: the site in one
    line ("All 10 rooms reset at 01:12–01:58", "3 rooms need attention"),
    then the rooms that need attention with their failed desks and the
    reasons, then every other room as one line with its desks as a seating
    grid of tiles, that opens to each desk's state, IP and last reset.

    The page needs nothing else (no scripts, no external files): put it
    where a web server serves it. The VMs' state comes from the backend; if
    it cannot be reached, the page is still written from the run records,
    says so at the top, and the exit status is that of the error.

    \b
    Example (after the nightly reset, see cron/vdictl-reset-virtrooms):
        vdictl report --html /var/www/html/vdi/index.html
    """
    from vdictl.records.status_page import SitePage, render_page

    rooms = app.select_rooms(room_names, all_rooms=not room_names)
    rows: Dict[str, "VmRow"] = {}
    failure: Optional[VdictlError] = None
    try:
        from vdictl.ops.show import show

        with open_session(app) as session:
            rows = {row.vm: row for row in show(session, rooms)}
    except VdictlError as exc:
        failure = exc
    now = time.time()
    site = SitePage(rooms=room_blocks(app, rooms, rows, now), generated=now,
                    error=str(failure) if failure else None)
    write_page(html_file, render_page(site))
    if stdout_is_terminal() and not app.quiet:
        failed = sum(len(block.failed_vms) for block in site.rooms)
        click.echo(f"report: {html_file} written: {len(site.rooms)} room(s), "
                   f"{sum(len(b.vms) for b in site.rooms)} VM(s), {failed} failed at their "
                   "last reset")
    if failure is not None:
        raise failure


def room_blocks(app: AppContext, rooms: Sequence["Room"],
                rows: Dict[str, "VmRow"], now: float) -> List["RoomBlock"]:
    """The rooms of the page, from the reset records (read once for the site)."""
    from vdictl.records import history
    from vdictl.records.last_resets import last_resets
    from vdictl.records.occupancy import desks_of_rooms

    from .between_lessons import newer_vacated_resets

    directory = history.state_dir(app.config.logging.state_dir)
    desks = {room.name: [spec.name for spec in room.vms] for room in rooms}
    runs, results = last_resets(directory, desks)
    newer_vacated_resets(directory, desks, results)
    blocks = [room_block(room, runs.get(room.name), results, rows, now) for room in rooms]
    occupancy = desks_of_rooms(directory, list(desks))   # one read of the record for the site
    for block in blocks:
        for fact in (preflight_fact(directory, block.name), desks_fact(occupancy[block.name])):
            if fact:
                block.facts.append(fact)
    return blocks


def room_block(room: "Room", last: Optional["RoomRun"], results: Dict[str, "VmResult"],
               rows: Dict[str, "VmRow"], now: float) -> "RoomBlock":
    from vdictl.records.status_page import RoomBlock, VmLine, desk_time

    vms: List[VmLine] = []
    for spec in room.vms:
        row = rows.get(spec.name)
        when, outcome, reason = results.get(spec.name, (None, "", ""))
        vms.append(VmLine(name=spec.name, state=row.state if row else "unknown",
                          in_use=row.in_use_text if row else "",
                          ip=spec.ip or "", reset_time=desk_time(when, now), outcome=outcome,
                          reason=reason, subsection=spec.subsection))
    block = RoomBlock(name=room.name, vms=vms, resettable=room.resettable)
    if last is None:
        if room.resettable:
            block.problems.append("No reset on record.")
        return block
    block.reset_at, block.reset_result = last.when, last.result
    if last.result == "unfinished":
        block.problems.append("Its last reset did not finish (its process is gone).")
    if last.error:
        block.problems.append(last.error)
    return block


def preflight_fact(directory: str, room: str) -> str:
    """"Last preflight 2026-12-06 18:00:04: 2 VM(s) with problems."; "" when none
    is on record."""
    from vdictl.records import history

    from .status import local_time

    last = history.last_runs(directory, room).get("preflight")
    if last is None or last.result == "running":
        return ""
    if last.result == "ok":
        what = "all well"
    elif last.failed_vms:
        what = f"{len(last.failed_vms)} VM(s) with problems"
    else:
        what = last.error or "failed"
    return f"Last preflight {local_time(last.when)}: {what}."


def desks_fact(counts: Dict[str, Any]) -> str:
    """"Desks now: 2 in use, 1 vacated (not yet reset)." from the room's counts in
    the occupancy record; "" when it was never probed or all are zero."""
    from vdictl.records.occupancy import IDLE, IN_USE, VACATED

    if counts.get("probed") is None:
        return ""
    said = [f"{counts[key]} {text}" for key, text in (
        (IN_USE, "in use"), (VACATED, "vacated (not yet reset)"), (IDLE, "idle"))
        if counts.get(key)]
    return f"Desks now: {', '.join(said)}." if said else ""


def write_page(path: str, page: str) -> None:
    """Write `page` to a temporary file beside `path` and rename it over `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temp = tempfile.mkstemp(dir=directory, prefix=".vdictl-report.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"cannot write --html {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.chmod(temp, 0o644)  # the web server reads it
        os.replace(temp, path)
    except OSError as exc:
        os.unlink(temp)
        raise UsageError(f"cannot write --html {path}: {exc.strerror}") from None
