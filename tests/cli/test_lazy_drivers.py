"""SDKs load only when their driver is used; a missing one names the extra."""

from __future__ import annotations

import subprocess
import sys

# Runs vdictl in a fresh interpreter where the SDK modules cannot be imported.
RUNNER = """
import sys
sys.modules["libvirt"] = None
sys.modules["ovirtsdk4"] = None
sys.modules["proxmoxer"] = None
sys.argv = ["vdictl"] + sys.argv[1:]
from vdictl.cli import main
main()
"""


def vdictl_without_sdks(*args):
    return subprocess.run([sys.executable, "-c", RUNNER, *args], capture_output=True,
                          text=True, timeout=60)


def test_help_works_without_any_sdk():
    result = vdictl_without_sdks("--help")
    assert result.returncode == 0
    assert "virtroom-reset" in result.stdout


def test_help_and_rooms_do_not_import_an_sdk(config_file):
    code = ("import sys; sys.argv=['vdictl','--config',sys.argv[1],'rooms'];"
            "from vdictl.cli import cli\n"
            "try:\n cli()\nexcept SystemExit: pass\n"
            "print(sorted(m for m in ('libvirt','ovirtsdk4','proxmoxer') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, config_file], capture_output=True,
                            text=True, timeout=60)
    assert result.stdout.splitlines() == ["lab1", "kiosk", "[]"]


def test_missing_sdk_names_the_extra(config_file):
    result = vdictl_without_sdks("--config", config_file, "virtroom-start", "lab1")
    assert result.returncode == 4
    assert result.stderr == ("Error: the libvirt driver needs the Python module 'libvirt': "
                             "pip install 'vdictl[libvirt]'\n")


PROXMOX_CONFIG = """\
[general]
    [[connect]]
    driver = proxmox
    url = "https://pve1.example.org:8006"
    token_id = "vdictl@pve!rooms"
    token_secret_env = "PVE_TOKEN_SECRET"
[room lab]
    template_name = tmpl-win10
    [[pcs]]
    ids = "1-2"
    names = "lab-pc${id}"
"""


def test_missing_proxmoxer_names_the_proxmox_extra(tmp_path):
    from tests.vdictl_cli import write_config

    config = write_config(tmp_path, PROXMOX_CONFIG)
    result = vdictl_without_sdks("--config", str(config), "virtroom-start", "lab")
    assert result.returncode == 4
    assert result.stderr == ("Error: the proxmox driver needs the Python module 'proxmoxer': "
                             "pip install 'vdictl[proxmox]'\n")


def test_the_registry_names_the_proxmox_driver_and_its_extra():
    from vdictl.drivers import DRIVERS

    assert DRIVERS["proxmox"] == ("vdictl.drivers.proxmox", "ProxmoxDriver", "proxmox")


def test_a_driver_loads_no_tls_module_until_the_preflight_reads_a_certificate():
    """The drivers' base names where an endpoint's certificate is (the
    preflight's TLS check) without loading ssl and socket: a libvirt run on
    this machine never needs them (the preflight's probe loads them)."""
    code = ("import sys; import vdictl.drivers.libvirt.driver, vdictl.drivers.base\n"
            "print(sorted(m for m in ('ssl', 'socket', 'vdictl.drivers.tls_probe') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.splitlines() == ["[]"], result.stderr
