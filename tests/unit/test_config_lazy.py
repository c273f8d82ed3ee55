"""load_config(check_rooms=False): the rooms' names at once, their VMs on first use,
with exactly the errors and records of a full load."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from vdictl.config import load_config
from vdictl.errors import ConfigError

NOW = datetime(2024, 3, 5, 7, 9)
DATA = Path(__file__).resolve().parent.parent / "data"
EXAMPLE = Path(__file__).resolve().parents[2] / "etc" / "vdi-rollout.conf.example"

HEADER = """\
[general]
    [[connect]]
    uri = "qemu:///system"
"""


def room(name: str, names: str = "${roomname}-vd${id}", ids: str = "1-2",
         extra: str = "") -> str:
    return (f"[room {name}]\n    [[vms]]\n    ids = \"{ids}\"\n    names = \"{names}\"\n"
            f"    template_name = \"tpl\"\n{extra}")


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "vdi.conf"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def full_error(path: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, now=NOW)
    return str(info.value)


def lazy_error(room) -> str:
    with pytest.raises(ConfigError) as info:
        room.vms
    return str(info.value)


@pytest.mark.parametrize("path", [str(EXAMPLE), str(DATA / "virtesk-vm-rollout.conf")])
def test_lazy_rooms_build_the_records_of_a_full_load(path):
    full = load_config(path, now=NOW)
    lazy = load_config(path, now=NOW, check_rooms=False)
    assert list(lazy.rooms) == list(full.rooms)
    for name, room in full.rooms.items():
        assert lazy.rooms[name].subsections == room.subsections
        assert lazy.rooms[name].vms == room.vms
        assert lazy.rooms[name].unused_keys == room.unused_keys
        assert (lazy.rooms[name].resettable, lazy.rooms[name].stateless) == (
            room.resettable, room.stateless)
    assert (lazy.connect, lazy.throttle, lazy.logging) == (
        full.connect, full.throttle, full.logging)


@pytest.mark.parametrize("broken", [
    room("r3", names="${roomname}-${nosuch}"),           # template: unknown variable
    room("r3", names="${roomname}-vd${id}!"),            # invalid VM name
    room("r3", ids="range(os.system('x'))"),             # a key that does not convert
    "[room r3]\n    ids = 1\n",                          # no subsection
    room("r3", extra="    ip_addresses = \"10.0.0.${id}x\"\n"),   # invalid IP
])
def test_a_broken_room_is_named_and_its_error_comes_with_the_first_vms(tmp_path, broken):
    path = write(tmp_path, HEADER + room("r1") + room("r2") + broken)
    expected = full_error(path)
    lazy = load_config(path, now=NOW, check_rooms=False)
    assert list(lazy.rooms) == ["r1", "r2", "r3"]
    # a good room's VMs need every room built: the error is the full load's
    assert lazy_error(lazy.rooms["r1"]) == expected
    assert "[room r3" in expected
    # and stays that error (the half-built rooms are not built a second time)
    assert lazy_error(lazy.rooms["r2"]) == expected
    assert lazy_error(lazy.rooms["r3"]) == expected


def test_a_vm_name_claimed_by_two_rooms_is_an_error_for_either_room(tmp_path):
    path = write(tmp_path, HEADER + room("r1") + room("r2") + room("r3", names="r1-vd${id}"))
    expected = full_error(path)
    assert expected == (f"{path} [room r3/vms] names: VM name 'r1-vd01' is defined twice: "
                        "in [room r1/vms] (id 1) and in [room r3/vms] (id 1)")
    for name in ("r1", "r2", "r3"):
        assert lazy_error(load_config(path, now=NOW, check_rooms=False).rooms[name]) == expected


def test_file_level_errors_still_come_from_the_lazy_load(tmp_path):
    for text in (HEADER + room("r1") + room("r1"),                 # configobj: duplicate
                 HEADER + room("r1").replace("[room r1]", "[room ]"),
                 "[general]\n" + room("r1")):                      # no [[connect]]
        path = write(tmp_path, text)
        expected = full_error(path)
        with pytest.raises(ConfigError) as info:
            load_config(path, now=NOW, check_rooms=False)
        assert str(info.value) == expected


def test_general_errors_are_checked_without_the_rooms(tmp_path):
    path = write(tmp_path, HEADER + "    [[throttle]]\n    parallel = 0\n"
                 + room("r1", names="${nosuch}"))
    with pytest.raises(ConfigError) as info:
        load_config(path, now=NOW, check_rooms=False)
    assert str(info.value) == f"{path} [general/throttle] parallel: 0 is less than 1"


def test_room_warnings_need_the_full_check(tmp_path):
    path = write(tmp_path, HEADER + "    colour = blue\n" + room("r1", extra="    flavour = x\n"))
    assert load_config(path, now=NOW).warnings == (
        f"{path} [general/connect] colour: unknown key, ignored",
        f"{path} [room r1/vms] flavour: unknown key, ignored")
    lazy = load_config(path, now=NOW, check_rooms=False)
    assert lazy.warnings == (f"{path} [general/connect] colour: unknown key, ignored",)
    assert lazy.rooms["r1"].unused_keys == (("room r1/vms", "flavour"),)
