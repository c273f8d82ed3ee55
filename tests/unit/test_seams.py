"""Module seams: what a module may import (issue 13, typed seams)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "vdictl"


def imported_modules(path: Path) -> set:
    """Every module a file imports, at any depth (functions, TYPE_CHECKING too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_jinja_sandbox_does_not_import_templating_back():
    assert "vdictl.config.templating" not in imported_modules(SRC / "config" / "jinja_sandbox.py")
    assert "vdictl.config.jinja_sandbox" in imported_modules(SRC / "config" / "templating.py")


def test_template_rules_import_neither_side():
    imports = imported_modules(SRC / "config" / "template_rules.py")
    assert not imports & {"vdictl.config.templating", "vdictl.config.jinja_sandbox", "jinja2"}


# Imports the Payload record and every driver module; prints what came along.
PROBE = """
import importlib, pkgutil, sys
import vdictl.firstboot.payload, vdictl.drivers
for found in pkgutil.walk_packages(vdictl.drivers.__path__, "vdictl.drivers."):
    importlib.import_module(found.name)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("yaml", "jinja2", "configobj")
             or m in ("vdictl.config.templating", "vdictl.config.jinja_sandbox", "vdictl.firstboot.render",
                      "vdictl.config.load")))
"""


def test_payload_record_and_drivers_load_no_yaml_or_templating():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"


def test_payload_record_module_imports_no_yaml_or_templating():
    imports = imported_modules(SRC / "firstboot" / "payload.py")
    assert not {m.split(".")[0] for m in imports} & {"yaml", "jinja2"}
    assert not imports & {"vdictl.config.templating", "vdictl.config.jinja_sandbox", "vdictl.firstboot.render"}
