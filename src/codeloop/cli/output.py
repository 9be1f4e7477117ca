"""How the commands print their reports: the pass@k tables, the notes and warnings under
them, and the JSON file `--json` asks for."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from codeloop.cli.common import console, out


def write_json(
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


def print_evaluate_report(report: Any) -> None:
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


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def print_run_report(report: Any) -> None:
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
