"""Run as root (CI is root), vdictl refuses a config file, or a file or
directory it names, that someone else could write: one line naming the file,
its owner and mode and the fix, exit 2, and nothing written (no lock, no run
record). The same files are accepted once fixed as the line says.

The runs are real CLI runs of `virtroom-start` on libvirt's test:///default
hypervisor, whose VM "test" the room adopts: a run that is let through
writes its room lock and a run record.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from vdictl.config import trust

from tests.vdictl_cli import vdictl, write_config

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the root rule needs root")

OTHER_UID = 4242   # no user of this machine: "another unprivileged user"
ROOT_RUN = " (vdictl runs as root)"


def config_text(*connect_lines: str, room_lines: str = "") -> str:
    lines = "".join(f"    {line}\n" for line in ("uri = test:///default", *connect_lines))
    return (f"[general]\n    [[connect]]\n{lines}[room r1]\n    adopt_unmarked = True\n"
            f"    [[pcs]]\n    ids = 1\n    names = \"test\"\n    template_name = tmpl\n"
            f"{room_lines}")


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """This test's own lock and state directories, not there before a run."""
    locks, state = tmp_path / "locks", tmp_path / "state"
    monkeypatch.setenv("VDICTL_LOCK_DIR", str(locks))
    monkeypatch.setenv("VDICTL_STATE_DIR", str(state))
    return locks, state


def start(config: Path, *options: str):
    return vdictl(config, "virtroom-start", "r1", options=options)


def assert_refused(result, line: str, dirs) -> None:
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"Error: {line}{ROOT_RUN}\n"
    locks, state = dirs
    assert not locks.exists() and not state.exists()   # no lock taken, no run record


def assert_ran(result, dirs, stderr: str = "") -> None:
    assert result.exit_code == 0, result.output
    assert result.stderr == stderr
    locks, state = dirs
    assert (locks / "room-r1.lock").exists()
    from vdictl.records.history import records

    assert len(list(records(str(state), "start"))) == 1


def run_fix(line: str) -> None:
    """Run the command the refusal names ("...; run: chmod go-w /x (vdictl ...)")."""
    command = line.rsplit("; run: ", 1)[1]
    for part in command.split(" && "):
        subprocess.run(part.split(), check=True)


def test_world_writable_config_is_refused_then_accepted(tmp_path, dirs):
    config = write_config(tmp_path, config_text(), mode=0o666)
    line = (f"config file {config} is writable by group and others (owner root, mode 0666); "
            f"run: chmod go-w {config}")
    assert_refused(start(config), line, dirs)
    run_fix(line)
    assert oct(config.stat().st_mode & 0o777) == "0o644"
    assert_ran(start(config), dirs)


def test_group_writable_password_file(tmp_path, dirs):
    secret = tmp_path / "libvirt.pw"
    secret.write_text("S3cret\n")
    secret.chmod(0o660)
    config = write_config(tmp_path, config_text("password_file = libvirt.pw"))
    line = (f"{config} [general/connect] password_file: password file {secret} is writable "
            f"by group (owner root, mode 0660); run: chmod go-w {secret}")
    assert_refused(start(config), line, dirs)
    run_fix(line)
    # accepted now; still readable by its group, which is a warning, as it was before
    assert_ran(start(config), dirs, stderr=(
        f"warning: {config} [general/connect] password_file: password file {secret} is "
        f"readable by group (mode 0640); run: chmod 600 {secret}\n"))


def test_template_file_owned_by_another_user(tmp_path, dirs):
    user_data = tmp_path / "user-data.yaml"
    user_data.write_text("#cloud-config\nhostname: {{ name }}\n")
    os.chown(user_data, OTHER_UID, OTHER_UID)
    config = write_config(tmp_path, config_text(
        room_lines="    cloud_init_user_data = user-data.yaml\n"))
    line = (f"{config} [room r1/pcs] cloud_init_user_data: template file {user_data} is not "
            f"owned by root (owner uid {OTHER_UID}, mode 0644); run: chown root {user_data}")
    assert_refused(start(config), line, dirs)
    # config check reads the templates too: refused the same way
    assert vdictl(config, "config", "check").stderr == f"Error: {line}{ROOT_RUN}\n"
    run_fix(line)
    assert user_data.stat().st_uid == 0
    assert_ran(start(config), dirs)


def test_writable_parent_directory(tmp_path, dirs):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    secrets.chmod(0o777)
    secret = secrets / "libvirt.pw"
    secret.write_text("S3cret\n")
    secret.chmod(0o600)
    config = write_config(tmp_path, config_text("password_file = secrets/libvirt.pw"))
    line = (f"{config} [general/connect] password_file: password file {secret} is in "
            f"{secrets}, which is writable by group and others (owner root, mode 0777); "
            f"run: chmod go-w {secrets}")
    assert_refused(start(config), line, dirs)
    run_fix(line)
    assert_ran(start(config), dirs)


def test_symlink_to_a_writable_file(tmp_path, dirs):
    real = tmp_path / "pki" / "ca.pem"
    real.parent.mkdir()
    real.write_text("-----BEGIN CERTIFICATE-----\n")
    real.chmod(0o646)
    link = tmp_path / "ca.pem"
    link.symlink_to(real)
    config = write_config(tmp_path, config_text("ca_file = ca.pem"))
    line = (f"{config} [general/connect] ca_file: CA file {link} (a symlink to {real}) is "
            f"writable by others (owner root, mode 0646); run: chmod go-w {real}")
    assert_refused(start(config), line, dirs)
    run_fix(line)
    assert_ran(start(config), dirs)


def test_symlink_in_a_writable_directory(tmp_path, dirs):
    """The target is root's and private, but whoever can write the directory
    holding the link can point it elsewhere."""
    safe = write_config(tmp_path, config_text())
    drop = tmp_path / "drop"
    drop.mkdir()
    drop.chmod(0o777)   # not sticky
    link = drop / "vdi.conf"
    link.symlink_to(safe)
    line = (f"config file {link} (a symlink to {safe}) is in {drop}, which is writable by "
            f"group and others (owner root, mode 0777); run: chmod go-w {drop}")
    assert_refused(start(link), line, dirs)
    run_fix(line)
    assert_ran(start(link), dirs)


def test_a_sticky_root_directory_is_fine_but_not_someone_elses_file_in_it(tmp_path, dirs):
    shared = tmp_path / "shared"   # as /tmp: root's, world-writable, sticky
    shared.mkdir()
    shared.chmod(0o1777)
    config = write_config(shared, config_text())
    assert_ran(start(config), dirs)
    os.chown(config, OTHER_UID, -1)
    result = start(config)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: config file {config} is not owned by root (owner uid {OTHER_UID}, mode "
        f"0644); run: chown root {config}{ROOT_RUN}\n")


def test_state_directory_writable_by_others(tmp_path, dirs):
    state = tmp_path / "records"
    state.mkdir()
    state.chmod(0o777)
    config = write_config(tmp_path, config_text() + "[logging]\n    state_dir = records\n")
    line = (f"{config} [logging] state_dir: state directory {state} is writable by group "
            f"and others (owner root, mode 0777); run: chmod go-w {state}")
    assert_refused(start(config), line, dirs)
    assert list(state.iterdir()) == []


def test_lock_directory_owned_by_another_user(tmp_path, dirs):
    locks, _ = dirs
    locks.mkdir()
    os.chown(locks, OTHER_UID, -1)
    config = write_config(tmp_path, config_text())
    result = start(config)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {config}: lock directory {locks} is not owned by root (owner uid "
        f"{OTHER_UID}, mode 0755); run: chown root {locks}{ROOT_RUN}\n")
    assert list(locks.iterdir()) == []


def test_a_log_file_not_yet_written_is_judged_by_its_directory(tmp_path, dirs):
    logs = tmp_path / "log"
    logs.mkdir()
    os.chown(logs, OTHER_UID, -1)
    log_file = logs / "vdictl.log"
    config = write_config(tmp_path, config_text() + "[logging]\n    log_file = log/vdictl.log\n")
    line = (f"{config} [logging] log_file: log file {log_file} is in {logs}, which is not "
            f"owned by root (owner uid {OTHER_UID}, mode 0755); run: chown root {logs}")
    assert_refused(start(config), line, dirs)
    assert not log_file.exists()


# --- the rule itself, for a user who is not root (--strict-permissions) ------------

def test_not_root_accepts_own_and_roots_files_only(tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    mine = home / "mine.conf"
    mine.write_text("")
    os.chown(home, OTHER_UID, -1)
    os.chown(mine, OTHER_UID, -1)
    item = trust.Named("config file", str(mine))
    assert trust.untrusted(item, OTHER_UID) is None            # the user's own, in their dir
    assert trust.untrusted(item, OTHER_UID + 1) == (
        f"config file {mine} is in {home}, which is not owned by root or uid "
        f"{OTHER_UID + 1} (owner uid {OTHER_UID}, mode 0755); run: chown {OTHER_UID + 1} "
        f"{home}")
    os.chown(home, 0, -1)
    mine.chmod(0o664)
    assert trust.untrusted(item, OTHER_UID) == (
        f"config file {mine} is writable by group (owner uid {OTHER_UID}, mode 0664); "
        f"run: chmod go-w {mine}")


def test_resolve_walks_every_symlink(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_text("")
    (tmp_path / "l1").symlink_to("a")
    (tmp_path / "a" / "l2").symlink_to(tmp_path / "a" / "b" / "f")
    dirs, real = trust.resolve(str(tmp_path / "l1" / "l2"))
    assert real == str(tmp_path / "a" / "b" / "f")
    assert dirs[-3:] == [str(tmp_path), str(tmp_path / "a"), str(tmp_path / "a" / "b")]
    assert dirs[0] == "/"


def test_a_template_set_on_the_room_is_named_in_the_room_section(tmp_path, dirs):
    """The key is written under [room r1], not under its [[pcs]]: the line names
    the section the operator has to edit (as every other config error does)."""
    user_data = tmp_path / "user-data.yaml"
    user_data.write_text("#cloud-config\nhostname: {{ name }}\n")
    os.chown(user_data, OTHER_UID, OTHER_UID)
    config = write_config(tmp_path, config_text().replace(
        "    adopt_unmarked = True\n",
        "    adopt_unmarked = True\n    cloud_init_user_data = user-data.yaml\n"))
    line = (f"{config} [room r1] cloud_init_user_data: template file {user_data} is not "
            f"owned by root (owner uid {OTHER_UID}, mode 0644); run: chown root {user_data}")
    assert_refused(start(config), line, dirs)
    run_fix(line)
    assert_ran(start(config), dirs)
