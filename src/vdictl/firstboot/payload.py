"""The first-boot payload a driver gives a new VM: Autounattend.xml or cloud-init data.

A plain record, already rendered and checked (by vdictl.firstboot.render):
drivers import it, and it imports neither YAML nor the template engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Payload:
    """What a VM receives at its first boot, rendered for that VM."""

    kind: str                          # vdictl.config.rooms.SYSPREP or CLOUD_INIT
    host_name: str
    autounattend: Optional[str] = None
    user_data: Optional[str] = None
    network_config: Optional[str] = None

    @property
    def meta_data(self) -> str:
        """NoCloud meta-data: the instance id and host name cloud-init expects."""
        return f"instance-id: vdictl-{self.host_name}\nlocal-hostname: {self.host_name}\n"
