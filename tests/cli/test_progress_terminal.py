"""What an operator sees on an 80-column terminal while a run works: the real
vdictl command on a pseudo-terminal, read through a VT100 emulator.

The hypervisor is libvirt's test driver loaded from an XML file (test:///PATH)
written from the in-process one: vdictl's own process rolls a room out from it.
"""

from __future__ import annotations

import os
import re

import pytest

from vdictl.lock import RoomLocks

from tests.libvirt_test_hv import node_document
from tests.terminal import run_on_terminal

ROOM = "chemistry-lab-north-wing"

CONFIG = """\
[general]
    [[connect]]
    uri = "test://%(node)s"
    [[throttle]]
    snapshot_batch_size = 1
    snapshot_batch_pause = 2
    parallel = 3
[room %(room)s]
    template_name = tmpl
    snapshot_description = "the clean state of %(room)s for the morning lessons"
    reset_to_snapshot_regex = "the clean state"
    [[students]]
    ids = "1-4"
    names = "${roomname}-vd${id}"
"""

BAR = re.compile(r"[━╺╸ ]+ (\d+)/4 (\d+:\d\d:\d\d)")


@pytest.fixture
def site(tmp_path, hypervisor):
    # a VM with a computed name that vdictl did not create: its rollout fails
    hypervisor.conn.defineXML(f"<domain type='test'><name>{ROOM}-vd02</name><memory>65536"
                              "</memory><os><type>hvm</type></os></domain>")
    node = tmp_path / "node.xml"
    node.write_text(node_document(hypervisor.conn))
    config = tmp_path / "vdi-rollout.conf"
    config.write_text(CONFIG % {"node": node, "room": ROOM})
    env = {"VDICTL_LOCK_DIR": str(tmp_path / "locks"), "VDICTL_SYSLOG": "off"}
    return str(config), env


def test_80_columns_show_count_elapsed_pause_and_failures_as_they_happen(site):
    config, env = site
    run = run_on_terminal(["-c", config, "virtroom-rollout", ROOM], columns=80, env=env)
    assert run.exit_code == 1                      # vd02 is not vdictl's
    bars = [row for frame in run.frames for row in frame if row.startswith("rollout ")]
    assert bars
    for row in bars:                               # done/total and elapsed always visible
        assert BAR.search(row), row
        assert row.startswith("rollout chemistry-lab-n… ")  # the long label gives way
    counts = sorted({int(BAR.search(row).group(1)) for row in bars})
    assert counts[-1] == 4 and len(counts) >= 3
    # the batch pause, with a countdown
    assert run.seen("snapshot batch pause: next batch in 2 s")
    assert run.seen("snapshot batch pause: next batch in 1 s")
    # the failure above the bar while the run still works, not only at the end
    failed = f"failed: {ROOM}-vd02 (room {ROOM}): exists"   # the line wraps after this
    during = [frame for frame in run.frames if any(r.startswith(failed) for r in frame)
              and any(BAR.search(r) and BAR.search(r).group(1) != "4" for r in frame)]
    assert during, "the failure was not shown while the run was under way"
    # and the table on stdout still has every VM
    assert f"{ROOM}-vd02  rollout  failed" in run.stdout
    assert run.stdout.rstrip().endswith("rollout: 4 VM(s): 3 ok, 1 failed (partial)")


def test_waiting_for_a_lock_says_for_whom_and_how_long(site):
    config, env = site
    with RoomLocks([ROOM], directory=env["VDICTL_LOCK_DIR"]):
        run = run_on_terminal(["-c", config, "--lock-timeout", "1", "virtroom-start", ROOM],
                              env=env)
    assert run.exit_code == 5
    assert run.seen(f"waiting for room {ROOM} (pid {os.getpid()}) up to 1 s")
