"""Delegated rooms: who runs vdictl through sudo, and what they may do.

sudo runs its command as root (real and effective uid 0) and names the human
who asked in SUDO_UID and SUDO_USER (sudo(8), "ENVIRONMENT"). So a run as
root with a SUDO_UID other than 0 is delegated, however it came about:
`sudo vdictl ...`, and also a shell of `sudo -i` or `sudo -s`, which keep
the variables. An administrator runs vdictl from root's own login, cron or
timer, or after `su -` (which clears them). A root shell could set SUDO_UID
itself: that only restricts it. Somebody without sudo cannot start a root
process at all, so cannot pose as anyone.

A delegated run:

- reads only the system config (config/file.py SYSTEM_CONFIG), and only
  when root alone can change it and every directory on its way;
- refuses every VDICTL_ variable, and every option but those of
  GROUP_OPTIONS and COMMAND_OPTIONS (--config, --uri, --adopt, ... name
  files, endpoints or VMs a room does not give it);
- sees only the rooms whose `delegates` name the caller or a group of the
  caller's (the group database, not the process's groups), and whose
  `delegate_commands` hold the command; `--all` means those rooms;
- implies --skip-in-use for reset and shutdown where the room's
  `delegate_skip_in_use` says so (the default).

A refusal is one line, "not permitted: ...", exit 7 (NOT_PERMITTED), with
the same words whether a room the caller may not see exists or not, and a
line in the audit trail (the system config's log file, and syslog: a
delegated run always logs there). A run that goes ahead is audited with the
caller too, and its run record names them (records/history.py run_by).
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

from vdictl.errors import NotPermitted, VdictlError

if TYPE_CHECKING:
    import click

    from vdictl.config.rooms import Config, Room

SUDO_UID = "SUDO_UID"
SUDO_USER = "SUDO_USER"
#: a command that may be delegated -> its word in delegate_commands
COMMANDS = {"virtroom-show": "show", "virtroom-reset": "reset", "virtroom-start": "start",
            "virtroom-shutdown": "shutdown"}
#: the options of `vdictl` itself a delegate may give: none names a file or an endpoint
GROUP_OPTIONS = frozenset({"lock_timeout", "verbose", "debug", "quiet", "strict_permissions"})
#: the options of the command a delegate may give (not --adopt, --include-maintenance)
COMMAND_OPTIONS = frozenset({"room_names", "vm_names", "all_rooms", "output", "dry_run",
                             "yes", "skip_in_use"})
#: the commands that the rooms' delegate_skip_in_use turns into --skip-in-use
GUARDED = ("reset", "shutdown")
#: how much of a refused command line the audit trail quotes
MAX_LOGGED = 500


class App(Protocol):
    """What this module needs of cli/app.py's AppContext."""

    delegation: Optional[Delegation]
    verbosity: int

    @property
    def config(self) -> Config: ...


@dataclasses.dataclass(frozen=True)
class Caller:
    """The human behind a run through sudo."""

    user: str
    uid: int
    groups: Tuple[str, ...]  # names, from the group database

    def named_in(self, delegates: Sequence[str]) -> bool:
        """Whether a room's delegates name this user or one of their %groups."""
        return self.user in delegates or any(f"%{g}" in delegates for g in self.groups)

    def __str__(self) -> str:
        return f"{self.user} (uid {self.uid}) through sudo"


def sudo_caller(environ: Mapping[str, str] = os.environ) -> Optional[Caller]:
    """The caller of a delegated run (root, SUDO_UID not 0), else None.
    NotPermitted when SUDO_UID and SUDO_USER do not name one account."""
    import grp
    import pwd

    text = environ.get(SUDO_UID)
    if os.geteuid() != 0 or text is None or text.strip() == "0":
        return None
    user = environ.get(SUDO_USER, "")
    try:
        account = pwd.getpwuid(int(text))
    except (ValueError, KeyError, OverflowError):
        raise NotPermitted(f"not permitted: SUDO_UID {text!r} names no account") from None
    if account.pw_name != user:
        raise NotPermitted(f"not permitted: SUDO_USER {user!r} is not the account of "
                           f"SUDO_UID {account.pw_uid} ({account.pw_name})")
    groups = []
    for gid in os.getgrouplist(account.pw_name, account.pw_gid):
        try:
            groups.append(grp.getgrgid(gid).gr_name)
        except KeyError:  # a gid without a name cannot be written as %group
            continue
    return Caller(account.pw_name, account.pw_uid, tuple(dict.fromkeys(groups)))


def run_by(delegation: Optional[Delegation]) -> Dict[str, Any]:
    """Who ran this run, for its record: the caller through sudo, else the account."""
    if delegation:
        caller = delegation.caller
        return {"user": caller.user, "uid": caller.uid, "through": "sudo"}
    import pwd

    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    return {"user": user, "uid": uid}


def start(ctx: click.Context, app: App,
          environ: Mapping[str, str] = os.environ) -> None:
    """Set app.delegation when this run is delegated, after refusing what no
    delegate may ask for: a VDICTL_ variable, an option of GROUP_OPTIONS' others,
    a command that cannot be delegated."""
    import sys

    try:
        caller = sudo_caller(environ)
    except NotPermitted as exc:
        audit_trail(app, with_config=False)  # no caller: no config is to be trusted
        audit().info("%s; vdictl %s", exc, quoted(sys.argv[1:]))
        raise
    if caller is None:
        return
    app.delegation = Delegation(caller, ctx.invoked_subcommand or "", sys.argv[1:])
    variables = sorted(name for name in environ if name.startswith("VDICTL_"))
    given = options_given(ctx, GROUP_OPTIONS)
    problem = (f"${variables[0]} through sudo (a delegated run reads no VDICTL_ variable)"
               if variables else
               f"{given[0]} through sudo (a delegated run uses the system config as it is)"
               if given else
               f"vdictl {app.delegation.command} through sudo (rooms delegate only "
               f"{', '.join(COMMANDS)})" if not app.delegation.word else "")
    if problem:
        audit_trail(app)
        raise app.delegation.refuse(problem)


def audit_trail(app: App, *, with_config: bool = True) -> None:
    """The audit trail of a run about to be refused: the system config's, when it
    can be read, and syslog in any case."""
    from .logs import add_syslog, setup_logging

    loaded = False
    if with_config:
        try:
            loaded = app.config is not None  # through sudo: the system config
        except VdictlError:  # said already, or nothing to say: syslog still hears it
            pass
    if not loaded:
        setup_logging(app.verbosity)
    add_syslog(delegated=True)


def audit():  # the logger, imported when needed: `vdictl --help` loads no logging
    import logging

    return logging.getLogger("vdictl.audit")


def options_given(ctx: click.Context, allowed: frozenset) -> List[str]:
    """The options given on the command line (or by a variable) that are not allowed,
    as written: ["--config"]."""
    from click.core import ParameterSource

    return [param.opts[0] for param in ctx.command.params if param.name not in allowed
            and ctx.get_parameter_source(param.name or "") not in (ParameterSource.DEFAULT,
                                                                   None)]


def quoted(argv: Sequence[str]) -> str:
    """A command line for a log line: shell-quoted, control characters escaped (no
    forged lines), at most MAX_LOGGED characters."""
    import shlex

    text = " ".join(shlex.quote(arg) for arg in argv)
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= MAX_LOGGED else text[:MAX_LOGGED] + "..."


class Delegation:
    """What one delegated run may do: its caller, its command, and the rooms."""

    def __init__(self, caller: Caller, command: str, argv: Sequence[str]):
        self.caller = caller
        self.command = command
        self.word = COMMANDS.get(command, "")
        self.command_line = quoted(argv)

    def refuse(self, what: str) -> NotPermitted:
        """The error to raise, after its line in the audit trail (INFO, as every
        line of it: stderr shows the error once)."""
        audit().info("not permitted: %s; run by %s: vdictl %s", what, self.caller,
                        self.command_line)
        return NotPermitted(f"not permitted: {what}")

    def system_config(self) -> str:
        """The real path of the system config, when root alone can change it and
        every directory on its way (symbolic links followed); else refused."""
        from vdictl.config.file import SYSTEM_CONFIG

        from .logs import add_syslog

        real = os.path.realpath(SYSTEM_CONFIG)
        problem = untrusted(real)
        if problem:
            add_syslog(delegated=True)
            shown = SYSTEM_CONFIG if real == SYSTEM_CONFIG else f"{SYSTEM_CONFIG} -> {real}"
            raise self.refuse(f"{shown}: {problem}; a run through sudo reads the system "
                              "config only when root alone can change it")
        return real

    def audit_start(self) -> None:
        audit().info("run by %s: vdictl %s", self.caller, self.command_line)

    def visible_rooms(self, config: Config) -> Dict[str, Room]:
        """The rooms that delegate this command to the caller, in file order; their
        VMs skip_in_use where the room says so for reset and shutdown."""
        rooms = {}
        for room in config.rooms.values():
            if self.word in room.delegate_commands and self.caller.named_in(room.delegates):
                if self.word in GUARDED and room.delegate_skip_in_use:
                    room = dataclasses.replace(room, vms=tuple(
                        dataclasses.replace(spec, skip_in_use=True) for spec in room.vms))
                rooms[room.name] = room
        return rooms

    def check_selection(self, rooms: Mapping[str, Room], names: Sequence[str],
                        all_rooms: Optional[bool], vms: Sequence[str]) -> None:
        """Refuse an option of the command that is not COMMAND_OPTIONS', a room or VM
        outside `rooms` (visible_rooms), and --all when there is none."""
        import click

        given = options_given(click.get_current_context(), COMMAND_OPTIONS)
        if given:
            raise self.refuse(f"{given[0]} through sudo")
        for name in names:
            if name not in rooms:
                raise self.refuse(f"{self.command} of room {name!r}")
        visible = {spec.name for room in rooms.values() for spec in room.vms}
        for vm in vms:
            if vm not in visible:
                raise self.refuse(f"{self.command} of VM {vm!r}")
        if all_rooms and not rooms:
            raise self.refuse(f"{self.command} --all: no room delegates it to "
                              f"{self.caller.user}")


def untrusted(path: str) -> str:
    """Why somebody other than root could change the file at `path` (a real path),
    or "" when nobody can: config/trust.py's rule for root, on a regular file."""
    import stat

    from vdictl.config.trust import Named
    from vdictl.config.trust import untrusted as trust_problem

    try:
        info = os.stat(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    return trust_problem(Named("system config", path), 0) or ""
