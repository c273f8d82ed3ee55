"""The audit trail: every state change with time, room, VM, action and
outcome, in the log file, in syslog when not on a terminal, and through
Amoothei's [logging] config_file."""

from __future__ import annotations

import logging
import socket

import pytest

PASSWORD_MARK = "engine-secret"


@pytest.fixture
def syslog_socket(tmp_path, monkeypatch):
    """A unix datagram socket standing in for /dev/log."""
    path = str(tmp_path / "log.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    monkeypatch.setenv("VDICTL_SYSLOG", path)

    def messages():
        got = []
        while True:
            try:
                got.append(sock.recv(65536).decode())
            except socket.timeout:
                return got

    yield messages
    sock.close()


def test_unattended_run_logs_each_vm_to_syslog(site_factory, syslog_socket):
    site = site_factory({"au": 3})
    syslog_socket()  # the rollout's
    code, _ = site.report("virtroom-reset", "au")
    assert code == 0
    got = syslog_socket()
    per_vm = [m for m in got if "action=reset" in m]
    assert len(per_vm) == 3
    # <daemon.info> = 3*8+6 = 30
    assert per_vm[0].startswith("<30>vdictl: INFO vdictl.audit: room=au vm=au-pc0")
    assert any("outcome=ok detail=power off" in m or "outcome=ok detail=restore" in m
               for m in per_vm)
    assert any("reset of room(s) au started (pid " in m for m in got)
    assert any(m.endswith("reset: 3 VM(s): 3 ok\x00") for m in got)
    assert not [m for m in got if PASSWORD_MARK in m]


@pytest.fixture
def restore_root_logger():
    """fileConfig configures the process-wide root logger: put it back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:], root.level = handlers, level


def test_logging_config_file_is_honoured(site_factory, tmp_path, restore_root_logger):
    site = site_factory({"lc": 2}, rollout=False)
    log = tmp_path / "from-fileconfig.log"
    conf = tmp_path / "logging.conf"
    conf.write_text(f"""\
[loggers]
keys=root
[handlers]
keys=file
[formatters]
keys=plain
[logger_root]
level=INFO
handlers=file
[handler_file]
class=FileHandler
formatter=plain
args=({str(log)!r},)
[formatter_plain]
format=%(asctime)s %(name)s %(message)s
""")
    with open(site.path, "a") as fh:
        fh.write(f'\n[logging]\n    config_file = "{conf}"\n')
    code, _ = site.report("virtroom-rollout", "lc")
    assert code == 0
    text = log.read_text()
    assert "vdictl.audit room=lc vm=lc-pc01 action=rollout outcome=ok" in text
    assert PASSWORD_MARK not in text


def test_missing_logging_config_file_is_a_warning(site_factory, tmp_path):
    site = site_factory({"lm": 1}, rollout=False)
    with open(site.path, "a") as fh:
        fh.write(f'\n[logging]\n    config_file = "{tmp_path}/nope.conf"\n')
    result = site.invoke("virtroom-rollout", "lm")
    assert result.exit_code == 0
    assert f"warning: [logging] config_file {tmp_path}/nope.conf does not exist; ignored" \
        in result.stderr


def test_broken_logging_config_file_is_one_line(site_factory, tmp_path):
    site = site_factory({"lb": 1}, rollout=False)
    conf = tmp_path / "broken.conf"
    conf.write_text("[loggers]\nkeys=root\n")
    with open(site.path, "a") as fh:
        fh.write(f'\n[logging]\n    config_file = "{conf}"\n')
    result = site.invoke("virtroom-rollout", "lb")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Error: {site.path} [logging] config_file: cannot apply ")
