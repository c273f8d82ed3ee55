"""The virtroom-* commands: each acts on whole rooms and ends with a per-VM summary."""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, List, Optional, Tuple

import click

from vdictl.errors import VdictlError

from . import between_lessons, exit_codes
from .app import AppContext, CliError, cli, pass_app, reports_errors
from .at_desks import in_use_warning, skip_in_use_option
from .output import (echo_json, echo_report, format_table, output_option,
                     report_output_option, summary_line)

if TYPE_CHECKING:
    from vdictl.records.journal import StartJournal
    from vdictl.vm_lock import VmLocks
    from vdictl.ops.session import Session
    from vdictl.result import Report
    from vdictl.config.rooms import Room

    from .recording import RunRecorder


def complete_room_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[str]:
    """Shell completion: the rooms of the config file that --config or $VDICTL_CONFIG names."""
    from vdictl.config.file import find_config_file, room_names

    try:
        names = room_names(find_config_file(ctx.find_root().params.get("config_path")))
    except VdictlError:
        return []  # a completion never prints errors
    given = set(ctx.params.get(param.name or "") or ())
    return [name for name in names if name.startswith(incomplete) and name not in given]


def complete_vm_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[str]:
    """Shell completion of --vm: the VMs of the rooms already given (else of every
    room). Computing the names needs the whole config loaded."""
    from vdictl.config.load import find_config_file, load_config

    try:
        config = load_config(find_config_file(ctx.find_root().params.get("config_path")))
    except VdictlError:
        return []  # a completion never prints errors
    # before a --vm still without its value, click leaves the rooms in ctx.args
    rooms = set(ctx.params.get("room_names") or ctx.args) & set(config.rooms) \
        or set(config.rooms)
    given = set(ctx.params.get(param.name or "") or ())
    return [spec.name for room in config.rooms.values() if room.name in rooms
            for spec in room.vms if spec.name.startswith(incomplete) and spec.name not in given]


def rooms_argument(*, offers_all: bool):
    """ROOM... and, where --all is offered, the usage line says so."""
    return click.argument("room_names", metavar="[ROOM]... | --all" if offers_all else "ROOM...",
                          nargs=-1, shell_complete=complete_room_names)


all_option = click.option("--all", "all_rooms", is_flag=True, help="Every room of the config.")
vm_option = click.option(
    "--vm", "vm_names", metavar="VM", multiple=True, shell_complete=complete_vm_names,
    help="Only this VM of the rooms (repeatable); without ROOM, the rooms of the VMs given.")
dry_run_option = click.option("--dry-run", "-n", is_flag=True,
                              help="Print what would be done; change nothing.")
ignore_storage_option = click.option(
    "--ignore-storage-limit", is_flag=True,
    help="Go on even when the work would take a storage below min_free_storage (the "
         "storage guard's lines become notes).")
adopt_option = click.option("--adopt", is_flag=True,
                            help="Also act on VMs with the computed names that vdictl did not "
                                 "create (e.g. rolled out by Amoothei/Virtesk).")


maintenance_option = click.option(
    "--include-maintenance", is_flag=True,
    help="Also act on VMs whose room or subsection says maintenance = True.")


yes_option = click.option("--yes", "-y", is_flag=True,
                          help="Do not ask for confirmation (needed when not on a terminal).")


def describe(app: AppContext, rooms: List[Room]) -> str:
    """The rooms for a question, with the VMs of a room cut down by --vm:
    lab1, lab2 (lab2-pc03)."""
    return ", ".join(
        room.name if len(room.vms) == len(app.config.rooms[room.name].vms)
        else f"{room.name} ({', '.join(spec.name for spec in room.vms)})" for room in rooms)


def refuse_off_terminal(refused: str, *, yes: bool) -> None:
    """Off a terminal nobody can answer a question: without --yes that is a
    usage error (exit 2) naming what was not done, `refused` ("delete ...")."""
    if not (yes or sys.stdin.isatty()):
        raise CliError(f"refusing to {refused} without --yes when not on a terminal",
                       exit_codes.USAGE)


def confirm(question: str, *, refused: str, yes: bool) -> None:
    """Ask `question` on a terminal (no: exit 1), unless --yes."""
    refuse_off_terminal(refused, yes=yes)
    if not yes:
        click.confirm(question, abort=True, err=True)


# The operations are imported when a command runs, so `vdictl --help` stays fast.
def open_session(app: AppContext, *, dry_run: bool = False, adopt: bool = False,
                 include_maintenance: bool = False, output: str = "json",
                 journal: Optional["StartJournal"] = None,
                 locks: Optional["VmLocks"] = None) -> "Session":
    from vdictl.ops.session import Session

    from .between_lessons import occupancy_record
    from .progress import RoomProgress, wants_progress

    progress = RoomProgress() if wants_progress(output) and not app.quiet else None
    return Session(app.config, dry_run=dry_run, adopt=adopt,
                   include_maintenance=include_maintenance, progress=progress,
                   journal=journal, connect_origin="--uri" if app.uri else None,
                   occupancy=occupancy_record(app), locks=locks)


def run_operation(app: AppContext, operation: str, rooms: List[Room], *, output: str,
                  dry_run: bool, adopt: bool, include_maintenance: bool = False,
                  **options: object) -> None:
    """Run `operation` ("module:function" under vdictl.ops, given `options`) and
    print its report.

    Holds the lock of every room (not under --dry-run) for the whole run; the
    start journal (vdictl.records.journal) lives next to the locks. A run that is not
    a dry run is recorded (cli/recording.py) from the moment it holds the locks.
    """
    from .app import exit_code_for
    from .recording import RunRecorder
    from .signals import SIGNAL_EXIT, Interrupted

    from .between_lessons import record_name

    module, function = operation.split(":")
    recorder = None if dry_run else RunRecorder(app, record_name(function, options), rooms)
    try:
        report, signum = locked_run(app, operation, rooms, recorder, dry_run=dry_run,
                                    adopt=adopt, output=output,
                                    include_maintenance=include_maintenance, **options)
    except Interrupted as exc:
        message = f"{exc}: stopped before any VM was touched"
        if recorder:
            recorder.finish(exit_status=SIGNAL_EXIT[exc.signum], error=message)
        raise CliError(message, SIGNAL_EXIT[exc.signum]) from None
    except VdictlError as exc:
        if recorder:
            recorder.finish(exit_status=exit_code_for(exc), error=str(exc))
        raise
    status = (SIGNAL_EXIT[signum] if signum is not None else
              exit_codes.VM_FAILED if report.failed else exit_codes.OK)
    if recorder:
        recorder.finish(exit_status=status, report=report)
    echo_report(report, output, quiet=app.quiet)
    if status != exit_codes.OK:
        sys.exit(status)


def locked_run(app: AppContext, operation: str, rooms: List[Room],
               recorder: Optional["RunRecorder"], *, dry_run: bool, adopt: bool, output: str,
               include_maintenance: bool, **options: object) -> Tuple["Report", Optional[int]]:
    """The operation under the room locks and the signal guard: its report, with
    the interrupt's note, and the signal that interrupted it (or None)."""
    import time

    from vdictl.records.journal import StartJournal
    from vdictl.lock import RoomLocks
    from vdictl.ops.session import audit

    from .between_lessons import picks_desks, vm_locks
    from .progress import tell_waiting
    from .signals import SignalGuard, interrupt_note

    module, function = operation.split(":")
    run = getattr(importlib.import_module(f"vdictl.ops.{module}"), function)
    names = [] if dry_run else [room.name for room in rooms]
    guard = SignalGuard()
    with guard.installed(), RoomLocks(names, timeout=app.lock_timeout, on_wait=tell_waiting,
                                      picking=picks_desks(options)) as locks:
        if recorder:
            recorder.start()
        with open_session(app, dry_run=dry_run, adopt=adopt, output=output,
                          include_maintenance=include_maintenance,
                          journal=StartJournal(locks.directory),
                          locks=vm_locks(app, locks, dry_run, options)) as session:
            guard.attach(session)
            # a run that holds its rooms throughout writes the desks' record in
            # batches; a picking run (--vacated) frees its rooms early: at once
            session.occupancy.write_behind = not picks_desks(options)
            if not dry_run:
                audit.info("%s of room(s) %s started (pid %d)%s", module, ", ".join(names),
                           os.getpid(), f" by {app.delegation.caller}" if app.delegation else "")
            started = time.monotonic()
            report = run(session, rooms, **options)
            report.duration = time.monotonic() - started
    if guard.signum is not None:
        report.notes.append(interrupt_note(guard.signum, report))
    if not dry_run:
        audit.info("%s", summary_line(report))
    return report, guard.signum


def operation_command(name: str, operation: str, *, offers_all: bool, doc: str,
                      honours_maintenance: bool = False, passes_all: bool = False,
                      guard: str = "", guards_all: bool = False, extra=None):
    """Define one virtroom-* command with the shared options. `passes_all`: the
    operation is told whether --all chose the rooms (all_rooms=). `guard`
    ("Shut down"): the command takes --skip-in-use and --yes, and on a terminal
    asks before it acts on a VM in use: always with `guards_all`, else only
    for the VMs --vm names. `extra`: (options, convert) of more options, and
    convert(**their values) -> the operation's options (cli/between_lessons.py)."""

    def command(app: AppContext, room_names, vm_names, output, dry_run, adopt, all_rooms=None,
                include_maintenance=False, skip_in_use=False, yes=False, **more):
        rooms = app.select_rooms(room_names, all_rooms if offers_all else None, vm_names)
        options: dict = {"all_rooms": bool(all_rooms)} if passes_all else {}
        options.update(extra[1](**more) if extra else {})
        if guard:
            options["skip_in_use"] = skip_in_use
            picks = between_lessons.picks_desks(options)
            ask = (guards_all or bool(vm_names)) and not (yes or dry_run or skip_in_use or picks)
            warning = in_use_warning(app, rooms, asks=ask)
            if warning:
                count = sum(len(r.vms) for r in rooms)
                confirm(f"{warning}{guard} up to {count} VM(s) of {describe(app, rooms)}?",
                        refused=guard.lower(), yes=False)
        run_operation(app, between_lessons.operation_of(operation, options), rooms,
                      output=output, dry_run=dry_run, adopt=adopt,
                      include_maintenance=include_maintenance, **options)

    command.__doc__ = doc
    command = reports_errors(command)
    command = pass_app(command)
    for decorator in (report_output_option, adopt_option, dry_run_option) + (
            (maintenance_option,) if honours_maintenance else ()) + (
            (all_option,) if offers_all else ()) + (
            (yes_option, skip_in_use_option) if guard else ()) + (
            tuple(extra[0]) if extra else ()) + (
            vm_option, rooms_argument(offers_all=offers_all)):
        command = decorator(command)
    return cli.command(name)(command)


#: --ignore-storage-limit, for the commands the storage guard refuses (ops/storage.py)
STORAGE_GUARD = ((ignore_storage_option,),
                 lambda ignore_storage_limit=False: {"ignore_storage_limit": ignore_storage_limit})

operation_command("virtroom-rollout", "rollout:rollout", offers_all=True, extra=STORAGE_GUARD,
                  doc="""
    Create the rooms' missing VMs from their template and snapshot each once.

    Idempotent: a rerun creates only what is missing and never takes a second
    snapshot. A VM with a computed name that vdictl did not create is
    reported and left alone. Starts the VMs when rollout_startvm is True.
    A room whose new VMs would take a storage below min_free_storage is
    refused before anything is created (one line per storage, exit 1),
    unless --ignore-storage-limit.

    \b
    Example:
        vdictl virtroom-rollout room01 room02
        vdictl virtroom-rollout --all
        vdictl virtroom-rollout room01 --vm room01-vd03
    """)

operation_command("virtroom-reset", "reset:reset", offers_all=True, honours_maintenance=True,
                  passes_all=True, guard="Reset",
                  extra=(between_lessons.vacated_options, between_lessons.vacated_values),
                  doc="""
    Stop each VM, restore its snapshot, and start it again per reset_startvm.

    The snapshot restored is the one whose description matches
    reset_to_snapshot_regex; none or several is an error for that VM.
    reset_startvm: Always starts every VM, Auto only those that were
    running, Never none. Stateless VMs, and VMs under maintenance = True,
    are skipped with a note. Naming a room in which no VM can be reset is
    an error (exit 2); --all skips such rooms with a note. --skip-in-use
    (or skip_in_use = True) leaves the VMs somebody is using alone; on a
    terminal, a reset of VMs named with --vm asks first when one is in use.

    --vacated resets only the desks somebody used since their last reset
    and that have been free for --grace (default 5m), for cron every few
    minutes by day; it holds a room only while it picks its desks, and
    leaves a room another run works on to that run.

    \b
    Example (the nightly job, one VM by day, between lessons):
        vdictl virtroom-reset --all
        vdictl virtroom-reset room01 --vm room01-vd03
        vdictl virtroom-reset --all --vacated --grace 5m
    """)

operation_command("virtroom-start", "power:start", offers_all=True, honours_maintenance=True,
                  doc="""
    Start the rooms' VMs and wait until they run.

    \b
    Example:
        vdictl virtroom-start room01
    """)

operation_command("virtroom-shutdown", "power:shutdown", offers_all=True,
                  guard="Shut down", guards_all=True,
                  extra=(between_lessons.idle_for_options, between_lessons.idle_for_values),
                  doc="""
    Shut the rooms' VMs down gracefully (ACPI), powering off after shutdown_timeout.

    --skip-in-use (or skip_in_use = True) leaves the VMs somebody is using
    alone; on a terminal, the command asks first when one is in use.
    --idle-for shuts down only the running desks nobody has been at for
    that long; desks whose use cannot be told are left running.

    \b
    Example:
        vdictl virtroom-shutdown --all
        vdictl virtroom-shutdown --all --idle-for 45m
    """)


@cli.command("virtroom-delete")
@rooms_argument(offers_all=False)
@vm_option
@skip_in_use_option
@yes_option
@dry_run_option
@adopt_option
@report_output_option
@pass_app
@reports_errors
def virtroom_delete(app: AppContext, room_names, vm_names, skip_in_use: bool, yes: bool,
                    dry_run: bool, adopt: bool, output: str) -> None:
    """Delete the rooms' VMs that vdictl created, with their snapshots and disks.

    Asks for confirmation unless --yes, naming the VMs somebody is using;
    --skip-in-use leaves those alone. VMs that vdictl did not create are
    reported and left alone.

    \b
    Example:
        vdictl virtroom-delete --yes room01
    """
    rooms = app.select_rooms(room_names, vms=vm_names)
    count = sum(len(r.vms) for r in rooms)
    warning = in_use_warning(app, rooms, asks=not (yes or dry_run or skip_in_use))
    confirm(f"{warning}Delete up to {count} VM(s) of {describe(app, rooms)}?",
            refused="delete", yes=yes or dry_run)
    run_operation(app, "delete:delete", rooms, output=output, dry_run=dry_run, adopt=adopt,
                  skip_in_use=skip_in_use)


@cli.command("virtroom-show")
@rooms_argument(offers_all=True)
@vm_option
@all_option
@output_option
@pass_app
@reports_errors
def virtroom_show(app: AppContext, room_names, vm_names, all_rooms: bool, output: str) -> None:
    """Show each VM: computed name and IP, MAC, template, memory, state, ownership, reset
    snapshot; on Proxmox VE also its node and VMID (NODE/VMID, as qm takes it).

    IN USE says who is at each running VM (a console client, a user logged
    in), "?" where the backend cannot tell; the column is shown only when
    some VM is in use or unknown. Also lists the config keys of the room
    that vdictl does not use, and
    warns when a room's template domain runs (libvirt: that corrupts clones).

    \b
    Example:
        vdictl virtroom-show room01 --output json
    """
    rooms = app.select_rooms(room_names, all_rooms, vm_names)
    from vdictl.ops.show import UNREACHABLE, show
    from vdictl.ops.template import running_templates

    with open_session(app) as session:
        rows = show(session, rooms)
        warnings = running_templates(session, rooms)
    unused = {room.name: [f"{section}: {key}" for section, key in room.unused_keys]
              for room in rooms}
    for warning in warnings:
        app.warn(warning)
    if output == "json":
        echo_json({"vms": [row.to_dict() for row in rows],
                   "unused_keys": unused, "warnings": warnings})
    else:
        echo_show_table(rows, unused)
    unknown = [row for row in rows if row.state == UNREACHABLE]
    if unknown:  # shown as far as known; the status says a backend was not reached
        click.echo(f"Error: {unknown[0].note}", err=True)
        sys.exit(exit_codes.UNREACHABLE)


def echo_show_table(rows, unused) -> None:
    from .config_check import memory_text

    owned_text = {True: "yes", False: "no", None: ""}
    several = len({r.endpoint for r in rows}) > 1  # one endpoint: no column for it
    located = any(r.location for r in rows)        # Proxmox VE: node/VMID
    # only when some running VM is in use, or its backend cannot tell ("?")
    used = any(r.in_use_text for r in rows)
    last = any(r.last_used_text for r in rows)  # the occupancy record knows some use
    header = (["room", "subsection"] + (["endpoint"] if several else []) + ["vm"]
              + (["node/vmid"] if located else [])
              + ["ip", "mac", "template", "memory", "state"] + (["in use"] if used else [])
              + (["last used"] if last else [])
              + ["owned", "phase", "reset snapshot", "note"])
    click.echo(format_table(header, [
        [r.room, r.subsection] + ([r.endpoint] if several else []) + [r.vm]
        + ([r.location] if located else [])
        + [r.ip, r.mac, r.template, memory_text(r.memory), r.state]
        + ([r.in_use_text] if used else []) + ([r.last_used_text] if last else [])
        + [owned_text[r.owned], r.phase, r.reset_snapshot, r.note] for r in rows]))
    for room_name, keys in unused.items():
        if keys:
            click.echo(f"room {room_name}: keys not used by vdictl: {'; '.join(keys)}")
