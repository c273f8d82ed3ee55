"""Config defaults come from configspec.KEYS alone (issue 13, typed seams).

The loader fills every key not written with its KEYS default; the records of
vdictl.config.rooms take their field defaults from KEYS too. Nothing else may write
a default: these tests fail when one is written elsewhere.
"""

from __future__ import annotations

import ast
import dataclasses
from datetime import datetime
from pathlib import Path

import pytest

from vdictl.config.free_space import MinFree

from vdictl.config import spec as configspec
from vdictl.config.load import load_config

SRC = Path(__file__).resolve().parents[2] / "src" / "vdictl"
NOW = datetime(2024, 3, 5, 7, 9)
#: the keys the minimal config writes
MINIMAL = """\
[general]
    [[connect]]
    uri = "qemu:///system"
[room r1]
    [[vms]]
    ids = 1
    names = "${roomname}-vd${id}"
    template_name = "tpl"
"""
#: ... and the keys whose value the loader derives from them (uri: driver = libvirt)
WRITTEN = {"connect": {"uri", "driver"}, "vm": {"ids", "names", "template_name"}}


def records(cfg):
    """The record each section identifier's keys end up in."""
    return {"connect": cfg.connect, "throttle": cfg.throttle, "logging": cfg.logging,
            "vm": cfg.rooms["r1"].vms[0], "room": cfg.rooms["r1"]}


def load_minimal(tmp_path):
    path = tmp_path / "vdi.conf"
    path.write_text(MINIMAL, encoding="utf-8")
    return load_config(str(path), now=NOW)


def test_a_minimal_config_has_every_key_table_default(tmp_path):
    compared = set()
    for section, record in records(load_minimal(tmp_path)).items():
        fields = {f.name for f in dataclasses.fields(record)}
        for key in configspec.keys_for(section).values():
            if key.used and key.name in fields and key.name not in WRITTEN.get(section, ()):
                assert getattr(record, key.name) == key.default, (section, key.name)
                compared.add((section, key.name))
    assert len(compared) == 59   # every field named after a key: none is left out


#: for every key with a default other than None: another valid value
OTHER_DEFAULT = {
    "insecure": True, "filter": True, "endpoint_timeout": 45.0, "console_probe": False,
    "snapshot_batch_size": 7, "snapshot_batch_pause": 1.5,
    "parallel": 3, "shutdown_timeout": 9.0, "operation_timeout": 99.0,
    "min_free_storage": MinFree(size=200 << 30),
    "stateless": True, "snapshot_description": "golden", "rollout_startvm": True,
    "reset_startvm": "Never", "maintenance": True, "adopt_unmarked": True, "keep_runs": 7,
    "skip_in_use": True, "iso_storage": "isos",
    "delegates": ("alice", "%teachers"), "delegate_commands": ("show",),
    "delegate_skip_in_use": False,
}


def test_every_key_with_a_default_is_in_the_swap_table():
    assert {k.name for k in configspec.KEYS if k.default is not None} == set(OTHER_DEFAULT)


@pytest.mark.parametrize("name", sorted(OTHER_DEFAULT))
def test_a_changed_key_table_default_reaches_the_loaded_config(tmp_path, monkeypatch, name):
    """A default written in the loader or relied on from a dataclass would keep
    the old value here."""
    keys = tuple(dataclasses.replace(k, default=OTHER_DEFAULT[name]) if k.name == name else k
                 for k in configspec.KEYS)
    monkeypatch.setattr(configspec, "KEYS", keys)
    key = next(k for k in keys if k.name == name)
    record = records(load_minimal(tmp_path))[key.section]
    assert getattr(record, name) == OTHER_DEFAULT[name]


def literal(node: ast.AST) -> bool:
    """A value written in the code (None aside: .get(key, None) is .get(key))."""
    try:
        return ast.literal_eval(node) is not None
    except ValueError:
        return False


@pytest.mark.parametrize("module", ["config/load.py", "config/vms.py", "config/file.py"])
def test_the_loader_writes_no_default_of_its_own(module):
    """No settings.get("key", False): the default would not be KEYS'."""
    found = []
    for node in ast.walk(ast.parse((SRC / module).read_text())):
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            continue
        func = node.func
        if (isinstance(func, ast.Attribute) and func.attr in ("get", "pop", "setdefault")
                and literal(node.args[1])):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    assert found == []


def test_record_fields_named_after_a_key_take_the_key_table_default():
    """In vdictl.config.rooms a field named after a config key has no default, or
    _SECTION["that key"] (a configspec.defaults table), never a literal."""
    names = {k.name for k in configspec.KEYS}
    found = []
    for node in ast.walk(ast.parse((SRC / "config" / "rooms.py").read_text())):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and node.target.id in names and node.value is not None):
            continue
        default = node.value
        if isinstance(default, ast.Call):     # field(default=..., repr=False)
            default = next(kw.value for kw in default.keywords if kw.arg == "default")
        if not (isinstance(default, ast.Subscript) and isinstance(default.slice, ast.Constant)
                and default.slice.value == node.target.id):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    assert found == []
