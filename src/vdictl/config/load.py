"""Find, read and validate the vdictl config file (Virtesk/Amoothei compatible).

``load_config`` turns the configobj INI file into the frozen records of
:mod:`vdictl.config.rooms`: every value converted (see :mod:`vdictl.config.spec`),
every template rendered, every VM named and checked (:mod:`vdictl.config.vms`);
a key not written takes its default from ``configspec.KEYS``. Anything wrong is a
:class:`~vdictl.errors.ConfigError` naming file, section and key.
"""

from __future__ import annotations

import dataclasses
import os
import re
from datetime import datetime
from typing import Any, Collection, Dict, List, Mapping, Optional, Tuple

from configobj import ConfigObj, Section

from vdictl.config import connect as config_connect
from vdictl.config import spec as configspec
from vdictl.config.convert import convert
from vdictl.config.file import (find_config_file, profile_name,  # noqa: F401
                                read_config_file, room_name, room_sections)
from vdictl.config.vms import PAYLOAD_VARIABLES, VmBuilder
from vdictl.errors import ConfigError
from vdictl.config.rooms import (Config, Connect, EndpointThrottle, LoggingSettings, Room,
                                 Throttle, VmSpec)


def load_config(path: str, *, now: Optional[datetime] = None) -> Config:
    """Read and validate the config file at ``path``."""
    full = os.path.abspath(path)
    scripttime = (now or datetime.now()).strftime("%Y-%m-%d-%H%M")
    return _Loader(full, scripttime).load(read_config_file(full))


class _Loader:
    def __init__(self, path: str, scripttime: str):
        self.path = path
        self.base_dir = os.path.dirname(path)
        self.scripttime = scripttime
        self.warnings: List[str] = []
        self.unused: List[Tuple[str, str]] = []
        self.vms = VmBuilder(path, scripttime)
        self.general_connect: Optional[Connect] = None
        self.profiles: Dict[str, Connect] = {}

    def error(self, message: str, section: Optional[str] = None,
              key: Optional[str] = None) -> ConfigError:
        return ConfigError(message, file=self.path, section=section, key=key)

    def warn(self, message: str, section: Optional[str] = None,
             key: Optional[str] = None) -> None:
        text = str(self.error(message, section, key))
        if text not in self.warnings:  # a room's key, seen by each of its subsections
            self.warnings.append(text)

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
        self.general_connect = connect
        self.profiles = self.connect_profiles(cfg)
        logging = self.logging(cfg["logging"] if "logging" in cfg.sections else None)
        rooms = {name: self.room(name, cfg[title]) for title, name in titles}
        return Config(path=self.path, connect=connect, throttle=throttle,
                      logging=logging, rooms=rooms, scripttime=self.scripttime,
                      warnings=tuple(self.warnings), unused_keys=tuple(self.unused),
                      profiles=self.profiles)

    def values(self, section: Section, spec: str, path: str, unused: List[Tuple[str, str]],
               skip: Collection[str] = ()) -> Dict[str, Any]:
        """Convert the scalars of ``section`` (but those in ``skip``) with the keys of
        ``spec``."""
        known = configspec.keys_for(spec)
        result: Dict[str, Any] = {}
        for name in [n for n in section.scalars if n not in skip]:
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
                result[canonical] = convert(key, section[name], self.base_dir)
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
            profile = " (or name it, [connect NAME], for a profile rooms choose with " \
                "connect = NAME)" if title == "connect" else ""
            raise self.error(f"[{title}] is a subsection of [general]: write [[{title}]] "
                             f"inside [general]{profile}", title)
        if any(key in vm_keys for key in section.scalars):
            before = [room_name(other) for other in cfg.sections[:cfg.sections.index(title)]]
            named = [name for name in before if name]
            room = named[-1] if named else None
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
        connect = self.connect(general["connect"], "general/connect")
        throttle_values: Dict[str, Any] = {}
        if "throttle" in general.sections:
            throttle_values = self.values(general["throttle"], "throttle",
                                          "general/throttle", self.unused)
            self.no_subsections(general["throttle"], "general/throttle")
        throttle = Throttle(**configspec.with_defaults("throttle", throttle_values))
        return connect, throttle

    def connect(self, section: Section, path: str) -> Connect:
        """[general] [[connect]] or a [connect NAME] profile (`path`: its section)."""
        vals = self.values(section, "connect", path, self.unused)
        throttle = self.endpoint_throttle(section, path)
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
        if driver == "ovirt" and "," in vals["url"]:
            raise self.error("the ovirt driver takes one url, the engine's (several, "
                             "separated by commas, are for the nodes of a Proxmox VE "
                             "cluster); keep one", path, "url")
        if driver != "ovirt" and vals.get("filter"):
            raise self.error("filter (the oVirt engine's user API) means nothing to the "
                             f"{driver} driver; remove it", path, "filter")
        if driver == "ovirt" and "console_probe" in vals:
            raise self.error("console_probe (the QEMU monitor probe of libvirt and Proxmox "
                             "VE) means nothing to "
                             "the ovirt driver, whose engine reports console sessions itself; "
                             "remove it", path, "console_probe")
        config_connect.check_secrets(vals, path, self.error)
        if driver == "proxmox":
            config_connect.check_proxmox(vals, path, self.error)
        else:
            config_connect.check_not_proxmox(vals, driver, path, self.error)
        if path != "general/connect":  # a new kind of section: no file to stay compatible with
            self.other_drivers_key(vals, driver, path)
        vals = configspec.with_defaults("connect", vals)
        vals["driver"] = driver
        return Connect(**vals, throttle=throttle)

    def endpoint_throttle(self, section: Section, path: str) -> Optional[EndpointThrottle]:
        """A [connect NAME] profile's own [[throttle]]: its endpoint's limits. The
        [general] [[connect]] has none (its endpoint's limits are [[throttle]]'s)."""
        if path == "general/connect":
            self.no_subsections(section, path)
            return None
        for name in section.sections:
            if name != "throttle":
                self.unknown_section(name, ("throttle",), f"{path}/{name}")
        if "throttle" not in section.sections:
            return None
        sub = f"{path}/throttle"
        vals = self.values(section["throttle"], "endpoint_throttle", sub, self.unused)
        self.no_subsections(section["throttle"], sub)
        if not vals:
            raise self.error("no limit set; write parallel, snapshot_batch_size or "
                             "snapshot_batch_pause, or remove the section", sub)
        return EndpointThrottle(**vals)

    def other_drivers_key(self, vals: Mapping[str, Any], driver: str, path: str) -> None:
        """A profile's url on libvirt, or uri on ovirt or proxmox, would silently
        not apply."""
        for key, owners, wanted in (("uri", "the libvirt driver", "url"),
                                    ("url", "the ovirt and proxmox drivers", "uri")):
            if key in vals and driver not in owners.split():
                raise self.error(f"{key} is for {owners}; this {driver} profile "
                                 f"takes {wanted}", path, key)

    def connect_profiles(self, cfg: ConfigObj) -> Dict[str, Connect]:
        """The named connect profiles: top-level [connect NAME] sections."""
        profiles: Dict[str, Connect] = {}
        for title in cfg.sections:
            name = profile_name(title)
            if name is None:
                continue
            if name in profiles:
                raise self.error(f"connect profile {name!r} is defined twice", title)
            profiles[name] = self.connect(cfg[title], title)
        return profiles

    def logging(self, section: Optional[Section]) -> LoggingSettings:
        vals: Dict[str, Any] = {}
        if section is not None:
            vals = self.values(section, "logging", "logging", self.unused)
            self.no_subsections(section, "logging")
            metrics = vals.get("metrics_file")
            if metrics and not metrics.endswith(".prom"):
                raise self.error(f"{metrics} does not end in .prom, and node_exporter's "
                                 "textfile collector reads only *.prom files; write e.g. "
                                 f"{os.path.splitext(metrics)[0]}.prom", "logging",
                                 "metrics_file")
        return LoggingSettings(**configspec.with_defaults("logging", vals))

    # --- rooms -----------------------------------------------------------

    def room(self, name: str, section: Section) -> Room:
        path = f"room {name}"
        unused: List[Tuple[str, str]] = []
        own_keys = configspec.keys_for("room")
        room_keys = self.values(section, "room", path, unused,
                                skip=[n for n in section.scalars if n not in own_keys])
        room_wide = self.values(section, "vm", path, unused, skip=own_keys)  # of its subsections
        if not section.sections:
            raise self.error(f"room {name!r} has no subsections ([[...]]) "
                             "defining VMs", path)
        vms: List[VmSpec] = []
        for sub in section.sections:
            sub_path = f"{path}/{sub}"
            if sub == "connect" and "ids" not in section[sub].scalars:
                raise self.error("a room's endpoint is not a subsection: write connect = NAME "
                                 "under [room NAME] and the settings in a top-level "
                                 "[connect NAME] section (or uri = ... for a libvirt host)",
                                 sub_path)
            own = self.values(section[sub], "vm", sub_path, unused)
            written = {**room_wide, **own}
            extra_vars = self.extra_vars(section[sub], sub_path)
            origin = self.endpoint(written, own, path, sub_path)
            self.proxmox_vm_keys(written, own, path, sub_path)
            built = self.vms.subsection(name, sub, sub_path, written, extra_vars)
            if origin:
                built = [dataclasses.replace(vm, endpoint_from=origin) for vm in built]
            wide = tuple(key for key in room_wide if key not in own)
            built = [dataclasses.replace(vm, room_wide_keys=wide) for vm in built]
            vms.extend(built)
        return Room(name=name, vms=tuple(vms), subsections=tuple(section.sections),
                    unused_keys=tuple(unused), **configspec.with_defaults("room", room_keys))

    def endpoint(self, written: Dict[str, Any], own: Mapping[str, Any], room_path: str,
                 sub_path: str) -> str:
        """Check the subsection's connect and uri (its own, else its room's); returns
        where they choose its endpoint ("" for [general] [[connect]]). A uri that
        its driver does not use is dropped from `written`. The subsection's own
        setting wins over its room's; at one level, uri wins over the profile's uri."""
        if "connect" in own and "uri" not in own:
            written.pop("uri", None)  # the nearer setting wins: not the room's uri
        name = written.get("connect")
        connect = self.general_connect
        if name is not None:
            connect = self.profiles.get(name)
            if connect is None:
                raise self.unknown_profile(name, sub_path if "connect" in own else room_path)
        assert connect is not None
        uri_path = sub_path if "uri" in own else room_path
        if written.get("uri"):
            if connect.driver == "libvirt":
                return f"[{uri_path}] uri"
            if name is not None:
                raise self.error(f"uri is for the libvirt driver, but connect = {name} is an "
                                 f"{connect.driver} profile; remove uri, or choose a libvirt "
                                 "profile", uri_path, "uri")
            self.warn(f"uri is only used by the libvirt driver, not {connect.driver}",
                      uri_path, "uri")
            del written["uri"]
        if name is not None:
            return f"[connect {name}] {'uri' if connect.driver == 'libvirt' else 'url'}"
        return ""

    def proxmox_vm_keys(self, written: Mapping[str, Any], own: Mapping[str, Any],
                        room_path: str, sub_path: str) -> None:
        """node, storage, pool, iso_storage and Proxmox VE's cloud-init keys would
        silently not apply to VMs of another driver (endpoint() has checked the
        profile's name)."""
        name = written.get("connect")
        connect = self.profiles[name] if name is not None else self.general_connect
        assert connect is not None
        if connect.driver == "proxmox":
            return
        for key in config_connect.PROXMOX_VM_KEYS:
            if key in written:
                raise self.error(f"{key} is for the proxmox driver; these VMs use "
                                 f"{connect.driver}: remove it",
                                 sub_path if key in own else room_path, key)

    def unknown_profile(self, name: str, path: str) -> ConfigError:
        known = list(self.profiles)
        if not known:
            return self.error(f"no connect profile {name!r}: the file has no [connect NAME] "
                              f"section; add [connect {name}] with the keys of [general] "
                              "[[connect]] (driver, url or uri, ...), or leave connect out "
                              "to use [general] [[connect]]", path, "connect")
        close = configspec.close_keys(name, known)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return self.error(f"no connect profile {name!r}; {hint}known: {', '.join(known)} "
                          f"(write one of them, add a [connect {name}] section, or leave "
                          "connect out to use [general] [[connect]])", path, "connect")

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
                    result[key] = convert(
                        configspec.Key(key, "vars", "str"), section[name][key], self.base_dir)
                except ConfigError as exc:
                    raise self.error(exc.message, vars_path, key) from None
        return result
