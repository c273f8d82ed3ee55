"""The resolved configuration: frozen records built by vdictl.config.load.

Everything here is already validated and rendered; operations read these
records and never the raw config file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, List, Mapping, Optional, Sequence, Tuple

from vdictl.config import linear_regex
from vdictl.config import spec as configspec
from vdictl.config.free_space import MinFree
from vdictl.errors import VdictlError

if TYPE_CHECKING:
    from vdictl.model import Snapshot

# A field named after a config key takes its default from configspec.KEYS, as
# the loader does: a record built by hand equals one loaded from the same keys.
_VM = configspec.defaults("vm")
_THROTTLE = configspec.defaults("throttle")
_ENDPOINT_THROTTLE = configspec.defaults("endpoint_throttle")
_CONNECT = configspec.defaults("connect")
_LOGGING = configspec.defaults("logging")
_ROOM = configspec.defaults("room")

RESET_STARTVM_CHOICES = configspec.keys_for("vm")["reset_startvm"].choices
#: the kinds of first-boot payload (Personalisation.kind, payloads.Payload.kind)
SYSPREP = "sysprep"
CLOUD_INIT = "cloud-init"


@dataclass(frozen=True)
class Personalisation:
    """First-boot payload templates of a VM and the variables they render with.

    The files are read and rendered by vdictl.firstboot.render in the rollout's
    pre-flight, so a broken file fails only its room.
    """

    autounattend: Optional[str]              # path of the Autounattend.xml template
    user_data: Optional[str]                 # path of the cloud-init user-data template
    network_config: Optional[str]            # path of the cloud-init network-config template
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
    ip: Optional[str] = None          # rendered from ip_addresses
    netmask_suffix: Optional[int] = _VM["netmask_suffix"]
    default_gateway: Optional[str] = _VM["default_gateway"]
    network_name: Optional[str] = _VM["network_name"]
    cluster: Optional[str] = _VM["cluster"]
    memory: Optional[int] = _VM["memory"]                 # bytes
    os: Optional[str] = _VM["os"]
    description: Optional[str] = _VM["description"]
    timezone: Optional[str] = _VM["timezone"]
    usb: Optional[bool] = _VM["usb"]
    stateless: bool = _VM["stateless"]
    snapshot_description: str = _VM["snapshot_description"]  # rendered; empty: no snapshot
    reset_to_snapshot_regex: Optional[str] = _VM["reset_to_snapshot_regex"]
    rollout_startvm: bool = _VM["rollout_startvm"]
    reset_startvm: str = _VM["reset_startvm"]             # one of RESET_STARTVM_CHOICES
    tc_user: Optional[str] = _VM["tc_user"]
    node: Optional[str] = _VM["node"]             # proxmox: node of the new VMs
    storage: Optional[str] = _VM["storage"]       # proxmox: disk storage (another: full clone)
    pool: Optional[str] = _VM["pool"]             # proxmox: resource pool the VMs join
    vmid_range: Optional[Tuple[int, int]] = _VM["vmid_range"]  # proxmox: VMIDs of new VMs
    iso_storage: str = _VM["iso_storage"]         # proxmox: storage of first-boot media
    nameserver: Optional[str] = _VM["nameserver"]       # proxmox cloud-init: DNS servers
    searchdomain: Optional[str] = _VM["searchdomain"]   # proxmox cloud-init: search domain
    ciuser: Optional[str] = _VM["ciuser"]               # proxmox cloud-init: the account
    ssh_keys_file: Optional[str] = _VM["ssh_keys_file"]  # proxmox cloud-init: its SSH keys
    uri: Optional[str] = _VM["uri"]   # libvirt: per-room or per-subsection hypervisor
    connect: Optional[str] = _VM["connect"]       # a [connect NAME] profile; None: [general]
    adopt_unmarked: bool = _VM["adopt_unmarked"]  # act on same-named VMs without a vdictl mark
    maintenance: bool = _VM["maintenance"]        # reset and start leave the VM alone
    skip_in_use: bool = _VM["skip_in_use"]        # reset ... delete leave VMs in use alone
    personalisation: Optional[Personalisation] = None  # first-boot payload, if any
    #: where the config chose this VM's endpoint, when not [general] [[connect]]:
    #: "[room lab1/students] uri", "[room lab1] uri", "[connect eng2] url"
    endpoint_from: str = field(default="", compare=False)
    #: the keys naming files (trust.py checks them) set on the room, not the subsection
    room_wide_keys: Tuple[str, ...] = field(default=(), compare=False)

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

    def matching_snapshots(self, snapshots: Sequence[Snapshot]) -> List[Snapshot]:
        """The snapshots whose description matches reset_to_snapshot_regex."""
        return [s for s in snapshots if self.resets_to(s.description)]

    def reset_snapshot(self, snapshots: Sequence[Snapshot]) -> Snapshot:
        """The one snapshot a reset restores: the only one whose description
        matches reset_to_snapshot_regex (none or several: an error naming them).
        The reset, the rollout and virtroom-show all ask this."""
        matches = self.matching_snapshots(snapshots)
        if not matches:
            raise VdictlError(f"VM {self.name}: no snapshot matches reset_to_snapshot_regex "
                              f"{self.reset_to_snapshot_regex!r} ({len(snapshots)} snapshot(s))")
        if len(matches) > 1:
            listed = "; ".join(repr(s.description) for s in matches)
            raise VdictlError(f"VM {self.name}: {len(matches)} snapshots match "
                              f"reset_to_snapshot_regex {self.reset_to_snapshot_regex!r}: {listed}")
        return matches[0]


@dataclass(frozen=True)
class Room:
    name: str
    vms: Tuple[VmSpec, ...]
    subsections: Tuple[str, ...]
    #: (section path, key) pairs present in the file that vdictl does not use
    unused_keys: Tuple[Tuple[str, str], ...] = ()
    #: who may run delegate_commands on the room through sudo: users and %groups
    delegates: Tuple[str, ...] = _ROOM["delegates"]
    delegate_commands: Tuple[str, ...] = _ROOM["delegate_commands"]
    #: a delegate's reset and shutdown skip the VMs in use
    delegate_skip_in_use: bool = _ROOM["delegate_skip_in_use"]

    @property
    def stateless(self) -> bool:
        return bool(self.vms) and all(vm.stateless for vm in self.vms)

    @property
    def resettable(self) -> bool:
        """A snapshot is configured and the room is not stateless."""
        return any(vm.resettable for vm in self.vms)


@dataclass(frozen=True)
class Throttle:
    snapshot_batch_size: int = _THROTTLE["snapshot_batch_size"]
    snapshot_batch_pause: float = _THROTTLE["snapshot_batch_pause"]
    parallel: int = _THROTTLE["parallel"]
    parallel_per_host: Optional[int] = _THROTTLE["parallel_per_host"]  # None: no per-host cap
    #: the free space every storage keeps (ops/storage.py's guard)
    min_free_storage: MinFree = _THROTTLE["min_free_storage"]
    shutdown_timeout: float = _THROTTLE["shutdown_timeout"]
    operation_timeout: float = _THROTTLE["operation_timeout"]


@dataclass(frozen=True)
class EndpointThrottle:
    """A [connect NAME] profile's own [[throttle]]: limits of its endpoint alone,
    held beside the global ones (None: not set)."""

    parallel: Optional[int] = _ENDPOINT_THROTTLE["parallel"]
    snapshot_batch_size: Optional[int] = _ENDPOINT_THROTTLE["snapshot_batch_size"]
    snapshot_batch_pause: Optional[float] = _ENDPOINT_THROTTLE["snapshot_batch_pause"]


@dataclass(frozen=True)
class Connect:
    driver: str                       # "libvirt" | "ovirt" | "proxmox"
    uri: Optional[str] = _CONNECT["uri"]             # libvirt
    url: Optional[str] = _CONNECT["url"]             # ovirt, proxmox
    username: Optional[str] = _CONNECT["username"]
    password: Optional[str] = field(default=_CONNECT["password"], repr=False)
    password_file: Optional[str] = _CONNECT["password_file"]
    #: a systemd credential's name: the file $CREDENTIALS_DIRECTORY/NAME holds the password
    password_credential: Optional[str] = _CONNECT["password_credential"]
    #: proxmox: API token user@realm!tokenid; its secret from the file or the variable
    token_id: Optional[str] = _CONNECT["token_id"]
    token_secret_file: Optional[str] = field(default=_CONNECT["token_secret_file"], repr=False)
    token_secret_env: Optional[str] = field(default=_CONNECT["token_secret_env"], repr=False)
    token_secret_credential: Optional[str] = _CONNECT["token_secret_credential"]
    ca_file: Optional[str] = _CONNECT["ca_file"]
    insecure: bool = _CONNECT["insecure"]
    filter: bool = _CONNECT["filter"]                # ovirt: the engine's user API
    pool: Optional[str] = _CONNECT["pool"]           # libvirt storage pool for new overlays
    #: seconds an endpoint may not answer before the run gives it up
    endpoint_timeout: float = _CONNECT["endpoint_timeout"]
    #: libvirt: ask QEMU's monitor which VNC/SPICE clients are connected
    console_probe: bool = _CONNECT["console_probe"]
    #: a [connect NAME] profile's own [[throttle]] (None: none written)
    throttle: Optional[EndpointThrottle] = None

    @property
    def endpoint(self) -> str:
        """Where these settings connect: the libvirt URI or the engine URL."""
        return self.uri or self.url or ""


@dataclass(frozen=True)
class LoggingSettings:
    log_file: Optional[str] = _LOGGING["log_file"]
    config_file: Optional[str] = _LOGGING["config_file"]
    state_dir: Optional[str] = _LOGGING["state_dir"]   # run records (vdictl.records.history)
    keep_runs: int = _LOGGING["keep_runs"]
    metrics_file: Optional[str] = _LOGGING["metrics_file"]  # Prometheus textfile


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
    #: the named connect profiles, [connect NAME], in file order
    profiles: Mapping[str, Connect] = field(default_factory=dict)

    def connect_of(self, spec: VmSpec) -> Connect:
        """The connect settings of `spec`'s VM: its profile's, else [general] [[connect]]."""
        return self.profiles[spec.connect] if spec.connect else self.connect

    def endpoint_of(self, spec: VmSpec) -> str:
        """The URI or URL `spec`'s VM lives at: its own uri, else its connect settings'."""
        return spec.uri or self.connect_of(spec).endpoint

    @property
    def endpoints(self) -> Tuple[str, ...]:
        """Every endpoint of the rooms, in file order."""
        return tuple(dict.fromkeys(self.endpoint_of(spec) for room in self.rooms.values()
                                   for spec in room.vms))
