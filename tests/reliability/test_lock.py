"""Room locks: real flocks held by real processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from vdictl.cli import exit_codes
from vdictl.lock import RoomBusy, RoomLocks, lock_file_name, read_holder

from tests.vdictl_cli import vdictl, write_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HOLDER = textwrap.dedent("""
    import sys, time
    from vdictl.lock import RoomLocks
    with RoomLocks(sys.argv[2:], directory=sys.argv[1]):
        print("held", flush=True)
        sys.stdin.readline()   # hold until told (or killed)
""")


class Holder:
    """Another process holding the locks of `rooms`."""

    def __init__(self, directory, *rooms):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory), *rooms],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "held"

    @property
    def pid(self):
        return self.proc.pid

    def release(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.wait(timeout=10) == 0

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def lock_dir(tmp_path):
    return tmp_path / "locks"


@pytest.fixture
def holders():
    made = []
    yield made
    for h in made:
        if h.proc.poll() is None:
            h.kill()


def hold(holders, directory, *rooms):
    holders.append(Holder(directory, *rooms))
    return holders[-1]


def test_a_busy_room_names_the_holder_pid(lock_dir, holders):
    holder = hold(holders, lock_dir, "room01")
    with pytest.raises(RoomBusy) as info:
        RoomLocks(["room02", "room01"], directory=str(lock_dir)).acquire()
    assert info.value.room == "room01"
    assert info.value.pid == holder.pid
    assert f"room 'room01' is busy: pid {holder.pid} holds {lock_dir}/room-room01.lock" \
        in str(info.value)
    # room02 was locked first (sorted order) and released again on failure
    with RoomLocks(["room02"], directory=str(lock_dir)):
        pass


def test_the_second_run_waits_for_the_first(lock_dir, holders):
    holder = hold(holders, lock_dir, "room01")
    threading.Timer(0.5, holder.release).start()
    started = time.monotonic()
    with RoomLocks(["room01"], timeout=20, directory=str(lock_dir)):
        waited = time.monotonic() - started
        assert read_holder(str(lock_dir / "room-room01.lock")) == os.getpid()
    assert 0.4 < waited < 15


def test_waiting_gives_up_after_the_timeout(lock_dir, holders):
    hold(holders, lock_dir, "room01")
    started = time.monotonic()
    with pytest.raises(RoomBusy, match="after waiting 0.6s"):
        RoomLocks(["room01"], timeout=0.6, directory=str(lock_dir)).acquire()
    assert time.monotonic() - started >= 0.6


def test_kill_9_of_the_holder_frees_the_room(lock_dir, holders):
    holder = hold(holders, lock_dir, "room01", "room02")
    with pytest.raises(RoomBusy):   # held while it lives
        RoomLocks(["room01"], directory=str(lock_dir)).acquire()
    holder.kill()
    # timeout 0: a lock the dead holder still held would raise RoomBusy here
    with RoomLocks(["room01", "room02"], directory=str(lock_dir)):
        for room in ("room01", "room02"):
            assert read_holder(str(lock_dir / lock_file_name(room))) == os.getpid()


def test_same_rooms_in_any_order_do_not_deadlock(lock_dir):
    """Many threads, each with its own descriptors, over overlapping room sets."""
    sets = [["a", "b", "c"], ["c", "b"], ["b", "a"], ["c", "a"]] * 5
    inside, peak, errors = [0], [0], []
    guard = threading.Lock()

    def work(rooms):
        try:
            with RoomLocks(rooms, timeout=30, directory=str(lock_dir)):
                with guard:
                    inside[0] += 1
                    peak[0] = max(peak[0], inside[0])
                time.sleep(0.005)
                with guard:
                    inside[0] -= 1
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in sets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and not any(t.is_alive() for t in threads)
    assert peak[0] == 1  # every set shares a room with every other


def test_lock_file_names_are_safe():
    assert lock_file_name("room01") == "room-room01.lock"
    assert lock_file_name("../etc/x y") == "room-..%2Fetc%2Fx%20y.lock"


def test_every_exit_status_is_documented():
    with open(os.path.join(REPO, "docs", "exit-statuses.md")) as fh:
        doc = fh.read()
    rows = dict(re.findall(r"^\| (\d+) \| `(\w+)` \|", doc, re.M))
    codes = {name: value for name, value in vars(exit_codes).items() if name.isupper()}
    assert {int(k): v for k, v in rows.items()} == {v: k for k, v in codes.items()}


# -- through the command line -------------------------------------------------
CONFIG = """\
[general]
    [[connect]]
    driver = libvirt
    uri = "test:///default"
[room lab1]
    [[pcs]]
    ids = "1-2"
    names = "${roomname}-pc${id}"
    template_name = tmpl
[room lab2]
    [[pcs]]
    ids = "1"
    names = "${roomname}-pc${id}"
    template_name = tmpl
"""


@pytest.fixture
def run(tmp_path, lock_dir, monkeypatch):
    pytest.importorskip("libvirt")
    monkeypatch.setenv("VDICTL_LOCK_DIR", str(lock_dir))
    path = write_config(tmp_path, CONFIG)

    def invoke(*args):
        return vdictl(path, *args)

    return invoke


def test_cli_busy_room_exits_5_naming_room_and_pid(run, lock_dir, holders):
    holder = hold(holders, lock_dir, "lab2")
    result = run("virtroom-start", "--all")
    assert result.exit_code == exit_codes.ROOM_BUSY
    assert result.stdout == ""
    assert f"Error: room 'lab2' is busy: pid {holder.pid} holds" in result.stderr
    # a room it does not hold is free
    assert run("virtroom-start", "lab1").exit_code == exit_codes.VM_FAILED  # no such VMs


def test_cli_waits_up_to_lock_timeout(run, lock_dir, holders):
    holder = hold(holders, lock_dir, "lab1")
    threading.Timer(0.5, holder.release).start()
    result = run("--lock-timeout", "20", "virtroom-start", "lab1")
    assert result.exit_code == exit_codes.VM_FAILED, result.output  # ran: the VMs are missing
    assert "does not exist" in result.stdout


def test_dry_run_and_show_do_not_lock(run, lock_dir, holders):
    hold(holders, lock_dir, "lab1", "lab2")
    assert run("virtroom-reset", "--dry-run", "lab1").exit_code != exit_codes.ROOM_BUSY
    result = run("virtroom-show", "--all")
    assert result.exit_code == 0, result.output
    assert "lab1-pc01" in result.stdout


def test_signal_while_waiting_for_a_lock_exits_at_once(tmp_path, lock_dir, holders):
    pytest.importorskip("libvirt")
    hold(holders, lock_dir, "lab1")
    path = write_config(tmp_path, CONFIG)
    env = dict(os.environ, VDICTL_LOCK_DIR=str(lock_dir))
    proc = subprocess.Popen([sys.executable, "-c", "from vdictl.cli import main; main()", "--config", str(path),
                             "--lock-timeout", "60", "virtroom-start", "lab1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == exit_codes.TERMINATED, err
    assert "SIGTERM: stopped before any VM was touched" in err


def test_rebuild_locks_its_rooms_like_every_command_that_changes_vms(run, lock_dir, holders):
    holder = hold(holders, lock_dir, "lab1")
    result = run("virtroom-rebuild", "--force", "--yes", "lab1")
    assert result.exit_code == exit_codes.ROOM_BUSY
    assert f"Error: room 'lab1' is busy: pid {holder.pid} holds" in result.stderr
    assert run("virtroom-rebuild", "--dry-run", "lab1").exit_code != exit_codes.ROOM_BUSY


def test_lock_files_are_held_above_select_reach_and_still_exclude(lock_dir, holders):
    """The room locks stay out of the descriptors select(2) can watch (pycurl's
    wait spins on a socket at or above 1,024), and moved there they still lock."""
    import resource

    from vdictl.fds import SELECT_LIMIT

    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < SELECT_LIMIT + 300:
        pytest.skip("the hard limit of open files is too low here to move descriptors")
    holder = hold(holders, lock_dir, "room01", "room02")
    fds = {int(fd): os.readlink(f"/proc/{holder.pid}/fd/{fd}")
           for fd in os.listdir(f"/proc/{holder.pid}/fd")}
    locks = sorted(fd for fd, target in fds.items() if target.endswith(".lock"))
    assert len(locks) == 2 and min(locks) >= SELECT_LIMIT, fds
    with pytest.raises(RoomBusy):
        RoomLocks(["room02"], directory=str(lock_dir)).acquire()
