"""The Prometheus textfile ([logging] metrics_file): the last run of each
command in each room, rebuilt from the run records (vdictl.records.history) after
every run.

node_exporter's textfile collector reads *.prom files, possibly while one is
being written: prometheus_client writes a temporary file in the same
directory and renames it over the old one. A lock beside the records makes
two runs that end together write one after the other, each from every
record, so the file never goes back to an older state.
"""

from __future__ import annotations

import fcntl
import os
from typing import Iterable

from vdictl.records import history

OUTCOMES = ("ok", "failed", "skipped", "not-started")


def write_metrics(path: str, directory: str, rooms: Iterable[str]) -> None:
    """Rewrite `path` from the records in `directory`, for the rooms of the config;
    OSError if it cannot."""
    from prometheus_client import write_to_textfile

    os.makedirs(directory, mode=0o755, exist_ok=True)
    with open(os.path.join(directory, "metrics.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        write_to_textfile(path, _registry(directory, rooms))


def _registry(directory: str, rooms: Iterable[str]):
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    labels = ["command", "room"]
    last_run = Gauge("vdictl_last_run_timestamp_seconds",
                     "When the last run of the command in the room ended (started, if it "
                     "never ended).", labels, registry=registry)
    last_success = Gauge("vdictl_last_success_timestamp_seconds",
                         "When the last run of the command over the whole room ended with "
                         "no VM failed; 0 if none is on record.", labels, registry=registry)
    failed = Gauge("vdictl_last_run_failed",
                   "1 if a VM of the room failed or was not done in the last run, or the "
                   "run failed as a whole or never ended; else 0.", labels, registry=registry)
    duration = Gauge("vdictl_run_duration_seconds",
                     "How long the last run of the command in the room took.", labels,
                     registry=registry)
    vms = Gauge("vdictl_vms", "VMs of the room in the last run of the command, by outcome.",
                labels + ["outcome"], registry=registry)
    for room in rooms:
        for command, run in history.last_runs(directory, room).items():
            if run.result == "running":
                continue
            last_run.labels(command, room).set(run.when or 0)
            success = history.last_success(directory, room, command)
            last_success.labels(command, room).set((success.when or 0) if success else 0)
            failed.labels(command, room).set(0 if run.result == "ok" else 1)
            duration.labels(command, room).set(run.duration or 0)
            for outcome in OUTCOMES:
                vms.labels(command, room, outcome).set(run.counts.get(outcome, 0))
    return registry
