"""`codeloop run`: solve a dataset's tasks with a strategy and a model, then score them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from codeloop.cli.common import (
    EXIT_INCOMPLETE,
    EXIT_SANDBOX,
    DatasetFileOption,
    JsonOption,
    RequireIsolationOption,
    StoreOption,
    TaskOption,
    TasksFileOption,
    WorkersOption,
    check_output,
    check_positive,
    check_sqlite,
    console,
    fail,
    parse_ks,
    progress_bar,
    read_task_ids,
)
from codeloop.cli.output import print_run_report, write_json


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
        fail(str(exc))
        return
    check_positive(workers, "--workers", at_least_one=True)
    check_positive(concurrency, "--concurrency", at_least_one=True)
    if max_errors is not None and max_errors < 0:
        fail(f"--max-errors must be 0 or more, got {max_errors}")
    check_sqlite(store, "--store")
    check_sqlite(cache, "--cache")
    check_output(json_out, "--json")
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
            task_ids=read_task_ids(task, tasks_file),
            dataset_file=dataset_file,
            task_options=dict(parse_setting(item) for item in task_option or []),
            store=str(store) if store else None,
            cache=str(cache) if cache else None,
            use_cache=not no_cache,
            workers=workers,
            concurrency=concurrency,
            max_errors=max_errors,
            ks=parse_ks(k),
            timeout_s=timeout,
            calibrated=calibrated,
            require_isolation=require_isolation,
        )
    except RunError as exc:
        fail(str(exc))
        return

    progress = progress_bar()
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
        fail(str(exc))
        return
    except ModelError as exc:  # the model could not be loaded: --model names no usable model
        fail(f"model: {exc}")
        return
    except SandboxError as exc:
        fail(f"sandbox: {exc}", code=EXIT_SANDBOX)
        return

    print_run_report(report)
    write_json(json_out, report.to_json(), default=str)
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
            fail(f"--model-option {item!r}: expected key=value, e.g. timeout_s=60")
        options[key] = value
    problem = check_options(spec, options)
    if problem:
        fail(problem)
    return options
