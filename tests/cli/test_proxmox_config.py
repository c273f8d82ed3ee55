"""The proxmox driver's config keys through the real CLI: each mistake is one
line naming the file, section and key, and what to write (exit 2)."""

from __future__ import annotations

import pytest

from tests.vdictl_cli import vdictl, write_config

CONNECT = """\
[general]
    [[connect]]
    driver = proxmox
    url = "https://pve1.example.org:8006"
{connect}
[room lab]
    template_name = tmpl-win10
{room}
    [[pcs]]
    ids = "1-2"
    names = "lab-pc${{id}}"
"""
TOKEN = 'token_id = "vdictl@pve!rooms"\ntoken_secret_env = "PVE_TOKEN_SECRET"'


def check(tmp_path, connect=TOKEN, room=""):
    config = write_config(tmp_path, CONNECT.format(connect=connect, room=room))
    return vdictl(config, "config", "check"), str(config)


@pytest.mark.parametrize("connect, key, message", [
    ("", "token_id",
     "the proxmox driver needs credentials: token_id = user@realm!tokenid with "
     "token_secret_file (or token_secret_env or token_secret_credential), or username = "
     "user@realm with password_file"),
    ('username = "root@pam"', "token_id",
     "the proxmox driver needs credentials: token_id = user@realm!tokenid with "
     "token_secret_file (or token_secret_env or token_secret_credential), or username = "
     "user@realm with password_file"),
    ('password = "x"', "username",
     "the proxmox driver needs credentials: token_id = user@realm!tokenid with "
     "token_secret_file (or token_secret_env or token_secret_credential), or username = "
     "user@realm with password_file"),
    (TOKEN + '\npassword = "x"', "token_id",
     "set token_id or a password, not both (the token is preferred: remove password, "
     "password_file and password_credential)"),
    ('token_id = "vdictl@pve"\ntoken_secret_env = "S"', "token_id",
     "'vdictl@pve' is not an API token id; write user@realm!tokenid, e.g. vdictl@pve!rooms"),
    ('token_id = "rooms!tok"\ntoken_secret_env = "S"', "token_id",
     "'rooms!tok' is not an API token id; write user@realm!tokenid, e.g. vdictl@pve!rooms"),
    ('token_id = "vdictl@pve!rooms"', "token_secret_file",
     "token_id needs its secret from exactly one of token_secret_file (a file whose first "
     "line is the secret), token_secret_env (an environment variable's name) and "
     "token_secret_credential (a systemd credential's name)"),
    (TOKEN + '\ntoken_secret_file = "/etc/vdictl/pve.token"', "token_secret_env",
     "token_id needs its secret from exactly one of token_secret_file (a file whose first "
     "line is the secret), token_secret_env (an environment variable's name) and "
     "token_secret_credential (a systemd credential's name)"),
    ('token_secret_env = "S"\nusername = "root@pam"\npassword = "x"', "token_secret_env",
     "token_secret_env without token_id; add token_id = user@realm!tokenid"),
    (TOKEN + '\npool = "default"', "pool",
     "pool is libvirt's storage pool; the Proxmox VE resource pool is written under "
     "[room NAME] or [[subsection]]: move it there"),
])
def test_credential_mistakes_are_one_line(tmp_path, connect, key, message):
    result, path = check(tmp_path, connect)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path} [general/connect] {key}: {message}\n"


def test_url_is_required(tmp_path):
    config = write_config(tmp_path, CONNECT.format(connect=TOKEN, room="").replace(
        '    url = "https://pve1.example.org:8006"\n', ""))
    result = vdictl(config, "config", "check")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {config} [general/connect] url: the proxmox driver "
                             'needs url, e.g. url = "https://pve1.example.org:8006"\n')


def test_token_keys_on_another_driver_are_an_error(tmp_path):
    config = write_config(tmp_path, CONNECT.format(connect=TOKEN, room="").replace(
        "driver = proxmox", "driver = ovirt"))
    result = vdictl(config, "config", "check")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {config} [general/connect] token_id: token_id is for "
                             "the proxmox driver; this connect section uses ovirt: remove "
                             "it, or write driver = proxmox\n")


def test_proxmox_room_keys_on_another_driver_are_an_error(tmp_path):
    config = write_config(tmp_path, CONNECT.format(connect=TOKEN, room="    node = pve2")
                          .replace("driver = proxmox", "driver = ovirt")
                          .replace(TOKEN, 'username = "a@internal"\npassword = "x"'))
    result = vdictl(config, "config", "check")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {config} [room lab] node: node is for the proxmox "
                             "driver; these VMs use ovirt: remove it\n")


def test_a_valid_proxmox_config_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("PVE_TOKEN_SECRET", "s3cret")
    result, _ = check(tmp_path, room="    node = pve2\n    storage = local-lvm\n"
                                     "    pool = lab\n    iso_storage = shared-nfs")
    assert result.exit_code == 0, result.stderr
    assert "s3cret" not in result.stdout + result.stderr


def test_console_probe_false_loads_on_proxmox_and_defaults_to_true(tmp_path, monkeypatch):
    from vdictl.config.load import load_config

    monkeypatch.setenv("PVE_TOKEN_SECRET", "s3cret")
    result, path = check(tmp_path, TOKEN + "\nconsole_probe = False")
    assert (result.exit_code, result.stderr) == (0, "")
    assert load_config(path).connect.console_probe is False
    _, path = check(tmp_path, TOKEN)          # the same file, without the key
    assert load_config(path).connect.console_probe is True


def test_connect_repr_shows_no_secret_source():
    from vdictl.config.rooms import Connect
    text = repr(Connect(driver="proxmox", url="https://p:8006", token_id="a@pve!t",
                        token_secret_file="/etc/x", password="pw"))
    assert "pw" not in text and "/etc/x" not in text and "a@pve!t" in text
