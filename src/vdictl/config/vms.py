"""The VMs of a config file: each [[subsection]]'s settings made into VmSpecs.

The loader (vdictl.config.load) converts a subsection's keys; :class:`VmBuilder`
checks how they go together, fills the keys not written from
``configspec.KEYS``, renders each VM's name, IP and snapshot description,
and checks every VM against those built before it: a name or an IP given
twice anywhere in the file is an error.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import fields
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple

from vdictl.config import linear_regex
from vdictl.config import spec as configspec
from vdictl.config.rooms import Personalisation, VmSpec
from vdictl.config.templating import CompiledTemplate, TemplateError, compile_template
from vdictl.config.values import netmask
from vdictl.errors import ConfigError

#: Variables every template may use.
BASE_VARIABLES = frozenset((
    "roomname", "subsection", "id", "suffix", "netmask_as_suffix", "netmask",
    "default_gateway", "scripttime"))
#: ... ``names`` sees only those; ``ip_addresses`` also the VM's name:
IP_VARIABLES = BASE_VARIABLES | {"name", "vmname"}
#: ... and ``snapshot_description`` also the IP, plus the names Amoothei
#: offered there (it substituted its whole per-VM dict).
LEGACY_SNAPSHOT_VARIABLES = frozenset((
    "rhev_vm_name", "ComputerName", "default_gw", "template", "network_name",
    "cluster", "description", "os", "timezone", "tc_user"))
SNAPSHOT_VARIABLES = IP_VARIABLES | {"ip"} | LEGACY_SNAPSHOT_VARIABLES
#: Payload templates (Autounattend.xml, cloud-init) see the same, plus [[[vars]]].
PAYLOAD_VARIABLES = SNAPSHOT_VARIABLES

#: Which key gives a template variable its value (for error hints).
_VARIABLE_SOURCE = {
    "suffix": "ip_addresses_suffix", "netmask": "netmask_suffix",
    "netmask_as_suffix": "netmask_suffix", "default_gateway": "default_gateway",
    "default_gw": "default_gateway", "ip": "ip_addresses",
}

#: oVirt's MaxVmNameLength; its names are letters, digits, . _ - (libvirt allows more).
MAX_VM_NAME = 64
_VM_NAME = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,%d}$" % (MAX_VM_NAME - 1))

#: VmSpec fields that take a config key's value as it is (snapshot_description
#: is rendered first).
_COPIED_KEYS = tuple(f.name for f in fields(VmSpec)
                     if f.name in configspec.keys_for("vm") and f.name != "snapshot_description")


class _Templates(NamedTuple):
    names: CompiledTemplate            # required: never None
    ips: Optional[CompiledTemplate]
    snapshot: Optional[CompiledTemplate]


class VmBuilder:
    """Builds the VMs of one config file, subsection by subsection."""

    def __init__(self, path: str, scripttime: str):
        self.path = path
        self.scripttime = scripttime
        self.vm_places: Dict[str, str] = {}
        #: (network_name, IP) -> (VM, section path) of the VM that has it
        self.ip_places: Dict[Tuple[Optional[str], str], Tuple[str, str]] = {}

    def error(self, message: str, section: str, key: Optional[str] = None) -> ConfigError:
        return ConfigError(message, file=self.path, section=section, key=key)

    def subsection(self, room: str, sub: str, path: str, written: Mapping[str, Any],
                   extra_vars: Mapping[str, str]) -> List[VmSpec]:
        """The VMs of [[sub]]; ``written``: its keys and the room's, converted."""
        s = self.settings(written, path)
        templates = _Templates(self.compile(s["names"], "names", BASE_VARIABLES, path),
                               self.template(s, "ip_addresses", IP_VARIABLES, path),
                               self.template(s, "snapshot_description", SNAPSHOT_VARIABLES,
                                             path))
        common: Dict[str, Any] = {
            "roomname": room, "subsection": sub, "scripttime": self.scripttime,
            "netmask_as_suffix": s["netmask_suffix"], "netmask": netmask(s["netmask_suffix"]),
            "default_gateway": s["default_gateway"], "default_gw": s["default_gateway"],
            "template": s["template_name"],
        }
        for key in ("network_name", "cluster", "description", "os", "timezone", "tc_user"):
            common[key] = s[key]
        # Amoothei padded ids to the widest id of the subsection, at least 2 digits.
        width = max(2, len(str(max(s["ids"]))))
        return [self.vm(vm_id, dict(common, id=str(vm_id).zfill(width)), s, path, templates,
                        extra_vars) for vm_id in s["ids"]]

    def settings(self, written: Mapping[str, Any], path: str) -> Dict[str, Any]:
        """Every key of the subsection: checked together, KEYS' default where not written."""
        for required in ("ids", "names", "template_name"):
            if required not in written:
                raise self.error(f"missing required key {required!r}", path, required)
        s = configspec.with_defaults("vm", written)
        if s["tc_user"] == "None":     # Virtesk's way of saying: no tc_user
            s["tc_user"] = None
        if s["stateless"] and s["snapshot_description"].strip():
            raise self.error("stateless = True and a snapshot_description exclude "
                             "each other; remove one", path, "snapshot_description")
        if (s["reset_to_snapshot_regex"] and "snapshot_description" not in written
                and not s["stateless"]):
            raise self.error(
                "missing while reset_to_snapshot_regex is set: rollout would take no snapshot "
                "and every reset would skip these VMs; write snapshot_description = \"...\" "
                "(a text the regex matches), or snapshot_description = \"\" to turn "
                "snapshots off", path, "snapshot_description")
        for word in (s["nameserver"] or "").split():
            try:
                ipaddress.ip_address(word)
            except ValueError:
                raise self.error(f"{word!r} is not an IP address; write the DNS servers' "
                                 "addresses separated by spaces, e.g. nameserver = "
                                 "\"192.0.2.53 192.0.2.54\"", path, "nameserver") from None
        return s

    def vm(self, vm_id: int, variables: Dict[str, Any], s: Mapping[str, Any], path: str,
           templates: _Templates, extra_vars: Mapping[str, str]) -> VmSpec:
        """One VM: its name, IP and snapshot description rendered, then checked."""
        if s["ip_addresses_suffix"] is not None:
            variables["suffix"] = s["ip_addresses_suffix"] + vm_id - 1
        name = self.render(templates.names, variables, path, "names")
        self.check_name(name, vm_id, path)
        variables.update(name=name, vmname=name, rhev_vm_name=name, ComputerName=name)
        ip = address = None
        if templates.ips is not None:
            ip = self.render(templates.ips, variables, path, "ip_addresses").strip()
            try:
                address = str(ipaddress.ip_address(ip))  # one spelling per address
            except ValueError:
                raise self.error(f"VM {name}: {ip!r} is not a valid IP address",
                                 path, "ip_addresses") from None
        variables["ip"] = ip
        description = self.render(templates.snapshot, variables, path,
                                  "snapshot_description") if templates.snapshot else ""
        vm = VmSpec(room=variables["roomname"], subsection=variables["subsection"], id=vm_id,
                    id_str=variables["id"], name=name, ip=ip,
                    snapshot_description=description,
                    personalisation=self.personalisation(s, path, variables, extra_vars),
                    **{key: s[key] for key in _COPIED_KEYS})
        self.check_ip(vm, address, path, "ip_addresses" if s["ip_addresses_suffix"] is None
                      else "ip_addresses_suffix")
        self.check_reset_regex(vm, path, s["snapshot_description"])
        return vm

    def personalisation(self, s: Mapping[str, Any], path: str, variables: Mapping[str, Any],
                        extra_vars: Mapping[str, str]) -> Optional[Personalisation]:
        autounattend = s["autounattend_templatefile"]
        user_data = s["cloud_init_user_data"]
        network = s["cloud_init_network_config"]
        if autounattend and (user_data or network):
            raise self.error("autounattend_templatefile (Windows) and cloud_init_* (Linux) "
                             "exclude each other; keep one", path, "autounattend_templatefile")
        if network and not user_data:
            raise self.error("cloud_init_network_config needs cloud_init_user_data", path,
                             "cloud_init_network_config")
        if not (autounattend or user_data):
            return None
        values = {k: str(v) for k, v in variables.items() if v is not None}
        values.update(extra_vars)
        return Personalisation(autounattend=autounattend, user_data=user_data,
                               network_config=network, variables=tuple(sorted(values.items())))

    def check_ip(self, vm: VmSpec, ip: Optional[str], path: str, key: str) -> None:
        """Two VMs on one network with one IP: like a name given twice. VMs on
        networks with different network_name values may share an address."""
        if ip is None:
            return
        first = self.ip_places.setdefault((vm.network_name, ip), (vm.name, path))
        if first != (vm.name, path):
            network = f" on network {vm.network_name}" if vm.network_name else ""
            raise self.error(f"IP {ip} is given twice{network}: to VM {first[0]} in "
                             f"[{first[1]}] and to VM {vm.name} in [{path}]; give each VM "
                             "its own IP", path, key)

    def check_reset_regex(self, vm: VmSpec, path: str, template_text: str) -> None:
        """The regex must pick the snapshot the rollout takes: both are known now."""
        if not vm.resettable or vm.resets_to(vm.snapshot_description):
            return
        regex, description = vm.reset_to_snapshot_regex or "", vm.snapshot_description
        # the description's fixed start, before its first placeholder, and .*
        start = re.split(r"\$|\{[{%#]", template_text)[0]
        example = "^" + re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", start) + ".*"
        if start.strip() and '"' not in start and linear_regex.search(example, description):
            fix = f'write e.g. reset_to_snapshot_regex = "{example}"'
        else:
            fix = "make it match a part of the description that every VM's has"
        raise self.error(f"{regex!r} does not match the snapshot description of VM {vm.name}, "
                         f"{description!r}, so every reset of it would fail; {fix}",
                         path, "reset_to_snapshot_regex")

    def template(self, s: Mapping[str, Any], key: str, allowed: Any,
                 path: str) -> Optional[CompiledTemplate]:
        """The key's template; None when it is not set (or an empty description)."""
        text = s[key]
        if text is None or (key == "snapshot_description" and not text.strip()):
            return None
        return self.compile(text, key, allowed, path)

    def compile(self, text: str, key: str, allowed: Any, path: str) -> CompiledTemplate:
        try:
            return compile_template(text, what=key, allowed=allowed)
        except TemplateError as exc:
            raise self.template_error(exc, path, key) from None

    def render(self, template: CompiledTemplate, variables: Mapping[str, Any],
               path: str, key: str) -> str:
        try:
            return template.render(variables)
        except TemplateError as exc:
            raise self.template_error(exc, path, key) from None

    def template_error(self, exc: TemplateError, path: str, key: str) -> TemplateError:
        detail = exc.detail
        source = _VARIABLE_SOURCE.get(exc.variable or "")
        if source and "no value" in detail:
            detail = f"{detail}: set {source}"
        return TemplateError(detail, variable=exc.variable, file=self.path,
                             section=path, key=key)

    def check_name(self, name: str, vm_id: int, path: str) -> None:
        if len(name) > MAX_VM_NAME:
            shown = name if len(name) <= 2 * MAX_VM_NAME else name[:2 * MAX_VM_NAME] + "..."
            raise self.error(
                f"VM name {shown!r} (id {vm_id}) is {len(name)} characters long; oVirt "
                f"and this check allow at most {MAX_VM_NAME}", path, "names")
        if not _VM_NAME.match(name):
            raise self.error(
                f"VM name {name!r} (id {vm_id}) is invalid: use 1 to {MAX_VM_NAME} of "
                "A-Z a-z 0-9 . _ - and do not start with '-'", path, "names")
        place = f"[{path}] (id {vm_id})"
        if name in self.vm_places:
            raise self.error(f"VM name {name!r} is defined twice: in "
                             f"{self.vm_places[name]} and in {place}", path, "names")
        self.vm_places[name] = place
