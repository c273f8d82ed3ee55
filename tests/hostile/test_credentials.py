"""Secrets from systemd credentials: password_credential and
token_secret_credential name a file in $CREDENTIALS_DIRECTORY, which systemd
fills for a unit with LoadCredential=NAME:/path. The test makes the
directory as systemd does (root's, the file mode 0440) and points the
variable at it; the real CLI then logs in to the simulators with it."""

from __future__ import annotations


import pytest

from tests.vdictl_cli import vdictl, write_config

OVIRT = """\
[general]
    [[connect]]
    url = {url}
    username = {username}
    {secret}
[room r1]
    [[pcs]]
    ids = 1
    names = "${{roomname}}-pc${{id}}"
    template_name = tmpl-win10
    cluster = Default
"""



@pytest.fixture
def credentials(tmp_path, monkeypatch):
    """A credentials directory as systemd makes it, named by $CREDENTIALS_DIRECTORY;
    `credentials(name, secret)` puts a credential in it."""
    directory = tmp_path / "credentials"
    directory.mkdir(mode=0o500)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(directory))

    def add(name: str, secret: str):
        path = directory / name
        path.write_text(secret + "\n")
        path.chmod(0o440)   # 0400 plus the ACL's mask for the unit's user
        return path

    return add


def ovirt_config(tmp_path, sim, secret_line):
    return write_config(tmp_path, OVIRT.format(url=sim.url, username=sim.username,
                                               secret=secret_line), mode=0o600)


def test_the_ovirt_password_comes_from_the_credential(tmp_path, ovirt_engine_factory,
                                                      credentials):
    sim = ovirt_engine_factory(password="from-systemd")
    credentials("ovirt-password", "from-systemd")
    config = ovirt_config(tmp_path, sim, "password_credential = ovirt-password")
    result = vdictl(config, "virtroom-show", "r1")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""          # mode 0440 is systemd's: no "readable by group"
    # a wrong secret in the credential is what the engine refuses: it was read
    credentials("other", "not-the-password")
    config = ovirt_config(tmp_path, sim, "password_credential = other")
    result = vdictl(config, "virtroom-show", "r1")
    assert result.exit_code == 3
    assert "not-the-password" not in result.output


def test_the_proxmox_token_secret_comes_from_the_credential(tmp_path, pve_api, credentials):
    credentials("pve-token", pve_api.token_secret)
    config = write_config(tmp_path, f"""\
[general]
    [[connect]]
    driver = proxmox
    url = "{pve_api.url}"
    token_id = "{pve_api.token_id}"
    token_secret_credential = pve-token
    ca_file = "{pve_api.ca_file}"
[room lab]
    template_name = tmpl-win10
    [[pcs]]
    ids = 1
    names = "lab-pc${{id}}"
""", mode=0o600)
    result = vdictl(config, "virtroom-show", "lab")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_a_missing_credentials_directory_says_what_to_add_to_the_unit(tmp_path, monkeypatch,
                                                                    ovirt_engine):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    config = ovirt_config(tmp_path, ovirt_engine, "password_credential = ovirt-password")
    result = vdictl(config, "virtroom-show", "r1")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {config} [general/connect] password_credential: $CREDENTIALS_DIRECTORY is "
        "not set, so there is no systemd credential ovirt-password; run vdictl from a unit "
        "with LoadCredential=ovirt-password:/etc/vdictl/ovirt-password in its [Service] "
        "section (see cron/vdictl-reset.service)\n")
    # config check in a shell, outside the unit: nothing to warn about
    result = vdictl(config, "config", "check")
    assert (result.exit_code, result.stderr) == (0, "")


def test_a_missing_credential_says_what_to_add_to_the_unit(tmp_path, ovirt_engine,
                                                           credentials):
    credentials("another", "x")
    config = ovirt_config(tmp_path, ovirt_engine, "password_credential = ovirt-password")
    directory = tmp_path / "credentials"
    line = (f"{config} [general/connect] password_credential: systemd credential "
            f"ovirt-password is not in $CREDENTIALS_DIRECTORY ({directory}); add "
            "LoadCredential=ovirt-password:/etc/vdictl/ovirt-password to the unit's "
            "[Service] section")
    result = vdictl(config, "virtroom-show", "r1")
    assert (result.exit_code, result.stderr) == (2, f"Error: {line}\n")
    result = vdictl(config, "config", "check")
    assert (result.exit_code, result.stderr) == (0, f"warning: {line}\n")


@pytest.mark.parametrize("secret_lines, key, message", [
    (("password_file = /etc/vdictl/engine.pw", "password_credential = ovirt-password"),
     "password_credential", "set password_file or password_credential, not both"),
    (("password = x", "password_file = /etc/vdictl/engine.pw",
      "password_credential = ovirt-password"),
     "password_credential", "set one of password, password_file and password_credential"),
    (("password_credential = ../engine.pw",), "password_credential",
     "'../engine.pw' is not a systemd credential's name; write the NAME of "
     "LoadCredential=NAME:/path in the unit, e.g. ovirt-password"),
])
def test_credential_mistakes_are_one_line(tmp_path, secret_lines, key, message):
    config = write_config(tmp_path, OVIRT.format(
        url="https://engine.example.org/ovirt-engine/api", username="admin@internal",
        secret="\n    ".join(secret_lines)), mode=0o600)
    result = vdictl(config, "config", "check")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {config} [general/connect] {key}: {message}\n"
