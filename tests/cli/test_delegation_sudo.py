"""Delegated rooms through the real sudo (issue 27, part 2).

A throw-away group and user (groupadd/useradd, removed after), a sudoers
drop-in the test writes in /etc/sudoers.d (checked with visudo -cf, removed
after), and the installed `vdictl` run as `runuser -u TEACHER -- sudo -n
.venv/bin/vdictl ...`: sudo starts it as root, with SUDO_UID and SUDO_USER.

Each run happens in a private mount namespace (unshare) in which a
directory of the test is mounted over /etc/vdictl, so the delegated run reads
the test's system config at the real system path without this machine's
/etc/vdictl changing (it is created empty when missing, and removed after),
and another over /run/vdictl (the room locks of root). /dev/log is a socket
of the test when the machine has no syslog (else one is mounted over it in
the namespace), so the syslog lines are read too.

The rooms' VMs live on libvirt's test driver: rolled out here on
test:///default, then written to a test:///FILE node document that every
delegated process loads afresh (tests/cli/conftest.py file_hypervisor does
the same). A change a run makes lives only in its own process, so "nothing
touched" is shown by what a run leaves behind: no run record, no "started"
line in the audit log, no VM on stdout.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

libvirt = pytest.importorskip("libvirt")

from tests.libvirt_test_hv import define_test_template, node_document  # noqa: E402
from tests.vdictl_cli import vdictl, write_config  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: useradd, sudoers")

VDICTL = str(Path(sys.executable).with_name("vdictl"))
SUFFIX = str(os.getpid())
TEACHER = f"vdtt{SUFFIX}"
GROUP = f"vdtg{SUFFIX}"
SUDOERS = f"/etc/sudoers.d/vdictl-test-{SUFFIX}"   # no dot: sudo skips such files
NOT_PERMITTED = 7

CONFIG = """\
[general]
    [[connect]]
    driver = libvirt
    uri = "test:///default"
    [[throttle]]
    snapshot_batch_pause = 0
    shutdown_timeout = 5
    operation_timeout = 30

[room chem]
    delegates = %{group}
    template_name = tmpl
    snapshot_description = "vdictl rollout at ${{scripttime}}"
    reset_to_snapshot_regex = "vdictl rollout"
    [[desks]]
    ids = "1-6"
    names = "${{roomname}}-vd${{id}}"

[room physics]
    delegates = somebody-else
    template_name = tmpl
    snapshot_description = "vdictl rollout at ${{scripttime}}"
    reset_to_snapshot_regex = "vdictl rollout"
    [[desks]]
    ids = "1-2"
    names = "${{roomname}}-vd${{id}}"
"""


def root(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True)


class Syslog:
    """A datagram socket at /dev/log's place, read all the time (a unix datagram
    socket queues only a few messages before the sender blocks): the lines
    vdictl sends to syslog."""

    def __init__(self, path: str):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.received: list = []
        self.lock = threading.Lock()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                data = self.sock.recv(65536).decode("utf-8", "replace")
                with self.lock:
                    self.received.append(data)

    def lines(self) -> list:
        """The vdictl lines received since the last call."""
        time.sleep(0.2)  # a datagram sent just before the run ended
        with self.lock:
            found, self.received[:] = list(self.received), []
        return [line for line in found if "vdictl: " in line]

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class Site:
    """The throw-away accounts, the sudoers drop-in and the system config."""

    def __init__(self, base: Path):
        self.base = base
        self.etc = base / "etc-vdictl"          # mounted over /etc/vdictl
        self.locks = base / "run-vdictl"        # mounted over /run/vdictl
        self.state = base / "state"
        self.log = base / "audit.log"
        for directory in (self.etc, self.locks, self.state):
            directory.mkdir(mode=0o755)
        self.uid = 0
        self.made_etc = False
        self.syslog_mount = ""

    def sudo(self, *args: str, env: dict = None, etc: Path = None) -> subprocess.CompletedProcess:
        """`vdictl ARGS` as the teacher through sudo, in the namespace."""
        mounts = [f"mount --bind {etc or self.etc} /etc/vdictl",
                  f"mount --bind {self.locks} /run/vdictl"]
        if self.syslog_mount:
            mounts.append(f"mount --bind {self.syslog_mount} /dev/log")
        script = " && ".join(mounts) + ' && exec runuser -u "$0" -- env "$@"'
        variables = [f"{k}={v}" for k, v in (env or {}).items()]
        return subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script, TEACHER,
             *variables, "sudo", "-n", VDICTL, *args],
            capture_output=True, text=True, timeout=120, env={"PATH": os.environ["PATH"]})

    def records(self) -> list:
        from vdictl.records import history

        return sorted((record for command in history.commands(str(self.state))
                       for record in history.records(str(self.state), command)),
                      key=lambda record: record["run"])

    def audit_lines(self) -> list:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Accounts, sudoers, /etc/vdictl and /dev/log for the module; all removed after."""
    for tool in ("sudo", "visudo", "useradd", "groupadd", "unshare", "runuser"):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in os.environ["PATH"].split(os.pathsep) + ["/usr/sbin", "/sbin"]):
            pytest.fail(f"{tool} is missing: scripts/install-deps installs it")
    site = Site(tmp_path_factory.mktemp("delegation"))
    syslog = None
    try:
        root("groupadd", GROUP)
        root("useradd", "--no-create-home", "--shell", "/bin/sh", "--groups", GROUP, TEACHER)
        site.uid = pwd.getpwnam(TEACHER).pw_uid
        drop_in = site.base / "sudoers"
        # the sudoers line of docs/guide.md; env_keep lets VDICTL_CONFIG really reach vdictl
        drop_in.write_text(f"%{GROUP} ALL=(root) NOPASSWD: {VDICTL}\n"
                           f'Defaults:{TEACHER} env_keep += "VDICTL_CONFIG"\n')
        root("visudo", "-cf", str(drop_in))
        root("install", "-m", "0440", str(drop_in), SUDOERS)
        if not os.path.exists("/etc/vdictl"):
            os.mkdir("/etc/vdictl", 0o755)
            site.made_etc = True
        if os.path.exists("/dev/log"):
            syslog = Syslog(str(site.base / "dev-log"))
            site.syslog_mount = syslog.path
        else:
            syslog = Syslog("/dev/log")
        site.syslog = syslog
        yield site
    finally:
        if syslog:
            syslog.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(SUDOERS)
        subprocess.run(["userdel", "--force", TEACHER], capture_output=True)
        subprocess.run(["groupdel", GROUP], capture_output=True)
        if site.made_etc:
            with contextlib.suppress(OSError):
                os.rmdir("/etc/vdictl")


@pytest.fixture
def rooms(site, tmp_path):
    """Both rooms rolled out on test:///default; the system config (in site.etc)
    points at a node document of them. Yields the config's path."""
    libvirt.registerErrorHandler(lambda *args: None, None)
    conn = libvirt.open("test:///default")
    try:
        define_test_template(conn, "tmpl", volume="tmpl.qcow2")
        setup = write_config(tmp_path, CONFIG.format(group=GROUP))
        result = vdictl(setup, "virtroom-rollout", "--all")
        assert result.exit_code == 0, result.output
        node = site.base / "node.xml"
        node.write_text(node_document(conn))
    finally:
        conn.close()
    text = CONFIG.format(group=GROUP).replace("test:///default", f"test://{node}")
    text += f'[logging]\n    log_file = "{site.log}"\n    state_dir = "{site.state}"\n'
    config = write_config(site.etc, text, name="vdi-rollout.conf")
    site.syslog.lines()
    yield config
    for path in [site.log] + glob.glob(str(site.state / "runs" / "records.sqlite3*")):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def test_a_teacher_resets_a_desk_of_their_room(site, rooms):
    result = site.sudo("virtroom-reset", "chem", "--vm", "chem-vd05", "-o", "json")
    assert result.returncode == 0, result.stderr
    [vm] = json.loads(result.stdout)["results"]
    assert (vm["vm"], vm["outcome"]) == ("chem-vd05", "ok")
    assert any(step.startswith("restore snapshot 'vdictl rollout") for step in vm["steps"])
    who = f"{TEACHER} (uid {site.uid}) through sudo"
    audit = site.audit_lines()
    assert any(f"run by {who}: vdictl virtroom-reset chem --vm chem-vd05 -o json" in line
               for line in audit)
    assert any("reset of room(s) chem started (pid" in line and line.endswith(f"by {who}")
               for line in audit)
    assert any("room=chem vm=chem-vd05 action=reset outcome=ok" in line for line in audit)
    # syslog hears it although the run came from a login (always, through sudo)
    assert any(f"run by {who}" in line for line in site.syslog.lines())
    [record] = site.records()
    assert record["run_by"] == {"user": TEACHER, "uid": site.uid, "through": "sudo"}
    assert record["only_vms"] == ["chem-vd05"]
    status = vdictl(rooms, "status", "chem", "-o", "table")
    assert f"{TEACHER} (sudo)" in status.stdout.splitlines()[1]
    data = json.loads(vdictl(rooms, "status", "chem", "-o", "json").stdout)
    assert data["rooms"][0]["runs"][0]["run_by"]["user"] == TEACHER


def test_all_means_the_teachers_rooms(site, rooms):
    result = site.sudo("virtroom-show", "--all", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert sorted(vm["vm"] for vm in json.loads(result.stdout)["vms"]) == [
        f"chem-vd{i:02d}" for i in range(1, 7)]


REFUSED = {
    "another room": (["virtroom-reset", "physics"], {},
                     "not permitted: virtroom-reset of room 'physics'"),
    "a room that does not exist": (["virtroom-reset", "biology"], {},
                                   "not permitted: virtroom-reset of room 'biology'"),
    "delete": (["virtroom-delete", "--yes", "chem"], {},
               "not permitted: vdictl virtroom-delete through sudo (rooms delegate only "
               "virtroom-show, virtroom-reset, virtroom-start, virtroom-shutdown)"),
    "rollout": (["virtroom-rollout", "chem"], {},
                "not permitted: vdictl virtroom-rollout through sudo"),
    "--config": (["--config", "/tmp/x.conf", "virtroom-reset", "chem"], {},
                 "not permitted: --config through sudo"),
    "--uri": (["--uri", "test:///default", "virtroom-reset", "chem"], {},
              "not permitted: --uri through sudo"),
    "VDICTL_CONFIG": (["virtroom-reset", "chem"], {"VDICTL_CONFIG": "/tmp/x.conf"},
                      "not permitted: $VDICTL_CONFIG through sudo"),
    "--vm of another room": (["virtroom-reset", "--vm", "physics-vd01"], {},
                             "not permitted: virtroom-reset of VM 'physics-vd01'"),
    "--adopt": (["virtroom-reset", "chem", "--adopt"], {},
                "not permitted: --adopt through sudo"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_with_nothing_touched_and_audited(site, rooms, case):
    args, env, message = REFUSED[case]
    result = site.sudo(*args, env=env)
    assert result.returncode == NOT_PERMITTED, (result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {message}")
    assert result.stdout == ""
    assert site.records() == []
    audit = site.audit_lines()
    assert not any("started" in line for line in audit)
    refusal = f"{message.split(' (')[0]}"
    who = f"run by {TEACHER} (uid {site.uid}) through sudo"
    assert [line for line in audit if refusal in line and who in line], audit
    assert [line for line in site.syslog.lines() if refusal in line and who in line]


def test_a_room_says_which_commands_it_delegates(site, rooms):
    text = rooms.read_text().replace("    delegates = %", "    delegate_commands = show\n"
                                     "    delegates = %", 1)
    rooms.write_text(text)
    assert site.sudo("virtroom-show", "chem").returncode == 0
    result = site.sudo("virtroom-reset", "chem")
    assert result.returncode == NOT_PERMITTED
    assert result.stderr.strip() == "Error: not permitted: virtroom-reset of room 'chem'"


def test_a_system_config_the_teacher_can_change_is_refused(site, rooms, tmp_path):
    """/etc/vdictl/vdi-rollout.conf a symbolic link to the teacher's own file,
    which delegates every room: nothing of it is read, not even its log file."""
    own = tmp_path / "mine"
    own.mkdir()
    mine = own / "vdi.conf"
    log = own / "their.log"
    mine.write_text(rooms.read_text().replace("somebody-else", f"%{GROUP}")
                    .replace(str(site.log), str(log)))
    os.chown(mine, site.uid, -1)
    trick = tmp_path / "etc"
    trick.mkdir()
    (trick / "vdi-rollout.conf").symlink_to(mine)
    result = site.sudo("virtroom-reset", "physics", etc=trick)
    assert result.returncode == NOT_PERMITTED, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: not permitted: /etc/vdictl/vdi-rollout.conf -> {mine}: "
                           f"system config {mine} is not owned by root (owner ")
    assert f"run: chown root {mine}" in line
    assert result.stdout == "" and site.records() == [] and not log.exists()
    assert [line for line in site.syslog.lines() if "not permitted: /etc/vdictl" in line]
    # and a directory others may write to: the file could be swapped
    trick.chmod(0o777)
    (trick / "vdi-rollout.conf").unlink()
    (trick / "vdi-rollout.conf").write_text(rooms.read_text())
    result = site.sudo("virtroom-reset", "chem", etc=trick)
    assert result.returncode == NOT_PERMITTED
    # (the test's directory is bind-mounted on /etc/vdictl)
    assert ("is in /etc/vdictl, which is writable by group and others (owner root, mode 0777); "
            "run: chmod go-w /etc/vdictl") in result.stderr
    assert site.records() == []


def test_root_without_sudo_is_not_delegated(site, rooms, monkeypatch):
    """An administrator's own root run (cron, `su -`) may do everything."""
    monkeypatch.delenv("SUDO_UID", raising=False)
    result = vdictl(rooms, "virtroom-reset", "physics", "-o", "json")
    assert result.exit_code == 0, result.output
    [record] = site.records()
    assert record["run_by"] == {"user": "root", "uid": 0}
