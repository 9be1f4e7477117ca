"""`codeloop report`: one self-contained HTML page of stores' runs and evaluations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codeloop.cli.common import check_output, check_sqlite, console, fail
from codeloop.cli.show import SamplesOption


def report(
    stores: Annotated[
        list[Path],
        typer.Argument(help="Stores written by `codeloop run --store` or `evaluate --store`."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    samples: SamplesOption = None,
    title: Annotated[str, typer.Option(help="The page's title.")] = "codeloop report",
) -> None:
    """Write one HTML file (no server, no network) of runs and evaluations side by side:
    summary, plots, a sortable and filterable task table, and each task's programs,
    feedback, hidden-test verdicts and trace."""
    import time

    from codeloop.report.data import load_stores
    from codeloop.report.html import render_report
    from codeloop.runs.options import RunError

    for path in stores:
        check_sqlite(path, "store")
        if not path.exists():
            fail(f"no such run store: {path}")
    check_output(output, "--output")
    started = time.perf_counter()
    try:
        sources = load_stores(stores, samples=samples or ())
    except RunError as exc:
        fail(str(exc))
        return
    if not sources:
        fail("no runs or evaluations in " + ", ".join(str(p) for p in stores))
    page = render_report(sources, title=title)
    output.write_text(page, encoding="utf-8")
    tasks = len({t.task_id for s in sources for t in s.tasks})
    console.print(
        f"wrote {output} ({len(page.encode()) / 1e6:.1f} MB: {len(sources)} runs/evaluations, "
        f"{tasks} tasks) in {time.perf_counter() - started:.1f}s",
        markup=False,
        highlight=False,
    )
