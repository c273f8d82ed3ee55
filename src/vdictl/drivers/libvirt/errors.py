"""libvirt errors as vdictl errors, for the libvirt driver's modules."""

from __future__ import annotations

from typing import Optional

import libvirt

from vdictl.errors import (AlreadyExists, AuthError, Busy, DriverError, NotFound,
                           Unreachable, Unsupported)

DRIVER = "libvirt"

AUTH_CODES = {libvirt.VIR_ERR_AUTH_FAILED, libvirt.VIR_ERR_AUTH_CANCELLED,
               libvirt.VIR_ERR_AUTH_UNAVAILABLE, libvirt.VIR_ERR_ACCESS_DENIED}
NOT_FOUND_CODES = {libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT,
                    libvirt.VIR_ERR_NO_STORAGE_VOL, libvirt.VIR_ERR_NO_STORAGE_POOL}
EXISTS_CODES = {libvirt.VIR_ERR_DOM_EXIST, libvirt.VIR_ERR_STORAGE_VOL_EXIST}
#: OPERATION_INVALID covers a state change still under way (a guest shutting
#: down) as well as a settled wrong state; it is retried, as the race is common
BUSY_CODES = {libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_ERR_OPERATION_TIMEOUT}
UNREACHABLE_CODES = {libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INVALID_CONN,
                      libvirt.VIR_ERR_RPC}
UNSUPPORTED_CODES = {libvirt.VIR_ERR_CONFIG_UNSUPPORTED, libvirt.VIR_ERR_NO_SUPPORT,
                      libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED}
#: what ssh prints when it refuses the login (qemu+ssh://): a wrong key or an
#: unknown host key is an AuthError, named at once, not retried for the bound
#: as a daemon that is not up yet would be
SSH_REFUSALS = ("Permission denied (", "Host key verification failed")
#: an open that fails so cannot work by waiting: no driver for the URI's
#: scheme, a test:/// file that is not valid XML, a URI libvirt cannot use
UNUSABLE_CODES = {libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_XML_ERROR,
                  libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG}


def is_not_running(exc: "libvirt.libvirtError") -> bool:
    """The domain stopped under our feet (destroy/shutdown of an off domain)."""
    msg = (exc.get_error_message() or str(exc)).lower()
    return (exc.get_error_code() in (libvirt.VIR_ERR_OPERATION_INVALID,
                                     libvirt.VIR_ERR_INTERNAL_ERROR)
            and "not running" in msg)


def is_unsupported_flags(exc: "libvirt.libvirtError") -> bool:
    return (exc.get_error_code() in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT)
            and "unsupported flags" in (exc.get_error_message() or str(exc)))


def map_error(exc: "libvirt.libvirtError", *, vm: Optional[str] = None,
              what: Optional[str] = None) -> DriverError:
    """The vdictl error for a libvirt error. `what` names the object for NotFound."""
    code = exc.get_error_code()
    msg = exc.get_error_message() or str(exc)
    low = msg.lower()
    if code in NOT_FOUND_CODES:
        return NotFound(f"{what} not found ({msg})" if what else msg, driver=DRIVER, vm=vm)
    if code in AUTH_CODES:
        return AuthError(msg, driver=DRIVER, vm=vm)
    if code in EXISTS_CODES:
        return AlreadyExists(msg, driver=DRIVER, vm=vm)
    if code in BUSY_CODES or "in progress" in low or "cannot acquire state change lock" in low:
        return Busy(msg, driver=DRIVER, vm=vm)
    if code in UNREACHABLE_CODES or exc.get_error_domain() == libvirt.VIR_FROM_RPC:
        return Unreachable(msg, driver=DRIVER, vm=vm)
    if code in UNSUPPORTED_CODES:
        return Unsupported(msg, driver=DRIVER, vm=vm)
    return DriverError(msg, driver=DRIVER, vm=vm)
