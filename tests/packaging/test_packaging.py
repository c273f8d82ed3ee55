"""Packaging: `python -m build` makes a wheel and an sdist, and the wheel installed
with pipx (as an operator would, with the oVirt extra) gives a working `vdictl`.

Slow-ish (about 30 s): the build runs in an isolated environment and pipx
creates a fresh virtualenv; the oVirt SDK's wheel comes from pip's cache,
filled by scripts/install-deps.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import vdictl

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "etc" / "vdi-rollout.conf.example"
VERSION = vdictl.__version__


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out


def test_build_makes_a_wheel_and_an_sdist_of_this_version(dist):
    wheel = dist / f"vdictl-{VERSION}-py3-none-any.whl"
    sdist = dist / f"vdictl-{VERSION}.tar.gz"
    assert sorted(p.name for p in dist.iterdir()) == sorted([wheel.name, sdist.name])
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(f"vdictl-{VERSION}.dist-info/METADATA").decode()
        entry_points = zf.read(f"vdictl-{VERSION}.dist-info/entry_points.txt").decode()
    assert "vdictl/cli/config_check.py" in names and "vdictl/drivers/ovirt/driver.py" in names
    assert f"vdictl-{VERSION}.data/data/share/man/man1/vdictl.1" in names
    assert not any(n.startswith("tests/") for n in names)
    assert f"\nVersion: {VERSION}\n" in metadata
    assert "Provides-Extra: ovirt" in metadata
    assert "vdictl = vdictl.cli:main" in entry_points
    with tarfile.open(sdist) as tf:
        shipped = set(tf.getnames())
    for path in ("pyproject.toml", "etc/vdi-rollout.conf.example", "cron/vdictl-reset.timer",
                 "cron/vdictl-reset-virtrooms", "docs/man/vdictl.1", "docs/guide.md"):
        assert f"vdictl-{VERSION}/{path}" in shipped, path


def test_version_is_written_in_one_place():
    """pyproject.toml reads it from vdictl.__version__; nothing else spells it out."""
    assert re.search(r'^dynamic = \["version"\]$', (REPO / "pyproject.toml").read_text(), re.M)
    spelled = [str(p.relative_to(REPO)) for p in sorted((REPO / "src").rglob("*.py"))
               if re.search(rf"['\"]{re.escape(VERSION)}['\"]", p.read_text())]
    assert spelled == ["src/vdictl/__init__.py"]


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory):
    """`pipx install 'vdictl-X-py3-none-any.whl[ovirt]'` into a private PIPX_HOME."""
    root = tmp_path_factory.mktemp("pipx")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIPX_", "VIRTUAL_ENV", "PYTHON", "VDICTL_"))}
    env.update(PIPX_HOME=str(root / "home"), PIPX_BIN_DIR=str(root / "bin"),
               PIPX_MAN_DIR=str(root / "man"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    wheel = dist / f"vdictl-{VERSION}-py3-none-any.whl"
    result = subprocess.run([sys.executable, "-m", "pipx", "install", f"{wheel}[ovirt]"],
                            capture_output=True, text=True, env=env, timeout=600,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    vdictl_bin = root / "bin" / "vdictl"
    assert vdictl_bin.exists()

    def run(*args, config=None):
        run_env = dict(env, **({"VDICTL_CONFIG": str(config)} if config else {}))
        return subprocess.run([str(vdictl_bin), *args], capture_output=True, text=True,
                              env=run_env, timeout=120, cwd=root)

    run.venv = root / "home" / "venvs" / "vdictl"
    run.man_dir = root / "man"
    return run


def man(*args, manpath):
    """`man` as an operator runs it, with `manpath` as the only place to look."""
    env = dict(os.environ, MANPATH=str(manpath), MANWIDTH="80", MANPAGER="cat", PAGER="cat")
    return subprocess.run(["man", *args], capture_output=True, text=True, env=env, timeout=60)


needs_man = pytest.mark.skipif(shutil.which("man") is None, reason="no man (Debian: man-db)")


@needs_man
def test_pipx_links_the_man_page_and_man_shows_it(installed):
    page = installed.man_dir / "man1" / "vdictl.1"
    assert page.exists()
    assert page.read_text() == (REPO / "docs" / "man" / "vdictl.1").read_text()
    result = man("vdictl", manpath=installed.man_dir)
    assert result.returncode == 0, result.stderr
    assert "vdictl virtroom-reset [OPTIONS] [ROOM]... | --all" in result.stdout


@needs_man
def test_install_deps_links_the_man_page_where_man_looks(tmp_path):
    """The README's install path (scripts/install-deps, as root) makes `man vdictl` work;
    here into a private MAN_DIR, the apt and venv steps skipped."""
    env = dict(os.environ, SKIP_APT="1", SKIP_VENV="1", MAN_DIR=str(tmp_path / "man"))
    result = subprocess.run([str(REPO / "scripts" / "install-deps")], capture_output=True,
                            text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    link = tmp_path / "man" / "man1" / "vdictl.1"
    assert link.resolve() == REPO / "docs" / "man" / "vdictl.1"
    assert f"install-deps: man vdictl: {link} -> " in result.stderr
    assert man("-w", "vdictl", manpath=tmp_path / "man").stdout.strip() == str(link.resolve())
    shown = man("vdictl", manpath=tmp_path / "man")
    assert shown.returncode == 0 and "VDICTL_SYSLOG" in shown.stdout
    # ... and the default MAN_DIR is one man-db searches without any MANPATH
    default = re.search(r"^MAN_DIR=\$\{MAN_DIR:-(.+)\}$",
                        (REPO / "scripts" / "install-deps").read_text(), re.M).group(1)
    env = {k: v for k, v in os.environ.items() if k != "MANPATH"}
    manpath = subprocess.run(["manpath"], capture_output=True, text=True, env=env, timeout=60)
    assert default in manpath.stdout.strip().split(":")


def test_installed_copy_reports_its_version(installed):
    result = installed("--version")
    assert (result.returncode, result.stdout) == (0, f"vdictl, version {VERSION}\n")


def test_installed_copy_is_not_this_checkout(installed):
    result = subprocess.run([str(installed.venv / "bin" / "python"), "-c",
                             "import vdictl, ovirtsdk4; print(vdictl.__file__)"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert str(installed.venv) in result.stdout and str(REPO) not in result.stdout


def test_installed_copy_checks_and_lists_the_example_config(installed):
    check = installed("config", "check", config=EXAMPLE)
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith(f"{EXAMPLE}: OK; driver libvirt at qemu:///system; "
                                   "2 room(s), 6 VM(s)\n")
    assert "demo-teacher01  192.0.2.10" in check.stdout
    rooms = installed("--config", str(EXAMPLE), "rooms", "--resettable")
    assert (rooms.returncode, rooms.stdout) == (0, "demo\n")


def test_installed_copy_loads_the_ovirt_driver(installed, tmp_path):
    """With the [ovirt] extra the SDK is there: an engine that does not answer is
    'unreachable' (3), not 'missing dependency' (4). Port 9 on loopback: nothing listens."""
    conf = tmp_path / "ovirt.conf"
    conf.write_text('[general]\n[[connect]]\nurl = "https://127.0.0.1:9/ovirt-engine/api"\n'
                    'username = admin@internal\npassword = s3cr3t-Pa55\ninsecure = True\n'
                    'endpoint_timeout = 2\n'
                    '[room r]\n[[s]]\nids = 1\nnames = "r-${id}"\ntemplate_name = t\n')
    result = installed("--config", str(conf), "virtroom-start", "r")
    assert result.returncode == 3, result.stderr
    assert "127.0.0.1:9" in result.stderr
    assert "s3cr3t-Pa55" not in result.stdout + result.stderr
