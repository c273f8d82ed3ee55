"""Every case of the corpus through the real CLI: its exit status, one line
naming file, section and key, no traceback, no password, no code run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.vdictl_cli import vdictl, write_config

from .cases import CASES, SECRET, Case

BY_ID = {case.id: case for case in CASES}


def prepare(case: Case, tmp_path: Path):
    """Write the case's config; returns (config path, marker path)."""
    if case.needs_non_root and os.geteuid() == 0:
        pytest.skip("root can read any file")
    marker = tmp_path / "MARKER"
    path = write_config(tmp_path, case.config.replace("MARKER", str(marker)),
                        name="vdi-rollout.conf", mode=case.mode)
    if case.setup:
        case.setup(tmp_path, path)
    return path, marker


def check_error_line(case: Case, stderr: str, path: Path) -> None:
    """One line: Error: FILE[:LINE] [SECTION] KEY: MESSAGE."""
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {stderr!r}"
    prefix = r"Error: "
    if case.names_file and (case.section or case.key or case.text.startswith("missing")):
        prefix += re.escape(str(path)) + r"(:\d+)?"
        if case.section is not None:
            prefix += re.escape(f" [{case.section}]")
        if case.key is not None:
            prefix += re.escape(f" {case.key}")
        prefix += ": "
    assert re.match(prefix, lines[0]), f"{lines[0]!r} does not start with {prefix!r}"
    if case.names_file:
        assert str(path) in lines[0]
    assert case.text in lines[0]


def test_corpus_is_large_and_ids_are_unique():
    assert len(CASES) >= 40
    assert len(BY_ID) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_through_the_cli(case: Case, tmp_path):
    path, marker = prepare(case, tmp_path)
    result = vdictl(path, *case.args)

    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code == case.exit, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    check_error_line(case, result.stderr, path)
    assert SECRET not in result.output
    assert not marker.exists(), "injected code ran"


#: The nastiest cases once more as a real process: nothing but the line on stderr.
SUBPROCESS_CASES = ("ids-import-os", "memory-deep-unary", "jinja-lipsum-globals",
                    "jinja-loop-bomb", "regex-lookahead", "name-huge", "not-utf8",
                    "password-line-without-equals", "password-file-missing", "unknown-room",
                    "key-typo-snapshot-description", "single-bracket-subsection")


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_case_in_a_process(case_id, tmp_path):
    case = BY_ID[case_id]
    path, marker = prepare(case, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", "from vdictl.cli import main; main()",
         "--config", str(path), *case.args],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)

    assert proc.returncode == case.exit, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    check_error_line(case, proc.stderr, path)
    assert SECRET not in proc.stderr
    assert not marker.exists()


#: The guard rails of issue 12: every command that reads the whole file refuses them.
GUARD_CASES = ("memory-2048-bytes", "memory-64-bytes", "key-typo-snapshot-description",
               "key-in-the-wrong-section", "single-bracket-subsection",
               "regex-without-snapshot-description", "regex-misses-its-description",
               "ip-twice", "ids-unknown-form")
READING_COMMANDS = (
    ("config", "check"), ("rooms", "--resettable"), ("rooms", "--stateless"),
    ("virtroom-show", "--all"), ("virtroom-reset", "--all"), ("virtroom-start", "--all"),
    ("virtroom-shutdown", "--all"), ("virtroom-rollout", "r1"), ("virtroom-delete", "--yes", "r1"),
    ("virtroom-rebuild", "r1"), ("template-create", "vm", "tmpl2"),
    ("template-delete", "--yes", "tmpl"))


@pytest.mark.parametrize("case_id", GUARD_CASES)
def test_guard_rail_refused_by_every_command_that_reads_the_file(case_id, tmp_path):
    case = BY_ID[case_id]
    path, _ = prepare(case, tmp_path)
    for args in READING_COMMANDS:
        result = vdictl(path, *args)
        assert (result.exit_code, result.stdout) == (2, ""), (args, result.output)
        check_error_line(case, result.stderr, path)


def test_missing_config_file(tmp_path):
    path = tmp_path / "nosuch.conf"
    result = vdictl(path, "rooms")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {path}: config file given with --config does not "
                             "exist or is not a file\n")


def test_click_usage_errors_exit_2_without_traceback(tmp_path):
    path, _ = prepare(BY_ID["unknown-room"], tmp_path)
    for args in (["virtroom-show", "--output", "yaml", "r1"], ["virtroom-reboot"],
                 ["--no-such-option", "rooms"]):
        result = vdictl(path, *args)
        assert result.exit_code == 2, args
        assert "Traceback" not in result.output
        assert [l for l in result.stderr.splitlines() if l.startswith("Error: ")], args
