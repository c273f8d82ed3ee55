"""Who may write what root reads: the config file and every file it names.

vdictl runs as root from cron, and the config decides which URL receives the
password, which files are rendered into a VM's answer file and where the run
records go. So whoever can write the config (or a file it names, or a
directory on the way to one) decides what root does. As OpenSSH's StrictModes
(``auth.c: safe_path``) and sudo's sudoers check do, a run as root, or any run
with ``--strict-permissions``, refuses such a file before it is read, and
before anything is written:

- the file (symlinks resolved) must be owned by root, or by the user running
  vdictl when that is not root, and writable by nobody else (no group or
  others write bit);
- so must every directory that decides what the path names: each from ``/``
  down to the file's, for the path as written and for every symlink's
  target, except that a directory may be writable by others when it is
  root's and sticky (/tmp: nobody can replace another user's entry there).

The refusal is one :class:`~vdictl.errors.ConfigError` naming the file, its
owner and mode, and the ``chmod``/``chown`` that fixes it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Iterable, Iterator, List, Optional, Tuple

from vdictl.config.rooms import Config, Connect, VmSpec
from vdictl.config.secrets import credential_path
from vdictl.errors import ConfigError
from vdictl.lock import default_lock_dir

#: symlinks followed on one path before giving up, as the kernel's ELOOP (40)
MAX_SYMLINKS = 40
#: the VmSpec.personalisation fields and the keys that set them
TEMPLATE_KEYS = (("autounattend", "autounattend_templatefile"),
                 ("user_data", "cloud_init_user_data"),
                 ("network_config", "cloud_init_network_config"))


@dataclass(frozen=True)
class Named:
    """A path root reads or writes, and where it comes from."""

    what: str                      # "password file", "state directory", ...
    path: str
    section: Optional[str] = None  # where the config file names it; None: not named there
    key: Optional[str] = None


def enforced(strict: bool) -> bool:
    """The check runs for root, and for anyone with --strict-permissions."""
    return strict or os.geteuid() == 0


def check_config_file(path: str, *, strict: bool) -> None:
    """Refuse the config file itself before it is read."""
    if enforced(strict):
        _refuse_untrusted([Named("config file", path)], None, strict)


def check_config(config: Config, *, strict: bool, state_dir: str) -> None:
    """Refuse the first untrusted file the config names (and the state and lock
    directories, `state_dir` being the one the run records go to)."""
    if enforced(strict):
        named = list(named_paths(config)) + [Named("state directory", state_dir),
                                              Named("lock directory", default_lock_dir())]
        _refuse_untrusted(named, config.path, strict)


def named_paths(config: Config) -> Iterator[Named]:
    """Every file and directory the config names, once each, in file order."""
    seen = set()
    for named in _all_named(config):
        if named.path and named.path not in seen:
            seen.add(named.path)
            yield named


def _all_named(config: Config) -> Iterator[Named]:
    places = [("general/connect", config.connect)] + [
        (f"connect {name}", profile) for name, profile in config.profiles.items()]
    for section, connect in places:
        yield from _connect_paths(section, connect)
    logging = config.logging
    for what, key in (("logging config file", "config_file"), ("log file", "log_file"),
                      ("state directory", "state_dir"), ("metrics file", "metrics_file")):
        path = getattr(logging, key)
        if path:
            yield Named(what, path, "logging", key)
    for room in config.rooms.values():
        for spec in room.vms:
            if spec.ssh_keys_file:
                yield Named("SSH keys file", spec.ssh_keys_file,
                            _section_of(room.name, spec, "ssh_keys_file"), "ssh_keys_file")
            for field, key in TEMPLATE_KEYS:
                path = getattr(spec.personalisation, field, None)
                if path:
                    yield Named("template file", path, _section_of(room.name, spec, key), key)


def _section_of(room: str, spec: VmSpec, key: str) -> str:
    """Where the config file sets `key` for `spec`: the room, or its subsection."""
    if key in spec.room_wide_keys:
        return f"room {room}"
    return f"room {room}/{spec.subsection}"


def _connect_paths(section: str, connect: Connect) -> Iterator[Named]:
    for what, key in (("password file", "password_file"),
                      ("token secret file", "token_secret_file"), ("CA file", "ca_file")):
        path = getattr(connect, key)
        if path:
            yield Named(what, path, section, key)
    for what, key in (("password credential", "password_credential"),
                      ("token secret credential", "token_secret_credential")):
        name = getattr(connect, key)
        if name and os.environ.get("CREDENTIALS_DIRECTORY"):
            yield Named(what, credential_path(name, key), section, key)


def _refuse_untrusted(named: Iterable[Named], config_path: Optional[str],
                      strict: bool) -> None:
    me = os.geteuid()
    why = "vdictl runs as root" if me == 0 else "--strict-permissions"
    for item in named:
        problem = untrusted(item, me)
        if problem:
            raise ConfigError(f"{problem} ({why})", file=config_path,
                              section=item.section if config_path else None,
                              key=item.key if config_path else None)


def untrusted(item: Named, me: int) -> Optional[str]:
    """What makes `item` untrusted for user `me` ("password file /x is writable
    by group (owner root, mode 0660); run: chmod go-w /x"), or None."""
    dirs, real = resolve(os.path.abspath(item.path))
    link = f" (a symlink to {real})" if real != os.path.abspath(item.path) else ""
    shown = f"{item.what} {item.path}{link}"
    for directory in dirs:
        fault = _fault(directory, me, sticky_ok=True)
        if fault:
            return f"{shown} is in {directory}, which is {fault}"
    fault = _fault(real, me, sticky_ok=False)
    return f"{shown} is {fault}" if fault else None


def resolve(path: str) -> Tuple[List[str], str]:
    """The existing directories that decide what the absolute `path` names (each
    from / down, for the path as written and for every symlink's target), and
    the path with every symlink resolved. A component that does not exist
    (a log file not yet written) ends the walk of what exists."""
    dirs: List[str] = []
    pending = path.split("/")
    current = "/"
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            current = os.path.dirname(current)
            continue
        if os.path.isdir(current) and current not in dirs:
            dirs.append(current)
        following = os.path.join(current, part)
        if hops < MAX_SYMLINKS and os.path.islink(following):
            hops += 1
            target = os.readlink(following)
            if target.startswith("/"):
                current = "/"
            pending = target.split("/") + pending
            continue
        current = following
    return dirs, current


def _fault(path: str, me: int, *, sticky_ok: bool) -> Optional[str]:
    """'writable by group (owner root, mode 0775); run: chmod go-w PATH' or None."""
    try:
        info = os.stat(path)
    except OSError:
        return None  # not there (yet): the directories above it were checked
    mode = stat.S_IMODE(info.st_mode)
    writers = [who for who, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH))
               if mode & bit]
    if writers and sticky_ok and mode & stat.S_ISVTX and info.st_uid == 0:
        writers = []  # /tmp: root's and sticky, nobody replaces another's entry
    owner_ok = info.st_uid in (0, me)
    if owner_ok and not writers:
        return None
    faults, fixes = [], []
    if not owner_ok:
        faults.append("not owned by root" if me == 0 else f"not owned by root or {user_name(me)}")
        fixes.append(f"chown {user_name(me, bare=True)} {path}")
    if writers:
        faults.append(f"writable by {' and '.join(writers)}")
        fixes.append(f"chmod go-w {path}")
    return (f"{' and '.join(faults)} (owner {user_name(info.st_uid)}, mode {mode:04o}); "
            f"run: {' && '.join(fixes)}")


def user_name(uid: int, *, bare: bool = False) -> str:
    """The user's name, or "uid N" ("N" when `bare`) for a uid with no passwd entry."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid) if bare else f"uid {uid}"
