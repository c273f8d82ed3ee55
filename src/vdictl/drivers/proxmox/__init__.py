"""The proxmox driver (Proxmox VE through its REST API, with proxmoxer); see
driver.py and docs/backends/proxmox.md."""

from .driver import ProxmoxDriver

__all__ = ["ProxmoxDriver"]
