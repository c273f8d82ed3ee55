"""SIGINT and SIGTERM while a virtroom-* command works on VMs.

Imported when such a command runs, not at start-up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import TYPE_CHECKING, Dict, Iterator, Optional

from . import exit_codes

if TYPE_CHECKING:
    from vdictl.ops.session import Session
    from vdictl.result import Report


SIGNAL_EXIT: Dict[int, int] = {signal.SIGINT: exit_codes.INTERRUPTED,
                               signal.SIGTERM: exit_codes.TERMINATED}


class Interrupted(Exception):
    """A signal arrived before any VM was touched."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SignalGuard:
    """SIGINT/SIGTERM while a run works on VMs.

    Before the session exists (waiting for a room lock) a signal raises
    Interrupted: nothing was touched yet. Afterwards the first signal starts
    no new VM and lets the VMs under way finish (each wait is bounded by
    operation_timeout); a second one exits at once.
    """

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self.session: Optional["Session"] = None

    def handle(self, signum: int, _frame) -> None:
        name = signal.Signals(signum).name
        if self.session is None:
            raise Interrupted(signum)
        if self.signum is not None:
            os.write(2, f"vdictl: {name} again: exiting now; VMs under way may be half "
                        f"done (a rerun finishes them)\n".encode())
            os._exit(SIGNAL_EXIT[self.signum])
        self.signum = signum
        under_way = self.session.interrupt(name)
        os.write(2, f"vdictl: {name}: finishing {under_way} VM(s) under way, starting no new "
                    f"one ({name} again exits at once)\n".encode())

    def attach(self, session: "Session") -> None:
        self.session = session

    @contextlib.contextmanager
    def installed(self) -> Iterator["SignalGuard"]:
        if threading.current_thread() is not threading.main_thread():
            yield self  # signal handlers can only be set in the main thread
            return
        old = {signum: signal.signal(signum, self.handle) for signum in SIGNAL_EXIT}
        try:
            yield self
        finally:
            for signum, handler in old.items():
                signal.signal(signum, handler)


def interrupt_note(signum: int, report: "Report") -> str:
    """The closing note of an interrupted run: how many VMs were finished (the
    ones under way at the signal, and those done before it), how many not started."""
    from vdictl.result import Outcome

    def count(*outcomes: Outcome) -> int:
        return sum(1 for r in report.results if r.outcome in outcomes)

    finished, failed = count(Outcome.OK, Outcome.FAILED), count(Outcome.FAILED)
    not_started = count(Outcome.NOT_STARTED)
    text = f"interrupted by {signal.Signals(signum).name}: {finished} VM(s) finished"
    if failed:
        text += f" ({failed} of them failed)"
    if not_started:
        return text + f", {not_started} not started (left as they were); rerun to finish"
    return text + ", none left to start"
