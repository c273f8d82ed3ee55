"""vdictl report --html: the room status page for helpdesk staff and teachers."""

from __future__ import annotations

import os
import tempfile
import time
from typing import TYPE_CHECKING, Dict, List, Optional

import click

from vdictl.errors import UsageError, VdictlError

from .app import AppContext, cli, pass_app, reports_errors
from .output import stdout_is_terminal
from .status import local_time
from .virtroom import complete_room_names, open_session

if TYPE_CHECKING:
    from vdictl.config.rooms import Room
    from vdictl.ops.show import VmRow
    from vdictl.records.status_page import RoomBlock


@cli.command("report")
@click.argument("room_names", metavar="[ROOM]...", nargs=-1, shell_complete=complete_room_names)
@click.option("--html", "html_file", metavar="FILE", required=True,
              help="Write the page to FILE (replaced whole, so a web server never serves "
                   "half of it).")
@pass_app
@reports_errors
def report(app: AppContext, room_names, html_file: str) -> None:
    """Write a status page of the rooms (all of them without ROOM): one HTML
    file, readable on a phone, with every VM's state, IP and the result and
    time of its last reset; failed VMs are highlighted.

    The page needs nothing else (no scripts, no external files): put it
    where a web server serves it. The VMs' state comes from the backend; if
    it cannot be reached, the page is still written from the run records,
    says so at the top, and the exit status is that of the error.

    \b
    Example (after the nightly reset, see cron/vdictl-reset-virtrooms):
        vdictl report --html /var/www/html/vdi/index.html
    """
    from vdictl.records.status_page import render_page

    rooms = app.select_rooms(room_names, all_rooms=not room_names)
    rows: Dict[str, "VmRow"] = {}
    failure: Optional[VdictlError] = None
    try:
        from vdictl.ops.show import show

        with open_session(app) as session:
            rows = {row.vm: row for row in show(session, rooms)}
    except VdictlError as exc:
        failure = exc
    blocks = [room_block(app, room, rows) for room in rooms]
    page = render_page(blocks, generated=local_time(time.time()),
                       error=str(failure) if failure else None)
    write_page(html_file, page)
    if stdout_is_terminal() and not app.quiet:
        failed = sum(1 for block in blocks for vm in block.vms if vm.failed)
        click.echo(f"report: {html_file} written: {len(blocks)} room(s), "
                   f"{sum(len(b.vms) for b in blocks)} VM(s), {failed} failed at their "
                   "last reset")
    if failure is not None:
        raise failure


def room_block(app: AppContext, room: Room, rows: Dict[str, "VmRow"]) -> "RoomBlock":
    from vdictl.records import history
    from vdictl.records.status_page import RoomBlock, VmLine

    from .between_lessons import last_vm_resets

    directory = history.state_dir(app.config.logging.state_dir)
    last = history.last_runs(directory, room.name).get("reset")
    results = last_vm_resets(directory, [spec.name for spec in room.vms])
    vms: List[VmLine] = []
    for spec in room.vms:
        row = rows.get(spec.name)
        when, outcome, reason = results.get(spec.name, (None, "", ""))
        vms.append(VmLine(name=spec.name, state=row.state if row else "unknown",
                          in_use=row.in_use_text if row else "",
                          ip=spec.ip or "", reset_time=local_time(when), outcome=outcome,
                          reason=reason))
    if last is None:
        summary = ("No reset on record." if room.resettable else
                   "Not reset by vdictl (stateless, or no snapshot configured).")
        css = "none"
    else:
        counts = ", ".join(f"{last.counts.get(o, 0)} {o}" for o in ("ok", "failed", "skipped"))
        summary = f"Last reset {local_time(last.when)}: {last.result} ({counts})."
        if last.error:
            summary += f" {last.error}"
        css = "" if last.result in ("ok", "running") else "bad"
    if any(vm.failed for vm in vms):
        css = "bad"
    return RoomBlock(name=room.name, summary=summary, css=css, vms=vms,
                     desks=desks_line(directory, room.name))


def desks_line(state_dir: str, room: str) -> str:
    """The room's desks in use, vacated and idle, from the occupancy record."""
    from vdictl.records.occupancy import counts_text

    from .between_lessons import desk_counts

    counts = desk_counts(state_dir, [room])[room]
    return "" if counts["probed"] is None else counts_text(counts)


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
