"""Where vdictl's log lines go: stderr, and for runs that change VMs the audit
trail ([logging] log_file and config_file, syslog when unattended).

Imported when a command runs, not at start-up: `vdictl --help` needs no logging.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, List, Optional

from vdictl.errors import ConfigError

if TYPE_CHECKING:
    from vdictl.config.rooms import LoggingSettings

log = logging.getLogger("vdictl")


SYSLOG_ENV = "VDICTL_SYSLOG"  #: "off", or the syslog socket (default /dev/log)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: int) -> None:
    """stderr gets errors only at -1 (-q), warnings at 0, INFO at 1, DEBUG at 2."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)  # the terminal stays as quiet as asked when a log file wants more
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger("vdictl")
    for old in root.handlers:  # a previous run in this process (tests)
        if old not in logging.getLogger().handlers:
            old.close()
    root.handlers[:] = [handler]
    root.setLevel(level)


def setup_audit_trail(settings: LoggingSettings, config_path: Optional[str] = None, *,
                      delegated: bool = False) -> List[str]:
    """[logging] config_file, log_file, and syslog when not on a terminal (always,
    for a run through sudo: `delegated`, see add_syslog).

    Returns warnings for the operator.
    """
    warnings = []
    if settings.config_file:
        warnings += apply_logging_config(settings.config_file, config_path)
    add_log_file(settings.log_file, config_path)
    add_syslog(delegated=delegated)
    return warnings


def apply_logging_config(path: str, config_path: Optional[str] = None) -> List[str]:
    """Amoothei's logging.fileConfig file; missing is a warning, broken an error."""
    if not os.path.exists(path):
        return [f"[logging] config_file {path} does not exist; ignored"]
    import logging.config  # here, not at start-up: it pulls in socket, pickle ...

    try:
        logging.config.fileConfig(path, disable_existing_loggers=False)
    except Exception as exc:  # noqa: BLE001 - fileConfig raises anything (KeyError ...)
        raise ConfigError(f"cannot apply {path}: {type(exc).__name__}: {exc}",
                          file=config_path, section="logging", key="config_file") from None
    # fileConfig may lower or silence "vdictl"; the audit trail stays at INFO
    root = logging.getLogger("vdictl")
    root.disabled = False
    root.setLevel(min(root.level or logging.WARNING, logging.INFO))
    return []


def add_syslog(*, delegated: bool = False) -> None:
    """Unattended runs (cron: stderr is no terminal) also log to syslog; a run
    through sudo (`delegated`) always does, to /dev/log whatever $VDICTL_SYSLOG
    says. Once: a second call adds nothing."""
    address = "/dev/log" if delegated else os.environ.get(SYSLOG_ENV, "/dev/log")
    if address.lower() in ("off", "no", "0", "") or (sys.stderr.isatty() and not delegated):
        return
    if not os.path.exists(address):
        return
    import logging.handlers  # here, not at start-up (socket, pickle ...)

    if any(isinstance(h, logging.handlers.SysLogHandler)
           for h in logging.getLogger("vdictl").handlers):
        return

    try:
        handler = logging.handlers.SysLogHandler(
            address=address, facility=logging.handlers.SysLogHandler.LOG_DAEMON)
    except OSError as exc:
        log.warning("cannot log to syslog at %s: %s", address, exc.strerror)
        return
    handler.ident = "vdictl: "
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("vdictl")
    root.addHandler(handler)
    root.setLevel(min(root.level, logging.INFO))


def add_log_file(path: Optional[str], config_path: Optional[str] = None) -> None:
    """Append the audit trail (every state change, with time, room and VM) to `path`."""
    if not path:
        return
    try:
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot open log file {path}: {exc.strerror}", file=config_path,
                          section="logging", key="log_file") from None
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger("vdictl")
    root.addHandler(handler)
    root.setLevel(min(root.level, logging.INFO))
