"""A password others may read gets a warning (an error with
--strict-permissions); TLS verification stays on unless insecure = True."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vdictl.config.load import load_config
from vdictl.config.secrets import check_secret_files
from vdictl.errors import ConfigError

from tests import vdictl_cli
from tests.vdictl_cli import vdictl

PASSWORD = "Perm-S3cret-0815"

ROOM = """\
[room r1]
    snapshot_description = "golden"
    reset_to_snapshot_regex = "^golden$"
    [[pcs]]
    ids = 1
    names = "${roomname}-pc${id}"
    template_name = tmpl-win10
"""


def write_config(tmp_path: Path, *connect_lines: str, mode: int = 0o600,
                 url: str = "https://engine.example.org/ovirt-engine/api") -> Path:
    """An oVirt config as admin@internal (the simulator's user)."""
    lines = "".join(f"    {line}\n" for line in
                    (f"url = {url}", "username = admin@internal", *connect_lines))
    return vdictl_cli.write_config(tmp_path, f"[general]\n    [[connect]]\n{lines}{ROOM}",
                                   mode=mode)


def write_password_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "engine.pw"
    path.write_text(PASSWORD + "\n")
    path.chmod(mode)
    return path


def rooms(path: Path, *options: str):
    """`rooms --resettable`: it reads the whole file and connects to nothing."""
    return vdictl(path, "rooms", "--resettable", options=options)


# --- the config file holds the password ---------------------------------------

@pytest.mark.parametrize("mode, who", [(0o644, "group and others"), (0o640, "group"),
                                       (0o604, "others")])
def test_readable_config_with_password_warns(tmp_path, mode, who):
    path = write_config(tmp_path, f"password = {PASSWORD}", mode=mode)
    result = rooms(path)
    assert result.exit_code == 0
    assert result.stdout == "r1\n"
    assert result.stderr == (
        f"warning: {path} [general/connect] password: the config file holds a password "
        f"and is readable by {who} (mode {mode:04o}); run: chmod 600 {path}\n")
    assert PASSWORD not in result.output


def test_readable_config_with_password_is_an_error_when_strict(tmp_path):
    path = write_config(tmp_path, f"password = {PASSWORD}", mode=0o640)
    result = rooms(path, "--strict-permissions")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: {path} [general/connect] password: the config file holds a password and "
        f"is readable by group (mode 0640); run: chmod 600 {path} (--strict-permissions)\n")


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_private_config_with_password_is_quiet(tmp_path, mode):
    path = write_config(tmp_path, f"password = {PASSWORD}", mode=mode)
    for options in ((), ("--strict-permissions",)):
        result = rooms(path, *options)
        assert (result.exit_code, result.stdout, result.stderr) == (0, "r1\n", "")


def test_readable_config_without_password_is_quiet(tmp_path):
    write_password_file(tmp_path, 0o600)
    path = write_config(tmp_path, "password_file = engine.pw", mode=0o644)
    result = rooms(path, "--strict-permissions")
    assert (result.exit_code, result.stderr) == (0, "")


# --- password_file ---------------------------------------------------------------

def test_readable_password_file_warns_and_strict_refuses(tmp_path):
    secret = write_password_file(tmp_path, 0o644)
    path = write_config(tmp_path, "password_file = engine.pw")
    expected = (f"{path} [general/connect] password_file: password file {secret} is "
                f"readable by group and others (mode 0644); run: chmod 600 {secret}")

    result = rooms(path)
    assert (result.exit_code, result.stdout) == (0, "r1\n")
    assert result.stderr == f"warning: {expected}\n"

    result = rooms(path, "--strict-permissions")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {expected} (--strict-permissions)\n"


def test_check_secret_files_returns_warnings_and_raises_when_strict(tmp_path):
    write_password_file(tmp_path, 0o640)
    config = load_config(str(write_config(tmp_path, "password_file = engine.pw")))
    assert [w.split(": ", 1)[1] for w in check_secret_files(config)] == [
        f"password file {tmp_path / 'engine.pw'} is readable by group (mode 0640); "
        f"run: chmod 600 {tmp_path / 'engine.pw'}"]
    with pytest.raises(ConfigError) as info:
        check_secret_files(config, strict=True)
    assert (info.value.section, info.value.key) == ("general/connect", "password_file")
    (tmp_path / "engine.pw").chmod(0o600)
    assert check_secret_files(config, strict=True) == []


def test_missing_password_file_is_a_config_error_for_every_command_that_connects(tmp_path):
    path = write_config(tmp_path, "password_file = nosuch.pw")
    problem = (f"{path} [general/connect] password_file: password file "
               f"{tmp_path / 'nosuch.pw'} does not exist or is not a file")
    for command in (["virtroom-show", "r1"], ["virtroom-reset", "--all"]):
        result = vdictl(path, *command)
        assert result.exit_code == 2, command
        assert result.stderr == f"Error: {problem}\n"
    # listing rooms connects to nothing: it warns, as config check does
    result = rooms(path)
    assert result.exit_code == 0
    assert result.stdout == "r1\n"
    assert result.stderr == f"warning: {problem}\n"


# --- TLS -------------------------------------------------------------------------

@pytest.mark.parametrize("lines, insecure", [
    ((), False),
    (("insecure = False",), False),
    (("validate_cert_chain = False",), False),     # an oVirt SDK 3 key vdictl ignores
    (("insecure = True",), True),
    (("insecure = yes",), True),
])
def test_insecure_only_when_written(tmp_path, lines, insecure):
    config = load_config(str(write_config(tmp_path, *lines)))
    assert config.connect.insecure is insecure


def test_the_sdk_connection_verifies_tls_by_default(tmp_path, ovirt_engine):
    """What vdictl hands to ovirtsdk4: insecure=False and the configured CA file."""
    from vdictl.drivers.ovirt.pool import ConnectionPool

    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("-----BEGIN CERTIFICATE-----\n")
    path = write_config(tmp_path, f"password = {ovirt_engine.password}",
                        f"ca_file = {ca_file.name}", url=ovirt_engine.url)
    connect = load_config(str(path)).connect
    pool = ConnectionPool(connect, ovirt_engine.url, size=1)
    pool.open()
    try:
        with pool.lease() as conn:
            assert conn._insecure is False
            assert conn._ca_file == str(ca_file)
    finally:
        pool.close()


def _show_in_a_process(tmp_path: Path, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from vdictl.cli import main; main()", "--config", str(path),
         "virtroom-show", "r1"], capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_insecure_true_prints_a_warning(tmp_path, ovirt_engine):
    path = write_config(tmp_path, f"password = {ovirt_engine.password}", "insecure = True",
                        url=ovirt_engine.url)
    proc = _show_in_a_process(tmp_path, path)
    assert proc.returncode == 0, proc.stderr
    assert f"TLS certificate of {ovirt_engine.url} is NOT verified (insecure = True)" \
        in proc.stderr

    path.write_text(path.read_text().replace("insecure = True\n", ""))
    proc = _show_in_a_process(tmp_path, path)
    assert proc.returncode == 0, proc.stderr
    assert "NOT verified" not in proc.stderr
