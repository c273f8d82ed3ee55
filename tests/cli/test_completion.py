"""Shell completion through click's protocol, as bash runs it: the installed `vdictl`
with _VDICTL_COMPLETE, COMP_WORDS and COMP_CWORD in its environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

VDICTL = Path(sys.executable).parent / "vdictl"
EXAMPLE = Path(__file__).resolve().parents[2] / "etc" / "vdi-rollout.conf.example"


def complete(words: str, **env) -> list:
    """The completions bash would offer for the last word of `words`."""
    assert VDICTL.exists(), f"no vdictl entry point at {VDICTL}"
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    environ = {k: v for k, v in os.environ.items() if k != "VDICTL_CONFIG"}
    environ.update(_VDICTL_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=str(cword),
                   HOME=env.pop("HOME", environ.get("HOME", "/nonexistent")), **env)
    result = subprocess.run([str(VDICTL)], env=environ, capture_output=True, text=True,
                            timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def test_commands_and_subcommands():
    assert set(complete("vdictl virtroom-")) >= {
        "virtroom-rollout", "virtroom-reset", "virtroom-start", "virtroom-shutdown",
        "virtroom-delete", "virtroom-show"}
    assert complete("vdictl con") == ["config"]
    assert complete("vdictl config ") == ["check"]


def test_options_of_a_command():
    assert set(complete("vdictl virtroom-reset --")) >= {
        "--all", "--dry-run", "--adopt", "--output", "--help"}
    assert complete("vdictl virtroom-reset --output ") == ["table", "json"]


@pytest.mark.parametrize("how", ["--config", "-c", "env"])
def test_room_names_come_from_the_config_named(how):
    if how == "env":
        assert complete("vdictl virtroom-reset ", VDICTL_CONFIG=str(EXAMPLE)) == ["demo", "kiosk"]
    else:
        assert complete(f"vdictl {how} {EXAMPLE} virtroom-start ") == ["demo", "kiosk"]
    assert complete(f"vdictl -c {EXAMPLE} virtroom-show k") == ["kiosk"]


def test_rooms_already_given_are_not_offered_again():
    assert complete(f"vdictl -c {EXAMPLE} virtroom-reset demo ") == ["kiosk"]


def test_a_missing_or_broken_config_completes_nothing_silently(tmp_path):
    assert complete(f"vdictl -c {tmp_path / 'missing.conf'} virtroom-reset ") == []
    broken = tmp_path / "broken.conf"
    broken.write_text("[general]\n[[connect]]\n")
    assert complete(f"vdictl -c {broken} virtroom-reset ") == []


def test_bash_script_is_generated():
    env = {k: v for k, v in os.environ.items() if k != "VDICTL_CONFIG"}
    result = subprocess.run([str(VDICTL)], env=dict(env, _VDICTL_COMPLETE="bash_source"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "complete -o nosort -F _vdictl_completion vdictl" in result.stdout


def test_vm_names_complete_for_the_rooms_given():
    assert complete(f"vdictl -c {EXAMPLE} virtroom-reset --vm ") == [
        "demo-vd01", "demo-vd02", "demo-vd03", "demo-teacher01", "kiosk-01", "kiosk-02"]
    assert complete(f"vdictl -c {EXAMPLE} virtroom-reset kiosk --vm ") == [
        "kiosk-01", "kiosk-02"]
    assert complete(f"vdictl -c {EXAMPLE} virtroom-delete --vm demo-vd02 --vm demo-") == [
        "demo-vd01", "demo-vd03", "demo-teacher01"]
    for command in ("virtroom-rollout", "virtroom-start", "virtroom-shutdown", "virtroom-show",
                    "virtroom-rebuild"):
        assert complete(f"vdictl -c {EXAMPLE} {command} --vm kiosk-0") == [
            "kiosk-01", "kiosk-02"], command


def test_vm_names_of_a_broken_config_complete_nothing_silently(tmp_path):
    broken = tmp_path / "broken.conf"
    broken.write_text("[general]\n[[connect]]\n")
    assert complete(f"vdictl -c {broken} virtroom-reset --vm ") == []
