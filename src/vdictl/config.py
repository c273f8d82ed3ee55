"""Find, read and validate the vdictl config file (Virtesk/Amoothei compatible).

``load_config`` turns the configobj INI file into the frozen records of
:mod:`vdictl.rooms`: every value converted (see :mod:`vdictl.configspec`),
every template rendered, every VM named and checked. Anything wrong is a
:class:`~vdictl.errors.ConfigError` naming file, section and key.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional, Tuple

from configobj import ConfigObj, ConfigObjError, Section

from vdictl import configspec
from vdictl.errors import ConfigError
from vdictl.rooms import (Config, Connect, LoggingSettings, Personalisation, Room,
                          RoomContents, Throttle, VmSpec)
from vdictl.templating import CompiledTemplate, TemplateError, compile_template

ENV_VAR = "VDICTL_CONFIG"
USER_CONFIG = "~/.config/vdictl/vdi-rollout.conf"
SYSTEM_CONFIG = "/etc/vdictl/vdi-rollout.conf"

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
_ROOM_TITLE = re.compile(r"^room(?:\s+(.*))?$", re.DOTALL)


def find_config_file(explicit: Optional[str] = None) -> str:
    """The config file to use: ``--config``, ``$VDICTL_CONFIG``, user, system."""
    if explicit:
        return _existing(explicit, "config file given with --config")
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return _existing(from_env, f"config file named by ${ENV_VAR}")
    tried = []
    for candidate in (os.path.expanduser(USER_CONFIG), SYSTEM_CONFIG):
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
        tried.append(candidate)
    raise ConfigError(
        f"no config file found; tried ${ENV_VAR} (unset), {', '.join(tried)}; "
        "use --config PATH")


def _existing(path: str, what: str) -> str:
    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(full):
        raise ConfigError(f"{what} does not exist or is not a file", file=path)
    return full


def load_config(path: str, *, now: Optional[datetime] = None,
                check_rooms: bool = True) -> Config:
    """Read and validate the config file at ``path``.

    ``check_rooms=False`` is for callers that need the rooms' names only
    (`vdictl rooms`, shell completion): [general] and [logging] are checked
    and the room sections named, but no room's keys are converted and no VM
    is built until some room's VMs are first asked for. Then every room is
    built at once, in file order, so that the first error raised (a VM name
    claimed by two rooms included) is the one a full load raises; the
    warnings of the room sections are not collected in that case.
    """
    full = os.path.abspath(path)
    scripttime = (now or datetime.now()).strftime("%Y-%m-%d-%H%M")
    return _Loader(full, scripttime).load(_read(full), check_rooms=check_rooms)


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


def _read(path: str) -> ConfigObj:
    try:
        return ConfigObj(path, interpolation=False, file_error=True,
                         raise_errors=True, encoding="utf-8")
    except ConfigObjError as exc:
        raise _syntax_error(path, exc) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not valid UTF-8 ({exc.reason})", file=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=path) from None


_SECTION_LINE = re.compile(r"^\s*(\[+)\s*([^\]]*?)\s*\]+\s*(?:#.*)?$")
_KEY_LINE = re.compile(r"^\s*([^\s=\[\]#]+)\s*=")
#: Sections whose lines are never quoted in a message: they hold the password.
_SECRET_SECTIONS = ("general/connect",)


def _syntax_error(path: str, exc: ConfigObjError) -> ConfigError:
    """configobj's error with the section and key of its line, never a password."""
    line_number = getattr(exc, "line_number", None)
    line = (getattr(exc, "line", "") or "").strip()
    message = re.sub(r"\s*at line \d+\.?$", "", str(exc))
    message = re.sub(r"^Invalid line \(.*\) \(matched", "Invalid line (matched", message,
                     flags=re.DOTALL)
    section, key = _place_of_line(path, line_number)
    secret_key = key is None or "pass" in key.lower()
    if not _SECTION_LINE.match(line) and ((section in _SECRET_SECTIONS and secret_key)
                                          or "pass" in line.lower()):
        message += " (the line is not shown: it may hold a password)"
    elif line:
        message = f"{message}: {line!r}"
    return ConfigError(message, file=path, line=line_number, section=section, key=key)


def _place_of_line(path: str, line_number: Optional[int]) -> Tuple[Optional[str], Optional[str]]:
    """The section path and key of a line, read from the raw file (best effort)."""
    if not line_number:
        return None, None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()[:line_number]
    except OSError:
        return None, None
    if not lines:
        return None, None
    *before, last = lines
    stack: List[str] = []
    for text in before:                # a broken header at `last` is its parent's problem
        match = _SECTION_LINE.match(text)
        if match:
            depth = len(match.group(1))
            stack = stack[:depth - 1] + [match.group(2)]
    header = _SECTION_LINE.match(last)
    if header:                         # its parent section
        stack = stack[:len(header.group(1)) - 1]
    key_match = _KEY_LINE.match(last)
    return ("/".join(stack) or None), (key_match.group(1) if key_match else None)


class _Loader:
    def __init__(self, path: str, scripttime: str):
        self.path = path
        self.base_dir = os.path.dirname(path)
        self.scripttime = scripttime
        self.warnings: List[str] = []
        self.unused: List[Tuple[str, str]] = []
        self.vm_places: Dict[str, str] = {}
        self.driver = ""
        #: room sections not built yet, in file order; the contents of those built
        self.pending: Dict[str, Section] = {}
        self.built: Dict[str, RoomContents] = {}
        self.failure: Optional[ConfigError] = None

    def error(self, message: str, section: Optional[str] = None,
              key: Optional[str] = None) -> ConfigError:
        return ConfigError(message, file=self.path, section=section, key=key)

    def warn(self, message: str, section: Optional[str] = None,
             key: Optional[str] = None) -> None:
        self.warnings.append(str(self.error(message, section, key)))

    # --- top level -----------------------------------------------------

    def load(self, cfg: ConfigObj, check_rooms: bool = True) -> Config:
        for key in cfg.scalars:
            self.unused.append(("", key))
            self.warn("unknown key outside any section, ignored", key=key)
        general = cfg.get("general")
        if not isinstance(general, Section):
            raise self.error("missing [general] section with [[connect]]")
        connect, throttle = self.general(general)
        logging = self.logging(cfg["logging"]) if "logging" in cfg.sections \
            else LoggingSettings()
        rooms: Dict[str, Room] = {}
        for title in cfg.sections:
            if title in ("general", "logging"):
                continue
            match = _ROOM_TITLE.match(title)
            if not match:
                hint = " (a room is written [room NAME])" if title.startswith("room") else ""
                self.warn(f"unknown section, ignored{hint}", section=title)
                continue
            name = (match.group(1) or "").strip()
            if not name:
                raise self.error("a room needs a name: [room NAME]", section=title)
            if name in rooms:
                raise self.error(f"room {name!r} is defined twice", section=title)
            rooms[name] = Room(name=name, subsections=tuple(cfg[title].sections),
                               contents=functools.partial(self.room_contents, name))
            self.pending[name] = cfg[title]
            if check_rooms:       # now, so that warnings keep the order of the file
                self.build_rooms()
        return Config(path=self.path, connect=connect, throttle=throttle,
                      logging=logging, rooms=rooms, scripttime=self.scripttime,
                      warnings=tuple(self.warnings), unused_keys=tuple(self.unused))

    def values(self, section: Section, spec: str, path: str,
               unused: List[Tuple[str, str]]) -> Dict[str, Any]:
        """Convert the scalars of ``section`` with the keys of ``spec``."""
        known = configspec.keys_for(spec)
        result: Dict[str, Any] = {}
        for name in section.scalars:
            key = known.get(name)
            if key is None or not key.used:
                unused.append((path, name))
                if key is None:
                    import difflib  # only for this hint

                    close = difflib.get_close_matches(name, known, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    self.warn(f"unknown key, ignored{hint}", path, name)
                continue
            try:
                result[name] = configspec.convert(key, section[name], self.base_dir)
            except ConfigError as exc:
                raise self.error(exc.message, path, name) from None
        return result

    def no_subsections(self, section: Section, path: str) -> None:
        for name in section.sections:
            self.warn("unknown section, ignored", f"{path}/{name}")

    # --- [general] and [logging] ---------------------------------------

    def general(self, general: Section) -> Tuple[Connect, Throttle]:
        self.values(general, "general", "general", self.unused)
        for name in general.sections:
            if name not in ("connect", "throttle"):
                self.warn("unknown section, ignored", f"general/{name}")
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

    def room_contents(self, name: str) -> RoomContents:
        """The built contents of room ``name``; builds every room not built yet."""
        self.build_rooms()
        return self.built[name]

    def build_rooms(self) -> None:
        """Build the pending rooms in file order (the duplicate-name check needs it)."""
        if self.failure is not None:  # a half-built config must not be built again
            raise self.failure
        while self.pending:
            name, section = next(iter(self.pending.items()))
            try:
                self.built[name] = self.room(name, section)
            except ConfigError as exc:
                self.failure = exc
                raise
            del self.pending[name]

    def room(self, name: str, section: Section) -> RoomContents:
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
        return tuple(vms), tuple(unused)

    def extra_vars(self, section: Section, path: str) -> Dict[str, str]:
        """The operator's own payload variables: [[subsection]] [[[vars]]]."""
        result: Dict[str, str] = {}
        for name in section.sections:
            if name != "vars":
                self.warn("unknown section, ignored (only [[[vars]]] may be here)",
                          f"{path}/{name}")
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
            "netmask": _netmask(netmask_suffix),
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
            ip = None
            if ips is not None:
                ip = self.render(ips, variables, path, "ip_addresses").strip()
                try:
                    ipaddress.ip_address(ip)
                except ValueError:
                    raise self.error(f"VM {name}: {ip!r} is not a valid IP address",
                                     path, "ip_addresses") from None
            variables["ip"] = ip
            description = self.render(snapshot, variables, path,
                                      "snapshot_description") if snapshot else ""
            vms.append(VmSpec(
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
                personalisation=self.personalisation(s, path, variables, extra_vars)))
        return vms

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


def _netmask(prefix: Optional[int]) -> Optional[str]:
    if prefix is None:
        return None
    return str(ipaddress.IPv4Network((0, prefix)).netmask)
