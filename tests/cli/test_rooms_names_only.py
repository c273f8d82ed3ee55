"""Plain `vdictl rooms` reads the room titles only; every command that acts on
rooms, and `config check`, still checks the whole config before it changes anything."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli.conftest import CONFIG
from tests.vdictl_cli import vdictl, write_config

#: a last room whose name template uses a variable that does not exist
BROKEN_LAST_ROOM = CONFIG + """
[room broken]
    [[pcs]]
    ids = "1-2"
    names = "${roomname}-${nosuch}"
    template_name = tmpl
"""
#: a room that claims the name of one of lab1's VMs
CLAIMS_LAB1_VD01 = CONFIG + """
[room other]
    [[pcs]]
    ids = "1"
    names = "lab1-vd${id}"
    template_name = tmpl
"""

#: every command that reads the rooms' VMs (each would change or show something)
COMMANDS = (
    ("virtroom-reset", "--all"), ("virtroom-reset", "lab1"), ("virtroom-start", "lab1"),
    ("virtroom-shutdown", "--all"), ("virtroom-delete", "--yes", "lab1"),
    ("virtroom-rollout", "lab1"), ("virtroom-rebuild", "--force", "--yes", "lab1"),
    ("virtroom-show", "lab1"), ("template-delete", "--yes", "tmpl"),
    ("template-create", "lab1-vd01", "tmpl2"), ("rooms", "--resettable"),
    ("rooms", "--stateless"), ("config", "check"),
)


def rolled_out_lab1(hypervisor, tmp_path):
    """lab1 rolled out with the good config, one VM running; its state, to compare."""
    good = write_config(tmp_path, CONFIG, name="good.conf")
    assert vdictl(good, "virtroom-rollout", "lab1").exit_code == 0
    hypervisor.dom("lab1-vd02").create()
    return state(hypervisor)


def state(hypervisor):
    return (hypervisor.domains(), hypervisor.running(), hypervisor.volumes(),
            {name: hypervisor.snapshot_descriptions(name) for name in hypervisor.domains()})


def test_rooms_lists_names_without_building_the_vms(tmp_path):
    path = write_config(tmp_path, BROKEN_LAST_ROOM)
    result = vdictl(path, "rooms")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "lab1\nkiosk\nbroken\n", "")


def refused_without_a_change(hypervisor, tmp_path, text, args):
    """Run `args` on the config `text` after rolling lab1 out: exit 2 and nothing
    changed. Returns the error line and the config's path."""
    before = rolled_out_lab1(hypervisor, tmp_path)
    path = write_config(tmp_path, text)
    result = vdictl(path, *args)
    assert result.exit_code == 2, result.output
    assert state(hypervisor) == before
    return result.stderr, path


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_broken_last_room_stops_every_command_before_any_change(hypervisor, tmp_path, args):
    stderr, path = refused_without_a_change(hypervisor, tmp_path, BROKEN_LAST_ROOM, args)
    assert stderr == (f"Error: {path} [room broken/pcs] names: "
                      "unknown variable 'nosuch' in '${roomname}-${nosuch}' (known: "
                      "default_gateway, id, netmask, netmask_as_suffix, roomname, "
                      "scripttime, subsection, suffix)\n")


@pytest.mark.parametrize("args", [("virtroom-start", "lab1"), ("virtroom-start", "other"),
                                  ("virtroom-reset", "--all"), ("config", "check")],
                         ids=" ".join)
def test_a_vm_name_claimed_by_two_rooms_stops_commands_on_either(hypervisor, tmp_path, args):
    stderr, path = refused_without_a_change(hypervisor, tmp_path, CLAIMS_LAB1_VD01, args)
    assert stderr == (f"Error: {path} [room other/pcs] names: VM name 'lab1-vd01' is "
                      "defined twice: in [room lab1/students] (id 1) and in "
                      "[room other/pcs] (id 1)\n")
    assert vdictl(path, "rooms").stdout == "lab1\nkiosk\nother\n"


# Which modules a fresh process loads: `--help` needs click and the command
# modules only, plain `rooms` configobj besides: no logging, no config records,
# no run records (sqlite3), no sudo or trust checks, no open-files limits.
HEAVY = ("configobj", "jinja2", "json", "libvirt", "logging", "ovirtsdk4", "vdictl.config.load",
         "vdictl.config.rooms", "sqlite3", "vdictl.records", "vdictl.config.trust",
         "vdictl.cli.delegation", "vdictl.fds")
LOADED = """
import sys
from vdictl.cli import main
sys.argv = ["vdictl", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("LOADED=" + ",".join(m for m in %r if m in sys.modules), file=sys.stderr)
""" % (HEAVY,)


def loaded(*args):
    proc = subprocess.run([sys.executable, "-c", LOADED, *args], capture_output=True,
                          text=True, timeout=60)
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("LOADED="), proc.stderr
    return [name for name in last[len("LOADED="):].split(",") if name]


def test_help_loads_no_config_logging_json_or_template_engine():
    assert loaded("--help") == []


def test_plain_rooms_loads_only_the_config_file_parser(config_file):
    assert loaded("--config", config_file, "rooms") == ["configobj"]
