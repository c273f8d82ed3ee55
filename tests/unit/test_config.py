"""Config loading: Virtesk/Amoothei compatibility, validation, lookup, paths."""

from __future__ import annotations

import os
import re
import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from vdictl.config import file as config_module
from vdictl.config.file import room_names
from vdictl.config.load import find_config_file, load_config
from vdictl.config.spec import KEYS, SECTIONS, TYPES, keys_for
from vdictl.errors import ConfigError
from vdictl.config.rooms import Throttle
from vdictl.config.templating import TemplateError

NOW = datetime(2024, 3, 5, 7, 9)
DATA = Path(__file__).resolve().parent.parent / "data"
EXAMPLE = Path(__file__).resolve().parents[2] / "etc" / "vdi-rollout.conf.example"

HEADER = """\
[general]
    [[connect]]
    uri = "qemu:///system"
"""
ROOM = """\
[room r1]
    [[vms]]
    ids = "1-2"
    names = "${roomname}-vd${id}"
    template_name = "tpl"
"""


def write(tmp_path: Path, text: str, name: str = "vdi.conf") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def load(tmp_path: Path, text: str):
    return load_config(write(tmp_path, text), now=NOW)


def error(tmp_path: Path, text: str) -> ConfigError:
    """The ConfigError loading `text` raises; it names the file written."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, now=NOW)
    assert info.value.file == path
    return info.value


def room(body: str, name: str = "r1", sub: str = "vms") -> str:
    """A room whose single subsection has the base keys plus ``body``."""
    extra = textwrap.indent(textwrap.dedent(body), "    ")
    return (f"[room {name}]\n    [[{sub}]]\n    ids = \"1-2\"\n"
            f"    names = \"${{roomname}}-vd${{id}}\"\n    template_name = \"tpl\"\n{extra}")


# --- Virtesk / Amoothei configs load unchanged ---------------------------

def test_virtesk_docs_spelling_ip_adresses_is_ip_addresses(tmp_path):
    """doc/virtesk-vm-rollout-config.rst writes ip_adresses and ip_adresses_suffix."""
    cfg = load(tmp_path, HEADER + room('ip_adresses = "192.0.2.$suffix"\n'
                                       "ip_adresses_suffix = 11\n"))
    assert [vm.ip for vm in cfg.rooms["r1"].vms] == ["192.0.2.11", "192.0.2.12"]
    assert cfg.warnings == () and cfg.rooms["r1"].unused_keys == ()


def test_both_spellings_of_one_key_are_an_error(tmp_path):
    err = error(tmp_path, HEADER + room('ip_addresses = "192.0.2.$suffix"\n'
                                        'ip_adresses = "192.0.2.$suffix"\n'
                                        "ip_addresses_suffix = 11\n"))
    assert str(err) == (f"{err.file} [room r1/vms] ip_adresses: ip_adresses is another "
                        "spelling of ip_addresses, which is set too; keep one")


def test_virtesk_config_loads_unchanged():
    path = str(DATA / "virtesk-vm-rollout.conf")
    cfg = load_config(path, now=NOW)

    assert cfg.path == path
    assert cfg.scripttime == "2024-03-05-0709"
    assert cfg.warnings == ()
    assert cfg.connect.driver == "ovirt"
    assert cfg.connect.url == "https://engine.school.example/api"
    assert cfg.connect.username == "admin@internal"
    assert cfg.connect.password == "not-a-real-password"
    assert cfg.connect.ca_file == str(DATA / "ca.crt")
    assert cfg.connect.insecure is False
    assert cfg.logging.config_file == str(DATA / "logging.conf")
    assert cfg.logging.log_file == "/var/log/virtesk-vdi/virtesk-virtroom.log"
    assert cfg.throttle == Throttle()
    assert cfg.unused_keys == (
        ("general", "sftp_floppy_upload_cmd"),
        ("general", "sftp_floppy_cleanup_cmd"),
        ("general", "ovirt_worker_floppy_prefix"),
        ("general/connect", "persistent_auth"),
        ("general/connect", "renew_session"),
    )

    assert list(cfg.rooms) == ["lab42"]
    lab = cfg.rooms["lab42"]
    assert lab.subsections == ("teacher_vms", "student_vms")
    assert lab.unused_keys == tuple(
        (f"room lab42/{sub}", key)
        for sub in ("teacher_vms", "student_vms")
        for key in ("workaround_os", "workaround_timezone"))
    # Amoothei's answer-file template is used now: the VMs are personalised
    assert all(vm.personalisation.autounattend.endswith("Autounattend-production.xml.template")
               for vm in lab.vms)
    assert lab.resettable and not lab.stateless

    names = [vm.name for vm in lab.vms]
    assert names == ["lab42-lp01"] + [f"lab42-vd{i:02d}" for i in range(1, 11)]
    assert [vm.ip for vm in lab.vms] == [f"198.51.100.{i}" for i in range(20, 31)]

    teacher, first, last = lab.vms[0], lab.vms[1], lab.vms[-1]
    assert teacher.snapshot_description == (
        "Automatic snapshot after virtesk-vmrollout, IP=198.51.100.20/24, "
        "scripttime=2024-03-05-0709")
    assert last.snapshot_description == (
        "Automatic snapshot after virtesk-vmrollout, IP=198.51.100.30/21, "
        "scripttime=2024-03-05-0709")
    assert teacher.memory == 4294967296
    assert first.memory == 2147483648
    assert (teacher.usb, first.usb) == (True, False)
    assert (teacher.rollout_startvm, first.rollout_startvm) == (True, False)
    assert (teacher.reset_startvm, first.reset_startvm) == ("Always", "Auto")
    assert (first.room, first.subsection, first.id, first.id_str) == \
        ("lab42", "student_vms", 1, "01")
    assert last.id_str == "10"
    assert first.template_name == "win7-student-007"
    assert first.netmask_suffix == 21
    assert first.default_gateway == "198.51.100.1"
    assert first.network_name == "LAB42-NET"
    assert first.cluster == "Default"
    assert first.os == "windows_7x64"
    assert first.timezone == "W. Europe Standard Time"
    assert first.description == "Student VM"
    assert first.tc_user == "ovirt.thinclient@school.example"
    assert first.stateless is False
    assert first.reset_to_snapshot_regex == "Automatic snapshot after virtesk-vmrollout, .*"
    assert first.uri is None
    assert re.match(first.reset_to_snapshot_regex, first.snapshot_description)


def test_amoothei_config_loads_unchanged():
    cfg = load_config(str(DATA / "amoothei-vm-rollout.conf"), now=NOW)
    assert cfg.warnings == ()
    assert cfg.connect.driver == "ovirt"
    assert cfg.connect.password is None
    assert cfg.connect.password_file == str(DATA / "secrets" / "engine.pw")
    assert cfg.connect.ca_file == str(DATA / "pki" / "ca.crt")
    assert cfg.logging.log_file == str(DATA / "logs" / "rollout.log")
    assert list(cfg.rooms) == ["room01", "room02"]

    room01, room02 = cfg.rooms["room01"], cfg.rooms["room02"]
    assert [vm.name for vm in room01.vms] == [f"room01-vd0{i}" for i in range(1, 6)]
    assert [vm.ip for vm in room01.vms] == [f"192.0.2.{i}" for i in range(101, 106)]
    assert room01.vms[4].snapshot_description == (
        "Automatic snapshot after amoothei-vmrollout, IP=192.0.2.105/24, "
        "scripttime=2024-03-05-0709")
    assert room01.resettable and not room01.stateless

    assert [vm.name for vm in room02.vms] == ["room02-vd01", "room02-vd02", "room02-vd03"]
    assert [vm.ip for vm in room02.vms] == ["192.0.2.201", "192.0.2.202", "192.0.2.203"]
    assert room02.stateless and not room02.resettable
    assert all(vm.snapshot_description == "" for vm in room02.vms)
    assert all(vm.tc_user is None for vm in room02.vms)      # "None" meant none
    assert all(vm.reset_startvm == "Never" for vm in room02.vms)


def test_example_config_loads():
    cfg = load_config(str(EXAMPLE), now=NOW)
    assert cfg.warnings == ()
    assert cfg.unused_keys == ()
    assert cfg.connect.driver == "libvirt"
    assert cfg.connect.uri == "qemu:///system"
    assert cfg.throttle == Throttle()
    assert list(cfg.rooms) == ["demo", "kiosk"]

    demo = cfg.rooms["demo"]
    assert demo.subsections == ("student_vms", "teacher_vms")
    assert [vm.name for vm in demo.vms] == ["demo-vd01", "demo-vd02", "demo-vd03",
                                          "demo-teacher01"]
    assert [vm.ip for vm in demo.vms] == ["192.0.2.11", "192.0.2.12", "192.0.2.13",
                                        "192.0.2.10"]
    assert [vm.memory for vm in demo.vms] == [64 * 2 ** 20] * 3 + [128 * 2 ** 20]
    assert [vm.reset_startvm for vm in demo.vms] == ["Auto"] * 3 + ["Always"]
    assert all(vm.template_name == "vdictl-demo-template" for vm in demo.vms)
    assert demo.vms[0].snapshot_description == (
        "Automatic snapshot after vdictl rollout, IP=192.0.2.11/24, "
        "scripttime=2024-03-05-0709")
    assert all(re.match(vm.reset_to_snapshot_regex, vm.snapshot_description)
               for vm in demo.vms)
    assert demo.resettable

    kiosk = cfg.rooms["kiosk"]
    assert [vm.name for vm in kiosk.vms] == ["kiosk-01", "kiosk-02"]
    assert kiosk.stateless and not kiosk.resettable
    assert all(vm.rollout_startvm for vm in kiosk.vms)


# --- values, defaults, templates ------------------------------------------

def test_minimal_config_and_defaults(tmp_path):
    cfg = load(tmp_path, HEADER + ROOM)
    assert cfg.connect.driver == "libvirt"
    assert cfg.connect.pool is None
    assert cfg.throttle == Throttle(snapshot_batch_size=5, snapshot_batch_pause=10.0,
                                    parallel=10, shutdown_timeout=120.0,
                                    operation_timeout=600.0)
    vm = cfg.rooms["r1"].vms[0]
    assert (vm.name, vm.ip, vm.memory, vm.usb, vm.stateless) == \
        ("r1-vd01", None, None, None, False)
    assert (vm.snapshot_description, vm.reset_startvm, vm.rollout_startvm) == \
        ("", "Auto", False)
    assert not vm.takes_snapshot


def test_no_rooms_is_fine(tmp_path):
    assert load(tmp_path, HEADER).rooms == {}


def test_throttle_values(tmp_path):
    cfg = load(tmp_path, """\
        [general]
            [[connect]]
            uri = qemu:///system
            [[throttle]]
            snapshot_batch_size = 2
            snapshot_batch_pause = 0.5
            parallel = 3
        """)
    assert cfg.throttle == Throttle(snapshot_batch_size=2, snapshot_batch_pause=0.5,
                                    parallel=3, shutdown_timeout=120.0,
                                    operation_timeout=600.0)


@pytest.mark.parametrize("key, value, message", [
    ("parallel", "0", "0 is less than 1"),
    ("snapshot_batch_size", "two", "'two' is not a whole number"),
    ("snapshot_batch_pause", "-1", "-1.0 is less than 0"),
    ("shutdown_timeout", "nan", "'nan' is not a number"),
])
def test_throttle_errors(tmp_path, key, value, message):
    err = error(tmp_path, HEADER + f"    [[throttle]]\n    {key} = {value}\n")
    assert str(err) == f"{err.file} [general/throttle] {key}: {message}"


@pytest.mark.parametrize("connect, driver", [
    ('url = "https://engine/api"', "ovirt"),
    ('uri = "qemu:///system"', "libvirt"),
    ('driver = LibVirt', "libvirt"),
    ('driver = OVIRT\n    url = https://engine/api', "ovirt"),
    ('driver = libvirt\n    url = https://x\n    uri = qemu:///system', "libvirt"),
])
def test_driver_choice(tmp_path, connect, driver):
    cfg = load(tmp_path, f"[general]\n    [[connect]]\n    {connect}\n")
    assert cfg.connect.driver == driver


def test_connect_values(tmp_path):
    cfg = load(tmp_path, """\
        [general]
            [[connect]]
            driver = libvirt
            uri = "qemu+ssh://root@kvm01/system"
            pool = vdi
            insecure = yes
        """)
    assert (cfg.connect.uri, cfg.connect.pool, cfg.connect.insecure) == \
        ("qemu+ssh://root@kvm01/system", "vdi", True)


def test_relative_paths_resolve_against_config_dir(tmp_path, monkeypatch):
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)          # must not matter
    cfg = load(conf_dir, """\
        [general]
            [[connect]]
            url = https://engine/api
            ca_file = pki/../ca.pem
            password_file = ~/engine.pw
        [logging]
            log_file = /var/log/vdictl.log
            config_file = logging.conf
        """)
    assert cfg.connect.ca_file == str(conf_dir / "ca.pem")
    assert cfg.connect.password_file == str(tmp_path / "home" / "engine.pw")
    assert cfg.logging.log_file == "/var/log/vdictl.log"
    assert cfg.logging.config_file == str(conf_dir / "logging.conf")
    assert os.path.isabs(cfg.path)


def test_relative_config_path_is_made_absolute(tmp_path, monkeypatch):
    write(tmp_path, HEADER + ROOM)
    monkeypatch.chdir(tmp_path)
    assert load_config("vdi.conf").path == str(tmp_path / "vdi.conf")


def test_room_level_defaults_and_override(tmp_path):
    cfg = load(tmp_path, HEADER + """\
        [room lab]
            template_name = shared-tpl
            memory = 2GiB
            names = "${roomname}-${subsection}-$id"
            reset_startvm = never
            [[a]]
            ids = 1
            [[b]]
            ids = 1
            memory = 4 * 1024 * 1024 * 1024
            template_name = other-tpl
        """)
    a, b = cfg.rooms["lab"].vms
    assert (a.name, a.template_name, a.memory, a.reset_startvm) == \
        ("lab-a-01", "shared-tpl", 2 * 2 ** 30, "Never")
    assert (b.name, b.template_name, b.memory, b.reset_startvm) == \
        ("lab-b-01", "other-tpl", 4 * 2 ** 30, "Never")


@pytest.mark.parametrize("raw, expected", [("always", "Always"), ("AUTO", "Auto"),
                                           (" Never ", "Never")])
def test_reset_startvm_normalised(tmp_path, raw, expected):
    cfg = load(tmp_path, HEADER + room(f'reset_startvm = "{raw}"'))
    assert cfg.rooms["r1"].vms[0].reset_startvm == expected


def test_id_padding_follows_amoothei(tmp_path):
    cfg = load(tmp_path, HEADER + """\
        [room r]
            [[small]]
            ids = 7
            names = small$id
            template_name = t
            [[wide]]
            ids = "[5, 100]"
            names = wide$id
            template_name = t
        """)
    assert [(vm.name, vm.id, vm.id_str) for vm in cfg.rooms["r"].vms] == [
        ("small07", 7, "07"), ("wide005", 5, "005"), ("wide100", 100, "100")]


def test_template_variables(tmp_path):
    cfg = load(tmp_path, HEADER + room("""\
        ip_addresses = "10.1.{{ 8 + 1 }}.$suffix"
        ip_addresses_suffix = 50
        netmask_suffix = 21
        default_gateway = 10.1.8.1
        snapshot_description = "{{ vmname }} $name $rhev_vm_name $ip $netmask $$ $subsection $default_gateway"
        """))
    vm = cfg.rooms["r1"].vms[1]
    assert vm.ip == "10.1.9.51"
    assert vm.snapshot_description == \
        "r1-vd02 r1-vd02 r1-vd02 10.1.9.51 255.255.248.0 $ vms 10.1.8.1"


def test_scripttime_is_computed_once(tmp_path):
    cfg = load_config(write(tmp_path, HEADER + room('snapshot_description = "s=$scripttime"')))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d-\d{4}", cfg.scripttime)
    assert [vm.snapshot_description for vm in cfg.rooms["r1"].vms] == \
        [f"s={cfg.scripttime}"] * 2


def test_libvirt_uri_override_per_subsection(tmp_path):
    cfg = load(tmp_path, HEADER + room("uri = qemu+ssh://kvm02/system"))
    assert cfg.rooms["r1"].vms[0].uri == "qemu+ssh://kvm02/system"
    assert cfg.warnings == ()


def test_uri_with_ovirt_warns(tmp_path):
    path = write(tmp_path, "[general]\n  [[connect]]\n  url = https://e/api\n"
                 + room("uri = qemu:///system"))
    cfg = load_config(path)
    assert cfg.warnings == (
        f"{path} [room r1/vms] uri: uri is only used by the libvirt driver, not ovirt",)


# --- unknown keys and sections -----------------------------------------------

def test_a_name_with_a_control_character_is_said_on_one_line(tmp_path):
    """A key that is a carriage return (found by the property test of any
    config file) or holds an escape is written escaped: the warning stays
    one line and cannot forge another; an umlaut stays as it is."""
    path = tmp_path / "vdi.conf"
    path.write_text('[general]\n[[connect]]\nuri = "test:///default"\n\r=\n'
                    'x\x1b[2J = 1\n[room b\u00fcro]\nflavour = 1\n'
                    '[[vms]]\nids = 1\nnames = vm$id\ntemplate_name = t\n', encoding="utf-8")
    cfg = load_config(str(path))
    assert cfg.warnings == (
        f"{path} [general/connect] \\r: unknown key, ignored",
        f"{path} [general/connect] x\\x1b[2J: unknown key, ignored",
        f"{path} [room b\u00fcro] flavour: unknown key, ignored",
    )


def test_far_off_unknown_keys_and_sections_warn(tmp_path):
    """Keys and sections that are no typo of a known one: a warning each (they may
    be the site's own notes); sections are listed first, as they are checked first."""
    path = write(tmp_path, """\
        stray = 1
        [general]
            colour = blue
            [[connect]]
            uri = qemu:///system
            timeout = 30
            [[extra]]
        [logging]
            level = debug
        [misc]
            x = 1
        [room01]
        [room r1]
            flavour = vanilla
            [[vms]]
            ids = 1
            names = vm$id
            notes = "the teacher's PC"
            mem = 4GiB
            template_name = t
            workaround_os = rhel_7x64
        """)
    cfg = load_config(path)
    assert cfg.warnings == (
        f"{path} stray: unknown key outside any section, ignored",
        f"{path} [misc]: unknown section, ignored",
        f"{path} [room01]: unknown section, ignored (a room is written [room NAME])",
        f"{path} [general] colour: unknown key, ignored",
        f"{path} [general/extra]: unknown section, ignored",
        f"{path} [logging] level: unknown key, ignored",
        f"{path} [room r1] flavour: unknown key, ignored",
        f"{path} [room r1/vms] notes: unknown key, ignored (did you mean 'node'?)",
        f"{path} [room r1/vms] mem: unknown key, ignored (did you mean 'memory'?)",
    )
    assert cfg.unused_keys == (
        ("", "stray"), ("general", "colour"), ("general/connect", "timeout"),
        ("logging", "level"))
    assert cfg.rooms["r1"].unused_keys == (
        ("room r1", "flavour"), ("room r1/vms", "notes"), ("room r1/vms", "mem"),
        ("room r1/vms", "workaround_os"))
    assert [vm.name for vm in cfg.rooms["r1"].vms] == ["vm01"]


@pytest.mark.parametrize("body, key, message", [
    ("name = typo", "name", "unknown key; did you mean 'names' or 'template_name'?"),
    ('snapshot_descripton = "clean"', "snapshot_descripton",
     "unknown key; did you mean 'snapshot_description'?"),
    ("Memory = 4GiB", "Memory", "unknown key; did you mean 'memory'?"),
    ("reset-startvm = Always", "reset-startvm", "unknown key; did you mean 'reset_startvm'?"),
    ("memroy = 4GiB", "memroy", "unknown key; did you mean 'memory'?"),
    ("template = other", "template", "unknown key; did you mean 'template_name'?"),
    ("password = x", "password", "password is not a key of [room NAME] [[subsection]]; it "
     "belongs in [general] [[connect]] or [connect NAME]"),
    ("snapshot_batch_size = 2", "snapshot_batch_size", "snapshot_batch_size is not a key of "
     "[room NAME] [[subsection]]; it belongs in [general] [[throttle]] or "
     "[connect NAME] [[throttle]]"),
])
def test_a_likely_typo_or_a_key_of_another_section_is_an_error(tmp_path, body, key, message):
    err = error(tmp_path, HEADER + room(body))
    assert str(err) == f"{err.file} [room r1/vms] {key}: {message}"


@pytest.mark.parametrize("text, where, message", [
    ('[general]\n[[connect]]\nuri = "qemu:///system"\n[[throttle]]\nuri = "qemu:///x"\n',
     "[general/throttle] uri", "uri is not a key of [general] [[throttle]]; it belongs in "
     "[general] [[connect]] or [connect NAME] or [room NAME] [[subsection]]"),
    ('[general]\nuri = "qemu:///system"\n[[connect]]\nuri = "qemu:///system"\n',
     "[general] uri", "uri is not a key of [general]; it belongs in [general] [[connect]] "
     "or [connect NAME] or [room NAME] [[subsection]]"),
    ('[general]\n[[connect]]\nuri = "qemu:///system"\n[[throttle]]\ntimeout = 5\n',
     "[general/throttle] timeout",
     "unknown key; did you mean 'shutdown_timeout' or 'operation_timeout'?"),
    ('[general]\n[[connect]]\nuri = "qemu:///system"\n[[throtle]]\nparallel = 2\n',
     "[general/throtle]", "unknown section; did you mean [[throttle]]?"),
    ('[general]\n[[connect]]\nuri = "qemu:///system"\n[logging]\nlogfile = /tmp/x\n',
     "[logging] logfile", "unknown key; did you mean 'log_file'?"),
    ('memory = 4GiB\n[general]\n[[connect]]\nuri = "qemu:///system"\n',
     "memory", "memory is written outside any section; it belongs in [room NAME] "
     "[[subsection]]"),
    ('[general]\n[[connect]]\nuri = "qemu:///system"\n[throttle]\nparallel = 2\n',
     "[throttle]", "[throttle] is a subsection of [general]: write [[throttle]] inside "
     "[general]"),
])
def test_keys_and_sections_in_the_wrong_place_are_errors(tmp_path, text, where, message):
    err = error(tmp_path, text + ROOM)
    assert str(err) == f"{err.file} {where}: {message}"


def test_a_single_bracket_subsection_is_an_error_naming_the_room_before_it(tmp_path):
    err = error(tmp_path, HEADER + ROOM + "[teacher_vms]\n    ids = 1\n"
                "    names = teacher$id\n    template_name = t\n"
                "    [[more]]\n    ids = 2\n")
    assert str(err) == (
        f"{err.file} [teacher_vms]: a single-bracket section ends [room r1], so these VMs "
        "belong to no room and would be ignored; write [[teacher_vms]] inside [room r1]")


def test_a_subsection_before_any_room_and_a_misspelt_room_title_are_errors(tmp_path):
    path = write(tmp_path, HEADER + "[vms]\n    ids = 1\n" + ROOM)
    with pytest.raises(ConfigError) as info:
        load_config(path, now=NOW)
    assert str(info.value) == (f"{path} [vms]: VMs outside any room are ignored; write "
                               "[[vms]] inside a [room NAME]")
    path = write(tmp_path, HEADER + ROOM.replace("[room r1]", "[Room r1]"))
    with pytest.raises(ConfigError) as info:
        load_config(path, now=NOW)
    assert str(info.value) == (f"{path} [Room r1]: not a room, so its VMs would be ignored; "
                               "a room is written [room NAME]: write [room r1]")


def test_a_misspelt_vars_section_is_an_error(tmp_path):
    err = error(tmp_path, HEADER + room("[[[var]]]\nadmin = x"))
    assert str(err) == \
        f"{err.file} [room r1/vms/var]: unknown section; did you mean [[[vars]]]?"


# --- validation errors: file, section, key, what is wrong ----------------------

@pytest.mark.parametrize("body, key, message", [
    ("stateless = True\nsnapshot_description = \"snap $id\"", "snapshot_description",
     "stateless = True and a snapshot_description exclude each other; remove one"),
    ('reset_to_snapshot_regex = "Automatic (snapshot"', "reset_to_snapshot_regex",
     "invalid regular expression 'Automatic (snapshot': missing ) at 'Automatic (snapshot'"),
    ("reset_startvm = Sometimes", "reset_startvm",
     "'Sometimes' is not one of Always, Auto, Never"),
    ("usb = maybe", "usb", "'maybe' is not a boolean; use one of True/False, yes/no, "
     "on/off, 1/0, enabled/disabled"),
    ("memory = 4 * 1024 ** 3", "memory", "memory: '4 * 1024 ** 3': not allowed here "
     "(BinOp); only whole numbers with + - * and parentheses"),
    ("netmask_suffix = 33", "netmask_suffix", "33 is more than 32"),
    ("default_gateway = 192.0.2.256", "default_gateway",
     "'192.0.2.256' is not an IP address"),
    ("description = student VM, room 1", "description",
     "a single value is expected, not a list (an unquoted comma makes a list: "
     "put the value in double quotes)"),
    ('ip_addresses = "192.0.2.$suffix"\nip_addresses_suffix = 255', "ip_addresses",
     "VM r1-vd02: '192.0.2.256' is not a valid IP address"),
    ('ip_addresses = "192.0.2.$suffix"', "ip_addresses",
     "variable 'suffix' has no value here: set ip_addresses_suffix"),
    ('snapshot_description = "IP=$ip"', "snapshot_description",
     "variable 'ip' has no value here: set ip_addresses"),
    ('snapshot_description = "{{ \'\'.__class__.__mro__ }}"', "snapshot_description",
     "attribute access ('.__mro__') is not allowed in \"{{ ''.__class__.__mro__ }}\""),
])
def test_subsection_errors(tmp_path, body, key, message):
    path = write(tmp_path, HEADER + room(body))
    with pytest.raises(ConfigError) as info:
        load_config(path, now=NOW)
    err = info.value
    assert (err.file, err.section, err.key) == (path, "room r1/vms", key)
    assert str(err) == f"{path} [room r1/vms] {key}: {message}"


@pytest.mark.parametrize("names, variable", [
    ("${roomname}-$nosuch", "nosuch"),
    ("{{ roomnam }}-$id", "roomnam"),
    ("$name-$id", "name"),            # the name is not known while making it
    ("$ip-$id", "ip"),
])
def test_unknown_template_variable(tmp_path, names, variable):
    path = write(tmp_path, HEADER + f"[room r1]\n  [[vms]]\n  ids = 1\n"
                 f"  names = \"{names}\"\n  template_name = t\n")
    with pytest.raises(TemplateError) as info:
        load_config(path)
    err = info.value
    assert isinstance(err, ConfigError)
    assert (err.file, err.section, err.key, err.variable) == \
        (path, "room r1/vms", "names", variable)
    assert str(err).startswith(
        f"{path} [room r1/vms] names: unknown variable '{variable}' in '{names}' (known: ")


@pytest.mark.parametrize("names, shown", [
    ("$roomname vd$id", "'r1 vd01'"),
    ("-vd$id", "'-vd01'"),
    ("vd$id/a", "'vd01/a'"),
    ("vdé$id", "'vdé01'"),
])
def test_invalid_vm_names(tmp_path, names, shown):
    err = error(tmp_path, HEADER + f"[room r1]\n  [[vms]]\n  ids = 1\n"
                f"  names = \"{names}\"\n  template_name = t\n")
    assert str(err) == (
        f"{err.file} [room r1/vms] names: VM name {shown} (id 1) is invalid: use 1 to 64 "
        "of A-Z a-z 0-9 . _ - and do not start with '-'")


def test_too_long_vm_name(tmp_path):
    err = error(tmp_path, HEADER + "[room r1]\n  [[vms]]\n  ids = 1\n"
                f"  names = \"{'x' * 63}$id\"\n  template_name = t\n")
    assert str(err) == (
        f"{err.file} [room r1/vms] names: VM name '{'x' * 63}01' (id 1) is 65 characters "
        "long; oVirt and this check allow at most 64")


def test_vm_name_may_be_64_chars(tmp_path):
    cfg = load(tmp_path, HEADER + f"[room r1]\n  [[vms]]\n  ids = 1\n"
               f"  names = \"{'x' * 62}$id\"\n  template_name = t\n")
    assert len(cfg.rooms["r1"].vms[0].name) == 64


def test_duplicate_vm_name_across_rooms(tmp_path):
    err = error(tmp_path, HEADER + """\
        [room a]
            [[vms]]
            ids = 1-3
            names = "pc$id"
            template_name = t
        [room b]
            [[teachers]]
            ids = 3
            names = "pc$id"
            template_name = t
        """)
    assert str(err) == (
        f"{err.file} [room b/teachers] names: VM name 'pc03' is defined twice: "
        "in [room a/vms] (id 3) and in [room b/teachers] (id 3)")


def test_duplicate_vm_name_within_subsection(tmp_path):
    err = error(tmp_path, HEADER + ROOM.replace("${roomname}-vd${id}", "same"))
    assert str(err) == (
        f"{err.file} [room r1/vms] names: VM name 'same' is defined twice: "
        "in [room r1/vms] (id 1) and in [room r1/vms] (id 2)")


def test_duplicate_vm_name_within_room(tmp_path):
    err = error(tmp_path, HEADER + """\
        [room a]
            names = "pc$id"
            template_name = t
            [[x]]
            ids = 1
            [[y]]
            ids = 1
        """)
    assert str(err) == (
        f"{err.file} [room a/y] names: VM name 'pc01' is defined twice: "
        "in [room a/x] (id 1) and in [room a/y] (id 1)")


def test_duplicate_ip_across_subsections_names_both_vms(tmp_path):
    err = error(tmp_path, HEADER + """\
        [room a]
            ip_addresses = "192.0.2.${suffix}"
            template_name = t
            [[students]]
            ids = 1-4
            names = "pc$id"
            ip_addresses_suffix = 11
            [[teacher]]
            ids = 1
            names = "teacher$id"
            ip_addresses_suffix = 13
        """)
    assert str(err) == (
        f"{err.file} [room a/teacher] ip_addresses_suffix: IP 192.0.2.13 is given twice: to "
        "VM pc03 in [room a/students] and to VM teacher01 in [room a/teacher]; give each "
        "VM its own IP")


def test_duplicate_ip_across_rooms_on_one_network(tmp_path):
    err = error(tmp_path, HEADER + """\
        [room a]
            network_name = lab
            [[vms]]
            ids = 1
            names = "a$id"
            template_name = t
            ip_addresses = "192.0.2.10"
        [room b]
            network_name = lab
            [[vms]]
            ids = 1
            names = "b$id"
            template_name = t
            ip_addresses = "192.0.2.10"
        """)
    assert str(err) == (
        f"{err.file} [room b/vms] ip_addresses: IP 192.0.2.10 is given twice on network lab: to "
        "VM a01 in [room a/vms] and to VM b01 in [room b/vms]; give each VM its own IP")


def test_the_same_ip_on_different_networks_is_fine(tmp_path):
    cfg = load(tmp_path, HEADER + """\
        [room a]
            ip_addresses = "10.0.0.${suffix}"
            ip_addresses_suffix = 10
            template_name = t
            [[vms]]
            ids = 1-2
            names = "a$id"
            network_name = room-a-nat
        [room b]
            ip_addresses = "10.0.0.${suffix}"
            ip_addresses_suffix = 10
            template_name = t
            [[vms]]
            ids = 1-2
            names = "b$id"
            network_name = room-b-nat
        """)
    assert [vm.ip for room in cfg.rooms.values() for vm in room.vms] == \
        ["10.0.0.10", "10.0.0.11"] * 2


@pytest.mark.parametrize("memory, message", [
    ("2048", 'memory = 2048 is 2048 bytes (2 KiB); a VM needs at least 32 MiB: did you mean '
             '"2048MiB"?'),
    ("4", 'memory = 4 is 4 bytes; a VM needs at least 32 MiB: did you mean "4GiB"?'),
    ("64", 'memory = 64 is 64 bytes; a VM needs at least 32 MiB: did you mean "64MiB" or '
           '"64GiB"?'),
    ("4194304", 'memory = 4194304 is 4194304 bytes (4 MiB); a VM needs at least 32 MiB: did '
                'you mean "4194304KiB"?'),
    ("4 * 1024 * 1024", "memory = 4 * 1024 * 1024 is 4194304 bytes (4 MiB); a VM needs at "
                        'least 32 MiB: did you mean "4 * 1024 * 1024 * 1024"?'),
    ("16MiB", "memory = 16MiB is 16777216 bytes (16 MiB); a VM needs at least 32 MiB"),
])
def test_too_little_memory_is_an_error_guessing_the_unit(tmp_path, memory, message):
    err = error(tmp_path, HEADER + room(f"memory = {memory}"))
    assert str(err) == f"{err.file} [room r1/vms] memory: {message}"


@pytest.mark.parametrize("memory, size", [
    ("32MiB", 32 * 2 ** 20), ("33554432", 32 * 2 ** 20), ("4GiB", 4 * 2 ** 30),
    ("4 * 1024 * 1024 * 1024", 4 * 2 ** 30), ("1.5G", 1536 * 2 ** 20),
])
def test_enough_memory_loads(tmp_path, memory, size):
    assert load(tmp_path, HEADER + room(f"memory = {memory}")).rooms["r1"].vms[0].memory == size


def test_regex_without_snapshot_description_is_an_error(tmp_path):
    err = error(tmp_path, HEADER + room('reset_to_snapshot_regex = "clean .*"'))
    assert str(err) == (
        f"{err.file} [room r1/vms] snapshot_description: missing while reset_to_snapshot_regex is "
        "set: rollout would take no snapshot and every reset would skip these VMs; write "
        'snapshot_description = "..." (a text the regex matches), or snapshot_description = '
        '"" to turn snapshots off')


@pytest.mark.parametrize("body", [
    'snapshot_description = ""\nreset_to_snapshot_regex = "clean .*"',  # snapshots off
    'stateless = True\nreset_to_snapshot_regex = "clean .*"',           # Amoothei's kiosks
])
def test_regex_with_snapshots_turned_off_loads(tmp_path, body):
    assert not load(tmp_path, HEADER + room(body)).rooms["r1"].resettable


@pytest.mark.parametrize("body, message", [
    ('ip_addresses = "192.0.2.${suffix}"\nip_addresses_suffix = 11\n'
     'snapshot_description = "lab1 clean, IP=${ip}"\nreset_to_snapshot_regex = "lab1 clean .*"',
     "'lab1 clean .*' does not match the snapshot description of VM r1-vd01, 'lab1 clean, "
     "IP=192.0.2.11', so every reset of it would fail; write e.g. reset_to_snapshot_regex = "
     '"^lab1 clean, IP=.*"'),
    ('snapshot_description = "vdictl (v2) rollout at $scripttime"\n'
     'reset_to_snapshot_regex = "vdictl (v2) rollout .*"',
     "'vdictl (v2) rollout .*' does not match the snapshot description of VM r1-vd01, "
     "'vdictl (v2) rollout at 2024-03-05-0709', so every reset of it would fail; write e.g. "
     'reset_to_snapshot_regex = "^vdictl \\(v2\\) rollout at .*"'),
    ('snapshot_description = "snapshot of $name"\nreset_to_snapshot_regex = "^r1-vd.*"',
     "'^r1-vd.*' does not match the snapshot description of VM r1-vd01, 'snapshot of r1-vd01', "
     'so every reset of it would fail; write e.g. reset_to_snapshot_regex = "^snapshot of .*"'),
    ('snapshot_description = "$name clean"\nreset_to_snapshot_regex = "r1-vd01 clean"',
     "'r1-vd01 clean' does not match the snapshot description of VM r1-vd02, 'r1-vd02 clean', "
     "so every reset of it would fail; make it match a part of the description that every "
     "VM's has"),
])
def test_regex_that_misses_the_vms_own_description_is_an_error(tmp_path, body, message):
    err = error(tmp_path, HEADER + room(body))
    assert str(err) == f"{err.file} [room r1/vms] reset_to_snapshot_regex: {message}"


@pytest.mark.parametrize("regex", ["IP=.*", "amoothei-vmrollout", "clean"])
def test_amoothei_regexes_that_match_inside_the_description_load(tmp_path, regex):
    """Amoothei searched the whole description (re.search): so does vdictl."""
    body = (f'snapshot_description = "Automatic snapshot after amoothei-vmrollout, clean, '
            f'IP=1.2.3.4"\nreset_to_snapshot_regex = "{regex}"')
    assert load(tmp_path, HEADER + room(body)).rooms["r1"].resettable


def test_the_config_check_and_the_reset_share_one_matching_rule():
    """config's check uses VmSpec.resets_to; the reset picks with VmSpec.matching_snapshots: they agree."""
    from vdictl.model import Snapshot
    from vdictl.config.rooms import VmSpec

    for regex, description in [("clean .*", "clean, IP=1"), ("clean.*", "clean, IP=1"),
                               ("^IP=.*", "clean, IP=1"), ("clean$", "golden, clean"),
                               ("IP=.*", "clean, IP=1"), ("^golden$", "golden"),
                               ("golden", "golden2"), ("", "x"), ("a|b", "b")]:
        spec = VmSpec(room="r", subsection="s", id=1, id_str="01", name="v",
                      template_name="t", snapshot_description=description,
                      reset_to_snapshot_regex=regex)
        picked = spec.matching_snapshots([Snapshot(id="1", description=description)])
        assert spec.resets_to(description) == bool(picked), (regex, description)


@pytest.mark.parametrize("ids, message", [
    ('"range(1,10+1"', "cannot parse 'range(1,10+1'; write ids as \"range(1,10+1)\", "
     '"[1,2,3]", "1-10", "1-4,7", 5 or 1, 2, 3'),
    ('"1..10"', "cannot parse '1..10'; write ids as \"range(1,10+1)\", "
     '"[1,2,3]", "1-10", "1-4,7", 5 or 1, 2, 3'),
    ('"sorted([3, 1])"', "ids 'sorted([3, 1])': only range(start, stop[, step]) may be "
     'called; write ids as "range(1,10+1)", "[1,2,3]", "1-10", "1-4,7", 5 or 1, 2, 3'),
    ('"[1, 1]"', "ids '[1, 1]': id 1 appears twice"),
    ('"[]"', "ids '[]' gives no VMs"),
    ('"range(0, 20000)"', "ids 'range(0, 20000)' gives more than 10000 VMs"),
    ('"-5"', "ids '-5': negative id -5"),
])
def test_bad_ids(tmp_path, ids, message):
    path = write(tmp_path, HEADER + f"[room r1]\n  [[vms]]\n  ids = {ids}\n"
                 "  names = vm$id\n  template_name = t\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path} [room r1/vms] ids: ")
    assert message in str(info.value)


def test_malicious_ids_in_config_do_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = write(tmp_path, HEADER + "[room r1]\n  [[vms]]\n"
                 f"  ids = \"__import__('os').system('touch {marker}')\"\n"
                 "  names = vm$id\n  template_name = t\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path} [room r1/vms] ids: ")
    assert not marker.exists()


@pytest.mark.parametrize("missing", ["ids", "names", "template_name"])
def test_required_keys(tmp_path, missing):
    lines = {"ids": "ids = 1", "names": "names = vm$id", "template_name": "template_name = t"}
    del lines[missing]
    err = error(tmp_path, HEADER + "[room r1]\n  [[vms]]\n  "
                + "\n  ".join(lines.values()) + "\n")
    assert str(err) == \
        f"{err.file} [room r1/vms] {missing}: missing required key '{missing}'"


@pytest.mark.parametrize("text, section, message", [
    ("[room]\n  [[vms]]\n  ids = 1\n", "room", "a room needs a name: [room NAME]"),
    ("[room   ]\n  [[vms]]\n", "room", "a room needs a name: [room NAME]"),
    ("[room r2]\n  template_name = t\n", "room r2",
     "room 'r2' has no subsections ([[...]]) defining VMs"),
    ("[room r2]\n", "room r2", "room 'r2' has no subsections ([[...]]) defining VMs"),
    (ROOM + "[room  r1]\n  [[vms]]\n", "room  r1", "room 'r1' is defined twice"),
])
def test_room_section_errors(tmp_path, text, section, message):
    err = error(tmp_path, HEADER + text)
    assert str(err) == f"{err.file} [{section}]: {message}"


@pytest.mark.parametrize("connect, key, message", [
    ("username = admin", "driver",
     "set driver = ovirt|libvirt (or url for oVirt, uri for libvirt)"),
    ("url = https://e/api\n  uri = qemu:///system", "driver",
     "both url (ovirt) and uri (libvirt) are set; choose with driver = ovirt|libvirt"),
    ("driver = ovirt", "url", "the ovirt driver needs url"),
    ("driver = xen", "driver", "'xen' is not one of ovirt, libvirt, proxmox"),
    ("url = https://e/api\n  password = x\n  password_file = pw", "password_file",
     "set password or password_file, not both"),
    ("uri = qemu:///system\n  insecure = sometimes", "insecure",
     "'sometimes' is not a boolean; use one of True/False, yes/no, on/off, 1/0, "
     "enabled/disabled"),
])
def test_connect_errors(tmp_path, connect, key, message):
    err = error(tmp_path, f"[general]\n  [[connect]]\n  {connect}\n")
    assert str(err) == f"{err.file} [general/connect] {key}: {message}"


def test_missing_general_and_connect(tmp_path):
    path = write(tmp_path, ROOM)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: missing [general] section with [[connect]]"
    path = write(tmp_path, "[general]\n", name="b.conf")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path} [general]: missing [[connect]] subsection"


@pytest.mark.parametrize("text, line, place, message", [
    (HEADER + "  uri = again\n", 4, " [general/connect] uri",
     "Duplicate keyword name: 'uri = again'"),
    (HEADER + "[general]\n", 4, "", "Duplicate section name: '[general]'"),
    (HEADER + "[room r1]\n  [[vms]\n", 5, " [room r1]",
     "Cannot compute the section depth: '[[vms]'"),
    (HEADER + 'x = "unterminated\n', 4, " [general/connect] x",
     "Parse error in value: 'x = \"unterminated'"),
])
def test_parse_errors_name_file_and_line(tmp_path, text, line, place, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == line
    assert str(info.value) == f"{path}:{line}{place}: {message}"


def test_invalid_utf8(tmp_path):
    path = tmp_path / "vdi.conf"
    path.write_bytes(HEADER.encode() + b"# caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value) == f"{path}: not valid UTF-8 (invalid continuation byte)"


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.conf")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: cannot read: ")


# --- config file lookup -----------------------------------------------------

@pytest.fixture
def places(tmp_path, monkeypatch):
    """User and system config locations inside tmp_path, nothing created yet."""
    home = tmp_path / "home"
    system = tmp_path / "etc" / "vdictl" / "vdi-rollout.conf"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("VDICTL_CONFIG", raising=False)
    monkeypatch.setattr(config_module, "SYSTEM_CONFIG", str(system))
    user = home / ".config" / "vdictl" / "vdi-rollout.conf"
    explicit = tmp_path / "explicit.conf"
    env = tmp_path / "env.conf"
    return {"user": user, "system": system, "explicit": explicit, "env": env}


def _create(*paths: Path) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(HEADER)


def test_lookup_order(places, monkeypatch):
    _create(*places.values())
    monkeypatch.setenv("VDICTL_CONFIG", str(places["env"]))
    assert find_config_file(str(places["explicit"])) == str(places["explicit"])
    assert find_config_file(None) == str(places["env"])
    monkeypatch.delenv("VDICTL_CONFIG")
    assert find_config_file(None) == str(places["user"])
    places["user"].unlink()
    assert find_config_file(None) == str(places["system"])


def test_lookup_empty_env_is_unset(places, monkeypatch):
    _create(places["system"])
    monkeypatch.setenv("VDICTL_CONFIG", "")
    assert find_config_file(None) == str(places["system"])


def test_an_advice_names_the_config_file_unless_vdictl_finds_it_by_itself(places):
    """The command line an advice prints (the preflight's "vdictl
    virtroom-rollout ... --vm ..."): -c PATH unless vdictl would find the
    file without it ($VDICTL_CONFIG is not counted: it may not be set where
    the line is read, as in cron's mail)."""
    from vdictl.config.file import vdictl_command

    _create(places["system"], places["explicit"])
    assert vdictl_command(str(places["system"]), "rooms") == "vdictl rooms"
    assert vdictl_command(str(places["explicit"]), "rooms") == \
        f"vdictl -c {places['explicit']} rooms"
    _create(places["user"])   # found first now: the system's file needs -c
    assert vdictl_command(str(places["user"]), "rooms") == "vdictl rooms"
    assert vdictl_command(str(places["system"]), "rooms") == f"vdictl -c {places['system']} rooms"
    spaced = places["explicit"].with_name("my rooms.conf")
    assert vdictl_command(str(spaced), "rooms") == f"vdictl -c '{spaced}' rooms"
    uri = "qemu:///system?socket=/run/x"   # given with --uri: said again
    assert vdictl_command(str(places["user"]), "rooms", uri) == f"vdictl --uri '{uri}' rooms"


def test_lookup_nothing_found_lists_places(places):
    with pytest.raises(ConfigError) as info:
        find_config_file(None)
    assert str(info.value) == (
        f"no config file found; tried $VDICTL_CONFIG (unset), {places['user']}, "
        f"{places['system']}; use --config PATH")


def test_lookup_explicit_missing_is_an_error(places):
    _create(places["user"], places["system"])
    missing = str(places["explicit"])
    with pytest.raises(ConfigError) as info:
        find_config_file(missing)
    assert str(info.value) == \
        f"{missing}: config file given with --config does not exist or is not a file"


def test_lookup_env_missing_is_an_error(places, monkeypatch):
    _create(places["user"])
    monkeypatch.setenv("VDICTL_CONFIG", str(places["env"]))
    with pytest.raises(ConfigError) as info:
        find_config_file(None)
    assert str(info.value) == (f"{places['env']}: config file named by $VDICTL_CONFIG "
                               "does not exist or is not a file")


def test_lookup_relative_explicit_becomes_absolute(places, monkeypatch, tmp_path):
    _create(places["explicit"])
    monkeypatch.chdir(tmp_path)
    assert find_config_file("explicit.conf") == str(places["explicit"])


# --- the key table -----------------------------------------------------------

def test_key_table_is_consistent():
    for key in KEYS:
        assert key.section in SECTIONS, key
        assert key.type in TYPES, key
        assert key.help, key
        assert not (key.required and key.default is not None), key
        assert not (key.choices and key.type not in ("choice", "choices")), key
    pairs = [(k.section, k.name) for k in KEYS]
    assert len(pairs) == len(set(pairs))
    assert {k.name: k.default for k in keys_for("throttle").values()} == \
        {f: getattr(Throttle(), f) for f in Throttle.__dataclass_fields__}
    assert [k.name for k in keys_for("vm").values() if k.required] == \
        ["ids", "names", "template_name"]
    assert {k.name for k in keys_for("vm").values() if not k.used} == \
        {"workaround_os", "workaround_timezone"}


# --- room_names: the room titles alone (vdictl rooms, completion) ---------------

@pytest.mark.parametrize("path", [str(EXAMPLE), str(DATA / "virtesk-vm-rollout.conf")])
def test_room_names_are_a_full_loads_in_file_order(path):
    assert room_names(path) == list(load_config(path, now=NOW).rooms)


def test_room_names_read_only_the_room_titles(tmp_path):
    text = ("[general]\n" + room("", name="r1") + "[other]\n"
            + room("", name="r2").replace("${roomname}-vd${id}", "${nosuch}")
            + "[room   r3  ]\n    [[vms]]\n")
    assert room_names(write(tmp_path, text)) == ["r1", "r2", "r3"]
    assert "[general]" in str(error(tmp_path, text))  # what the names skip, a load finds


@pytest.mark.parametrize("text", [
    HEADER + ROOM + ROOM,                                        # configobj: duplicate
    HEADER + ROOM.replace("[room r1]", "[room ]"),               # a room without a name
    HEADER + ROOM.replace("[room r1]", "[room r1"),              # syntax
    HEADER + ROOM + ROOM.replace("[room r1]", "[room  r1 ]"),    # the same name
])
def test_room_title_errors_are_the_full_loads(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        room_names(path)
    assert str(info.value) == str(error(tmp_path, text))
