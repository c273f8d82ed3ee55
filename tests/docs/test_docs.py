"""The documentation: generated pages current (the man page too), the Sphinx
build clean, and the hand-written pages still true to the code."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest

from vdictl.cli import cli, exit_codes

from tests.vdictl_cli import vdictl, write_config

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
SRC = REPO / "src" / "vdictl"


def load_generator():
    spec = importlib.util.spec_from_file_location("vdictl_docs_generate", DOCS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = load_generator()


def test_generated_reference_pages_are_current():
    stale = generate.stale_pages()
    if stale:
        pytest.fail(f"{', '.join('docs/' + p for p in stale)} stale: run {generate.REGENERATE}",
                    pytrace=False)


def test_command_reference_has_every_command_and_option():
    page = (DOCS / "reference" / "commands.md").read_text()
    for full, ctx in generate.walk(cli):
        assert f"## `{full}`" in page
        for param in ctx.command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert opt in page, (full, opt)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The HTML pages, built once with warnings as errors."""
    out = tmp_path_factory.mktemp("docs")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out / "doctrees"), str(DOCS), str(out / "html")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return out


def test_sphinx_builds_every_page(built):
    for page in ("index", "install", "guide", "migrating", "troubleshooting", "exit-statuses",
                 "output", "reference/commands", "reference/config"):
        assert (built / "html" / f"{page}.html").exists(), page


MAN_PAGE = DOCS / "man" / "vdictl.1"


def test_man_page_has_every_command_option_and_exit_status():
    man = MAN_PAGE.read_text().replace("\\-", "-")
    assert re.search(r'^\.TH VDICTL 1 ', man, re.M)
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "GLOBAL OPTIONS", "COMMANDS",
                    "ENVIRONMENT", "FILES", "EXIT STATUS", "SEE ALSO"):
        assert re.search(rf'^\.SH {section}$', man, re.M), section
    for full, ctx in generate.walk(cli):
        if not isinstance(ctx.command, click.Group):
            assert f'.SS "{full}"' in man, full
        for param in ctx.command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert opt in man, (full, opt)
    for name in ("VM_FAILED", "MISSING_DEPENDENCY", "ROOM_BUSY"):
        assert f"({name})" in man


def test_man_page_lists_every_environment_variable_the_source_reads():
    man = MAN_PAGE.read_text().replace("\\-", "-")
    environment = man[man.index(".SH ENVIRONMENT"):man.index(".SH FILES")]
    names = set(re.findall(r"\bVDICTL_[A-Z_]+", source_text())) | {"_VDICTL_COMPLETE"}
    assert "VDICTL_SYSLOG" in names
    missing = [name for name in sorted(names) if f"\\fB{name}\\fR" not in environment]
    assert not missing


@pytest.mark.skipif(shutil.which("man") is None, reason="no man (Debian: man-db)")
def test_man_renders_the_page_without_warnings():
    result = subprocess.run(["man", "--warnings", "-l", str(MAN_PAGE)], capture_output=True,
                            text=True, timeout=60, env=dict(os.environ, MANWIDTH="80",
                                                            MANPAGER="cat", PAGER="cat"))
    assert (result.returncode, result.stderr) == (0, "")
    text = result.stdout
    assert text.splitlines()[0].split() == ["VDICTL(1)", "vdictl", "manual", "VDICTL(1)"]
    assert "vdictl virtroom-reset [OPTIONS] [ROOM]... | --all" in text
    assert "VDICTL_SYSLOG" in text


# --- hand-written pages ---------------------------------------------------------

def source_text() -> str:
    """All of vdictl's source, with implicitly concatenated string literals joined."""
    text = "\n".join(p.read_text() for p in sorted(SRC.rglob("*.py")))
    return re.sub(r"""(["'])\s*\n\s*f?(["'])""", "", text)


def documented_messages():
    page = (DOCS / "troubleshooting.md").read_text()
    return re.findall(r"^### `(.+)`$", page, re.M)


def test_troubleshooting_lists_messages():
    assert len(documented_messages()) >= 25


@pytest.mark.parametrize("message", documented_messages())
def test_each_documented_message_still_exists_in_the_source(message):
    source = source_text()
    fragments = [f.strip(" '\":;,.") for f in message.split("…")]
    missing = [f for f in fragments if len(f) >= 4 and f not in source]
    assert not missing, f"docs/troubleshooting.md: {message!r}: not in src/vdictl: {missing}"


def test_exit_statuses_table_lists_every_code():
    page = (DOCS / "exit-statuses.md").read_text()
    documented = {name: int(code) for code, name in
                  re.findall(r"^\| (\d+) \| `([A-Z_]+)` \|", page, re.M)}
    defined = {name: value for name, value in vars(exit_codes).items()
               if name.isupper() and isinstance(value, int)}
    assert documented == defined


def json_examples():
    page = (DOCS / "output.md").read_text()
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", page, re.S)]


def test_json_examples_have_the_keys_vdictl_prints(tmp_path):
    from vdictl.cli.config_check import describe
    from vdictl.config.load import load_config
    from vdictl.ops.show import VmRow
    from vdictl.result import Outcome, Report, VmResult

    from vdictl.ops.template import TemplateResult

    from vdictl.cli.app import CliError, error_object
    from vdictl.errors import ConfigError

    error, rooms, report, template, show, check, status, preflight = json_examples()
    real = error_object(CliError("m", 2), ConfigError("m", file="f", section="s", key="k"))
    assert error["error"].keys() == real["error"].keys()
    assert isinstance(rooms, list)
    real = Report("reset", [VmResult("r", "r-01", "reset", Outcome.OK)]).to_dict()
    assert report.keys() == real.keys()
    assert report["results"][0].keys() == real["results"][0].keys()
    assert template.keys() == TemplateResult("template-create", "t").to_dict().keys()
    assert show.keys() == {"vms", "unused_keys", "warnings"}
    printed = VmRow(room="r", subsection="s", vm="r-01", ip=None, mac=None, state="absent",
                    owned=None, reset_snapshot=None).to_dict()
    assert show["vms"][0].keys() == printed.keys()
    conf = tmp_path / "c.conf"
    conf.write_text('[general]\n[[connect]]\nuri = "qemu:///system"\n'
                    '[room r]\n[[s]]\nids = 1\nnames = "r-${id}"\ntemplate_name = t\n')
    real = describe(load_config(str(conf)))
    assert check.keys() == real.keys()
    assert check["rooms"][0].keys() == real["rooms"][0].keys()
    assert check["rooms"][0]["vms"][0].keys() == real["rooms"][0]["vms"][0].keys()
    assert_status_keys(status, tmp_path)
    assert_preflight_keys(preflight, tmp_path)


def assert_preflight_keys(example, tmp_path):
    """The preflight example has the keys `vdictl preflight -o json` prints
    (here about an endpoint that cannot be reached)."""
    from vdictl.ops.preflight import Problem

    conf = write_config(tmp_path, '[general]\n[[connect]]\ndriver = libvirt\n'
                        'uri = "test:///nonexistent/node.xml"\n'
                        '[room r]\n[[s]]\nids = 1\nnames = "r-${id}"\ntemplate_name = t\n',
                        name="p.conf")
    real = json.loads(vdictl(conf, "preflight", "r", "-o", "json").stdout)
    assert example.keys() == real.keys()
    assert [p.keys() for p in example["problems"]] == [
        Problem("e", "r", "v", "w", "t").to_dict().keys()] * 2


def assert_status_keys(status, tmp_path):
    """The status example has the keys `vdictl status -o json` prints after a run."""
    from vdictl.records.history import RunRecord

    record = RunRecord(os.environ["VDICTL_STATE_DIR"], "reset", ["r"])  # tests/conftest.py
    record.start()
    record.finish(exit_status=0, status="success",
                  vms=[{"room": "r", "vm": "r-01", "outcome": "ok", "reason": ""}])
    conf = write_config(tmp_path, '[general]\n[[connect]]\nuri = "qemu:///system"\n'
                        '[room r]\n[[s]]\nids = 1\nnames = "r-${id}"\ntemplate_name = t\n'
                        'snapshot_description = s\nreset_to_snapshot_regex = s\n',
                        name="s.conf")
    real = json.loads(vdictl(conf, "status", "r", "-o", "json").stdout)
    assert status.keys() == real.keys()
    assert status["rooms"][0].keys() == real["rooms"][0].keys()
    assert status["rooms"][0]["runs"][0].keys() == real["rooms"][0]["runs"][0].keys()
    assert status["rooms"][0]["runs"][0]["counts"].keys() == \
        real["rooms"][0]["runs"][0]["counts"].keys()


def test_migration_worked_example_loads_and_checks_as_shown(tmp_path):
    page = (DOCS / "migrating.md").read_text()
    example = page[page.index("## Worked example"):]
    config = re.search(r"```ini\n(.*?)```", example, re.S).group(1)
    shown = textwrap.dedent(re.search(r"\n( *)```text\n(.*?)\n *```", example, re.S).group(2))
    command, *expected = shown.splitlines()
    assert command == "$ vdictl config check"
    path = write_config(tmp_path, config, name="amoothei-vm-rollout.conf")
    (tmp_path / "secrets").mkdir()  # as the page says: the password goes here, private
    (tmp_path / "secrets" / "engine.pw").write_text("s3cret\n")
    (tmp_path / "secrets" / "engine.pw").chmod(0o600)
    result = vdictl(path, "config", "check")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    scripttime = re.search(r"rendered as (\S+),", result.stdout).group(1)
    documented_time = re.search(r"rendered as (\S+),", shown).group(1)
    actual = (result.stdout.replace(str(path), "/etc/amoothei-vdi/amoothei-vm-rollout.conf")
              .replace(scripttime, documented_time))
    assert actual.splitlines() == expected
