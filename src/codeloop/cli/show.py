"""`codeloop show`: a store's per-task outcomes in the terminal, or one task in full."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codeloop.cli.common import check_sqlite, fail, out

SamplesOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--samples",
        help="The samples file an evaluate store was made from (it keeps only digests): "
        "shows each sample's program (repeatable).",
    ),
]


def show(
    store: Annotated[
        Path, typer.Argument(help="A store written by `codeloop run` or `codeloop evaluate`.")
    ],
    task_id: Annotated[
        str | None, typer.Argument(help="Show this task in full: programs, feedback, verdicts.")
    ] = None,
    only: Annotated[
        str, typer.Option(help="Which tasks the table lists: all, solved or unsolved.")
    ] = "all",
    samples: SamplesOption = None,
    limit: Annotated[
        int, typer.Option(help="At most this many programs and verdicts of one task.")
    ] = 20,
) -> None:
    """Show a store's per-task outcomes, or one task: the programs tried, the feedback
    each got, the answer and its hidden-test verdict (expected against actual)."""
    from codeloop.report.data import load_store
    from codeloop.report.terminal import summary_table, task_details, tasks_table
    from codeloop.runs.options import RunError

    check_sqlite(store, "store")
    if not store.exists():
        fail(f"no such run store: {store}")
    if only not in ("all", "solved", "unsolved"):
        fail(f"--only {only!r}: expected all, solved or unsolved")
    if limit < 1:
        fail("--limit must be at least 1")
    try:
        sources = load_store(store, samples=samples or ())
    except RunError as exc:
        fail(str(exc))
        return
    if not sources:
        fail(f"no runs or evaluations in {store}")
    if task_id is None:
        out.print(summary_table(sources))
        for source in sources:
            out.print(tasks_table(source, only=only))
        return
    found = False
    for source in sources:
        record = source.task(task_id)
        if record is not None:
            found = True
            out.print(task_details(source, record, limit=limit))
    if not found:
        known = [t.task_id for s in sources for t in s.tasks][:5]
        fail(f"no task {task_id!r} in {store} (tasks: {', '.join(known)}, ...)")
