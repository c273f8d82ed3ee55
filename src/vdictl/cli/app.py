"""The Click group, its shared context, and the error boundary.

This package is the only place that prints or exits.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Callable, List, Mapping, Optional, Sequence

import click

from vdictl import __version__
from vdictl.errors import (ConfigError, DriverError, MissingDependency, NotOwned, NotPermitted,
                           RoomBusy, TemplateInUse, Unsupported, UsageError, VdictlError)

from . import exit_codes

if TYPE_CHECKING:
    from vdictl.config.rooms import Config, Room

    from .delegation import Delegation

# Start-up cost: `vdictl --help` imports click and the command modules only.
# What a command needs when it runs (the config loader, logging, json, the
# operations) is imported inside it.


class CliError(click.ClickException):
    """A one-line error with its documented exit status."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        # click declares exit_code a class variable; each CliError carries its own
        self.exit_code = exit_code  # type: ignore[misc]


def exit_code_for(exc: VdictlError) -> int:
    if isinstance(exc, NotPermitted):
        return exit_codes.NOT_PERMITTED
    if isinstance(exc, (ConfigError, UsageError)):
        return exit_codes.USAGE
    if isinstance(exc, MissingDependency):
        return exit_codes.MISSING_DEPENDENCY
    if isinstance(exc, RoomBusy):
        return exit_codes.ROOM_BUSY
    if isinstance(exc, (TemplateInUse, NotOwned)):  # a refusal about one object, not the backend
        return exit_codes.VM_FAILED
    if isinstance(exc, Unsupported):  # the backend is fine; this request cannot be done there
        return exit_codes.USAGE
    if isinstance(exc, DriverError):  # Unreachable, AuthError and the rest of the backend's
        return exit_codes.UNREACHABLE
    return exit_codes.VM_FAILED


def reports_errors(func: Callable) -> Callable:
    """Turn vdictl's typed errors into one line and a documented exit status;
    with --output json, stdout also gets the error as a JSON object."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except VdictlError as exc:
            error, cause = CliError(str(exc), exit_code_for(exc)), exc
        except CliError as exc:
            error, cause = exc, None
        if kwargs.get("output") == "json":
            from .output import echo_json

            echo_json(error_object(error, cause))
        raise error from None

    return wrapper


def error_object(error: CliError, cause: Optional[VdictlError] = None) -> dict:
    """{"error": {...}}: what --output json prints for an error (docs/output.md)."""
    names = {value: name for name, value in vars(exit_codes).items()
             if name.isupper() and isinstance(value, int)}
    data = {"message": error.message, "exit_status": error.exit_code,
            "exit_name": names.get(error.exit_code, "")}
    if isinstance(cause, ConfigError):
        data.update(file=cause.file, section=cause.section, key=cause.key)
    return {"error": data}


class AppContext:
    """What every command shares: the config file, loaded once."""

    def __init__(self, config_path: Optional[str], uri: Optional[str] = None,
                 strict_permissions: bool = False, lock_timeout: float = 0.0,
                 verbosity: int = 0):
        self.config_path = config_path
        self.uri = uri
        self.strict_permissions = strict_permissions
        self.lock_timeout = lock_timeout
        self.verbosity = verbosity   # -1 -q, 0 warnings, 1 -v, 2 -vv or --debug
        #: True for commands that only read the config and never connect (config
        #: check): no audit trail is opened, an unusable password_file only warns
        self.offline = False
        #: set when run through sudo by somebody other than root (cli/delegation.py)
        self.delegation: Optional[Delegation] = None
        self._config: Optional[Config] = None

    def room_names(self) -> List[str]:
        """The rooms of the config file, reading nothing but its room titles."""
        from vdictl.config.file import find_config_file, room_names

        return room_names(find_config_file(self.config_path))

    @property
    def config(self) -> Config:
        if self._config is None:
            from vdictl.config import trust
            from vdictl.config.load import find_config_file, load_config
            from vdictl.config.secrets import check_secret_files
            from vdictl.records.history import state_dir

            from .logs import setup_audit_trail, setup_logging

            # here, not at start-up: --help and a plain `rooms` log nothing
            setup_logging(self.verbosity)
            strict = self.strict_permissions
            path = (self.delegation.system_config() if self.delegation
                    else find_config_file(self.config_path))
            trust.check_config_file(path, strict=strict)  # before reading it
            config = load_config(path)
            trust.check_config(config, strict=strict, state_dir=state_dir(config.logging.state_dir))
            secret_warnings = check_secret_files(config, strict=strict, offline=self.offline)
            if self.uri:
                import dataclasses

                if config.connect.driver != "libvirt":
                    raise UsageError(f"--uri is for the libvirt driver; {config.path} uses "
                                     f"{config.connect.driver}")
                config = dataclasses.replace(
                    config, connect=dataclasses.replace(config.connect, uri=self.uri))
            self._config = config
            warnings = list(self._config.warnings) + list(secret_warnings)
            if not self.offline:
                warnings += setup_audit_trail(self._config.logging, self._config.path,
                                              delegated=bool(self.delegation))
            if self.delegation:
                self.delegation.audit_start()
            for warning in warnings:
                self.warn(warning)
        return self._config

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0

    def warn(self, warning: str) -> None:
        """A `warning:` line on stderr, unless -q."""
        if not self.quiet:
            click.echo(f"warning: {warning}", err=True)

    def select_rooms(self, names: Sequence[str], all_rooms: Optional[bool] = None,
                     vms: Sequence[str] = ()) -> List[Room]:
        """The rooms named, in the order given; all_rooms is None where --all is not
        offered. With `vms` (--vm), each room holds only those of its VMs, and
        without room names the rooms are those of the VMs."""
        rooms = self.config.rooms
        if self.delegation:  # through sudo: only the rooms delegated to the caller
            rooms = self.delegation.visible_rooms(self.config)
            self.delegation.check_selection(rooms, names, all_rooms, vms)
        if all_rooms and names:
            raise UsageError("give room names or --all, not both")
        if all_rooms:
            selected = list(rooms.values())
        elif not names and not vms:
            raise UsageError("no room given; name one or more rooms"
                             + (" or use --all" if all_rooms is not None else "")
                             + " (or VMs with --vm)")
        else:
            unknown = [n for n in names if n not in rooms]
            if unknown:
                known = ", ".join(rooms) or "(none)"
                raise UsageError(f"unknown room {', '.join(map(repr, unknown))} in "
                                 f"{self.config.path}; known rooms: {known}")
            selected = [rooms[name] for name in dict.fromkeys(names)]
        return self._only_vms(selected, vms, rooms, named=bool(names)) if vms else selected

    def _only_vms(self, selected: List[Room], vms: Sequence[str], rooms: Mapping[str, Room], *,
                  named: bool) -> List[Room]:
        """`selected` cut down to the VMs given (all `rooms`' when none is named)."""
        import dataclasses
        import difflib

        room_of = {spec.name: room.name for room in rooms.values() for spec in room.vms}
        for vm in vms:
            if vm not in room_of:
                close = difflib.get_close_matches(vm, list(room_of), n=3, cutoff=0.6)
                hint = (f"did you mean {', '.join(close)}?" if close else
                        "vdictl config check lists every VM")
                raise UsageError(f"unknown VM {vm!r} in {self.config.path}; {hint}")
        wanted = set(vms)
        if not named:  # the rooms of the VMs, in the order of the file
            selected = [room for room in rooms.values()
                        if any(spec.name in wanted for spec in room.vms)]
        names = [room.name for room in selected]
        for vm in vms:
            if room_of[vm] not in names:
                raise UsageError(f"VM {vm!r} is in room {room_of[vm]}, not in "
                                 f"{', '.join(names)}")
        cut = []
        for room in selected:
            specs = tuple(spec for spec in room.vms if spec.name in wanted)
            if not specs:
                raise UsageError(f"room {room.name} has none of the VMs given with --vm "
                                 f"({', '.join(dict.fromkeys(vms))})")
            cut.append(dataclasses.replace(room, vms=specs))
        return cut


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vdictl")
@click.option("--config", "-c", "config_path", metavar="PATH",
              help="Config file. Default: $VDICTL_CONFIG, ~/.config/vdictl/vdi-rollout.conf, "
                   "/etc/vdictl/vdi-rollout.conf (first that exists).")
@click.option("--uri", metavar="URI",
              help="libvirt: use this URI instead of [general][[connect]] uri "
                   "(e.g. to try a config on a test hypervisor).")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=0, show_default=True,
              envvar="VDICTL_LOCK_TIMEOUT", metavar="SECONDS",
              help="How long to wait for a room another vdictl run is working on "
                   "(then exit 5, naming the room and the holder's pid).")
@click.option("--verbose", "-v", count=True, help="More log output on stderr (-vv: debug).")
@click.option("--debug", is_flag=True, help="Debug log output on stderr (same as -vv).")
@click.option("--quiet", "-q", is_flag=True,
              help="Errors only: no warnings, no progress bars, and a run's table as off a "
                   "terminal (nothing when every VM succeeded, else the failed VMs and the "
                   "total). Questions, --output and --dry-run output, and what rooms, show "
                   "and config check list still print.")
@click.option("--strict-permissions", is_flag=True,
              help="A password readable by group or others (config file or password_file) "
                   "is an error, not a warning; and, as when run as root, a config file or "
                   "a file it names that others could write is refused (docs/security.md).")
@click.pass_context
def cli(ctx: click.Context, config_path: Optional[str], uri: Optional[str],
        lock_timeout: float, verbose: int, debug: bool, quiet: bool,
        strict_permissions: bool) -> None:
    """Keep virtual rooms of VDI virtual machines in a known, clean state.

    \b
    Example:
        vdictl virtroom-rollout room01
        vdictl virtroom-reset --all
    """
    if quiet and (verbose or debug):
        raise click.UsageError("-q and -v/--debug exclude each other")
    ctx.obj = AppContext(config_path, uri, strict_permissions=strict_permissions,
                         lock_timeout=lock_timeout,
                         verbosity=-1 if quiet else 2 if debug else verbose)
    if "SUDO_UID" in os.environ:  # perhaps a teacher's run through sudo
        from .delegation import start

        try:
            start(ctx, ctx.obj)
        except VdictlError as exc:
            raise CliError(str(exc), exit_code_for(exc)) from None


pass_app = click.make_pass_decorator(AppContext)
