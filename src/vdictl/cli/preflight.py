"""vdictl preflight: what the next night would meet, asked read-only of every
endpoint (vdictl.ops.preflight), as a table of problems, JSON, an exit status
for monitoring, and a run record beside the resets'."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Dict, List, Sequence

import click

from vdictl.errors import VdictlError

from . import exit_codes
from .app import AppContext, cli, pass_app, reports_errors
from .output import echo_json, format_table, output_given, stdout_is_terminal
from .virtroom import all_option, open_session, rooms_argument

if TYPE_CHECKING:
    from vdictl.config.rooms import Room
    from vdictl.ops.preflight import Problem
    from vdictl.result import Report

#: --for: what the preflight checks for (vdictl.ops.preflight.PURPOSES)
PURPOSES = ("reset", "rollout", "rebuild")


def exit_status(problems: Sequence[Problem]) -> int:
    """3 when an endpoint cannot be used, else 1 when anything was found, else 0."""
    if any(p.severity == "unreachable" for p in problems):
        return exit_codes.UNREACHABLE
    return exit_codes.VM_FAILED if problems else exit_codes.OK


def as_report(rooms: Sequence[Room], problems: Sequence[Problem], notes: Sequence[str],
              purpose: str, duration: float, endpoints: Dict[str, str]) -> Report:
    """The preflight as a run record sees a run: each VM failed (a problem that
    stops it, its room's or its endpoint's included), or ok (warnings, if any,
    are its reason). `endpoints`: each VM's endpoint, by name."""
    from vdictl.result import Outcome, Report, VmResult

    results = []
    for room in rooms:
        for spec in room.vms:
            mine = [p for p in problems if (not p.room or p.room == room.name)
                    and (not p.vm or p.vm == spec.name)
                    and (p.room or p.endpoint == endpoints.get(spec.name))]
            failing = [p for p in mine if p.severity != "warning"]
            results.append(VmResult(room=room.name, vm=spec.name, action=f"preflight {purpose}",
                                    outcome=Outcome.FAILED if failing else Outcome.OK,
                                    reason="; ".join(p.what for p in failing or mine)))
    return Report(action="preflight", results=results, notes=list(notes), duration=duration)


@cli.command("preflight")
@rooms_argument(offers_all=True)
@all_option
@click.option("--for", "purpose", type=click.Choice(PURPOSES), default="reset",
              show_default=True,
              help="What to check for: the next reset (the night), a rollout or a rebuild.")
@click.option("--output", "-o", type=click.Choice(("table", "json")), default="table",
              help="Output format (default: table; when stdout is not a terminal, nothing "
                   "when all is well). The JSON shape is documented in docs/output.md.")
@pass_app
@reports_errors
def preflight_command(app: AppContext, room_names, all_rooms: bool, purpose: str,
                      output: str) -> None:
    """Ask every endpoint, read-only and in parallel, what the next reset (or
    rollout or rebuild, --for) would meet, and list the problems with what to do.

    Per endpoint: it answers within endpoint_timeout, the login, password or
    API token is accepted, its TLS certificate is trusted and ends in more
    than 30 days, the account may do what the rooms need. Per room (--for
    rollout or rebuild): the template, network, cluster or node, pool and
    storage exist. Per VM: it
    exists and is vdictl's, exactly one snapshot matches
    reset_to_snapshot_regex, nothing is locked, in preview or half-made,
    nobody is at it where skip_in_use = True. Off a terminal it prints
    nothing when all is well (cron mails only problems). Exit 0 all well,
    1 problems, 3 an endpoint that cannot be used. Recorded as a run:
    `vdictl status` shows the last preflight beside the last reset.

    \b
    Example (the evening before the nightly reset, from cron):
        vdictl preflight --all
        vdictl preflight lab1 --for rollout -o json
    """
    from vdictl.ops.preflight import preflight

    from .recording import RunRecorder

    rooms = app.select_rooms(room_names, all_rooms)
    recorder = RunRecorder(app, "preflight", rooms)
    recorder.start()
    started = time.monotonic()
    try:
        with open_session(app) as session:
            endpoints = {spec.name: session.endpoint_of(spec)
                         for room in rooms for spec in room.vms}
            problems, notes = preflight(session, rooms, purpose)
    except VdictlError as exc:
        from .app import exit_code_for

        recorder.finish(exit_status=exit_code_for(exc), error=str(exc))
        raise
    code = exit_status(problems)
    recorder.finish(exit_status=code, report=as_report(
        rooms, problems, notes, purpose, time.monotonic() - started, endpoints))
    if output == "json":
        echo_json({"purpose": purpose, "rooms": [room.name for room in rooms],
                   "problems": [p.to_dict() for p in problems], "notes": notes,
                   "exit_status": code})
    else:
        echo_problems(app, rooms, problems, notes, purpose)
    if code:
        sys.exit(code)


def echo_problems(app: AppContext, rooms: List[Room], problems: Sequence[Problem],
                  notes: Sequence[str], purpose: str) -> None:
    asked = output_given() or (stdout_is_terminal() and not app.quiet)
    if not (problems or asked):
        return
    if asked:
        for note in notes:
            click.echo(f"note: {note}")
    if problems:
        click.echo(format_table(
            ["endpoint", "room", "vm", "severity", "what", "what to do"],
            [[p.endpoint, p.room, p.vm, p.severity, p.what, p.what_to_do] for p in problems]))
    count = sum(len(room.vms) for room in rooms)
    click.echo(f"preflight ({purpose}): {count} VM(s) in {len(rooms)} room(s): "
               + (f"{len(problems)} problem(s)" if problems else "all well"))
