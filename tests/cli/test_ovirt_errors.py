"""What an operator sees when the engine cannot be used: wrong credentials,
an engine that does not answer, and TLS that does not verify.

Each case is one line on stderr naming the URL, a documented exit status,
and the password nowhere: not on the terminal (also with --debug), not in
the log file.
"""

from __future__ import annotations

import socket

import pytest

pytest.importorskip("ovirtsdk4")

from vdictl.cli import exit_codes  # noqa: E402

from tests.vdictl_cli import vdictl, write_config  # noqa: E402

PASSWORD = "Corr3ct-H0rse-Battery"

CONFIG = """\
[general]
    [[connect]]
    url = "{url}"
    username = "admin@internal"
    password_file = "{password_file}"
    {tls}

[logging]
    log_file = "{log_file}"

[room lab]
    template_name = tmpl-win10
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "vdictl rollout"
    [[pcs]]
    ids = "1-2"
    names = "lab-pc${{id}}"
"""



def run(tmp_path, url, *args, password=PASSWORD, tls=""):
    password_file = tmp_path / "engine.pass"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    log_file = tmp_path / "vdictl.log"
    config = write_config(tmp_path, CONFIG.format(url=url, password_file=password_file, tls=tls,
                                                  log_file=log_file))
    result = vdictl(config, *args)
    log_text = log_file.read_text() if log_file.exists() else ""
    return result, log_text


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


def assert_no_secret(result, log_text, *secrets):
    for secret in secrets:
        assert secret not in result.stdout
        assert secret not in result.stderr
        assert secret not in log_text
    assert "Traceback" not in result.stderr + log_text


@pytest.mark.parametrize("verbosity", [[], ["-vv"], ["--debug"]])
def test_wrong_credentials_exit_3_with_one_line_and_no_password(tmp_path, ovirt_engine,
                                                                 verbosity):
    wrong = "Wr0ng-Guess-" + "x" * 8
    result, log_text = run(tmp_path, ovirt_engine.url, *verbosity, "virtroom-show", "lab",
                           password=wrong)
    assert result.exit_code == exit_codes.UNREACHABLE
    [line] = error_lines(result)
    assert line.startswith(f"Error: ovirt: login to {ovirt_engine.url} ({tmp_path}/vdi.conf "
                           f"[general/connect] url) as admin@internal refused: ")
    assert "username or password is incorrect" in line
    assert_no_secret(result, log_text, wrong, ovirt_engine.password)
    if verbosity:  # the debug output is there, the password is not
        assert "DEBUG" in result.stderr


def test_unreachable_engine_is_one_line_naming_the_url(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/ovirt-engine/api"
    result, log_text = run(tmp_path, url, "-vv", "virtroom-reset", "lab",
                           tls="endpoint_timeout = 2")
    assert result.exit_code == exit_codes.UNREACHABLE
    [line] = error_lines(result)
    assert line.startswith(f"Error: ovirt: cannot connect to {url} "
                           f"({tmp_path}/vdi.conf [general/connect] url): ")
    # tried again with backoff for endpoint_timeout, then given up
    assert line.endswith("Could not connect to server (tried for 2s: endpoint_timeout)")
    assert_no_secret(result, log_text, PASSWORD)


def test_tls_verified_against_the_configured_ca(tmp_path, ovirt_engine_tls):
    result, log_text = run(tmp_path, ovirt_engine_tls.url, "virtroom-show", "lab",
                           password=ovirt_engine_tls.password,
                           tls=f'ca_file = "{ovirt_engine_tls.ca_file}"')
    assert result.exit_code == 0, result.stderr
    assert "lab-pc01" in result.stdout and "absent" in result.stdout
    assert "NOT verified" not in result.stderr
    assert ovirt_engine_tls.sso_logins == 1


def test_tls_failure_without_the_ca_is_one_line_naming_the_url(tmp_path, ovirt_engine_tls):
    result, log_text = run(tmp_path, ovirt_engine_tls.url, "--debug", "virtroom-show", "lab",
                           password=ovirt_engine_tls.password)
    assert result.exit_code == exit_codes.UNREACHABLE
    [line] = error_lines(result)
    assert line.startswith(f"Error: ovirt: cannot connect to {ovirt_engine_tls.url} "
                           f"({tmp_path}/vdi.conf [general/connect] url): ")
    assert "certificate" in line.lower()
    assert ovirt_engine_tls.sso_logins == 0  # the password never left the machine
    assert_no_secret(result, log_text, ovirt_engine_tls.password)


def test_insecure_must_be_written_and_warns(tmp_path, ovirt_engine_tls, monkeypatch):
    from vdictl.drivers.ovirt import pool

    # the warning is printed once per process; earlier tests may have used it up
    monkeypatch.setattr(pool, "insecure_warning", pool.Once())
    result, _ = run(tmp_path, ovirt_engine_tls.url, "virtroom-show", "lab",
                    password=ovirt_engine_tls.password, tls="insecure = True")
    assert result.exit_code == 0, result.stderr
    assert f"TLS certificate of {ovirt_engine_tls.url} is NOT verified" in result.stderr
