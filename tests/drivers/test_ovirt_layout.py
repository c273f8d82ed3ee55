"""Inside the ovirt driver package, imports point one way (issue 13):
driver -> feature modules -> connection -> pool/errors (its shared polls are
drivers/status_watch.py, beside the packages). The rules for
all of src/ (no cycle, no foreign private names, sizes) are in
tests/unit/test_layout.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "vdictl" / "drivers" / "ovirt"
#: module -> the modules of the package it may import
ALLOWED = {
    "__init__": {"driver"},
    "driver": {"connection", "create", "firstboot", "lookups", "permits", "pool", "power",
               "records", "sessions", "snapshots", "space", "templates"},
    "create": {"connection", "lookups", "owner_mark", "records"},
    "firstboot": {"connection", "create", "lookups"},
    "lookups": {"connection"},
    "permits": {"connection"},
    "power": {"connection"},
    "sessions": {"connection"},
    "space": {"connection", "lookups"},
    "snapshots": {"connection", "records"},
    "templates": {"connection"},
    "connection": {"errors", "pool"},
    "pool": {"errors"},
    "records": {"owner_mark"},
    "errors": set(), "owner_mark": set(),
}


def modules():
    return sorted(p.stem for p in PACKAGE.glob("*.py"))


def tree(name: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{name}.py").read_text())


def package_imports(name: str) -> set:
    """The sibling modules `name` imports (`from . import x`, `from .x import y`)."""
    found = set()
    for node in ast.walk(tree(name)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(a.name for a in node.names)
    return found


def test_every_module_is_known():
    assert modules() == sorted(ALLOWED)


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_imports_point_one_way(name):
    assert package_imports(name) <= ALLOWED[name]
