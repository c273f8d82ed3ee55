"""The one place that renders results: a plain text table, or JSON."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Dict, List, Sequence

import click
from click.core import ParameterSource

if TYPE_CHECKING:
    from vdictl.result import Report

FORMATS = ("table", "json")

output_option = click.option(
    "--output", "-o", type=click.Choice(FORMATS), default="table", show_default=True,
    help="Output format. The JSON shape is documented in docs/output.md.")
# Off a terminal, a table nobody asked for (-o not given) is printed only when
# a VM failed, and then only its failed rows, so that cron mails only failures.
report_output_option = click.option(
    "--output", "-o", type=click.Choice(FORMATS), default="table",
    help="Output format (default: table; when stdout is not a terminal, only the failed "
         "VMs and the total, and nothing if none failed). The JSON shape is documented "
         "in docs/output.md.")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def echo_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, sort_keys=False))


def summary_line(report: Report) -> str:
    from vdictl.result import Outcome

    counts: Dict[str, int] = {}
    for result in report.results:
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    order = [o.value for o in Outcome]
    parts = [f"{counts[k]} {k}" + (f" ({report.skipped_in_use} in use)"
                                   if k == Outcome.SKIPPED.value and report.skipped_in_use
                                   else "") for k in order if counts.get(k)]
    line = f"{report.action}: {len(report.results)} VM(s): " + (", ".join(parts) or "nothing to do")
    # some VMs done, some not (one host down, say): the JSON's "status" in words
    return line + " (partial)" if report.status == "partial" else line


def stdout_is_terminal() -> bool:
    return sys.stdout is not None and sys.stdout.isatty()


def output_given() -> bool:
    """Whether the running command's --output came from the command line."""
    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source("output") if ctx is not None else None
    return source not in (None, ParameterSource.DEFAULT)


def echo_report(report: Report, output: str, *, quiet: bool = False) -> None:
    """Print the per-VM summary. A table nobody asked for (off a terminal or
    with -q, no --output) is silent on success and shows only the failed and
    not-started VMs otherwise, so that the mail cron sends is about them."""
    from vdictl.result import Outcome

    if output == "json":
        echo_json(report.to_dict())
        return
    dry_run = any(r.outcome is Outcome.PLANNED for r in report.results)
    asked = dry_run or output_given() or (stdout_is_terminal() and not quiet)
    if not (report.failed or asked):
        return
    for note in report.notes:
        click.echo(f"note: {note}")
    rows: List[List[Any]] = []
    for r in (report.results if asked else report.failed):
        detail = "; ".join(part for part in (", ".join(r.steps), r.reason) if part)
        rows.append([r.room, r.vm, r.action, r.outcome.value, detail])
    if rows:
        click.echo(format_table(["room", "vm", "action", "result", "details"], rows))
    click.echo(summary_line(report))
