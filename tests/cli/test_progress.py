"""Progress bars: drawn per room on a terminal, never off one."""

from __future__ import annotations

import io
import os

from vdictl.cli.progress import RoomProgress, wants_progress
from vdictl.config.load import load_config
from vdictl.ops.rollout import rollout
from vdictl.ops.session import Session

from tests.vdictl_cli import vdictl


def test_progress_only_for_a_table_on_a_terminal():
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            assert wants_progress("table", tty)
            assert not wants_progress("json", tty)
        assert not wants_progress("table", io.StringIO())
    finally:
        os.close(master)
        os.close(slave)


def test_one_bar_per_room_counts_every_vm(config_file, hypervisor):
    screen = io.StringIO()
    config = load_config(config_file)
    with Session(config, progress=RoomProgress(screen, force_terminal=True)) as session:
        report = rollout(session, list(config.rooms.values()))
    assert not report.failed
    drawn = screen.getvalue()
    assert "rollout lab1" in drawn and "5/5" in drawn
    assert "rollout kiosk" in drawn and "2/2" in drawn


def test_no_progress_off_a_terminal(config_file, hypervisor):
    result = vdictl(config_file, "virtroom-rollout", "lab1")
    assert result.exit_code == 0
    assert "━" not in result.stderr and "5/5" not in result.stderr


def test_observer_hears_each_vms_phases_and_outcome(config_file, hypervisor):
    from vdictl.ops.progress import ProgressObserver
    from vdictl.ops.reset import reset

    class Recorder(ProgressObserver):
        def __init__(self):
            self.events = []

        def begin(self, action, totals):
            self.events.append(("begin", action, dict(totals)))

        def phase(self, spec, text):
            self.events.append(("phase", spec.name, text.split(" '")[0]))

        def done(self, spec, outcome, reason=""):
            self.events.append(("done", spec.name, outcome))

        def end(self):
            self.events.append(("end",))

    config = load_config(config_file)
    lab1 = config.rooms["lab1"]
    with Session(config) as session:
        rollout(session, [lab1])
    recorder = Recorder()
    with Session(config, progress=recorder) as session:
        reset(session, [lab1])
    events = recorder.events
    assert events[0] == ("begin", "reset", {"lab1": 5})
    assert events[-1] == ("end",)
    for vm in ("lab1-vd01", "lab1-teacher01"):
        mine = [e for e in events if e[1:2] == (vm,)]
        assert ("phase", vm, "restore snapshot") in mine
        assert mine[-1] == ("done", vm, "ok")
