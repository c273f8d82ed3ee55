"""Where the passwords and API token secrets live, and whether others may read them.

A secret comes from the config file (``password``), a file it names
(``password_file``, ``token_secret_file``), an environment variable
(``token_secret_env``, oVirt's ``$VDICTL_OVIRT_PASSWORD``) or a systemd
credential (``password_credential``, ``token_secret_credential``): the file
``$CREDENTIALS_DIRECTORY/NAME`` that systemd fills for a unit with
``LoadCredential=NAME:/path`` (or ``SetCredentialEncrypted=``, ``ImportCredential=``).

:func:`check_secret_files` warns about a secret that group or others may read
(an error with ``--strict-permissions``), and makes a secret that cannot be
read an error for a command that connects. Who may *write* them is
:mod:`vdictl.config.trust`'s question.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from vdictl.config.rooms import Config, Connect
from vdictl.errors import ConfigError

CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
#: (file key, credential key, what it holds) of each secret read from a file
SECRET_KEYS = (("password_file", "password_credential", "password"),
               ("token_secret_file", "token_secret_credential", "token secret"))


def credential_path(name: str, key: str) -> str:
    """$CREDENTIALS_DIRECTORY/NAME; unset: a ConfigError saying what the unit needs."""
    directory = os.environ.get(CREDENTIALS_ENV)
    if not directory:
        raise ConfigError(f"${CREDENTIALS_ENV} is not set, so there is no systemd "
                          f"credential {name}; run vdictl from a unit with "
                          f"LoadCredential={name}:/etc/vdictl/{name} in its [Service] section "
                          "(see cron/vdictl-reset.service)", key=key)
    return os.path.join(directory, name)


def password_path(connect: Connect) -> Optional[str]:
    """The file holding the password: password_file or the credential's file."""
    return _secret_path(connect, "password_file", "password_credential")


def token_secret_path(connect: Connect) -> Optional[str]:
    """The file holding the API token's secret: token_secret_file or the credential's."""
    return _secret_path(connect, "token_secret_file", "token_secret_credential")


def _secret_path(connect: Connect, file_key: str, credential_key: str) -> Optional[str]:
    name = getattr(connect, credential_key)
    return credential_path(name, credential_key) if name else getattr(connect, file_key)


def check_secret_files(config: Config, *, strict: bool = False,
                       offline: bool = False) -> List[str]:
    """Warnings for a password that others may read (errors when ``strict``).

    The config file counts when it holds ``password``; a secret's file must
    exist and be readable (``offline``: a command that never connects, such as
    ``config check``, only warns). Checked when a command uses the config, not
    by the loader: it is about the files on this machine now.
    """
    problems: List[ConfigError] = []
    places = [("general/connect", config.connect)] + [
        (f"connect {name}", profile) for name, profile in config.profiles.items()]
    for section, connect in places:
        problems += _secret_problems(config.path, section, connect, offline)
    if strict and problems:
        first = problems[0]
        raise ConfigError(f"{first.message} (--strict-permissions)", file=first.file,
                          section=first.section, key=first.key)
    return [str(p) for p in problems]


def _secret_problems(path: str, section: str, connect: Connect,
                     offline: bool) -> List[ConfigError]:
    """The secret problems of one connect section (raised when it cannot work)."""
    problems = []
    if connect.password is not None:
        exposed = _exposure(path)
        if exposed:
            problems.append(ConfigError(
                f"the config file holds a password and {exposed}", file=path,
                section=section, key="password"))
    for file_key, credential_key, holds in SECRET_KEYS:
        where: Dict[str, Any] = dict(file=path, section=section)
        name = getattr(connect, credential_key)
        if name:
            problems += _credential_problems(name, credential_key, holds, offline, where)
        elif getattr(connect, file_key):
            problems += _secret_file_problems(getattr(connect, file_key), f"{holds} file",
                                              offline, dict(where, key=file_key))
    return problems


def _credential_problems(name: str, key: str, holds: str, offline: bool,
                         where: Dict[str, Any]) -> List[ConfigError]:
    """A systemd credential that is not there. Its file is systemd's (root's,
    mode 0400, or 0440 where an ACL lets the unit's user read it:
    src/core/exec-credential.c, write_credential), so it is not checked for
    exposure."""
    where = dict(where, key=key)
    try:
        secret = credential_path(name, key)
    except ConfigError as exc:
        if offline:  # config check in a shell, outside the unit: nothing to say
            return []
        raise ConfigError(exc.message, **where) from None
    if os.path.isfile(secret):
        return _secret_file_problems(secret, f"{holds} credential", offline, where,
                                     exposure=False)
    problem = ConfigError(f"systemd credential {name} is not in ${CREDENTIALS_ENV} "
                          f"({os.path.dirname(secret)}); add LoadCredential={name}:/etc/vdictl/"
                          f"{name} to the unit's [Service] section", **where)
    if not offline:
        raise problem
    return [problem]


def _secret_file_problems(secret: str, kind: str, offline: bool, where: Dict[str, Any],
                          *, exposure: bool = True) -> List[ConfigError]:
    """A secret's file that is missing, unreadable or exposed."""
    unusable = None
    if not os.path.isfile(secret):
        unusable = f"{kind} {secret} does not exist or is not a file"
    elif not os.access(secret, os.R_OK):
        unusable = f"{kind} {secret} cannot be read (permission denied)"
    if unusable and not offline:
        raise ConfigError(unusable, **where)
    if unusable:
        return [ConfigError(unusable, **where)]
    exposed = _exposure(secret) if exposure else None
    return [ConfigError(f"{kind} {secret} {exposed}", **where)] if exposed else []


def _exposure(path: str) -> Optional[str]:
    """'is readable by group ... ; run: chmod 600 PATH', or None when private."""
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        return None
    who = [w for w, bit in (("group", 0o040), ("others", 0o004)) if mode & bit]
    if not who:
        return None
    return f"is readable by {' and '.join(who)} (mode {mode:04o}); run: chmod 600 {path}"
