# SPDX-License-Identifier: GPL-3.0-or-later
"""The shape of src/ (docs/architecture.md): computed from the source itself.

- the import graph has no cycle, none inside ``if TYPE_CHECKING:`` either;
- dependencies between layers point one way (cli -> ops -> drivers/base <- drivers/*);
- between the packages the arrows point down only (PACKAGE_FLOORS), and no module
  outside config/ reads the config file (configobj);
- no module reaches into another module's private names;
- no module is over 450 lines, no function over 60.
"""

from __future__ import annotations

import ast
import pathlib
from typing import Dict, Iterator, List, Set

import pytest

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
#: private names of the standard library that are its public API
STDLIB_UNDERSCORE = {"_exit", "_replace", "_asdict", "_fields", "_make"}


def modules() -> Dict[str, pathlib.Path]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(name: str, path: pathlib.Path, known: Dict[str, pathlib.Path]) -> Set[str]:
    """The modules of ours that `name` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in known:
                    edges.add(target)
                elif base in known:
                    edges.add(base)
        elif isinstance(node, ast.Import):
            edges.update(alias.name for alias in node.names if alias.name in known)
    edges.discard(name)
    return edges


def import_graph() -> Dict[str, Set[str]]:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_sees_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_is_read_from_the_source():
    graph = import_graph()
    assert "vdictl.ops.session" in graph["vdictl.ops.reset"]
    assert "vdictl.drivers.base" in graph["vdictl.drivers"]


def test_src_has_no_import_cycle():
    assert cycles(import_graph()) == []


LAYERS = [
    # (package, prefixes it must not import)
    ("vdictl.drivers", ("vdictl.cli", "vdictl.ops")),
    ("vdictl.ops", ("vdictl.cli",)),
]
#: modules that depend on nothing of ours but the errors
LEAVES = ["vdictl.executor", "vdictl.wait", "vdictl.errors", "vdictl.config.linear_regex"]


@pytest.mark.parametrize("layer,forbidden", LAYERS)
def test_dependencies_point_one_way(layer, forbidden):
    graph = import_graph()
    wrong = sorted(f"{name} imports {target}" for name, targets in graph.items()
                   if name == layer or name.startswith(layer + ".")
                   for target in targets if target.startswith(forbidden))
    assert wrong == []


#: the floors of src/vdictl, top down (docs/architecture.md, "The import graph"):
#: a package may import only from the floors below its own
PACKAGE_FLOORS = [
    ("cli",),
    ("ops",),
    ("drivers.libvirt", "drivers.ovirt", "drivers.proxmox"),
    ("drivers",),
    ("records", "firstboot"),
    ("config",),
    ("ground",),
]


def package_of(module: str) -> str:
    """vdictl.config.rooms -> config; vdictl.drivers.ovirt.pool -> drivers.ovirt;
    the modules directly in vdictl (errors, model, ...) -> ground."""
    parts = module.split(".")[1:]
    if len(parts) >= 2 and parts[0] == "drivers" and parts[1] in ("libvirt", "ovirt", "proxmox"):
        return ".".join(parts[:2])
    if len(parts) >= 2 or (parts and parts[0] in ("cli", "ops", "drivers", "config", "records",
                                                   "firstboot")):
        return parts[0]
    return "ground"


def upward_imports(graph: Dict[str, Set[str]]) -> List[str]:
    floor = {package: level for level, packages in enumerate(PACKAGE_FLOORS)
             for package in packages}
    return sorted(f"{name} imports {target}" for name, targets in graph.items()
                  for target in targets
                  if package_of(name) != package_of(target)
                  and floor[package_of(target)] <= floor[package_of(name)])


def test_package_of_names_the_floor():
    assert package_of("vdictl.config.rooms") == "config"
    assert package_of("vdictl.drivers.ovirt.pool") == "drivers.ovirt"
    assert package_of("vdictl.drivers.base") == "drivers"
    assert package_of("vdictl.drivers") == "drivers"
    assert package_of("vdictl.records") == "records"
    assert package_of("vdictl.errors") == "ground"
    assert package_of("vdictl") == "ground"


def test_upward_import_finder_sees_one():
    graph = {"vdictl.config.rooms": {"vdictl.ops.reset", "vdictl.errors"},
             "vdictl.ops.reset": {"vdictl.config.rooms"},
             "vdictl.drivers.ovirt.pool": {"vdictl.drivers.libvirt.errors"}}
    assert upward_imports(graph) == [
        "vdictl.config.rooms imports vdictl.ops.reset",
        "vdictl.drivers.ovirt.pool imports vdictl.drivers.libvirt.errors"]


def test_every_package_has_a_floor():
    floors = {package for packages in PACKAGE_FLOORS for package in packages}
    assert {package_of(name) for name in import_graph()} <= floors


def test_packages_import_only_from_the_floors_below():
    assert upward_imports(import_graph()) == []


def test_only_config_reads_the_config_file():
    """configobj is the file's parser: a module outside config/ that imported it
    would read the file a second way, past the checks of config/load.py."""
    readers = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [])
            if any(n.split(".")[0] == "configobj" for n in names):
                readers.append(name)
    assert readers and all(package_of(name) == "config" for name in readers), readers


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaves_depend_on_nothing_of_ours(leaf):
    assert import_graph()[leaf] - {"vdictl.errors"} == set()


def test_ops_never_import_a_backend():
    graph = import_graph()
    backends = [name for name in graph if name.startswith("vdictl.drivers.")
                and name != "vdictl.drivers.base"]
    wrong = sorted(f"{name} imports {target}" for name, targets in graph.items()
                   if name.startswith(("vdictl.ops", "vdictl.cli"))
                   for target in targets if target in backends)
    assert wrong == []


def foreign_private_uses(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not node.attr.startswith("__") and node.attr not in STDLIB_UNDERSCORE:
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                yield f"line {node.lineno}: .{node.attr}"
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    yield f"line {node.lineno}: import {alias.name}"


def test_private_use_finder_sees_one():
    tree = ast.parse("def f(drv):\n    return drv._call(1)\nfrom m import _x\nself._ok\n")
    assert sorted(foreign_private_uses(tree)) == ["line 2: ._call", "line 3: import _x"]


def test_no_module_uses_another_modules_private_names():
    wrong = [f"{path.relative_to(SRC)} {use}" for path in modules().values()
             for use in foreign_private_uses(ast.parse(path.read_text(encoding="utf-8")))]
    assert wrong == []


def test_no_module_is_over_the_limit():
    sizes = {str(path.relative_to(SRC)): len(path.read_text(encoding="utf-8").splitlines())
             for path in modules().values()}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_no_function_is_over_the_limit():
    long = []
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({length} lines)")
    assert long == []
