"""`codeloop report`: one self-contained HTML file of one or more runs and evaluations.

The page is static HTML (the summary, escaped here) plus data: the task table's rows and
the plots' figures in one `<script type="application/json">` block, and each task's
details (programs, feedback, verdicts, trace) in a block of its own, gzipped, that the page
unpacks and parses only when the task is opened, so a 16,400-sample store opens about as
fast as a small one.
Plots are drawn by plotly.js, inlined from the `plotly` package: the file needs no network.

Untrusted text (programs, model output, test values) never becomes markup: the summary
escapes it with `html.escape`, the data blocks are JSON with `<`, `>` and `&` written as
`\\u003c`-style escapes (so no `</script>` can end a block), and the page's script puts
every string on screen with `textContent`.
"""

from __future__ import annotations

import base64
import difflib
import gzip
import html
import json
import time
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from codeloop.report.data import Source, TaskRecord

__all__ = [
    "figures",
    "json_block",
    "packed_block",
    "page_data",
    "render_report",
    "summary_html",
    "task_data",
]

CAP = 4000  # characters kept of a test value, traceback or output shown in the page
LIVE_POLL_MS = 2000


# --------------------------------------------------------------------------- the data


def _cap(value: Any) -> Any:
    if isinstance(value, str) and len(value) > CAP:
        return value[:CAP] + f"... ({len(value) - CAP} more characters)"
    return value


def _capped_failures(failures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _cap(v) for k, v in f.items()} for f in failures[:20]]


def _task_ids(sources: Sequence[Source]) -> list[str]:
    seen: dict[str, tuple[int, int]] = {}
    for number, source in enumerate(sources):
        for record in source.tasks:
            seen.setdefault(record.task_id, (number, record.position))
    return sorted(seen, key=lambda t: seen[t])


def page_data(sources: Sequence[Source], *, title: str = "codeloop report") -> dict[str, Any]:
    """What the page's first render needs: summaries, one row per task, the figures."""
    ids = _task_ids(sources)
    lookup = [{r.task_id: r for r in s.tasks} for s in sources]
    rows = []
    for task_id in ids:
        cells = [
            table.get(task_id).row_json() if task_id in table else None  # type: ignore[union-attr]
            for table in lookup
        ]
        rows.append({"id": task_id, "cells": cells})
    return {
        "title": title,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "sources": [s.summary.to_json() for s in sources],
        "rows": rows,
        "figures": figures(sources),
    }


def _parent_program(record: TaskRecord) -> dict[int, int]:
    """program node -> the nearest program above it in the trace (what it repairs)."""
    by_id = {n.id: n for n in record.trace}
    found: dict[int, int] = {}
    for node in record.trace:
        if node.kind != "program":
            continue
        parent = node.parent
        while parent is not None and parent in by_id:
            if by_id[parent].kind == "program":
                found[node.id] = parent
                break
            parent = by_id[parent].parent
    return found


def _diff(before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            "before",
            "after",
            n=2,
        )
    )


def _record_detail(record: TaskRecord) -> dict[str, Any]:
    """The task's details as the page reads them.  Each program's text is sent once: an
    attempt, and a verdict whose program the trace holds, name the trace node instead."""
    data = record.detail_json()
    programs = {n.id: n.content for n in record.trace if n.kind == "program"}
    node_of = {text: node for node, text in reversed(programs.items())}
    repairs = _parent_program(record)
    for attempt in data["attempts"]:
        parent = repairs.get(attempt["node"])
        if parent is not None:
            attempt["repairs"] = parent
            attempt["diff"] = _diff(programs[parent], attempt["program"])
        if attempt["node"] in programs:
            del attempt["program"]
    for verdict in data["verdicts"]:
        verdict["failures"] = _capped_failures(verdict["failures"])
        if verdict["program"] in node_of:
            verdict["node"] = node_of[verdict.pop("program")]
    for node in data["trace"]:
        meta = node["metadata"]
        raw = meta.get("raw")
        if isinstance(raw, str) and raw.strip() and raw.strip() in node["content"]:
            del meta["raw"]  # the program holds the model's output whole
        node["metadata"] = {k: _cap(v) for k, v in meta.items()}
    return data


def task_data(sources: Sequence[Source], task_id: str) -> dict[str, Any]:
    """One task's page: its prompt and visible tests, and per source its details."""
    details: list[dict[str, Any] | None] = []
    prompt: str | None = None
    visible: list[str] = []
    for source in sources:
        record = source.task(task_id)
        if record is None:
            details.append(None)
            continue
        prompt = prompt if prompt is not None else record.prompt
        visible = visible or record.visible_tests
        data = _record_detail(record)
        data.pop("prompt", None)
        data.pop("visible_tests", None)
        details.append(data)
    return {"id": task_id, "prompt": prompt, "visible_tests": visible, "details": details}


# ------------------------------------------------------------------------------ figures


def _primary(summary: dict[str, Any]) -> str:
    groups = summary["groups"]
    return str(groups[-1]) if groups else "base"


def plotly_text(text: str) -> str:
    """`text` for a Plotly name, label or hover text: its markup characters as entities
    (Plotly shows them as the characters and makes no tag of them)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def figures(sources: Sequence[Source]) -> list[dict[str, Any]]:
    """plotly figures (data + layout, plain JSON) of the sources."""
    out: list[dict[str, Any]] = []
    summaries = [s.summary.to_json() for s in sources]
    # Plotly reads <a>, <b>, <br> ... in names and labels as its own markup: labels and task
    # ids are store text, so escaped; numbered as in the tables, so two stores with the same
    # name stay two rows of the grid
    for number, summary in enumerate(summaries, start=1):
        summary["label"] = plotly_text(f"({number}) {summary['label']}")
    runs = [(s, m) for s, m in zip(sources, summaries, strict=True) if m["kind"] == "run"]
    evals = [(s, m) for s, m in zip(sources, summaries, strict=True) if m["kind"] == "evaluate"]
    # pass@k against cost
    for axis, key, title in (("calls", "calls", "model calls"), ("tokens", "tokens", "tokens")):
        data: list[dict[str, Any]] = []
        for _source, summary in runs:
            tasks = max(1, summary["tasks"])
            group = _primary(summary)
            row = summary["pass_at_k"].get(group, {})
            cost = summary["cost"].get(key) or 0
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": f"{summary['label']} (pass@1 {plotly_text(group)})",
                    "x": [cost / tasks],
                    "y": [100 * row.get("1", 0.0)],
                    "marker": {"size": 12},
                }
            )
        if axis == "calls":
            for _source, summary in evals:
                group = _primary(summary)
                row = summary["pass_at_k"].get(group, {})
                ks = sorted(row, key=int)
                data.append(
                    {
                        "type": "scatter",
                        "mode": "lines+markers",
                        "name": f"{summary['label']} (pass@k at k samples)",
                        "x": [int(k) for k in ks],
                        "y": [100 * row[k] for k in ks],
                    }
                )
        if data:
            out.append(
                {
                    "id": f"pass-vs-{axis}",
                    "title": f"pass@1 against {title} per task",
                    "data": data,
                    "layout": {
                        "xaxis": {"title": {"text": f"{title} per task (mean)"}},
                        "yaxis": {"title": {"text": "pass@1 (%)"}, "rangemode": "tozero"},
                    },
                }
            )
    # pass@1 as the budget grows (calls spent until the answer was first generated)
    data = []
    for source, summary in runs:
        finished = [r for r in source.tasks if not r.failure]
        points = sorted(r.answer_calls for r in finished if r.solved and r.answer_calls)
        if not finished or not points:
            continue
        xs = sorted(set(points))
        ys = [100 * sum(1 for p in points if p <= x) / len(finished) for x in xs]
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv"},
                "name": summary["label"],
                "x": [0, *xs],
                "y": [0.0, *ys],
            }
        )
    if data:
        out.append(
            {
                "id": "pass-vs-budget",
                "title": "pass@1 as the per-task budget grows",
                "note": "tasks whose final answer passes, by the model calls spent on the task "
                "until that answer was first generated (from the trace); a strategy that "
                "ranks after sampling (CodeT) could not stop early, so read it as an upper "
                "bound there",
                "data": data,
                "layout": {
                    "xaxis": {"title": {"text": "model calls per task"}},
                    "yaxis": {"title": {"text": "pass@1 (%)"}, "rangemode": "tozero"},
                },
            }
        )
    # outcome grid
    ids = _task_ids(sources)
    if ids and sources:
        lookup = [{r.task_id: r for r in s.tasks} for s in sources]
        z: list[list[float | None]] = []
        for table in lookup:
            line: list[float | None] = []
            for task_id in ids:
                record = table.get(task_id)
                if record is None or record.failure:
                    line.append(None)
                elif record.error:
                    line.append(-0.25)
                else:
                    line.append(record.pass_at_1)
            z.append(line)
        out.append(
            {
                "id": "outcome-grid",
                "title": "which tasks each run solved",
                "note": "run: 1 the top answer passes, 0 it fails, -0.25 the task errored; "
                "evaluate: the fraction of samples passing; blank: no result",
                "data": [
                    {
                        "type": "heatmap",
                        "z": z,
                        "x": [plotly_text(task_id) for task_id in ids],
                        "y": [m["label"] for m in summaries],
                        "zmin": -0.25,
                        "zmax": 1,
                        "colorscale": [
                            [0, "#7b3294"],
                            [0.2, "#d7191c"],
                            [0.6, "#fdae61"],
                            [1, "#1a9641"],
                        ],
                        "hoverongaps": False,
                    }
                ],
                "layout": {
                    "height": 160 + 40 * len(sources),
                    "xaxis": {"showticklabels": len(ids) <= 60, "type": "category"},
                    "yaxis": {"automargin": True, "type": "category"},
                },
            }
        )
    # time and token distributions
    for key, title in (("wall_s", "wall time per task (s)"), ("tokens", "tokens per task")):
        data = []
        for source, summary in zip(sources, summaries, strict=True):
            if key == "tokens" and summary["kind"] != "run":
                continue
            values = [r.row_json()[key] for r in source.tasks]
            if values:
                data.append(
                    {"type": "histogram", "name": summary["label"], "x": values, "opacity": 0.7}
                )
        if data:
            out.append(
                {
                    "id": f"hist-{key}",
                    "title": title,
                    "data": data,
                    "layout": {
                        "barmode": "overlay",
                        "xaxis": {"title": {"text": title}},
                        "yaxis": {"title": {"text": "tasks"}},
                    },
                }
            )
    return out


# ------------------------------------------------------------------------------- the page


def json_block(value: Any, element_id: str, *, css_class: str = "") -> str:
    """A `<script type="application/json">` block whose text cannot end the element."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    extra = f' class="{css_class}"' if css_class else ""
    return f'<script type="application/json" id="{element_id}"{extra}>{text}</script>'


def packed_block(value: Any, element_id: str) -> str:
    """A task's details, gzipped and base64-encoded (programs compress several-fold): the
    page unpacks it with the browser's DecompressionStream when the task is opened.  Base64
    holds no character that could end the element."""
    raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text = base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")
    return (
        f'<script type="application/octet-stream" data-encoding="gzip+base64" '
        f'id="{element_id}">{text}</script>'
    )


@cache
def _asset(name: str) -> str:
    return (resources.files("codeloop.report") / "static" / name).read_text(encoding="utf-8")


@cache
def plotly_js() -> str:
    """plotly.js as the `plotly` package ships it (minified; no network needed)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path.read_text(encoding="utf-8")


def _inline_script(code: str) -> str:
    # a script's text ends at the first "</script": keep any in the code from ending it
    return "<script>" + code.replace("</script", "<\\/script") + "</script>"


def summary_html(sources: Sequence[Source]) -> str:
    esc = html.escape
    heads = "".join(f"<th>{esc(s.summary.label)}</th>" for s in sources)
    rows: list[tuple[str, list[str]]] = []

    def add(name: str, cells: list[Any]) -> None:
        rows.append((name, ["-" if c is None else str(c) for c in cells]))

    summaries = [s.summary for s in sources]
    add("kind", [s.kind for s in summaries])
    add("store", [s.store for s in summaries])
    add("dataset", [s.dataset for s in summaries])
    add("strategy", [s.strategy for s in summaries])
    add(
        "settings",
        [", ".join(f"{k}={v}" for k, v in s.settings.items()) or "-" for s in summaries],
    )
    add("model", [s.model for s in summaries])
    add("per-task budget", [s.budget for s in summaries])
    add("tasks with a result", [s.tasks for s in summaries])
    add("samples / ranked programs scored", [s.samples for s in summaries])
    groups: list[str] = []
    for s in summaries:
        groups += [g for g in s.pass_at_k if g not in groups]
    ks = sorted({int(k) for s in summaries for row in s.pass_at_k.values() for k in row})
    for group in groups:
        for k in ks:
            add(
                f"pass@{k} {group} (%)",
                [
                    None
                    if s.pass_at_k.get(group, {}).get(str(k)) is None
                    else f"{100 * s.pass_at_k[group][str(k)]:.2f}"
                    for s in summaries
                ],
            )
    for name, key in (
        ("model calls", "calls"),
        ("cached calls", "cached_calls"),
        ("prompt tokens", "prompt_tokens"),
        ("completion tokens", "completion_tokens"),
        ("executions", "executions"),
    ):
        add(name, [s.cost.get(key) for s in summaries])
    add(
        "money ($)",
        [
            None if s.cost.get("cost_usd") is None else f"{s.cost['cost_usd']:.4f}"
            for s in summaries
        ],
    )
    add("wall time (s)", [None if s.wall_s is None else f"{s.wall_s:.1f}" for s in summaries])
    add("isolation layers", [_isolation_text(s.isolation) for s in summaries])
    add("errors", [s.errors for s in summaries])
    add("last stop", [s.stop or None for s in summaries])
    body = "".join(
        f"<tr><th>{esc(name)}</th>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>"
        for name, cells in rows
    )
    errors = ""
    for s in summaries:
        if s.error_list:
            items = "".join(
                f"<li><code>{esc(t)}</code>: {esc(e.splitlines()[0] if e else '')}</li>"
                for t, e in s.error_list[:50]
            )
            more = f"<li>... {len(s.error_list) - 50} more</li>" if len(s.error_list) > 50 else ""
            errors += (
                f"<details><summary>errors of {esc(s.label)} ({len(s.error_list)})</summary>"
                f"<ul>{items}{more}</ul></details>"
            )
    return (
        f'<table class="summary"><thead><tr><th></th>{heads}</tr></thead>'
        f"<tbody>{body}</tbody></table>{errors}"
    )


def _isolation_text(isolation: dict[str, Any] | None) -> str:
    if isolation is None:
        return "not recorded (a store written before it was kept)"
    layers = isolation.get("layers") or []
    active = [str(layer.get("name")) for layer in layers if layer.get("active")]
    missing = [str(m) for m in isolation.get("missing") or []]
    return ", ".join(active) + (f" (missing: {', '.join(missing)})" if missing else "")


def render_report(
    sources: Sequence[Source], *, title: str = "codeloop report", live: bool = False
) -> str:
    """The whole page.  `live`: the page of `codeloop view`, which fetches its data from the
    server (and refreshes it) instead of carrying it."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # nothing may be fetched from elsewhere; the live viewer talks to its own origin only
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
        "img-src data:; font-src data:; "
        + ("connect-src 'self'" if live else "connect-src 'none'")
        + '">',
        f"<title>{esc(title)}</title>",
        f"<style>{_asset('report.css')}</style>",
        "</head><body>",
        f'<header><h1>{esc(title)}</h1><span id="status"></span></header>',
        '<nav><a href="#summary">summary</a> <a href="#tasks">tasks</a> '
        '<a href="#plots">plots</a></nav>',
        '<section id="summary"><h2>Summary</h2><div id="summary-body">',
        summary_html(sources) if sources else "",
        "</div></section>",
        '<section id="tasks"><h2>Tasks</h2><div id="task-controls"></div>'
        '<div id="task-table"></div><div id="pager"></div></section>',
        '<section id="plots"><h2>Plots</h2><div id="figures"></div></section>',
        '<section id="task" hidden></section>',
    ]
    if live:
        parts.append(json_block({"live": True, "poll_ms": LIVE_POLL_MS}, "config"))
    else:
        parts.append(json_block({"live": False}, "config"))
        parts.append(json_block(page_data(sources, title=title), "page-data"))
        for number, task_id in enumerate(_task_ids(sources)):
            parts.append(packed_block(task_data(sources, task_id), f"task-{number}"))
    # the page's own script first: the table is on screen before plotly.js (4.8 MB) is parsed
    parts.append(_inline_script(_asset("report.js")))
    parts.append(_inline_script(plotly_js()))
    parts.append("</body></html>")
    return "\n".join(parts)
