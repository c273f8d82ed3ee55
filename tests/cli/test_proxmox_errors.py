"""What an operator sees when Proxmox VE cannot be used: a refused token or
password, an untrusted certificate, a secret that is not there. Each is one
line naming the URL and where the config gives it, exit status 3, and no
secret anywhere (terminal or log file)."""

from __future__ import annotations


import pytest

pytest.importorskip("proxmoxer")

from vdictl.cli import exit_codes  # noqa: E402

from tests.pve_driver import fast_pve_polls, token_file  # noqa: E402,F401
from tests.pve_driver import token_lines as token  # noqa: E402
from tests.vdictl_cli import vdictl, write_config  # noqa: E402

CONFIG = """\
[general]
    [[connect]]
    driver = proxmox
    url = "{url}"
    {credentials}
    {tls}
[logging]
    log_file = "{log_file}"
[room lab]
    template_name = tmpl-win10
    [[pcs]]
    ids = "1-2"
    names = "lab-pc${{id}}"
"""
WRONG = "00000000-0000-4000-8000-00000000dead"



def run(tmp_path, sim, credentials, tls, *args):
    log_file = tmp_path / "vdictl.log"
    config = write_config(tmp_path, CONFIG.format(url=sim.url, credentials=credentials,
                                                  tls=tls, log_file=log_file), mode=0o600)
    result = vdictl(config, *args)
    log_text = log_file.read_text() if log_file.exists() else ""
    return result, str(config), log_text


def assert_no_secret(result, log_text, *secrets):
    for secret in secrets:
        assert secret not in result.stdout + result.stderr + log_text
    assert "Traceback" not in result.stderr + log_text


@pytest.mark.parametrize("verbosity", [[], ["--debug"]])
def test_a_refused_token_is_one_line_without_the_secret(tmp_path, pve_api, verbosity):
    result, config, log_text = run(tmp_path, pve_api, token(pve_api, WRONG),
                                   f'ca_file = "{pve_api.ca_file}"', *verbosity,
                                   "virtroom-show", "lab")
    assert result.exit_code == exit_codes.UNREACHABLE == 3
    [line] = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    # Proxmox VE answers 401 "Authentication failed!" with an empty body
    # (pve-http-server), which proxmoxer reports as errors b''
    assert line == (f"Error: proxmox: login to {pve_api.url} ({config} [general/connect] url) "
                    f"as {pve_api.token_id} refused: Authentication failed! (wrong token id or "
                    "secret, or the token expired or was removed)")
    assert_no_secret(result, log_text, WRONG, pve_api.token_secret)


def test_a_refused_password_is_one_line_without_it(tmp_path, pve_api):
    result, config, log_text = run(tmp_path, pve_api,
                                   'username = "root@pam"\n    password = "Wr0ng-pw-xyz"',
                                   f'ca_file = "{pve_api.ca_file}"', "virtroom-show", "lab")
    assert result.exit_code == exit_codes.UNREACHABLE
    assert result.stderr.startswith(f"Error: proxmox: login to {pve_api.url} ({config} "
                                    "[general/connect] url) as root@pam refused: ")
    assert pve_api.logins == 0
    assert_no_secret(result, log_text, "Wr0ng-pw-xyz", pve_api.password)


def test_an_untrusted_certificate_says_what_to_write(tmp_path, pve_api):
    result, config, log_text = run(tmp_path, pve_api, token(pve_api), "",
                                   "virtroom-show", "lab")
    assert result.exit_code == exit_codes.UNREACHABLE
    assert result.stderr == (
        f"Error: proxmox: cannot connect to {pve_api.url} ({config} [general/connect] url): "
        "TLS certificate not trusted (certificate verify failed: unable to get local issuer "
        "certificate); set ca_file = the cluster's CA certificate (a copy of "
        "/etc/pve/pve-root-ca.pem from a node), or insecure = True for a test system\n")
    assert_no_secret(result, log_text, pve_api.token_secret)


def test_the_ca_file_verifies_and_one_request_logs_in(tmp_path, pve_api, request):
    request.getfixturevalue("fast_pve_polls")
    result, _, _ = run(tmp_path, pve_api, 'username = "root@pam"\n    password_file = '
                       f'"{token_file(pve_api.password)}"', f'ca_file = "{pve_api.ca_file}"',
                       "virtroom-show", "lab")
    assert result.exit_code == 0, result.stderr
    assert "lab-pc01" in result.stdout and "NOT verified" not in result.stderr
    assert pve_api.logins == 1


def test_a_missing_secret_variable_is_named(tmp_path, pve_api, monkeypatch):
    monkeypatch.delenv("PVE_TOKEN_SECRET", raising=False)
    result, config, _ = run(tmp_path, pve_api, f'token_id = "{pve_api.token_id}"\n    '
                            'token_secret_env = "PVE_TOKEN_SECRET"', "", "virtroom-show", "lab")
    assert result.exit_code == exit_codes.UNREACHABLE
    assert result.stderr == (
        f"Error: proxmox: cannot log in to {pve_api.url} ({config} [general/connect] url): "
        "the environment variable "
        "PVE_TOKEN_SECRET (token_secret_env) is not set or empty; export it with the API "
        "token's secret\n")


def test_seal_refused_by_proxmox_is_a_usage_error_not_an_outage(tmp_path, pve_api):
    # exit 3 would tell the operator the backend is down; it is up, and nothing changed
    before = sorted(v.name for v in list(pve_api.vms.values()))
    result, config, log_text = run(tmp_path, pve_api, token(pve_api),
                                   f'ca_file = "{pve_api.ca_file}"',
                                   "template-create", "tmpl-win10", "tmpl-new", "--seal")
    assert result.exit_code == exit_codes.USAGE == 2
    assert result.stderr == (
        "Error: proxmox: tmpl-new: Proxmox VE cannot seal a template; seal the guest itself "
        "(Windows: sysprep /generalize /oobe /shutdown; Linux: virt-sysprep on the stopped "
        "VM, or cloud-init clean and truncate /etc/machine-id), then run template-create "
        "without --seal\n")
    assert sorted(v.name for v in list(pve_api.vms.values())) == before
