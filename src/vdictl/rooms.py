"""The resolved configuration: frozen records built by vdictl.config.

Everything here is already validated and rendered; operations read these
records and never the raw config file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Tuple

from vdictl import linear_regex

RESET_STARTVM_CHOICES = ("Always", "Auto", "Never")
#: the kinds of first-boot payload (Personalisation.kind, payloads.Payload.kind)
SYSPREP = "sysprep"
CLOUD_INIT = "cloud-init"


@dataclass(frozen=True)
class Personalisation:
    """First-boot payload templates of a VM and the variables they render with.

    The files are read and rendered by vdictl.payload_render in the rollout's
    pre-flight, so a broken file fails only its room.
    """

    autounattend: Optional[str] = None       # path of the Autounattend.xml template
    user_data: Optional[str] = None          # path of the cloud-init user-data template
    network_config: Optional[str] = None     # path of the cloud-init network-config template
    variables: Tuple[Tuple[str, str], ...] = ()

    @property
    def kind(self) -> str:
        """"sysprep" (Windows) or "cloud-init" (Linux)."""
        return SYSPREP if self.autounattend else CLOUD_INIT


@dataclass(frozen=True)
class VmSpec:
    """One VM as the config describes it."""

    room: str
    subsection: str
    id: int
    id_str: str                       # zero-padded to two digits, as Amoothei did
    name: str
    template_name: str
    ip: Optional[str] = None
    netmask_suffix: Optional[int] = None
    default_gateway: Optional[str] = None
    network_name: Optional[str] = None
    cluster: Optional[str] = None
    memory: Optional[int] = None      # bytes
    os: Optional[str] = None
    description: Optional[str] = None
    timezone: Optional[str] = None
    usb: Optional[bool] = None
    stateless: bool = False
    snapshot_description: str = ""   # rendered; empty means: no snapshot
    reset_to_snapshot_regex: Optional[str] = None
    rollout_startvm: bool = False
    reset_startvm: str = "Auto"       # one of RESET_STARTVM_CHOICES
    tc_user: Optional[str] = None
    uri: Optional[str] = None         # libvirt: per-subsection hypervisor override
    adopt_unmarked: bool = False      # act on same-named VMs without a vdictl mark
    maintenance: bool = False         # reset and start leave the VM alone
    personalisation: Optional[Personalisation] = None  # first-boot payload, if any

    @property
    def takes_snapshot(self) -> bool:
        return bool(self.snapshot_description) and not self.stateless

    @property
    def resettable(self) -> bool:
        return self.takes_snapshot and bool(self.reset_to_snapshot_regex)

    def resets_to(self, description: str) -> bool:
        """Whether a reset of this VM would pick a snapshot with this description:
        the regex is searched for anywhere in it, as Amoothei/Virtesk did
        (``re.search``; ``^`` anchors at the start), in linear time (RE2). The
        reset and the config's check both ask this."""
        return linear_regex.search(self.reset_to_snapshot_regex or "", description)


@dataclass(frozen=True)
class Room:
    name: str
    vms: Tuple[VmSpec, ...]
    subsections: Tuple[str, ...]
    #: (section path, key) pairs present in the file that vdictl does not use
    unused_keys: Tuple[Tuple[str, str], ...] = ()

    @property
    def stateless(self) -> bool:
        return bool(self.vms) and all(vm.stateless for vm in self.vms)

    @property
    def resettable(self) -> bool:
        """A snapshot is configured and the room is not stateless."""
        return any(vm.resettable for vm in self.vms)


@dataclass(frozen=True)
class Throttle:
    snapshot_batch_size: int = 5
    snapshot_batch_pause: float = 10.0
    parallel: int = 10
    shutdown_timeout: float = 120.0
    operation_timeout: float = 600.0


@dataclass(frozen=True)
class Connect:
    driver: str                       # "libvirt" | "ovirt"
    uri: Optional[str] = None         # libvirt
    url: Optional[str] = None         # ovirt
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    password_file: Optional[str] = None
    ca_file: Optional[str] = None
    insecure: bool = False
    pool: Optional[str] = None        # libvirt storage pool for new overlays


@dataclass(frozen=True)
class LoggingSettings:
    log_file: Optional[str] = None
    config_file: Optional[str] = None


@dataclass(frozen=True)
class Config:
    path: str
    connect: Connect
    throttle: Throttle
    logging: LoggingSettings
    rooms: Mapping[str, Room]         # in file order
    scripttime: str
    warnings: Tuple[str, ...] = ()
    #: (section path, key) pairs of [general] etc. that vdictl does not use
    unused_keys: Tuple[Tuple[str, str], ...] = ()
