"""The table of config keys: the single source of truth for types and defaults.

``KEYS`` lists every key vdictl knows, where it may appear, its type,
default, whether vdictl uses it and a help text; the loader converts
values with :func:`convert`, and the documentation's config reference is
meant to be generated from the same table.

Section identifiers:

``general``   keys directly under ``[general]``
``connect``   ``[general]`` / ``[[connect]]``, and a named profile ``[connect NAME]``
``throttle``  ``[general]`` / ``[[throttle]]``
``endpoint_throttle``  ``[connect NAME]`` / ``[[throttle]]``: one endpoint's own limits
``logging``   ``[logging]``
``room``      ``[room NAME]`` itself: keys of the room, not of its subsections
``vm``        ``[room NAME]`` / ``[[subsection]]``; the same keys written
              directly under ``[room NAME]`` are defaults for its subsections
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from vdictl.config.free_space import MinFree
from vdictl.config.values import (IDS_FORMS, MIN_MEMORY)

#: Section identifier -> how the section is written in the file.
SECTIONS: Dict[str, str] = {
    "general": "[general]",
    "connect": "[general] [[connect]] or [connect NAME]",
    "throttle": "[general] [[throttle]]",
    "endpoint_throttle": "[connect NAME] [[throttle]]",
    "logging": "[logging]",
    "room": "[room NAME]",
    "vm": "[room NAME] [[subsection]]",
}

#: Value types and what they accept (for the docs).
TYPES: Dict[str, str] = {
    "str": "text",
    "int": "whole number",
    "float": "number",
    "bool": "True/False, yes/no, on/off, 1/0, enabled/disabled",
    "path": "file path; relative paths are relative to the config file's directory",
    "ids": f"VM ids: {IDS_FORMS}",
    "memory": "bytes: 4 * 1024 * 1024 * 1024, 4294967296, 4GiB, 512MiB, 4G; a plain number "
              "is bytes",
    "template": ("text with $var, ${var} or Jinja2 {{ var }} placeholders; Jinja2 without "
                 "calls, attributes, loops or set: arithmetic, ~, [i:j], {% if %} and the "
                 "filters of vdictl.config.templating.ALLOWED_FILTERS"),
    "choice": "one of a fixed set of words (case-insensitive)",
    "choices": "comma-separated words, each one of a fixed set (case-insensitive)",
    "accounts": "comma-separated user names and %group names, e.g. alice, %chem-teachers",
    "regex": ("regular expression, matched in linear time by RE2: Python's syntax without "
              "lookarounds, backreferences, atomic groups or possessive repeats"),
    "ip": "IP address",
    "urls": "a URL; for Proxmox VE also several, separated by commas (one per node)",
    "free_space": "a percentage of the storage (10%, 7.5%) or a size (200GiB, 1.5TiB, 500GB)",
    "vmid_range": "two Proxmox VE VMIDs (100 to 999999999) with a dash, the lower first: "
                  "5000-5999",
}


@dataclass(frozen=True)
class Key:
    name: str
    section: str                      # a SECTIONS identifier
    type: str                         # a TYPES identifier
    default: Any = None
    help: str = ""
    used: bool = True                 # False: accepted for compatibility, ignored
    required: bool = False
    choices: Tuple[str, ...] = ()
    minimum: Optional[float] = None
    maximum: Optional[float] = None


#: the commands a room may delegate (delegate_commands), by their word
DELEGABLE = ("show", "reset", "start", "shutdown")


def _unused(name: str, section: str, help: str, type: str = "str") -> Key:
    return Key(name, section, type, help=help, used=False)


KEYS: Tuple[Key, ...] = (
    # [general]
    _unused("sftp_floppy_upload_cmd", "general",
            "Amoothei: command uploading the sysprep floppy. Not used by vdictl."),
    _unused("sftp_floppy_cleanup_cmd", "general",
            "Amoothei: command removing the sysprep floppy. Not used by vdictl."),
    _unused("ovirt_worker_floppy_prefix", "general",
            "Amoothei: floppy path on the oVirt hosts. Not used by vdictl."),
    # [general] [[connect]]
    Key("driver", "connect", "choice", choices=("ovirt", "libvirt", "proxmox"),
        help="Backend. Without it, `url` means ovirt and `uri` means libvirt; Proxmox VE "
             "needs driver = proxmox."),
    Key("uri", "connect", "str",
        help="libvirt connection URI, e.g. qemu:///system."),
    Key("url", "connect", "urls",
        help="oVirt/RHV engine API URL, e.g. https://engine.example.org/ovirt-engine/api; "
             "Proxmox VE: a node's URL, e.g. https://pve1.example.org:8006 (/api2/json "
             "may be left out), or several nodes of the cluster separated by commas "
             "(https://pve1:8006, https://pve2:8006): when the node in use does not answer, "
             "the next one is used."),
    Key("username", "connect", "str",
        help="oVirt user, e.g. admin@internal; Proxmox VE: user@realm, e.g. root@pam "
             "(a ticket login; token_id is preferred)."),
    Key("password", "connect", "str",
        help="oVirt or Proxmox VE password (prefer password_file or "
             "password_credential)."),
    Key("password_file", "connect", "path",
        help="File whose first line is the oVirt or Proxmox VE password."),
    Key("password_credential", "connect", "str",
        help="Name of the systemd credential whose first line is the password, read from "
             "$CREDENTIALS_DIRECTORY/NAME: the unit gives it with LoadCredential=NAME:/path "
             "(or SetCredentialEncrypted=), e.g. password_credential = ovirt-password with "
             "LoadCredential=ovirt-password:/etc/vdictl/ovirt-password; see "
             "cron/vdictl-reset.service and docs/security.md."),
    Key("token_id", "connect", "str",
        help="Proxmox VE: API token, user@realm!tokenid (e.g. vdictl@pve!rooms), used "
             "instead of username and password; its secret comes from token_secret_file, "
             "token_secret_env or token_secret_credential (exactly one)."),
    Key("token_secret_file", "connect", "path",
        help="Proxmox VE: file whose first line is the API token's secret."),
    Key("token_secret_credential", "connect", "str",
        help="Proxmox VE: name of the systemd credential whose first line is the API "
             "token's secret, read from $CREDENTIALS_DIRECTORY/NAME (as "
             "password_credential)."),
    Key("token_secret_env", "connect", "str",
        help="Proxmox VE: name of the environment variable holding the API token's "
             "secret, e.g. PVE_TOKEN_SECRET."),
    Key("ca_file", "connect", "path",
        help="CA certificate of the oVirt engine or of the Proxmox VE nodes."),
    Key("insecure", "connect", "bool", default=False,
        help="Skip TLS certificate verification (testing only)."),
    Key("filter", "connect", "bool", default=False,
        help="oVirt: use the engine's user API (the `Filter: true` header, SDK 3's "
             "filter): the account sees only what its roles allow. For an account with "
             "an admin role that should act as a user; see docs/guide.md, \"Least "
             "privilege on oVirt\"."),
    Key("pool", "connect", "str",
        help="libvirt storage pool for new VM disks (default: the template's pool)."),
    Key("endpoint_timeout", "connect", "float", default=30.0, minimum=2, maximum=3600,
        help="Seconds a hypervisor or engine may go without answering before vdictl gives "
             "it up for the run: its VMs fail naming its URI, the other endpoints' VMs go "
             "on. Bounds libvirt's keepalive, every engine request and every reconnect."),
    Key("console_probe", "connect", "bool", default=True,
        help="libvirt and Proxmox VE: ask QEMU's monitor which console clients (VNC, "
             "SPICE) are connected to a running VM, to tell whether somebody is at it. "
             "libvirt asks query-vnc and query-spice through its QEMU monitor passthrough "
             "and then marks the domain \"tainted\" (custom-monitor) in its log; Proxmox "
             "VE is asked \"info vnc\" and \"info spice\" through its API's monitor "
             "call, which needs VM.Monitor on the VMs (Proxmox VE 8; Sys.Audit on 9). "
             "False turns the probe off, and VMs without a guest agent answering then "
             "count as \"cannot tell\". See docs/backends/libvirt.md and "
             "docs/backends/proxmox.md, \"Who is at a VM\"."),
    _unused("persistent_auth", "connect", "oVirt SDK 3 option. Not used by vdictl.", "bool"),
    _unused("renew_session", "connect", "oVirt SDK 3 option. Not used by vdictl.", "bool"),
    _unused("key_file", "connect", "oVirt SDK 3 option. Not used by vdictl.", "path"),
    _unused("cert_file", "connect", "oVirt SDK 3 option. Not used by vdictl.", "path"),
    _unused("timeout", "connect", "oVirt SDK 3 option. Not used by vdictl.", "int"),
    _unused("session_timeout", "connect", "oVirt SDK 3 option. Not used by vdictl.", "int"),
    _unused("validate_cert_chain", "connect", "oVirt SDK 3 option. Not used by vdictl.", "bool"),
    _unused("debug", "connect", "oVirt SDK 3 option. Not used by vdictl.", "bool"),
    # [general] [[throttle]]
    Key("snapshot_batch_size", "throttle", "int", default=5, minimum=1,
        help="Snapshots started together before pausing."),
    Key("snapshot_batch_pause", "throttle", "float", default=10.0, minimum=0,
        help="Seconds to wait between snapshot batches."),
    Key("parallel", "throttle", "int", default=10, minimum=1,
        help="VM operations (create, start, power off, shut down) running at the same time, "
             "over all endpoints."),
    Key("parallel_per_host", "throttle", "int", minimum=1,
        help="Per endpoint (a libvirt URI, an engine): at most this many of its VMs' power "
             "operations, and at most this many of its snapshot operations, at once, within "
             "parallel and snapshot_batch_size, which stay global. A slow or busy host then "
             "takes no more than its share, and every host starts its VMs at once. Not set: "
             "only the global limits apply, as on a site with one host; set it when a "
             "hypervisor's CPU or disks, not the shared storage or engine, are the bottleneck."),
    Key("min_free_storage", "throttle", "free_space", default=MinFree(percent=10.0),
        help="The free space every storage (oVirt storage domain, Proxmox VE storage, "
             "libvirt pool) keeps: rollout, rebuild, template-create and the rollout's "
             "snapshot step refuse to start work whose estimated need would take a storage "
             "below it (one line per storage, exit 1, nothing created; "
             "--ignore-storage-limit overrides); a reset that finds a storage below it warns "
             "once and goes on. A percentage of the storage's size (10%) or a size (200GiB). "
             "See the guide's \"Storage headroom\" for how the need is estimated."),
    # [connect NAME] [[throttle]]: one endpoint's own limits (ops.session, _host)
    Key("parallel", "endpoint_throttle", "int", minimum=1,
        help="This profile's endpoint alone: at most this many of its VMs' power "
             "operations at once, beside the global parallel (a slot of each is held). "
             "Not set: parallel_per_host if set, else only the global limit."),
    Key("snapshot_batch_size", "endpoint_throttle", "int", minimum=1,
        help="This profile's endpoint alone: at most this many of its snapshot "
             "operations at once (its own storage), beside the global "
             "snapshot_batch_size, which then bounds the whole site. Not set: "
             "parallel_per_host if set, else only the global limit."),
    Key("snapshot_batch_pause", "endpoint_throttle", "float", minimum=0,
        help="This profile's endpoint alone: seconds between the starts of its "
             "snapshot batches (at most its snapshot_batch_size each). Not set: no pause "
             "of its own; the global snapshot_batch_pause still applies."),
    Key("shutdown_timeout", "throttle", "float", default=120.0, minimum=0,
        help="Seconds a guest gets to shut down cleanly."),
    Key("operation_timeout", "throttle", "float", default=600.0, minimum=0,
        help="Seconds any single backend operation may take."),
    # [logging]
    Key("log_file", "logging", "path", help="Log file."),
    Key("config_file", "logging", "path",
        help="Python logging configuration file (logging.config.fileConfig format)."),
    Key("state_dir", "logging", "path",
        help="Directory of the run records that `vdictl status`, the metrics file and "
             "`vdictl report` read, and of the occupancy record (occupancy/: who sat at "
             "which desk, for --vacated and --idle-for) (default: $VDICTL_STATE_DIR, else "
             "/var/lib/vdictl for root, else $XDG_STATE_HOME/vdictl)."),
    Key("keep_runs", "logging", "int", default=60, minimum=1,
        help="Run records kept per command (virtroom-reset, -rollout ...) and room: a "
             "run's record is removed once each of its rooms has that many newer ones."),
    Key("metrics_file", "logging", "path",
        help="Prometheus textfile (ending in .prom, e.g. in node_exporter's "
             "--collector.textfile.directory), rewritten after every run that changes VMs."),
    # [room NAME] itself
    Key("delegates", "room", "accounts", default=(),
        help="Who may run the delegate_commands on this room through sudo without being "
             "root: user names and %groups (members in the group database, and the "
             "account's primary group), e.g. alice, %chem-teachers. Not set: nobody. See "
             "docs/guide.md, \"Letting teachers reset their own room\"."),
    Key("delegate_commands", "room", "choices", default=DELEGABLE, choices=DELEGABLE,
        help="What the delegates may do to this room: virtroom-show, -reset, -start, "
             "-shutdown. Rollout, rebuild, delete and the template commands are never "
             "delegated."),
    Key("delegate_skip_in_use", "room", "bool", default=True,
        help="A delegate's reset and shutdown leave the VMs somebody is using alone, as "
             "--skip-in-use does. False: they act on them (on a terminal, vdictl asks "
             "first)."),
    # [room NAME] [[subsection]]
    Key("ids", "vm", "ids", required=True,
        help="The VM ids of this subsection; each id makes one VM."),
    Key("names", "vm", "template", required=True,
        help="VM name template, e.g. ${roomname}-vd${id}."),
    Key("template_name", "vm", "str", required=True,
        help="Template (golden image) the VMs are created from."),
    Key("ip_addresses", "vm", "template",
        help="IP address template, e.g. 192.0.2.${suffix}. Also read as ip_adresses, "
             "the spelling of Virtesk's documentation."),
    Key("ip_addresses_suffix", "vm", "int", minimum=0,
        help="Last IP octet of the VM with id 1: suffix = ip_addresses_suffix + id - 1. "
             "Also read as ip_adresses_suffix."),
    Key("netmask_suffix", "vm", "int", minimum=0, maximum=32,
        help="Network prefix length, e.g. 24."),
    Key("default_gateway", "vm", "ip", help="Default gateway of the VMs."),
    Key("network_name", "vm", "str", help="Network the VM's NIC is attached to."),
    Key("cluster", "vm", "str", help="oVirt cluster for the VMs."),
    Key("node", "vm", "str",
        help="Proxmox VE: node the VMs are created on (default: the template's node). "
             "Another node than the template's needs the template's disks on shared "
             "storage."),
    Key("storage", "vm", "str",
        help="Proxmox VE: storage of the VMs' disks (default: the template's). A linked "
             "clone lives on its template's storage, so another storage means a full "
             "clone: a copy of every disk, slower and without the space saving."),
    Key("pool", "vm", "str",
        help="Proxmox VE: resource pool the VMs join (e.g. for the permissions of a "
             "teacher's account)."),
    Key("vmid_range", "vm", "vmid_range",
        help="Proxmox VE: the VMIDs the VMs may get, e.g. 5000-5999, so that vdictl's VMs "
             "keep to a range of their own (default: the lowest free VMID, as "
             "/cluster/nextid gives it). A VMID is checked free before each clone; a "
             "range with none free fails the VM, naming the range."),
    Key("iso_storage", "vm", "str", default="local",
        help="Proxmox VE: storage (with content type iso) the first-boot media are "
             "uploaded to."),
    Key("nameserver", "vm", "str",
        help="Proxmox VE: DNS servers the template's cloud-init drive gives the VMs, IP "
             "addresses separated by spaces, e.g. \"192.0.2.53 192.0.2.54\" (default: as "
             "the template has it). Needs a template with a cloud-init drive and no "
             "cloud_init_user_data or autounattend_templatefile."),
    Key("searchdomain", "vm", "str",
        help="Proxmox VE: DNS search domain the template's cloud-init drive gives the VMs "
             "(default: as the template has it). As nameserver."),
    Key("ciuser", "vm", "str",
        help="Proxmox VE: the account the template's cloud-init drive gives ssh_keys_file "
             "(default: the image's default user). As nameserver."),
    Key("ssh_keys_file", "vm", "path",
        help="Proxmox VE: a file of SSH public keys, one per line (# comments and blank "
             "lines left out), that the template's cloud-init drive installs for ciuser. "
             "As nameserver."),
    Key("memory", "vm", "memory", minimum=MIN_MEMORY,
        help="VM memory (default: the template's). A plain number is bytes: write 2GiB, "
             "512MiB or 2 * 1024 * 1024 * 1024."),
    Key("os", "vm", "str", help="Operating system type set on the VM."),
    Key("description", "vm", "str", help="VM description."),
    Key("timezone", "vm", "str", help="VM time zone."),
    Key("usb", "vm", "bool", help="Enable USB (enabled/disabled)."),
    Key("stateless", "vm", "bool", default=False,
        help="Discard changes on every shutdown. Excludes snapshot_description."),
    Key("snapshot_description", "vm", "template", default="",
        help="Description of the snapshot taken after rollout; empty: no snapshot."),
    Key("reset_to_snapshot_regex", "vm", "regex",
        help="Regex searched for in each snapshot description (re.search, as Amoothei "
             "did; ^ anchors it at the start): reset returns to the one snapshot it finds."),
    Key("rollout_startvm", "vm", "bool", default=False,
        help="Start the VMs after rollout."),
    Key("reset_startvm", "vm", "choice", default="Auto",
        choices=("Always", "Auto", "Never"),
        help="After reset: Always start, Auto (start if it was running), Never."),
    Key("tc_user", "vm", "str",
        help="Thin-client account granted access to the VMs (oVirt)."),
    Key("uri", "vm", "str",
        help="libvirt: hypervisor URI of the subsection's VMs (under [room NAME]: of all "
             "its subsections that do not set their own), overriding the uri of [[connect]] "
             "or of the room's connect profile."),
    Key("connect", "vm", "str",
        help="Name of a [connect NAME] section: the endpoint (driver, URL or URI, login) of "
             "the subsection's VMs (under [room NAME]: of all its subsections that do not "
             "set their own). Not set: [general] [[connect]]."),
    Key("maintenance", "vm", "bool", default=False,
        help="Under maintenance: reset and start leave these VMs alone and say so in the "
             "summary (--include-maintenance overrides). Shutdown, rollout and delete "
             "still act on them."),
    Key("skip_in_use", "vm", "bool", default=False,
        help="Reset, shutdown, rebuild and delete leave the VMs somebody is using alone "
             "(a console client connected or a user logged in), as --skip-in-use does, "
             "and say so in the summary: for cron runs by day. A VM whose backend cannot "
             "tell is not skipped."),
    Key("adopt_unmarked", "vm", "bool", default=False,
        help="Let rollout, reset, start and shutdown act on VMs with the computed names "
             "that carry no vdictl mark (e.g. rolled out by Amoothei/Virtesk). Delete still "
             "needs --adopt; VMs marked for another room are never adopted this way."),
    Key("autounattend_templatefile", "vm", "path",
        help="Windows: Jinja2 template of the per-VM Autounattend.xml, given to sysprep at "
             "the VM's first boot (oVirt: the engine's sysprep; libvirt: a CD image). "
             "Variables: those of names and ip_addresses, ip, and [[[vars]]]."),
    Key("cloud_init_user_data", "vm", "path",
        help="Linux: Jinja2 template of the cloud-init user-data (starts with #cloud-config), "
             "given at the VM's first boot (oVirt: the engine's cloud-init; libvirt: a "
             "NoCloud seed image)."),
    Key("cloud_init_network_config", "vm", "path",
        help="Linux, libvirt only: Jinja2 template of the cloud-init network-config (YAML)."),
    _unused("workaround_os", "vm",
            "Amoothei: OS type used during sysprep. Not used by vdictl."),
    _unused("workaround_timezone", "vm",
            "Amoothei: time zone used during sysprep. Not used by vdictl."),
)


#: Other spellings of a key -> the key. Virtesk's documentation
#: (doc/virtesk-vm-rollout-config.rst) spells these with one "d".
ALIASES: Dict[str, str] = {
    "ip_adresses": "ip_addresses",
    "ip_adresses_suffix": "ip_addresses_suffix",
}


def keys_for(section: str) -> Dict[str, Key]:
    """The keys allowed in a section identifier, by name, in table order."""
    return {k.name: k for k in KEYS if k.section == section}


def defaults(section: str) -> Dict[str, Any]:
    """The default of every key vdictl uses in a section identifier, by name: the
    only place defaults come from (the loader and the records of vdictl.config.rooms)."""
    return {k.name: k.default for k in KEYS if k.section == section and k.used}


def with_defaults(section: str, written: Mapping[str, Any]) -> Dict[str, Any]:
    """``written`` (converted values by key name) completed with the defaults of
    the section's keys it lacks."""
    return {**defaults(section), **written}


def sections_using(name: str) -> List[str]:
    """The section identifiers where vdictl uses a key of this name."""
    return [k.section for k in KEYS if k.name == name and k.used]


def close_keys(name: str, candidates: Iterable[str]) -> List[str]:
    """The candidates that ``name`` is most likely a misspelling of, best first.

    Close means: the same but for case, ``-`` or ``_``; one letter off (two
    for names of eight letters or more: a letter added, dropped, changed, or
    two swapped); or a whole word of a longer key (``template`` for
    ``template_name``). Anything further off may be a key of the operator's
    own (``notes``), not a typo.
    """
    wanted = name.lower().replace("-", "_")
    words = wanted.split("_")
    limit = 1 if len(wanted) < 8 else 2
    scored = []
    for candidate in candidates:
        distance = _edits(wanted, candidate)
        if distance <= limit:
            scored.append((distance, candidate))
        elif len(wanted) >= 4 and _is_word_run(words, candidate.split("_")):
            scored.append((limit + 1, candidate))
    return [candidate for _, candidate in sorted(scored, key=lambda item: item[0])]


def _edits(a: str, b: str) -> int:
    """Letters added, dropped, changed or swapped with a neighbour to make a into b."""
    previous, row = None, list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (char_a != char_b))
            if previous and i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous[j - 2] + 1)
        previous, row = row, current
    return row[-1]


def _is_word_run(words: List[str], of: List[str]) -> bool:
    return len(words) < len(of) and any(of[i:i + len(words)] == words
                                        for i in range(len(of) - len(words) + 1))
