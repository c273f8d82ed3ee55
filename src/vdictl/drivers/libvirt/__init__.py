"""The libvirt backend: LibvirtDriver and its parts (docs/backends/libvirt.md).

Importing this package imports the libvirt bindings; the registry in
vdictl.drivers does so only when the libvirt driver is chosen.
"""

from .driver import LibvirtDriver

__all__ = ["LibvirtDriver"]
