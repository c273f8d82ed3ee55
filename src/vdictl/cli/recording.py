"""The run record and the metrics file of a run that changes VMs.

A record that cannot be written is a warning on stderr (monitoring would go
blind, so cron should mail it), never a failure of the run; a run that
succeeded and wrote both prints nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional

from vdictl.records import history

if TYPE_CHECKING:
    from vdictl.config.rooms import Room
    from vdictl.result import Report

    from .app import AppContext


class RunRecorder:
    """Writes <state dir>/runs/<command>/<run>.json at the start and end of a run."""

    def __init__(self, app: AppContext, command: str, rooms: List[Room]):
        self.app = app
        self.settings = app.config.logging
        self.directory = history.state_dir(self.settings.state_dir)
        whole = app.config.rooms
        self.command = command
        self.rooms = [room.name for room in rooms]
        self.only_vms = [spec.name for room in rooms
                         if len(room.vms) != len(whole[room.name].vms) for spec in room.vms]
        self.record: Optional[history.RunRecord] = None
        self.warned: set = set()

    def start(self) -> None:
        """The "running" record, once the run holds its rooms' locks (its start time
        leaves out the wait for them)."""
        from .delegation import run_by

        self.record = history.RunRecord(self.directory, self.command, self.rooms,
                                        self.only_vms, run_by=run_by(self.app.delegation))
        try:
            self.record.start()
        except OSError as exc:
            self.warn("write the run record", exc)

    def finish(self, *, exit_status: int, report: Optional[Report] = None,
               error: str = "") -> None:
        """The run's end: replace the record, prune old ones, rewrite the metrics."""
        if self.record is None:  # stopped before it held its locks: nothing was done
            return
        vms = [r.to_dict() for r in report.results] if report else []
        status = ("error" if error or report is None else report.status)
        try:
            self.record.finish(exit_status=exit_status, status=status, vms=vms,
                               notes=report.notes if report else (), error=error,
                               duration=report.duration if report else None)
            history.prune(self.directory, self.command, self.settings.keep_runs)
        except OSError as exc:
            self.warn("write the run record", exc)
        if self.settings.metrics_file:
            from vdictl.records.metrics import write_metrics

            try:
                write_metrics(self.settings.metrics_file, self.directory,
                              list(self.app.config.rooms))
            except OSError as exc:
                self.warn(f"write the metrics file {self.settings.metrics_file}", exc,
                          key="metrics_file")

    def warn(self, what: str, exc: OSError, key: str = "state_dir") -> None:
        """One warning per thing that cannot be written, however often it fails."""
        if what in self.warned:
            return
        self.warned.add(what)
        where = exc.filename or self.directory
        self.app.warn(f"cannot {what}: {where}: {exc.strerror or exc} ([logging] {key})")
