"""The ovirt driver (oVirt/RHV engine through ovirtsdk4); see driver.py and
docs/backends/ovirt.md."""

from .driver import OvirtDriver

__all__ = ["OvirtDriver"]
