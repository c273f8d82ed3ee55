"""Typed errors. The library raises these; only the CLI turns them into exit codes."""

from __future__ import annotations

from typing import Optional, Sequence


def one_line(text: str) -> str:
    """`text` with each character that is not printable (a carriage return, a
    tab, an escape) written as its escape, so a name read from a file cannot
    break or forge a line of output; other characters (umlauts) stay."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class VdictlError(Exception):
    """Base of every error vdictl reports on purpose."""


class ConfigError(VdictlError):
    """The configuration is wrong. Names file, section and key where known."""

    def __init__(self, message: str, *, file: Optional[str] = None,
                 section: Optional[str] = None, key: Optional[str] = None,
                 line: Optional[int] = None):
        self.message = message
        self.file = file
        self.section = section
        self.key = key
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file if self.line is None else f"{self.file}:{self.line}")
        if self.section:
            where.append(f"[{self.section}]")
        if self.key:
            where.append(self.key)
        prefix = " ".join(where)
        # names and values come from the file: one line, whatever they hold
        return one_line(f"{prefix}: {self.message}" if prefix else self.message)


class UsageError(VdictlError):
    """The command line asks for something that cannot be done (unknown room ...)."""


class NotPermitted(VdictlError):
    """A run through sudo asked for what its rooms do not delegate to the caller
    (cli/delegation.py); says what, never whether a room it may not see exists."""


class MissingDependency(VdictlError):
    """A driver's SDK is not installed."""


class DriverError(VdictlError):
    """Something went wrong in a backend. Knows its driver and, when relevant, the VM."""

    #: True when retrying the same call later may succeed.
    transient = False

    def __init__(self, message: str, *, driver: str = "", vm: Optional[str] = None):
        self.message = message
        self.driver = driver
        self.vm = vm
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [p for p in (self.driver, self.vm) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class NotFound(DriverError):
    """The VM, template or snapshot does not exist."""


class Conflict(DriverError):
    """The object's state refuses the operation. Only Busy is retried; the
    other kinds stay until someone changes the object."""


class Busy(Conflict):
    """The object is locked or busy (engine 409, libvirt operation in progress)."""

    transient = True


class AlreadyExists(Conflict):
    """An object with that name is already there (domain, volume, VM, permission)."""


class WrongState(Conflict):
    """The object is in a state the operation refuses (running where it must be off)."""


class AuthError(DriverError):
    """Credentials were refused."""


class Unreachable(DriverError):
    """The backend cannot be contacted at all."""

    transient = True


class Unusable(Unreachable):
    """The endpoint cannot be used as configured, and waiting will not change
    that (its TLS certificate is not trusted, its CA file cannot be read): it
    is named at once, never retried."""

    transient = False


class NoConnection(DriverError):
    """A new connection to an endpoint could not be made on this machine (out of
    open files, say): no request was sent, so nothing was changed by it."""


class OperationTimeout(DriverError):
    """A wait ran out of time."""


class NotOwned(DriverError):
    """The VM exists but vdictl did not create it, so it is left alone."""


class TemplateInUse(DriverError):
    """A template still backs VMs (linked clones); `users` names them (up to 10 shown)."""

    SHOWN = 10

    def __init__(self, *, users: Sequence[str], driver: str = "", vm: Optional[str] = None):
        self.users = list(users)
        shown = ", ".join(self.users[:self.SHOWN])
        more = f" and {len(self.users) - self.SHOWN} more" if len(self.users) > self.SHOWN else ""
        super().__init__(f"template in use by {len(self.users)} VM(s): {shown}{more}; move "
                         "them to another template (virtroom-rebuild) or delete them first",
                         driver=driver, vm=vm)


class Unsupported(DriverError):
    """The backend cannot do what the config asks (e.g. stateless without transient disks)."""


class RoomBusy(VdictlError):
    """Another run holds the lock of a room."""

    def __init__(self, room: str, pid: Optional[int], path: str, waited: float):
        self.room = room
        self.pid = pid
        self.path = path
        holder = f"pid {pid}" if pid else "another process"
        after = f" after waiting {waited:g}s" if waited > 0 else ""
        super().__init__(f"room {room!r} is busy: {holder} holds {path}{after} "
                         f"(--lock-timeout SECONDS waits for it)")
