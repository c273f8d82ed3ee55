"""-o json on errors, where a connection error's URI comes from, rollout --all,
the usage lines, and -q."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from vdictl.cli import cli

from tests.cli.conftest import CONFIG
from tests.terminal import run_interactively
from tests.vdictl_cli import vdictl, write_config

UNREACHABLE = """\
[general]
    [[connect]]
    uri = "test:///nonexistent/hypervisor.xml"
[room r]
    template_name = t
    snapshot_description = "golden"
    reset_to_snapshot_regex = "golden"
    [[s]]
    ids = 1
    names = "r-${id}"
    [[s2]]
    ids = 1
    names = "r-b${id}"
    uri = "test:///nonexistent/hypervisor.xml"
[room other]
    template_name = t
    [[pcs]]
    ids = 1
    names = "o-${id}"
    uri = "test:///nonexistent/other.xml"
"""


def one_error(result, message, status, **config_fields):
    """stderr has the one line; stdout (with -o json) the same as an object."""
    assert (result.exit_code, result.stderr) == (status, f"Error: {message}\n")
    names = {2: "USAGE", 3: "UNREACHABLE"}
    assert json.loads(result.stdout) == {"error": {
        "message": message, "exit_status": status, "exit_name": names[status],
        **config_fields}}


def test_a_config_error_with_json_output_is_also_a_json_object(tmp_path):
    config = write_config(tmp_path, CONFIG.replace("parallel = 3", "parallel = many"),
                          name="c.conf")
    result = vdictl(config, "virtroom-reset", "lab1", "-o", "json")
    one_error(result, f"{config} [general/throttle] parallel: 'many' is not a whole number", 2,
              file=str(config), section="general/throttle", key="parallel")


def test_an_unknown_room_and_a_refusal_with_json_output(run, config_file):
    one_error(run("virtroom-start", "lab9", "-o", "json"),
              f"unknown room 'lab9' in {config_file}; known rooms: lab1, kiosk", 2)
    one_error(run("virtroom-delete", "lab1", "-o", "json"),
              "refusing to delete without --yes when not on a terminal", 2)


def test_errors_without_json_output_print_nothing_on_stdout(run):
    result = run("virtroom-start", "lab9")
    assert (result.exit_code, result.stdout) == (2, "")


def test_a_connection_error_names_where_the_uri_is_configured(tmp_path):
    config = write_config(tmp_path, UNREACHABLE, name="c.conf")
    uri = "test:///nonexistent/hypervisor.xml"
    result = vdictl(config, "virtroom-start", "r", "-o", "json")
    where = f"cannot connect to {uri} ({config} [general/connect] uri, or [room r/s2] uri): "
    assert result.exit_code == 3
    assert result.stderr.startswith(f"Error: libvirt: {where}")
    assert result.stderr.count("\n") == 1
    assert json.loads(result.stdout)["error"]["message"].startswith(f"libvirt: {where}")
    assert json.loads(result.stdout)["error"]["exit_name"] == "UNREACHABLE"

    result = vdictl(config, "virtroom-show", "other")
    assert result.stderr.startswith("Error: libvirt: cannot connect to "
                                    f"test:///nonexistent/other.xml ({config} [room other/pcs] "
                                    "uri): ")
    result = vdictl(config, "--uri", uri, "virtroom-reset", "r")
    assert result.stderr.startswith(f"Error: libvirt: cannot connect to {uri} (--uri, or "
                                    f"{config} [room r/s2] uri): ")


def test_rollout_takes_all(run, hypervisor):
    result = run("virtroom-rollout", "--all", "-o", "json")
    assert result.exit_code == 0, result.output
    assert [r["vm"] for r in json.loads(result.stdout)["results"]] == [
        "lab1-vd01", "lab1-vd02", "lab1-vd03", "lab1-vd04", "lab1-teacher01",
        "kiosk-01", "kiosk-02"]
    assert run("virtroom-rollout", "--all", "lab1").stderr == \
        "Error: give room names or --all, not both\n"


@pytest.mark.parametrize("command, usage", [
    ("virtroom-rollout", "[ROOM]... | --all"), ("virtroom-reset", "[ROOM]... | --all"),
    ("virtroom-start", "[ROOM]... | --all"), ("virtroom-shutdown", "[ROOM]... | --all"),
    ("virtroom-show", "[ROOM]... | --all"), ("virtroom-delete", "ROOM..."),
    ("virtroom-rebuild", "ROOM..."),
])
def test_usage_lines_say_where_all_is_offered(command, usage):
    result = CliRunner().invoke(cli, [command, "--help"], prog_name="vdictl")
    assert result.stdout.splitlines()[0] == f"Usage: vdictl {command} [OPTIONS] {usage}"
    assert ("--all" in result.stdout) is ("--all" in usage)


# --- -q -------------------------------------------------------------------------

def test_quiet_drops_warnings_and_keeps_errors(run, hypervisor, config_file):
    with open(config_file, "a") as f:
        f.write("[room extra]\n    favourite_colour = red\n    [[pcs]]\n    ids = 1\n"
                "    names = \"x-${id}\"\n    template_name = tmpl\n")
    loud = run("virtroom-show", "lab1")
    assert loud.stderr == (f"warning: {config_file} [room extra] favourite_colour: "
                           "unknown key, ignored\n")
    quiet = run("-q", "virtroom-show", "lab1")
    assert (quiet.exit_code, quiet.stderr) == (0, "")
    assert quiet.stdout == loud.stdout   # what show exists to list still prints
    assert run("-q", "virtroom-start", "nosuch").stderr.startswith("Error: unknown room")


def test_quiet_and_verbose_exclude_each_other(run):
    result = run("-q", "-v", "rooms")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: -q and -v/--debug exclude each other"


def test_quiet_on_a_terminal_prints_nothing_when_every_vm_succeeded(hypervisor, tmp_path):
    from tests.cli.test_template import on_file_hypervisor

    env = dict(os.environ, VDICTL_CONFIG=str(on_file_hypervisor(hypervisor, tmp_path)))
    code, screen = run_interactively(["virtroom-start", "lab1"], env)
    assert code == 0 and screen.splitlines()[-1] == "start: 5 VM(s): 5 ok"
    code, screen = run_interactively(["-q", "virtroom-start", "lab1"], env)
    assert (code, screen) == (0, "")
    code, screen = run_interactively(["-q", "virtroom-start", "lab1", "-o", "table"], env)
    assert code == 0 and screen.splitlines()[-1] == "start: 5 VM(s): 5 ok"


def test_quiet_drops_the_template_commands_success_line(run, hypervisor):
    assert run("template-create", "tmpl", "tmpl2").stdout == \
        "template-create: template tmpl2 made from tmpl, not sealed\n"
    result = run("-q", "template-create", "tmpl", "tmpl3")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert "tmpl3" in hypervisor.domains()
