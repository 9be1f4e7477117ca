"""`codeloop compare`: the runs and evaluations kept in stores, side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from codeloop.cli.common import check_output, check_sqlite, console, fail, out


def compare(
    stores: Annotated[
        list[Path],
        typer.Argument(help="Stores written by `codeloop run --store` or `evaluate --store`."),
    ],
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Also write the table as CSV to this file.")
    ] = None,
    markdown_out: Annotated[
        Path | None,
        typer.Option("--markdown", help="Also write the table as markdown to this file."),
    ] = None,
) -> None:
    """Print the runs and evaluations kept in stores side by side: scores and costs."""
    from codeloop.runs.compare import RunSummary, compare_table, summarize
    from codeloop.runs.options import RunError

    for path in stores:
        check_sqlite(path, "store")
    check_output(csv_out, "--csv")
    check_output(markdown_out, "--markdown")
    summaries = []
    try:
        for path in dict.fromkeys(p.resolve() for p in stores):
            summaries += summarize(path)
    except RunError as exc:
        fail(str(exc))
        return
    if not summaries:
        fail("no runs or evaluations in " + ", ".join(str(p) for p in stores))
        return
    result = compare_table(summaries)
    table = Table(title="runs and evaluations")
    for name, right in zip(result.headers, result.numeric, strict=True):
        table.add_column(name, justify="right" if right else "left")
    for row in result.rows:
        table.add_row(*(escape(cell) for cell in row))
    # A table this wide is unreadable folded to 80 columns: pipes and files get it whole.
    (out if out.is_terminal else Console(width=240)).print(table)
    if csv_out is not None:
        csv_out.write_text(result.csv(), encoding="utf-8")
    if markdown_out is not None:
        markdown_out.write_text(result.markdown(), encoding="utf-8")
    runs = [s for s in summaries if isinstance(s, RunSummary)]
    budgets = {json.dumps(s.config.get("budget"), sort_keys=True) for s in runs}
    if len(budgets) > 1:
        console.print(
            "[yellow]note:[/] the runs had different per-task budgets ("
            + "; ".join(sorted({str(s.config.get("per_task_budget")) for s in runs}))
            + "): this is not a comparison at equal budget"
        )
    datasets = {(s.config.get("dataset"), s.tasks) for s in summaries}
    if len(datasets) > 1:
        console.print(
            "[yellow]note:[/] the rows cover different datasets or numbers of tasks; "
            "scores are over each row's own tasks"
        )
    for s in runs:
        if s.last_stop not in ("complete", ""):
            console.print(f"[yellow]note:[/] {Path(s.store).name} ({s.run_key}): {s.last_stop}")
