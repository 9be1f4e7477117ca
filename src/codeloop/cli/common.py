"""What the commands share: the consoles, the options `evaluate` and `run` both take, exit
statuses, and the argument checks that turn a bad argument into one line and exit 2."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

console = Console(stderr=True)
out = Console()

# Options that `evaluate` and `run` share.
DatasetFileOption = Annotated[
    str | None, typer.Option(help="Data file for humaneval+/mbpp+ (default: env or shared).")
]
JsonOption = Annotated[Path | None, typer.Option("--json", help="Write results as JSON.")]
StoreOption = Annotated[
    Path | None, typer.Option(help="sqlite run store; rerunning with it resumes.")
]
TaskOption = Annotated[
    list[str] | None,
    typer.Option("--task", help="Only this task id (repeatable)."),
]
TasksFileOption = Annotated[
    Path | None,
    typer.Option("--tasks", help="Only the task ids in this file (one a line; # comments)."),
]
WorkersOption = Annotated[int | None, typer.Option(help="Sandbox workers (default: cores).")]
RequireIsolationOption = Annotated[
    bool,
    typer.Option(
        help="Refuse to run unless every isolation layer is in force.",
        envvar="CODELOOP_REQUIRE_ISOLATION",
    ),
]


# Exit statuses: 0 every task finished; 1 the run did not finish every task (tasks failed
# for infrastructure reasons, or the error budget stopped it); 2 bad arguments (as click's
# usage errors); 3 the sandbox cannot run here; 130 interrupted.
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_SANDBOX = 3


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print `error: message` on stderr and exit with `code` (2, a usage error, by default)."""
    # one line whatever the terminal's width: hints and paths stay whole
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def check_positive(value: float | None, option: str, *, at_least_one: bool = False) -> None:
    if value is None:
        return
    if at_least_one and value < 1:
        fail(f"{option} must be at least 1, got {value:g}")
    if value <= 0:
        fail(f"{option} must be positive, got {value:g}")


def _check_parent(path: Path, option: str) -> None:
    """A file to be written goes into a folder that exists: none is created unasked."""
    parent = path.parent
    if not parent.exists():
        fail(f"{option} {path}: the folder {parent} does not exist; create it first")
    if not parent.is_dir():
        fail(f"{option} {path}: {parent} is not a folder")


def check_output(path: Path | None, option: str) -> None:
    """Checked before the work, so that a run is not lost to a path it cannot write."""
    if path is None:
        return
    if path.is_dir():
        fail(f"{option} {path} is a folder; give a file name")
    _check_parent(path, option)


def check_sqlite(path: Path | None, option: str) -> None:
    """A store or cache option must name a sqlite file, or a file that does not exist yet."""
    if path is None:
        return
    if path.is_dir():
        fail(f"{option} {path} is a folder, not a sqlite file")
    if not path.exists():
        _check_parent(path, option)
        return
    import sqlite3

    try:
        uri = path.resolve().as_uri() + "?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            db.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as exc:
        fail(f"{option} {path} is not a sqlite file ({exc})")


def progress_bar() -> Any:
    """The progress bar of long commands (shown only on a terminal)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )


def read_task_ids(task: list[str] | None, tasks_file: Path | None) -> tuple[str, ...]:
    """The task ids of --task and --tasks FILE together, in order, once each."""
    ids = [i.strip() for i in task or [] if i.strip()]
    if tasks_file is not None:
        try:
            lines = tasks_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--tasks {tasks_file}: cannot read it ({exc.__class__.__name__})")
            raise
        picked = [line.split("#", 1)[0].strip() for line in lines]
        if not any(picked):
            fail(f"--tasks {tasks_file}: no task id in it (one a line)")
        ids += [i for i in picked if i]
    return tuple(dict.fromkeys(ids))


def parse_ks(text: str) -> tuple[int, ...]:
    """`--k 1,10,100` as (1, 10, 100); exit 2 on anything but positive integers."""
    try:
        ks = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        fail(f"--k must be a comma-separated list of integers, got {text!r}")
        raise
    if not ks or any(k < 1 for k in ks):
        fail(f"--k values must be positive integers, got {text!r}")
    return ks
