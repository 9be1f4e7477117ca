"""`codeloop report`: one self-contained HTML file; untrusted text stays inert in it."""

from __future__ import annotations

import base64
import gzip
import json
import re

import pytest
from typer.testing import CliRunner

from codeloop.cli import app
from codeloop.report.data import load_stores
from codeloop.report.html import json_block, render_report, task_data

pytestmark = pytest.mark.slow  # the stores are made by real runs


def blocks(page: str) -> dict[str, object]:
    found = re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', page, re.S)
    data = {name: json.loads(text) for name, text in found}
    packed = re.findall(
        r'<script type="application/octet-stream" data-encoding="gzip\+base64" id="([^"]+)">'
        r"([A-Za-z0-9+/=]*)</script>",
        page,
    )
    for name, text in packed:
        data[name] = json.loads(gzip.decompress(base64.b64decode(text)))
    return data


def test_json_blocks_cannot_end_their_element():
    nasty = {"program": "</script><script>alert(1)</script><!-- \u2028 &amp;"}
    block = json_block(nasty, "x")
    inner = block[len('<script type="application/json" id="x">') : -len("</script>")]
    assert "<" not in inner and ">" not in inner and "&" not in inner
    assert json.loads(inner) == nasty


def test_the_file_holds_everything_and_no_injected_markup(stores, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        ["report", str(stores["run"]), str(stores["evaluate"]), "--samples", str(stores["samples"])]
        + ["-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    page = out.read_text()
    # self-contained: no remote script, style or image
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', page)
    assert "Plotly" in page and "connect-src 'none'" in page
    # the injected program is in the data, but never as markup
    assert "<script>window.__pwned" not in page and "<img src=x" not in page
    data = blocks(page)
    assert {"page-data", "task-0", "task-1"} <= set(data)
    rows = data["page-data"]["rows"]  # type: ignore[index]
    assert [r["id"] for r in rows] == ["demo/add", "demo/neg"]
    assert [c["solved"] for c in rows[1]["cells"]] == [False, True]
    neg = data["task-1"]
    assert neg["id"] == "demo/neg"  # type: ignore[index]
    run_detail = neg["details"][0]  # type: ignore[index]
    # each program's text is sent once: attempts and verdicts name its trace node
    nodes = {n["id"]: n for n in run_detail["trace"]}
    first = run_detail["attempts"][0]
    assert "program" not in first and stores["injected"] in nodes[first["node"]]["content"]
    answer = run_detail["verdicts"][0]
    assert nodes[answer["node"]]["content"] == "def neg(a):\n    return a\n"
    failure = run_detail["verdicts"][0]["failures"][0]
    assert (failure["test"], failure["expected"], failure["actual"]) == ("neg(1) == -1", "-1", "1")
    # the repair's diff against the program it repairs
    assert run_detail["attempts"][1]["repairs"] == run_detail["attempts"][0]["node"]
    assert "-    return a  # [bold]markup" in run_detail["attempts"][1]["diff"]
    add = data["task-0"]["details"][1]  # type: ignore[index]
    assert add["verdicts"][1]["program"].endswith(stores["injected"] + "\n")
    figures = {f["id"] for f in data["page-data"]["figures"]}  # type: ignore[index]
    assert {"pass-vs-calls", "pass-vs-budget", "outcome-grid", "hist-wall_s"} <= figures


def test_summary_values_are_escaped(stores):
    [source] = load_stores([stores["run"]])
    source.summary.model = "<b>model</b>"
    page = render_report([source], title="<i>t</i>")
    assert "<b>model</b>" not in page and "&lt;b&gt;model&lt;/b&gt;" in page
    assert "<i>t</i>" not in page


def test_task_data_of_a_task_one_source_lacks(stores):
    sources = load_stores([stores["run"], stores["evaluate"]])
    sources[1].tasks = [t for t in sources[1].tasks if t.task_id != "demo/neg"]
    data = task_data(sources, "demo/neg")
    assert data["details"][1] is None and data["details"][0]["task_id"] == "demo/neg"
    assert data["prompt"] == "def neg(a):\n"


def test_report_errors(stores, tmp_path):
    runner = CliRunner()
    missing = runner.invoke(app, ["report", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 2 and "no such run store" in missing.output
    folder = runner.invoke(app, ["report", str(stores["run"]), "-o", str(tmp_path)])
    assert folder.exit_code == 2 and "is a folder" in folder.output


def test_plot_labels_are_escaped_and_distinct(stores, tmp_path, copy_with_strategy):
    """Plotly reads <a href> in names and labels as markup: store text is escaped there; two
    stores with the same file name stay two rows of the outcome grid."""
    from codeloop.report.html import figures

    evil = "s<a href='https://evil.example'>x</a>"
    one = copy_with_strategy(stores["run"], tmp_path / "a", evil)
    two = copy_with_strategy(stores["run"], tmp_path / "b", evil)
    plots = figures(load_stores([one, two]))
    text = json.dumps(plots)
    assert "<a href" not in text and "&lt;a href=" in text
    [grid] = [p for p in plots if p["id"] == "outcome-grid"]
    rows = grid["data"][0]["y"]
    assert len(rows) == 2 and len(set(rows)) == 2
