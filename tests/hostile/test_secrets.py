"""The password never shows: not in output, logs, error messages or argv.

Failing oVirt runs (wrong password, unreachable engine, VMs that fail) go
through the real CLI in a process with -vv and a [logging] log_file; then
everything the run wrote is searched for the password.
"""

from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ovirtsdk4")

from vdictl.config.load import load_config  # noqa: E402

PASSWORD = "Grep-Me-S3cret-4711"
SRC = Path(__file__).resolve().parents[2] / "src" / "vdictl"


def ovirt_config(url: str, username: str, *, password_line: str, log_file: Path,
                 template: str = "tmpl-win10") -> str:
    return f"""\
[general]
    [[connect]]
    url = {url}
    username = {username}
    {password_line}
    endpoint_timeout = 3
    [[throttle]]
    snapshot_batch_pause = 0
    operation_timeout = 20
[logging]
    log_file = {log_file}
[room r1]
    [[pcs]]
    ids = "1-2"
    names = "${{roomname}}-pc${{id}}"
    template_name = {template}
    cluster = Default
    snapshot_description = "vdictl rollout"
"""


def run_vdictl(tmp_path: Path, *args: str, env_password: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "VDICTL_OVIRT_PASSWORD"}
    if env_password:
        env["VDICTL_OVIRT_PASSWORD"] = env_password
    return subprocess.run(
        [sys.executable, "-c", "from vdictl.cli import main; main()", *args],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)


def everything_written(proc: subprocess.CompletedProcess, tmp_path: Path,
                       inputs: tuple) -> str:
    """stdout, stderr and every file in tmp_path the run created."""
    texts = [proc.stdout, proc.stderr]
    for path in tmp_path.rglob("*"):
        if path.is_file() and path not in inputs:
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/ovirt-engine/api"


@pytest.mark.parametrize("source", ["config", "password_file", "environment"])
def test_wrong_password_is_never_shown(source, tmp_path, ovirt_engine_factory):
    sim = ovirt_engine_factory(password="the-right-one")
    log = tmp_path / "vdictl.log"
    line = {"config": f"password = {PASSWORD}",
            "password_file": "password_file = engine.pw",
            "environment": ""}[source]
    conf = tmp_path / "vdi.conf"
    conf.write_text(ovirt_config(sim.url, sim.username, password_line=line, log_file=log))
    conf.chmod(0o600)
    secret = tmp_path / "engine.pw"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)

    proc = run_vdictl(tmp_path, "-vv", "--config", str(conf), "virtroom-show", "r1",
                      env_password=PASSWORD if source == "environment" else "")

    assert proc.returncode == 3, proc.stderr
    assert "refused" in proc.stderr and sim.username in proc.stderr
    assert "Traceback" not in proc.stderr
    assert PASSWORD not in everything_written(proc, tmp_path, (conf, secret))


def test_unreachable_engine_never_shows_the_password(tmp_path):
    log = tmp_path / "vdictl.log"
    conf = tmp_path / "vdi.conf"
    url = closed_port_url()
    conf.write_text(ovirt_config(url, "admin@internal", password_line=f"password = {PASSWORD}",
                                 log_file=log))
    conf.chmod(0o600)

    proc = run_vdictl(tmp_path, "-vv", "--config", str(conf), "virtroom-rollout", "r1")

    assert proc.returncode == 3, proc.stderr
    assert url in proc.stderr
    assert PASSWORD not in everything_written(proc, tmp_path, (conf,))


def test_failing_vms_with_the_right_password_never_show_it(tmp_path, ovirt_engine_factory):
    """Logged in, then every VM fails (no such template): -vv, log file, summary."""
    sim = ovirt_engine_factory(password=PASSWORD)
    log = tmp_path / "vdictl.log"
    conf = tmp_path / "vdi.conf"
    conf.write_text(ovirt_config(sim.url, sim.username, password_line=f"password = {PASSWORD}",
                                 log_file=log, template="no-such-template"))
    conf.chmod(0o600)

    proc = run_vdictl(tmp_path, "-vv", "--config", str(conf), "virtroom-rollout",
                      "--output", "json", "r1")

    assert proc.returncode == 1, proc.stderr
    assert "no-such-template" in proc.stdout
    assert log.read_text()                     # the audit trail was written ...
    assert PASSWORD not in everything_written(proc, tmp_path, (conf,))   # ... without it


def test_config_records_do_not_show_the_password(tmp_path):
    conf = tmp_path / "vdi.conf"
    conf.write_text(ovirt_config("https://engine.invalid/api", "admin@internal",
                                 password_line=f"password = {PASSWORD}",
                                 log_file=tmp_path / "log"))
    config = load_config(str(conf))
    assert config.connect.password == PASSWORD
    assert PASSWORD not in repr(config) and PASSWORD not in str(config)


#: Ways to start another program (whose argv others could read in ps).
_PROCESS_MODULES = {"subprocess", "pty", "multiprocessing", "pexpect", "sh"}
_PROCESS_CALLS = {"system", "popen", "execv", "execve", "execl", "execle", "execlp",
                  "execvp", "execvpe", "spawnv", "spawnve", "spawnl", "spawnle",
                  "posix_spawn", "posix_spawnp", "fork", "forkpty"}


#: The one program vdictl runs: virt-sysprep for template-create --seal, with
#: an argument list of disk paths only (no credentials, no shell).
_ALLOWED = {"drivers/libvirt/sysprep.py subprocess"}


def test_vdictl_starts_no_programs():
    """The password cannot reach a process's argv: vdictl runs no other
    program, except virt-sysprep on template disks (_ALLOWED)."""
    offenders = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [(node.module or "").split(".")[0]]
            elif isinstance(node, ast.Attribute) and node.attr in _PROCESS_CALLS:
                names = [f"os.{node.attr}"] if getattr(node.value, "id", "") == "os" else []
            else:
                continue
            offenders += [f"{path.relative_to(SRC)}:{node.lineno} {n}" for n in names
                          if (n in _PROCESS_MODULES or n.startswith("os."))
                          and f"{path.relative_to(SRC)} {n}" not in _ALLOWED]
    assert offenders == []
    assert len(list(SRC.rglob("*.py"))) > 10          # the scan saw the package
