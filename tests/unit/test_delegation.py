"""Who the caller of a run through sudo is, and what a room delegates (cli/delegation.py).

The end-to-end checks through the real sudo are tests/cli/test_delegation_sudo.py;
these cover the cases that one cannot reach cheaply there.
"""

from __future__ import annotations

import grp
import os
import pwd

import pytest

from tests.vdictl_cli import write_config
from vdictl.cli.delegation import Caller, Delegation, quoted, sudo_caller, untrusted
from vdictl.config.load import load_config
from vdictl.errors import ConfigError, NotPermitted

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="delegation needs a root process")

CONFIG = """\
[general]
    [[connect]]
    uri = "test:///default"
[room chem]
    delegates = alice, %chem-teachers
    template_name = t
    [[desks]]
    ids = 1-2
    names = "${roomname}-vd${id}"
[room open]
    delegates = %chem-teachers
    delegate_commands = show, Reset
    delegate_skip_in_use = False
    template_name = t
    [[desks]]
    ids = 1
    names = "open-${id}"
[room closed]
    template_name = t
    [[desks]]
    ids = 1
    names = "closed-${id}"
"""


@root_only
def test_not_through_sudo_or_by_root_is_not_delegated():
    assert sudo_caller({}) is None
    assert sudo_caller({"SUDO_UID": "0", "SUDO_USER": "root"}) is None


@root_only
def test_the_caller_and_their_groups_come_from_the_account_databases():
    nobody = pwd.getpwnam("nobody")
    caller = sudo_caller({"SUDO_UID": str(nobody.pw_uid), "SUDO_USER": "nobody"})
    assert (caller.user, caller.uid) == ("nobody", nobody.pw_uid)
    assert grp.getgrgid(nobody.pw_gid).gr_name in caller.groups  # the primary group


@root_only
@pytest.mark.parametrize("environ, message", [
    ({"SUDO_UID": "x"}, "SUDO_UID 'x' names no account"),
    ({"SUDO_UID": "4000000000"}, "SUDO_UID '4000000000' names no account"),
    ({"SUDO_UID": str(pwd.getpwnam("nobody").pw_uid), "SUDO_USER": "alice"},
     "SUDO_USER 'alice' is not the account of SUDO_UID"),
])
def test_sudo_variables_that_name_no_one_account_are_refused(environ, message):
    with pytest.raises(NotPermitted, match=message):
        sudo_caller(environ)


def test_a_group_is_named_with_a_percent_sign():
    caller = Caller("bob", 1002, ("bob", "chem-teachers"))
    assert caller.named_in(("%chem-teachers",))
    assert not caller.named_in(("chem-teachers",))   # that would be a user's name
    assert Caller("alice", 1001, ()).named_in(("alice", "%x"))


def rooms_for(tmp_path, caller, command):
    config = load_config(str(write_config(tmp_path, CONFIG)))
    return Delegation(caller, command, []).visible_rooms(config)


def test_only_rooms_delegating_the_command_to_the_caller_are_visible(tmp_path):
    bob = Caller("bob", 1002, ("chem-teachers",))
    assert list(rooms_for(tmp_path, bob, "virtroom-reset")) == ["chem", "open"]
    assert list(rooms_for(tmp_path, bob, "virtroom-start")) == ["chem"]  # open: show, reset
    assert list(rooms_for(tmp_path, Caller("alice", 1001, ()), "virtroom-show")) == ["chem"]
    assert rooms_for(tmp_path, Caller("eve", 1003, ("eve",)), "virtroom-show") == {}
    assert rooms_for(tmp_path, bob, "virtroom-delete") == {}


def test_reset_and_shutdown_skip_vms_in_use_unless_the_room_says_otherwise(tmp_path):
    bob = Caller("bob", 1002, ("chem-teachers",))
    for command in ("virtroom-reset", "virtroom-shutdown"):
        rooms = rooms_for(tmp_path, bob, command)
        assert all(spec.skip_in_use for spec in rooms["chem"].vms)
    open_room = rooms_for(tmp_path, bob, "virtroom-reset")["open"]  # delegate_skip_in_use = False
    assert not any(spec.skip_in_use for spec in open_room.vms)
    shown = rooms_for(tmp_path, bob, "virtroom-show")["chem"]
    assert not any(spec.skip_in_use for spec in shown.vms)


@pytest.mark.parametrize("line, message", [
    ("    delegate_commands = show, rollout",
     "'rollout' is not one of show, reset, start, shutdown"),
    ("    delegate_commands = delete", "'delete' is not one of"),
    ('    delegates = "alice bob"', "'alice bob' is not a user name or a %group"),
])
def test_the_delegation_keys_are_checked(tmp_path, line, message):
    text = CONFIG.replace("[room closed]\n", f"[room closed]\n{line}\n")
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(str(write_config(tmp_path, text)))
    assert caught.value.section == "room closed"


def test_delegates_belong_to_the_room_not_a_subsection(tmp_path):
    text = CONFIG.replace("    names = \"closed-${id}\"\n",
                          "    names = \"closed-${id}\"\n    delegates = alice\n")
    with pytest.raises(ConfigError, match=r"it belongs in \[room NAME\]$"):
        load_config(str(write_config(tmp_path, text)))


def test_a_logged_command_line_cannot_forge_a_line():
    text = quoted(["virtroom-reset", "x\n2026-01-01 INFO vdictl.audit: forged"])
    assert "\n" not in text and "\\n" in text


def test_a_config_that_others_could_change_is_untrusted(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    path = shared / "vdi.conf"
    path.write_text("")
    os.chmod(path, 0o666)
    assert untrusted(str(path)) == (f"system config {path} is writable by group and others "
                                    f"(owner root, mode 0666); run: chmod go-w {path}")
    os.chmod(path, 0o644)
    os.chmod(shared, 0o777)  # the file could be swapped
    assert untrusted(str(path)) == (f"system config {path} is in {shared}, which is writable "
                                    f"by group and others (owner root, mode 0777); "
                                    f"run: chmod go-w {shared}")
    assert untrusted("/etc/passwd") == ""
    assert untrusted(str(shared)) == "is not a regular file"
