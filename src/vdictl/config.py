"""Find, read and validate the vdictl config file (Virtesk/Amoothei compatible).

``load_config`` turns the configobj INI file into the frozen records of
:mod:`vdictl.rooms`: every value converted (see :mod:`vdictl.configspec`),
every template rendered, every VM named and checked. Anything wrong is a
:class:`~vdictl.errors.ConfigError` naming file, section and key.
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional, Tuple

from configobj import ConfigObj, Section

from vdictl import configspec, linear_regex
from vdictl.values import netmask
from vdictl.config_file import (find_config_file, read_config_file,  # noqa: F401
                                room_name, room_sections)
from vdictl.errors import ConfigError
from vdictl.rooms import (Config, Connect, LoggingSettings, Personalisation, Room, Throttle,
                          VmSpec)
from vdictl.templating import CompiledTemplate, TemplateError, compile_template

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


def load_config(path: str, *, now: Optional[datetime] = None) -> Config:
    """Read and validate the config file at ``path``."""
    full = os.path.abspath(path)
    scripttime = (now or datetime.now()).strftime("%Y-%m-%d-%H%M")
    return _Loader(full, scripttime).load(read_config_file(full))


def check_secret_files(config: Config, *, strict: bool = False,
                       offline: bool = False) -> List[str]:
    """Warnings for a password that others may read (errors when ``strict``).

    The config file counts when it holds ``password``; ``password_file`` must
    exist and be readable (``offline``: a command that never connects, such as
    ``config check``, only warns). Checked when a command uses the config, not
    by :func:`load_config`: it is about the files on this machine now.
    """
    connect = config.connect
    problems = []
    if connect.password is not None:
        exposed = _exposure(config.path)
        if exposed:
            problems.append(ConfigError(
                f"the config file holds a password and {exposed}", file=config.path,
                section="general/connect", key="password"))
    if connect.password_file:
        where = dict(file=config.path, section="general/connect", key="password_file")
        secret = connect.password_file
        unusable = None
        if not os.path.isfile(secret):
            unusable = f"password file {secret} does not exist or is not a file"
        elif not os.access(secret, os.R_OK):
            unusable = f"password file {secret} cannot be read (permission denied)"
        if unusable and not offline:
            raise ConfigError(unusable, **where)
        exposed = None if unusable else _exposure(secret)
        if unusable:
            problems.append(ConfigError(unusable, **where))
        elif exposed:
            problems.append(ConfigError(f"password file {secret} {exposed}", **where))
    if strict and problems:
        first = problems[0]
        raise ConfigError(f"{first.message} (--strict-permissions)", file=first.file,
                          section=first.section, key=first.key)
    return [str(p) for p in problems]


def _exposure(path: str) -> Optional[str]:
    """'is readable by group ... ; run: chmod 600 PATH', or None when private."""
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        return None
    who = [w for w, bit in (("group", 0o040), ("others", 0o004)) if mode & bit]
    if not who:
        return None
    return f"is readable by {' and '.join(who)} (mode {mode:04o}); run: chmod 600 {path}"


class _Loader:
    def __init__(self, path: str, scripttime: str):
        self.path = path
        self.base_dir = os.path.dirname(path)
        self.scripttime = scripttime
        self.warnings: List[str] = []
        self.unused: List[Tuple[str, str]] = []
        self.vm_places: Dict[str, str] = {}
        #: (network_name, IP) -> (VM, section path) of the VM that has it
        self.ip_places: Dict[Tuple[Optional[str], str], Tuple[str, str]] = {}
        self.driver = ""

    def error(self, message: str, section: Optional[str] = None,
              key: Optional[str] = None) -> ConfigError:
        return ConfigError(message, file=self.path, section=section, key=key)

    def warn(self, message: str, section: Optional[str] = None,
             key: Optional[str] = None) -> None:
        self.warnings.append(str(self.error(message, section, key)))

    # --- top level -----------------------------------------------------

    def load(self, cfg: ConfigObj) -> Config:
        for key in cfg.scalars:
            self.unused.append(("", key))
            elsewhere = configspec.sections_using(key)
            if elsewhere:
                raise self.error(f"{key} is written outside any section; it belongs in "
                                 f"{self.places(elsewhere)}", key=key)
            self.warn("unknown key outside any section, ignored", key=key)
        # first: a stray section explains a room that seems to lack subsections
        titles = list(room_sections(
            cfg, self.path, lambda message, title: self.stray_section(cfg, message, title)))
        general = cfg.get("general")
        if not isinstance(general, Section):
            raise self.error("missing [general] section with [[connect]]")
        connect, throttle = self.general(general)
        logging = self.logging(cfg["logging"]) if "logging" in cfg.sections \
            else LoggingSettings()
        rooms = {name: self.room(name, cfg[title]) for title, name in titles}
        return Config(path=self.path, connect=connect, throttle=throttle,
                      logging=logging, rooms=rooms, scripttime=self.scripttime,
                      warnings=tuple(self.warnings), unused_keys=tuple(self.unused))

    def values(self, section: Section, spec: str, path: str,
               unused: List[Tuple[str, str]]) -> Dict[str, Any]:
        """Convert the scalars of ``section`` with the keys of ``spec``."""
        known = configspec.keys_for(spec)
        result: Dict[str, Any] = {}
        for name in section.scalars:
            canonical = configspec.ALIASES.get(name, name)
            if canonical != name and canonical in section.scalars:
                raise self.error(f"{name} is another spelling of {canonical}, which is set "
                                 "too; keep one", path, name)
            key = known.get(canonical)
            if key is None or not key.used:
                unused.append((path, name))
                if key is None:
                    self.unknown_key(name, spec, path, known)
                continue
            try:
                result[canonical] = configspec.convert(key, section[name], self.base_dir)
            except ConfigError as exc:
                raise self.error(exc.message, path, name) from None
        return result

    def unknown_key(self, name: str, spec: str, path: str,
                    known: Mapping[str, configspec.Key]) -> None:
        """A key that is not one of the section's: an error when it is a key of
        another section, or a likely typo of one of this section's (its setting
        would silently not apply); otherwise a warning."""
        elsewhere = configspec.sections_using(name)
        close = configspec.close_keys(name, [k.name for k in known.values() if k.used])
        if elsewhere:
            raise self.error(f"{name} is not a key of {configspec.SECTIONS[spec]}; it belongs "
                             f"in {self.places(elsewhere)}", path, name)
        if close:
            raise self.error(f"unknown key; did you mean {' or '.join(map(repr, close[:2]))}?",
                             path, name)
        import difflib  # only for this hint

        far = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {far[0]!r}?)" if far else ""
        self.warn(f"unknown key, ignored{hint}", path, name)

    @staticmethod
    def places(sections: List[str]) -> str:
        return " or ".join(configspec.SECTIONS[s] for s in sections)

    def stray_section(self, cfg: ConfigObj, message: str, title: str) -> None:
        """A top-level section that is no room: a warning, unless it holds VMs or
        [general] subsections that would then be silently lost."""
        section = cfg[title]
        vm_keys = configspec.keys_for("vm")
        if title in ("connect", "throttle"):
            raise self.error(f"[{title}] is a subsection of [general]: write [[{title}]] "
                             "inside [general]", title)
        if any(key in vm_keys for key in section.scalars):
            before = [room_name(other) for other in cfg.sections[:cfg.sections.index(title)]]
            room = ([name for name in before if name] or [None])[-1]
            if room is None:
                raise self.error(f"VMs outside any room are ignored; write [[{title}]] "
                                 "inside a [room NAME]", title)
            raise self.error(f"a single-bracket section ends [room {room}], so these VMs "
                             f"belong to no room and would be ignored; write [[{title}]] "
                             f"inside [room {room}]", title)
        if any(key in vm_keys for sub in section.sections for key in section[sub].scalars):
            words = title.split(None, 1)
            name = words[1] if len(words) == 2 and words[0].lower() == "room" else title
            raise self.error(f"not a room, so its VMs would be ignored; a room is written "
                             f"[room NAME]: write [room {name}]", title)
        self.warn(message, title)

    def unknown_section(self, name: str, known: Tuple[str, ...], path: str,
                        hint: str = "") -> None:
        """A misspelt subsection is an error (its keys would silently not apply)."""
        close = configspec.close_keys(name, known)
        if close:
            depth = path.count("/") + 1
            raise self.error(f"unknown section; did you mean {'[' * depth}{close[0]}"
                             f"{']' * depth}?", path)
        self.warn(f"unknown section, ignored{hint}", path)

    def no_subsections(self, section: Section, path: str) -> None:
        for name in section.sections:
            self.warn("unknown section, ignored", f"{path}/{name}")

    # --- [general] and [logging] ---------------------------------------

    def general(self, general: Section) -> Tuple[Connect, Throttle]:
        self.values(general, "general", "general", self.unused)
        for name in general.sections:
            if name not in ("connect", "throttle"):
                self.unknown_section(name, ("connect", "throttle"), f"general/{name}")
        if "connect" not in general.sections:
            raise self.error("missing [[connect]] subsection", "general")
        connect = self.connect(general["connect"])
        throttle_values: Dict[str, Any] = {}
        if "throttle" in general.sections:
            throttle_values = self.values(general["throttle"], "throttle",
                                          "general/throttle", self.unused)
            self.no_subsections(general["throttle"], "general/throttle")
        throttle = Throttle(**{
            k.name: throttle_values.get(k.name, k.default)
            for k in configspec.keys_for("throttle").values()})
        return connect, throttle

    def connect(self, section: Section) -> Connect:
        path = "general/connect"
        vals = self.values(section, "connect", path, self.unused)
        self.no_subsections(section, path)
        driver = vals.pop("driver", None)
        if driver is None:
            if "url" in vals and "uri" in vals:
                raise self.error("both url (ovirt) and uri (libvirt) are set; "
                                 "choose with driver = ovirt|libvirt", path, "driver")
            if "url" in vals:
                driver = "ovirt"
            elif "uri" in vals:
                driver = "libvirt"
            else:
                raise self.error("set driver = ovirt|libvirt (or url for oVirt, "
                                 "uri for libvirt)", path, "driver")
        if driver == "ovirt" and not vals.get("url"):
            raise self.error("the ovirt driver needs url", path, "url")
        if vals.get("password") is not None and vals.get("password_file"):
            raise self.error("set password or password_file, not both", path,
                             "password_file")
        self.driver = driver
        return Connect(driver=driver, **vals)

    def logging(self, section: Section) -> LoggingSettings:
        vals = self.values(section, "logging", "logging", self.unused)
        self.no_subsections(section, "logging")
        return LoggingSettings(**vals)

    # --- rooms -----------------------------------------------------------

    def room(self, name: str, section: Section) -> Room:
        path = f"room {name}"
        unused: List[Tuple[str, str]] = []
        defaults = self.values(section, "vm", path, unused)
        if not section.sections:
            raise self.error(f"room {name!r} has no subsections ([[...]]) "
                             "defining VMs", path)
        vms: List[VmSpec] = []
        for sub in section.sections:
            sub_path = f"{path}/{sub}"
            settings = dict(defaults)
            settings.update(self.values(section[sub], "vm", sub_path, unused))
            extra_vars = self.extra_vars(section[sub], sub_path)
            vms.extend(self.subsection(name, sub, sub_path, settings, extra_vars))
        return Room(name=name, vms=tuple(vms), subsections=tuple(section.sections),
                    unused_keys=tuple(unused))

    def extra_vars(self, section: Section, path: str) -> Dict[str, str]:
        """The operator's own payload variables: [[subsection]] [[[vars]]]."""
        result: Dict[str, str] = {}
        for name in section.sections:
            if name != "vars":
                self.unknown_section(name, ("vars",), f"{path}/{name}",
                                     " (only [[[vars]]] may be here)")
                continue
            vars_path = f"{path}/vars"
            self.no_subsections(section[name], vars_path)
            for key in section[name].scalars:
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                    raise self.error("a variable name is letters, digits and _, not "
                                     "starting with a digit", vars_path, key)
                if key in PAYLOAD_VARIABLES:
                    raise self.error(f"{key!r} is a built-in variable; choose another name",
                                     vars_path, key)
                try:
                    result[key] = configspec.convert(
                        configspec.Key(key, "vars", "str"), section[name][key], self.base_dir)
                except ConfigError as exc:
                    raise self.error(exc.message, vars_path, key) from None
        return result

    def personalisation(self, s: Mapping[str, Any], path: str, variables: Mapping[str, Any],
                        extra_vars: Mapping[str, str]) -> Optional[Personalisation]:
        autounattend = s.get("autounattend_templatefile")
        user_data = s.get("cloud_init_user_data")
        network = s.get("cloud_init_network_config")
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

    def subsection(self, room: str, sub: str, path: str,
                   s: Dict[str, Any], extra_vars: Mapping[str, str]) -> List[VmSpec]:
        if s.get("tc_user") == "None":     # Virtesk's way of saying: no tc_user
            s["tc_user"] = None
        for required in ("ids", "names", "template_name"):
            if required not in s:
                raise self.error(f"missing required key {required!r}", path, required)
        if s.get("stateless") and s.get("snapshot_description", "").strip():
            raise self.error("stateless = True and a snapshot_description exclude "
                             "each other; remove one", path, "snapshot_description")
        if (s.get("reset_to_snapshot_regex") and "snapshot_description" not in s
                and not s.get("stateless")):
            raise self.error(
                "missing while reset_to_snapshot_regex is set: rollout would take no snapshot "
                "and every reset would skip these VMs; write snapshot_description = \"...\" "
                "(a text the regex matches), or snapshot_description = \"\" to turn "
                "snapshots off", path, "snapshot_description")
        if s.get("uri") and self.driver != "libvirt":
            self.warn(f"uri is only used by the libvirt driver, not {self.driver}",
                      path, "uri")
        names = self.template(s, "names", BASE_VARIABLES, path)
        ips = self.template(s, "ip_addresses", IP_VARIABLES, path)
        snapshot = self.template(s, "snapshot_description", SNAPSHOT_VARIABLES, path)
        netmask_suffix = s.get("netmask_suffix")
        common: Dict[str, Any] = {
            "roomname": room, "subsection": sub, "scripttime": self.scripttime,
            "netmask_as_suffix": netmask_suffix, "default_gateway": s.get("default_gateway"),
            "default_gw": s.get("default_gateway"), "template": s["template_name"],
            "netmask": netmask(netmask_suffix),
        }
        for key in ("network_name", "cluster", "description", "os", "timezone", "tc_user"):
            common[key] = s.get(key)
        # Amoothei padded ids to the widest id of the subsection, at least 2 digits.
        width = max(2, len(str(max(s["ids"]))))
        vms = []
        for vm_id in s["ids"]:
            variables = dict(common, id=str(vm_id).zfill(width))
            if s.get("ip_addresses_suffix") is not None:
                variables["suffix"] = s["ip_addresses_suffix"] + vm_id - 1
            name = self.render(names, variables, path, "names")
            self.check_name(name, vm_id, path)
            variables.update(name=name, vmname=name, rhev_vm_name=name, ComputerName=name)
            ip = address = None
            if ips is not None:
                ip = self.render(ips, variables, path, "ip_addresses").strip()
                try:
                    address = str(ipaddress.ip_address(ip))  # one spelling per address
                except ValueError:
                    raise self.error(f"VM {name}: {ip!r} is not a valid IP address",
                                     path, "ip_addresses") from None
            variables["ip"] = ip
            description = self.render(snapshot, variables, path,
                                      "snapshot_description") if snapshot else ""
            vm = VmSpec(
                room=room, subsection=sub, id=vm_id, id_str=variables["id"], name=name,
                template_name=s["template_name"], ip=ip, netmask_suffix=netmask_suffix,
                default_gateway=s.get("default_gateway"), network_name=s.get("network_name"),
                cluster=s.get("cluster"), memory=s.get("memory"), os=s.get("os"),
                description=s.get("description"), timezone=s.get("timezone"),
                usb=s.get("usb"), stateless=s.get("stateless", False),
                snapshot_description=description,
                reset_to_snapshot_regex=s.get("reset_to_snapshot_regex"),
                rollout_startvm=s.get("rollout_startvm", False),
                reset_startvm=s.get("reset_startvm", "Auto"),
                tc_user=s.get("tc_user"), uri=s.get("uri"),
                adopt_unmarked=s.get("adopt_unmarked", False),
                maintenance=s.get("maintenance", False),
                personalisation=self.personalisation(s, path, variables, extra_vars))
            self.check_ip(vm, address, path, "ip_addresses_suffix" if "ip_addresses_suffix" in s
                          else "ip_addresses")
            self.check_reset_regex(vm, path, s.get("snapshot_description", ""))
            vms.append(vm)
        return vms

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
        text = s.get(key)
        if text is None or (key == "snapshot_description" and not text.strip()):
            return None
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
