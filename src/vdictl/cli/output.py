"""The one place that renders results: a plain text table, or JSON."""

from __future__ import annotations

import json
import sys
from typing import Any, Dict, List, Optional, Sequence

import click

from vdictl.result import Outcome, Report

FORMATS = ("table", "json")

# No default value: a summary table that nobody asked for stays quiet off a
# terminal when all went well, so cron mails only failures.
output_option = click.option(
    "--output", "-o", type=click.Choice(FORMATS), default=None,
    help="Output format (default: table). The JSON shape is documented in docs/output.md. "
         "Without --output, a run that succeeded prints nothing when stdout is not a terminal.")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def summary_line(report: Report) -> str:
    counts: Dict[str, int] = {}
    for result in report.results:
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    order = [o.value for o in Outcome]
    parts = [f"{counts[k]} {k}" for k in order if counts.get(k)]
    return f"{report.action}: {len(report.results)} VM(s): " + (", ".join(parts) or "nothing to do")


def stdout_is_terminal() -> bool:
    return sys.stdout is not None and sys.stdout.isatty()


def echo_report(report: Report, output: Optional[str]) -> None:
    """Print the per-VM summary; `output` None is the table, quiet on success off a terminal."""
    if output == "json":
        echo_json(report.to_dict())
        return
    dry_run = any(r.outcome is Outcome.PLANNED for r in report.results)
    if output is None and not report.failed and not dry_run and not stdout_is_terminal():
        return
    for note in report.notes:
        click.echo(f"note: {note}")
    rows: List[List[Any]] = []
    for r in report.results:
        detail = "; ".join(part for part in (", ".join(r.steps), r.reason) if part)
        rows.append([r.room, r.vm, r.action, r.outcome.value, detail])
    if rows:
        click.echo(format_table(["room", "vm", "action", "result", "details"], rows))
    click.echo(summary_line(report))
