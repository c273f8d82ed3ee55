"""Driver registry. SDKs are imported only when their driver is chosen."""

from __future__ import annotations

import importlib
from typing import Dict, Optional, Tuple, Type

from vdictl.config.rooms import Connect
from vdictl.errors import MissingDependency, UsageError

from .base import Driver

#: driver name -> (module, class, pip extra that brings its SDK)
DRIVERS: Dict[str, Tuple[str, str, str]] = {
    "libvirt": ("vdictl.drivers.libvirt", "LibvirtDriver", "libvirt"),
    "ovirt": ("vdictl.drivers.ovirt", "OvirtDriver", "ovirt"),
    "proxmox": ("vdictl.drivers.proxmox", "ProxmoxDriver", "proxmox"),
}


def get_driver_class(name: str) -> Type[Driver]:
    try:
        module_name, class_name, extra = DRIVERS[name]
    except KeyError:
        raise UsageError(f"unknown driver {name!r}; known: {', '.join(sorted(DRIVERS))}") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = exc.name or ""
        if missing and not missing.startswith("vdictl"):
            raise MissingDependency(
                f"the {name} driver needs the Python module {missing!r}: "
                f"pip install 'vdictl[{extra}]'") from None
        raise
    return getattr(module, class_name)


def get_driver(connect: Connect, *, uri: Optional[str] = None) -> Driver:
    """A new, unopened driver for `connect` (and a per-subsection `uri`)."""
    cls = get_driver_class(connect.driver)
    return cls(connect, uri=uri)


__all__ = ["DRIVERS", "Driver", "get_driver", "get_driver_class"]
