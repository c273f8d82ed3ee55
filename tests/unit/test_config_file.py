"""vdictl.config_file.room_names: the rooms of a file from its room titles
alone, with the same names and file-level errors as a full load."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from vdictl.config import load_config
from vdictl.config_file import room_names
from vdictl.errors import ConfigError

NOW = datetime(2024, 3, 5, 7, 9)
DATA = Path(__file__).resolve().parent.parent / "data"
EXAMPLE = Path(__file__).resolve().parents[2] / "etc" / "vdi-rollout.conf.example"

HEADER = """\
[general]
    [[connect]]
    uri = "qemu:///system"
"""


def room(name: str, names: str = "${roomname}-vd${id}") -> str:
    return (f"[room {name}]\n    [[vms]]\n    ids = \"1-2\"\n    names = \"{names}\"\n"
            f"    template_name = \"tpl\"\n")


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "vdi.conf"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def full_error(path: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, now=NOW)
    return str(info.value)


@pytest.mark.parametrize("path", [str(EXAMPLE), str(DATA / "virtesk-vm-rollout.conf")])
def test_the_names_of_a_full_load_in_file_order(path):
    assert room_names(path) == list(load_config(path, now=NOW).rooms)


def test_only_room_titles_are_read(tmp_path):
    path = write(tmp_path, "[general]\n" + room("r1") + "[other]\n"
                 + room("r2", names="${nosuch}") + "[room   r3  ]\n    [[vms]]\n")
    assert room_names(path) == ["r1", "r2", "r3"]
    assert "[general]" in full_error(path)  # the full load finds what names skip


@pytest.mark.parametrize("text", [
    HEADER + room("r1") + room("r1"),                            # configobj: duplicate
    HEADER + room("r1").replace("[room r1]", "[room ]"),         # a room without a name
    HEADER + room("r1").replace("[room r1]", "[room r1"),        # syntax
    HEADER + room("r1") + room("R").replace("[room R]", "[room  r1 ]"),  # the same name
])
def test_title_errors_are_the_full_loads(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        room_names(path)
    assert str(info.value) == full_error(path)
