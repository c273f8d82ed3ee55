"""The one place that renders results: a plain text table, or JSON."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Dict, List, Sequence, Tuple

import click
from click.core import ParameterSource

if TYPE_CHECKING:
    from vdictl.result import Report, VmResult

FORMATS = ("table", "json")

output_option = click.option(
    "--output", "-o", type=click.Choice(FORMATS), default="table", show_default=True,
    help="Output format. The JSON shape is documented in docs/output.md.")
# Off a terminal, a table nobody asked for (-o not given) is printed only when
# a VM failed or was left alone in use, and then only those rows, so that cron
# mails only failures and the desks left dirty.
report_output_option = click.option(
    "--output", "-o", type=click.Choice(FORMATS), default="table",
    help="Output format (default: table; when stdout is not a terminal, only the failed "
         "VMs, the VMs left alone in use, and the total, and nothing if none). The JSON "
         "shape is documented in docs/output.md.")


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
    not-started VMs otherwise, so that the mail cron sends is about them, and
    the VMs left alone because somebody was at them (who, since when), so that
    the mail says which desks the night left dirty. Many VMs failed for one
    cause are said once (vdictl.records.causes); the JSON keeps every VM."""
    from vdictl.result import Outcome

    if output == "json":
        echo_json(report.to_dict())
        return
    dry_run = any(r.outcome is Outcome.PLANNED for r in report.results)
    asked = dry_run or output_given() or (stdout_is_terminal() and not quiet)
    left_dirty = [r for r in report.results if r.in_use is not None]
    if not (report.failed or asked or left_dirty):
        return
    for note in report.notes:
        click.echo(f"note: {note}")
    failing = (Outcome.FAILED, Outcome.NOT_STARTED)
    shown = report.results if asked else [r for r in report.results
                                          if r.outcome in failing or r.in_use is not None]
    lines, listed = grouped_failures(report.action, shown)
    for line in lines:
        click.echo(line)
    rows: List[List[Any]] = []
    for r in listed:
        detail = "; ".join(part for part in (", ".join(r.steps), r.reason) if part)
        rows.append([r.room, r.vm, r.action, r.outcome.value, detail])
    if rows:
        click.echo(format_table(["room", "vm", "action", "result", "details"], rows))
    click.echo(summary_line(report))


def grouped_failures(action: str, results: Sequence[VmResult],
                     ) -> Tuple[List[str], List[VmResult]]:
    """The lines of the causes many of `results` failed for, and the results
    left to list one by one, in their order."""
    from vdictl.records.causes import group_lines
    from vdictl.result import Outcome

    failing = (Outcome.FAILED, Outcome.NOT_STARTED)
    failed = [i for i, r in enumerate(results) if r.outcome in failing]
    lines, rest = group_lines([(results[i].room, results[i].vm, results[i].reason)
                               for i in failed], action)
    said = set(failed) - {failed[i] for i in rest}
    return lines, [r for i, r in enumerate(results) if i not in said]
