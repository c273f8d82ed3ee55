"""The config file itself: where it is, its syntax, and its rooms' names.

Everything that needs no validation of values lives here, so that `vdictl
rooms` and shell completion can list the rooms of a large site without
loading vdictl.config.load (which converts every key and builds every VM).
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Callable, Iterator, List, Optional, Tuple

from configobj import ConfigObj, ConfigObjError

from vdictl.errors import ConfigError

ENV_VAR = "VDICTL_CONFIG"
USER_CONFIG = "~/.config/vdictl/vdi-rollout.conf"
SYSTEM_CONFIG = "/etc/vdictl/vdi-rollout.conf"

_ROOM_TITLE = re.compile(r"^room(?:\s+(.*))?$", re.DOTALL)
_PROFILE_TITLE = re.compile(r"^connect\s+(\S.*)$", re.DOTALL)
#: sections that are not rooms
OTHER_SECTIONS = ("general", "logging")


def find_config_file(explicit: Optional[str] = None) -> str:
    """The config file to use: ``--config``, ``$VDICTL_CONFIG``, user, system."""
    if explicit:
        return _existing(explicit, "config file given with --config")
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return _existing(from_env, f"config file named by ${ENV_VAR}")
    tried = []
    for candidate in (os.path.expanduser(USER_CONFIG), SYSTEM_CONFIG):
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
        tried.append(candidate)
    raise ConfigError(
        f"no config file found; tried ${ENV_VAR} (unset), {', '.join(tried)}; "
        "use --config PATH")


def vdictl_command(config_path: str, args: str, uri: Optional[str] = None) -> str:
    """`vdictl ARGS` as an operator types it to act on `config_path`: with
    `-c PATH` unless it is the file vdictl finds by itself (the user's, else
    the system's; $VDICTL_CONFIG may not be set where the line is read), and
    with `--uri URI` when the run was given one."""
    found = next((c for c in (os.path.expanduser(USER_CONFIG), SYSTEM_CONFIG)
                  if os.path.isfile(c)), None)
    options = "" if found is not None and \
        os.path.abspath(found) == os.path.abspath(config_path) else \
        f"-c {shlex.quote(config_path)} "
    if uri:
        options += f"--uri {shlex.quote(uri)} "
    return f"vdictl {options}{args}"


def _existing(path: str, what: str) -> str:
    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(full):
        raise ConfigError(f"{what} does not exist or is not a file", file=path)
    return full


def read_config_file(path: str) -> ConfigObj:
    """The parsed file; a syntax error is one ConfigError naming its line."""
    try:
        return ConfigObj(path, interpolation=False, file_error=True,
                         raise_errors=True, encoding="utf-8")
    except ConfigObjError as exc:
        raise _syntax_error(path, exc) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not valid UTF-8 ({exc.reason})", file=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=path) from None


_SECTION_LINE = re.compile(r"^\s*(\[+)\s*([^\]]*?)\s*\]+\s*(?:#.*)?$")
_KEY_LINE = re.compile(r"^\s*([^\s=\[\]#]+)\s*=")
#: Sections whose lines are never quoted in a message: they hold the password.
_SECRET_SECTIONS = ("general/connect",)


def _syntax_error(path: str, exc: ConfigObjError) -> ConfigError:
    """configobj's error with the section and key of its line, never a password."""
    line_number = getattr(exc, "line_number", None)
    line = (getattr(exc, "line", "") or "").strip()
    message = re.sub(r"\s*at line \d+\.?$", "", str(exc))
    message = re.sub(r"^Invalid line \(.*\) \(matched", "Invalid line (matched", message,
                     flags=re.DOTALL)
    section, key = _place_of_line(path, line_number)
    secret_key = key is None or "pass" in key.lower()
    if not _SECTION_LINE.match(line) and ((section in _SECRET_SECTIONS and secret_key)
                                          or "pass" in line.lower()):
        message += " (the line is not shown: it may hold a password)"
    elif line:
        message = f"{message}: {line!r}"
    return ConfigError(message, file=path, line=line_number, section=section, key=key)


def _place_of_line(path: str, line_number: Optional[int]) -> Tuple[Optional[str], Optional[str]]:
    """The section path and key of a line, read from the raw file (best effort)."""
    if not line_number:
        return None, None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()[:line_number]
    except OSError:
        return None, None
    if not lines:
        return None, None
    *before, last = lines
    stack: List[str] = []
    for text in before:                # a broken header at `last` is its parent's problem
        match = _SECTION_LINE.match(text)
        if match:
            depth = len(match.group(1))
            stack = stack[:depth - 1] + [match.group(2)]
    header = _SECTION_LINE.match(last)
    if header:                         # its parent section
        stack = stack[:len(header.group(1)) - 1]
    key_match = _KEY_LINE.match(last)
    return ("/".join(stack) or None), (key_match.group(1) if key_match else None)


def room_name(title: str) -> Optional[str]:
    """The room a section title names ("room lab1" -> "lab1"), "" for a room
    without a name, None for a title that is not a room's."""
    match = _ROOM_TITLE.match(title)
    return (match.group(1) or "").strip() if match else None


def profile_name(title: str) -> Optional[str]:
    """The connect profile a section title names ("connect eng2" -> "eng2"), else None."""
    match = _PROFILE_TITLE.match(title)
    return match.group(1).strip() if match else None


def room_sections(cfg: ConfigObj, path: str,
                  warn: Callable[[str, str], None] = lambda message, title: None
                  ) -> Iterator[Tuple[str, str]]:
    """(section title, room name) of each `[room NAME]`, in file order.

    A room without a name, or named twice, is a ConfigError; any other
    unknown section is passed to warn(message, title) (which may raise) and skipped.
    """
    seen = set()
    for title in cfg.sections:
        if title in OTHER_SECTIONS or profile_name(title):
            continue
        name = room_name(title)
        if name is None:
            hint = " (a room is written [room NAME])" if title.startswith("room") else ""
            warn(f"unknown section, ignored{hint}", title)
            continue
        if not name:
            raise ConfigError("a room needs a name: [room NAME]", file=path, section=title)
        if name in seen:
            raise ConfigError(f"room {name!r} is defined twice", file=path, section=title)
        seen.add(name)
        yield title, name


def room_names(path: str) -> List[str]:
    """The rooms of the config file at `path`, in file order. Only the file's
    syntax and its room titles are checked (vdictl.config.load.load_config checks
    the rest)."""
    full = os.path.abspath(path)
    return [name for _, name in room_sections(read_config_file(full), full)]
