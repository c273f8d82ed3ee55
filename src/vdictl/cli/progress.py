"""Live progress on a terminal: one bar per room, VMs done / total, the time
elapsed and the latest phase; above the bars, a batch pause with its
countdown, and after a signal how many VMs are still being finished; above
those, each failed VM as it fails. Drawn with rich
(imported only when a terminal is there).

Off a terminal (cron, pipes) nothing is drawn: the log lines and the final
summary are all the output.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from typing import IO, Callable, Dict, Iterable, Mapping, Optional

from vdictl.config.rooms import VmSpec
from vdictl.ops.progress import ProgressObserver

#: the bar is short, so that done/total and the time elapsed fit in 80 columns
BAR_WIDTH = 12
#: a room's label ("reset lab1") gets at most this many columns
LABEL_WIDTH = 24


def wants_progress(output: str, stream: IO = sys.stderr) -> bool:
    """Progress only for people: a table run with stderr on a terminal."""
    return output == "table" and stream.isatty()


def tell_waiting(room: str, holder: Optional[int], seconds: float) -> None:
    """A run waits for a room lock: say so on a terminal, and in the audit trail."""
    import logging

    import click

    line = (f"waiting for room {room} ({f'pid {holder}' if holder else 'another vdictl run'}) "
            f"up to {max(1, round(seconds))} s")
    logging.getLogger("vdictl.audit").info("%s", line)
    if sys.stderr.isatty():
        click.echo(line, err=True)


def pause_line(what: str, until: float, now: float) -> str:
    """'snapshot batch pause: next batch in 7 s', or '' once the pause is over."""
    left = until - now
    if left <= 0:
        return ""
    return f"{what} batch pause: next batch in {max(1, round(left))} s"


class RoomProgress(ProgressObserver):
    """A rich progress display, one task per room, on `stream` (stderr)."""

    def __init__(self, stream: Optional[IO] = None, *, force_terminal: Optional[bool] = None,
                 width: Optional[int] = None):
        from rich.console import Console

        self._console = Console(file=stream or sys.stderr, force_terminal=force_terminal,
                                width=width)
        self._progress = None
        self._tasks: Dict[str, int] = {}
        self._lock = threading.Lock()
        self._pause: Optional[tuple] = None     # (what, until)
        self._interrupt = ""                    # set by interrupting()

    def status(self) -> str:
        """The line above the bars: after a signal, how many VMs are being
        finished; a batch pause while one lasts."""
        pause = self._pause
        line = pause_line(pause[0], pause[1], time.monotonic()) if pause else ""
        if self._interrupt:
            return f"{self._interrupt}; {line}" if line else self._interrupt
        return line

    def begin(self, action: str, totals: Mapping[str, int]) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.table import Column

        self._progress = bars = _bars_class()(
            self.status,
            TextColumn("{task.description}", table_column=Column(
                max_width=LABEL_WIDTH, no_wrap=True, overflow="ellipsis")),
            BarColumn(bar_width=BAR_WIDTH), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[phase]}", table_column=Column(
                ratio=1, no_wrap=True, overflow="ellipsis")),
            console=self._console, transient=False, expand=True)
        for room, total in totals.items():
            self._tasks[room] = bars.add_task(f"{action} {room}", total=total,
                                                        phase="")
        bars.start()

    def phase(self, spec: VmSpec, text: str) -> None:
        with self._lock:
            if self._progress is not None and spec.room in self._tasks:
                self._progress.update(self._tasks[spec.room], phase=f"{spec.name}: {text}")

    def pause(self, what: str, until: float) -> None:
        self._pause = (what, until)

    def done(self, spec: VmSpec, outcome: str, reason: str = "") -> None:
        with self._lock:
            if self._progress is None or spec.room not in self._tasks:
                return
            if outcome == "failed":
                from rich.text import Text

                # above the bars, when it happens: not only in the final table
                reason = reason[len(spec.name) + 2:] if reason.startswith(
                    f"{spec.name}: ") else reason
                self._progress.console.print(
                    Text(f"failed: {spec.name} (room {spec.room}): {reason}", style="red"),
                    soft_wrap=True)
            self._progress.advance(self._tasks[spec.room])

    def interrupting(self, under_way: int) -> None:
        # Not under self._lock: the first call comes from a signal handler,
        # perhaps on the thread that holds it.
        self._interrupt = (f"interrupting: finishing {under_way} VM(s) under way" if under_way
                           else "interrupted: the VMs under way are finished")
        progress = self._progress
        if progress is not None:
            progress.refresh()

    def end(self) -> None:
        with self._lock:
            if self._progress is None:
                return
            self._pause = None
            for task in self._tasks.values():
                self._progress.update(task, phase="")
            self._progress.stop()
            self._progress = None


@functools.lru_cache(maxsize=None)
def _bars_class() -> type:
    """rich's Progress, whose display starts with the line status() gives, if any
    (built on first use: rich loads only when a terminal is there)."""
    from rich.progress import Progress
    from rich.text import Text

    class Bars(Progress):
        def __init__(self, status: Callable[[], str], *columns, **options):
            self.status = status
            super().__init__(*columns, **options)

        def get_renderables(self) -> Iterable:
            line = self.status()
            if line:
                yield Text(line, style="yellow", no_wrap=True, overflow="ellipsis")
            yield self.make_tasks_table(self.tasks)

    return Bars
