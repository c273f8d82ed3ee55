"""Live progress on a terminal: one bar per room, VMs done / total and the
latest phase. Drawn with rich (imported only when a terminal is there).

Off a terminal (cron, pipes) nothing is drawn: the log lines and the final
summary are all the output.
"""

from __future__ import annotations

import sys
import threading
from typing import IO, Dict, Mapping, Optional

from vdictl.ops.progress import ProgressObserver
from vdictl.rooms import VmSpec


def wants_progress(output: str, stream: IO = sys.stderr) -> bool:
    """Progress only for people: a table run with stderr on a terminal."""
    return output == "table" and stream.isatty()


class RoomProgress(ProgressObserver):
    """A rich progress display, one task per room, on `stream` (stderr)."""

    def __init__(self, stream: Optional[IO] = None, *, force_terminal: Optional[bool] = None):
        from rich.console import Console

        self._console = Console(file=stream or sys.stderr, force_terminal=force_terminal)
        self._progress = None
        self._tasks: Dict[str, int] = {}
        self._lock = threading.Lock()
        self._status = ""  # a line under the bars, e.g. while interrupting

    def begin(self, action: str, totals: Mapping[str, int]) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        from rich.text import Text

        observer = self

        class WithStatus(Progress):
            def get_renderables(self):
                yield from super().get_renderables()
                if observer._status:
                    yield Text(observer._status)

        self._progress = WithStatus(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[phase]}"), console=self._console, transient=False)
        for room, total in totals.items():
            self._tasks[room] = self._progress.add_task(f"{action} {room}", total=total,
                                                        phase="")
        self._progress.start()

    def phase(self, spec: VmSpec, text: str) -> None:
        with self._lock:
            if self._progress is not None and spec.room in self._tasks:
                self._progress.update(self._tasks[spec.room], phase=f"{spec.name}: {text}")

    def done(self, spec: VmSpec, outcome: str) -> None:
        with self._lock:
            if self._progress is not None and spec.room in self._tasks:
                self._progress.advance(self._tasks[spec.room])

    def interrupting(self, under_way: int) -> None:
        # Not under self._lock: the first call comes from a signal handler,
        # perhaps on the thread that holds it.
        self._status = (f"interrupting: finishing {under_way} VM(s) under way" if under_way
                        else "interrupted: the VMs under way are finished")
        progress = self._progress
        if progress is not None:
            progress.refresh()

    def end(self) -> None:
        with self._lock:
            if self._progress is None:
                return
            for task in self._tasks.values():
                self._progress.update(task, phase="")
            self._progress.stop()
            self._progress = None
