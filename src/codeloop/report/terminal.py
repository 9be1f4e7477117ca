"""`codeloop show` in the terminal: a run's per-task outcomes, and one task in full.

Every text that comes from a model, a program or a test is put on screen as a rich `Text`
(never parsed as console markup), so `[bold]` or escape codes in a program stay as written.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from codeloop.report.data import Source, Summary, TaskRecord, Verdict

__all__ = ["summary_table", "task_details", "tasks_table"]


def _plain(text: str) -> Text:
    # control characters (escape sequences) shown, not obeyed
    cleaned = "".join(
        ch if ch in "\n\t" or ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text
    )
    return Text(cleaned)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def summary_table(sources: Sequence[Source]) -> Table:
    """The runs and evaluations side by side, one column each: what ran, pass@k by group of
    hidden tests, cost, wall time, errors."""
    table = Table(title="summary")
    table.add_column("")
    for source in sources:
        table.add_column(_plain(source.summary.label))
    rows: list[tuple[str, list[str]]] = [
        ("kind", [s.summary.kind for s in sources]),
        ("dataset", [s.summary.dataset for s in sources]),
        ("strategy", [_strategy(s.summary) for s in sources]),
        ("model", [s.summary.model for s in sources]),
        ("per-task budget", [s.summary.budget for s in sources]),
        ("tasks", [str(s.summary.tasks) for s in sources]),
        ("samples", [str(s.summary.samples) for s in sources]),
        ("errors", [str(s.summary.errors) for s in sources]),
    ]
    groups: list[str] = []
    for source in sources:
        groups += [g for g in source.summary.pass_at_k if g not in groups]
    ks = sorted({int(k) for s in sources for row in s.summary.pass_at_k.values() for k in row})
    for group in groups:
        for k in ks:
            rows.append(
                (
                    f"pass@{k} {group}",
                    [_percent(s.summary.pass_at_k.get(group, {}).get(str(k))) for s in sources],
                )
            )
    for name in ("calls", "tokens", "executions"):
        rows.append((name, [_num(s.summary.cost.get(name)) for s in sources]))
    rows.append(("$", [_money(s.summary.cost.get("cost_usd")) for s in sources]))
    rows.append(("wall s", [_wall(s.summary.wall_s) for s in sources]))
    rows.append(("isolation", [_isolation(s.summary) for s in sources]))
    rows.append(("last stop", [s.summary.stop or "-" for s in sources]))
    for name, cells in rows:
        table.add_row(_plain(name), *(_plain(c) for c in cells))
    return table


def _money(value: object) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.4f}"


def _wall(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _isolation(summary: Summary) -> str:
    if summary.isolation is None:
        return "not recorded"
    layers = summary.isolation.get("layers") or []
    active = [str(layer.get("name")) for layer in layers if layer.get("active")]
    missing = summary.isolation.get("missing") or []
    text = ", ".join(active) or "none"
    return text + (f" (missing: {', '.join(map(str, missing))})" if missing else "")


def _num(value: object) -> str:
    return "-" if value is None else str(value)


def _strategy(summary: Summary) -> str:
    text = summary.strategy
    if summary.settings:
        text += " " + ",".join(f"{k}={v}" for k, v in summary.settings.items())
    return text


def _outcome(record: TaskRecord, kind: str) -> Text:
    if record.failure:
        return Text("no result", style="yellow")
    if record.error:
        return Text("error", style="red")
    if kind == "evaluate":
        style = "green" if record.passed == record.samples else "yellow" if record.passed else "red"
        return Text(f"{record.passed}/{record.samples}", style=style)
    return Text("solved", style="green") if record.solved else Text("failed", style="red")


def tasks_table(source: Source, *, only: str = "all") -> Table:
    """The per-task outcomes of one run or evaluation; `only`: all, solved or unsolved."""
    s = source.summary
    table = Table(title=_plain(f"{s.label}: {s.kind} of {_dataset_name(s.dataset)}"))
    widest = max((len(r.task_id) for r in source.tasks), default=4)
    table.add_column("task", no_wrap=True, min_width=min(widest, 40))
    table.add_column("outcome", no_wrap=True)
    table.add_column("programs", justify="right")
    if s.kind == "run":
        table.add_column("calls", justify="right")
        table.add_column("tokens", justify="right")
    table.add_column("wall s", justify="right")
    table.add_column("hidden tests")
    table.add_column("note")
    for record in source.tasks:
        if only == "solved" and not record.solved or only == "unsolved" and record.solved:
            continue
        row: list[RenderableType] = [
            _plain(record.task_id),
            _outcome(record, s.kind),
            str(record.programs_tried),
        ]
        if s.kind == "run":
            row += [str(record.usage.get("calls", 0)), str(_tokens(record))]
        row += [
            f"{record.wall_s:.2f}",
            _plain(_groups(record)),
            _plain(
                (record.error or record.note).splitlines()[0][:120]
                if record.error or record.note
                else ""
            ),
        ]
        table.add_row(*row)
    return table


def _dataset_name(dataset: str) -> str:  # a path's last part, or the name itself
    return dataset.rstrip("/").rsplit("/", 1)[-1]


def _tokens(record: TaskRecord) -> int:
    return int(record.usage.get("prompt_tokens", 0) or 0) + int(
        record.usage.get("completion_tokens", 0) or 0
    )


def _groups(record: TaskRecord) -> str:
    return " ".join(f"{g}:{'pass' if ok else 'fail'}" for g, ok in record.groups.items())


def _verdict_lines(verdict: Verdict, label: str) -> Iterator[RenderableType]:
    head = Text(f"{label}: {verdict.status}", style="green" if verdict.passed else "red")
    groups = " ".join(f"{g}={'pass' if ok else 'fail'}" for g, ok in verdict.groups.items())
    head.append(f"  ({groups}; tests {verdict.statuses})" if groups else "")
    yield head
    for failure in verdict.failures[:5]:
        table = Table(show_header=False, box=None, padding=(0, 1))
        table.add_column(style="bold")
        table.add_column()
        for key in ("test", "status", "expected", "actual", "exception", "message", "traceback"):
            if failure.get(key) not in (None, ""):
                table.add_row(key, _plain(str(failure[key])))
        if "test" not in failure and "i" in failure:
            table.add_row("hidden test", str(failure["i"]))
        yield Panel(table, title="failing test", title_align="left", border_style="red")
    if len(verdict.failures) > 5:
        yield Text(f"... and {len(verdict.failures) - 5} more failing tests")


def task_details(source: Source, record: TaskRecord, *, limit: int = 20) -> Group:
    """One task: prompt, visible tests, each program tried (a diff from the one before) with
    the feedback it got, then the answer(s) and their hidden-test verdicts."""
    parts: list[RenderableType] = []
    title = Text(f"{record.task_id}  ({source.summary.label})", style="bold")
    parts.append(title)
    if record.prompt is not None:
        parts.append(Panel(_plain(record.prompt.rstrip()), title="prompt", title_align="left"))
    else:
        parts.append(Text("prompt: not available (the dataset could not be loaded)"))
    if record.visible_tests:
        parts.append(
            Panel(
                _plain("\n".join(record.visible_tests)), title="visible tests", title_align="left"
            )
        )
    if record.error:
        parts.append(Panel(_plain(record.error), title="error", border_style="red"))
    if record.note:
        parts.append(Text("note: ").append(_plain(record.note)))
    previous: str | None = None
    for number, attempt in enumerate(record.attempts[:limit], start=1):
        body: list[RenderableType] = []
        if previous is None:
            body.append(_plain(attempt.program.rstrip()))
        else:
            diff = "".join(
                difflib.unified_diff(
                    previous.splitlines(keepends=True),
                    attempt.program.splitlines(keepends=True),
                    "before",
                    "after",
                    n=2,
                )
            )
            body.append(_plain((diff or "(same program as before)").rstrip()))
        for line in attempt.executions:
            body.append(Text("ran: ", style="bold").append(_plain(line)))
        for text in attempt.feedback:
            body.append(Panel(_plain(text.rstrip()), title="feedback", title_align="left"))
        kind = "diff from the program before" if previous is not None else "program"
        parts.append(
            Panel(
                Group(*body),
                title=f"program {number} of {len(record.attempts)} ({kind}; calls so far "
                f"{attempt.calls_before})",
                title_align="left",
            )
        )
        previous = attempt.program
    if len(record.attempts) > limit:
        parts.append(Text(f"... {len(record.attempts) - limit} more programs (--limit)"))
    kind = source.summary.kind
    for verdict in record.verdicts[:limit]:
        label = f"answer rank {verdict.index}" if kind == "run" else f"sample {verdict.index}"
        body = []
        if verdict.program is not None and (kind == "evaluate" or verdict.index == 0):
            body.append(_plain(verdict.program.rstrip()))
        body += list(_verdict_lines(verdict, "hidden tests"))
        parts.append(Panel(Group(*body), title=label, title_align="left"))
    if len(record.verdicts) > limit:
        parts.append(Text(f"... {len(record.verdicts) - limit} more verdicts (--limit)"))
    if not record.verdicts and not record.error:
        parts.append(Text("no hidden-test verdict yet"))
    return Group(*parts)
