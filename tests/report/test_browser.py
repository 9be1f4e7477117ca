"""The report and the viewer in a real browser: Playwright driving the system's Chromium.

Skipped where Playwright or Chromium is missing, unless CODELOOP_REQUIRE_BROWSER=1 (CI sets
it): then a missing browser fails the tests instead.  CODELOOP_CHROMIUM names the browser
(default /usr/bin/chromium, Debian's package; Playwright's own download is not used).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codeloop.cli import app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("CODELOOP_CHROMIUM", "/usr/bin/chromium")


def _unavailable(why: str) -> None:
    if os.environ.get("CODELOOP_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CODELOOP_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium refuses its own sandbox
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.errors = []  # console errors and uncaught exceptions
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    # the report must not reach the network: any request leaving file:// or the viewer fails
    page.outside = []
    page.on(
        "request",
        lambda r: (
            page.outside.append(r.url)
            if not r.url.startswith(("file://", "http://127.0.0.1", "data:"))
            else None
        ),
    )
    yield page
    context.close()


@pytest.fixture(scope="module")
def report_file(stores, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html") / "report.html"
    result = CliRunner().invoke(
        app,
        ["report", str(stores["run"]), str(stores["evaluate"]), "--samples", str(stores["samples"])]
        + ["-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    return out


def codeloop(*args: object) -> None:
    """The command in a process of its own, as a run beside the viewer is (sync Playwright
    holds this thread's event loop)."""
    done = subprocess.run(
        [sys.executable, "-m", "codeloop.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def run_into(folder: Path, store: Path, *tasks: str) -> None:
    codeloop(
        "run", folder / "tasks.jsonl", "--strategy", "self_debug", "--model",
        f"mock:file:{folder / 'answers.json'}", "--store", store,
        *[arg for task in tasks for arg in ("--task", task)],
    )  # fmt: skip


def task_ids(page) -> list[str]:
    return page.eval_on_selector_all(
        "#tasks-table tbody tr", "rows => rows.map(r => r.dataset.task)"
    )


def open_report(page, path: Path) -> None:
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-plotted='1']", timeout=30000)


def test_opens_from_a_file_without_errors(page, report_file):
    open_report(page, report_file)
    assert task_ids(page) == ["demo/add", "demo/neg"]
    assert page.locator(".plot .main-svg").count() >= 4  # plotly drew the figures
    assert "self_debug" in page.inner_text("#summary")
    assert page.errors == [] and page.outside == []


def test_filtering_and_sorting(page, report_file):
    open_report(page, report_file)
    page.select_option("#filter", "unsolved")
    assert task_ids(page) == ["demo/neg"]
    page.select_option("#filter", "disagree")
    assert task_ids(page) == ["demo/neg"]  # the run failed it, the evaluation solved it
    page.select_option("#filter", "solved")
    assert task_ids(page) == ["demo/add"]
    page.select_option("#filter", "all")
    page.fill("#search", "ne")
    assert task_ids(page) == ["demo/neg"]
    page.fill("#search", "")
    page.click("th[data-key='0:tokens']")
    assert task_ids(page) == ["demo/add", "demo/neg"]  # 169 < 297 tokens
    page.click("th[data-key='0:tokens']")
    assert task_ids(page) == ["demo/neg", "demo/add"]
    assert "sorted-desc" in (page.get_attribute("th[data-key='0:tokens']", "class") or "")
    assert page.errors == []


def test_a_task_page_shows_the_failing_test(page, report_file):
    open_report(page, report_file)
    page.click("tr[data-task='demo/neg'] a")
    page.wait_for_selector("#task-title")
    assert page.inner_text("#task-title") == "demo/neg"
    run = page.locator(".source-block[data-source='0']")
    failing = run.locator("table.failing").first.evaluate(
        "t => Object.fromEntries([...t.rows].map(r => [r.cells[0].innerText, "
        "r.cells[1].innerText]))"
    )
    assert failing["test"] == "neg(1) == -1"
    assert (failing["expected"], failing["actual"]) == ("-1", "1")
    assert run.locator(".attempt").count() == 3  # every program tried, with its feedback
    assert "Expected: -1" in run.locator("pre.feedback").first.inner_text()
    assert run.locator("pre.diff .del").count() >= 1  # the repair's diff
    assert page.errors == []


def test_the_trace_tree_expands(page, report_file):
    open_report(page, report_file)
    page.goto(report_file.as_uri() + "#task/demo%2Fneg")
    page.wait_for_selector("#task-title")
    root = page.locator(".source-block[data-source='0'] .tree > details.node").first
    assert root.locator("details.node").count() == 0  # children are built when opened
    root.locator("summary").first.click()
    root.locator(":scope > details.node").first.wait_for()  # the toggle event comes after
    assert root.locator(":scope > details.node").count() == 2  # execution and feedback
    usage = root.locator("summary").first.inner_text()  # the node's usage
    assert re.search(r"program #0 1 call, \d+ tokens", usage), usage
    child = root.locator(":scope > details.node").nth(1)
    child.locator("summary").first.click()
    child.locator(":scope > details.node").first.wait_for()
    assert child.locator(":scope > details.node").count() == 1  # the repair below it
    assert page.errors == []


def test_an_injected_script_does_not_run(page, report_file, stores):
    open_report(page, report_file)
    for task in ("demo/neg", "demo/add"):
        page.goto(report_file.as_uri() + "#task/" + task.replace("/", "%2F"))
        page.wait_for_function(
            "id => (document.getElementById('task-title') || {}).textContent === id", arg=task
        )
        # open everything: every program, verdict and trace node is on the page
        for _ in range(6):
            page.eval_on_selector_all("details:not([open])", "ds => ds.forEach(d => d.open = true)")
            page.wait_for_timeout(50)
        text = page.inner_text("#task")
        assert stores["injected"] in text  # shown as text ...
    assert page.evaluate("window.__pwned") is None  # ... never run
    assert page.locator("#task script, #task img").count() == 0
    assert page.errors == []


def test_the_viewer_shows_a_task_finishing(page, serve, stores, tmp_path):
    store = tmp_path / "live.sqlite"
    run_into(stores["folder"], store, "demo/add")
    base = serve(store)
    page.goto(base)
    page.wait_for_selector("tr[data-task='demo/add']")
    assert task_ids(page) == ["demo/add"]
    page.goto(base + "#task/demo%2Fadd")
    page.wait_for_selector("#task-title")
    # someone is typing in the search box when the refresh comes: it keeps its text and focus
    page.fill("#search", "demo/")
    # the run goes on and finishes the other task: the open page shows it without a reload
    run_into(stores["folder"], store)
    page.wait_for_selector("tr[data-task='demo/neg']", timeout=15000)
    assert task_ids(page) == ["demo/add", "demo/neg"]
    assert "live:" in page.inner_text("#status")
    assert page.evaluate("document.activeElement.id") == "search"
    assert page.input_value("#search") == "demo/"
    page.click("tr[data-task='demo/neg'] a")
    page.wait_for_selector("#task-title >> text=demo/neg")
    assert "neg(1) == -1" in page.locator("table.failing").first.inner_text()
    assert page.errors == [] and page.outside == []


def test_many_tasks_are_paginated(page, tmp_path):
    tasks = [
        {"task_id": f"t{i:03d}", "prompt": f"def f{i}(a):\n", "entry_point": f"f{i}"}
        | {"tests": [{"input": [1], "output": 1}]}
        for i in range(120)
    ]
    dataset = tmp_path / "many.jsonl"
    dataset.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    samples = tmp_path / "samples.jsonl"
    samples.write_text(
        "".join(
            json.dumps({"task_id": t["task_id"], "completion": "    return a\n"}) + "\n"
            for t in tasks
        )
    )
    store = tmp_path / "many.sqlite"
    codeloop("evaluate", samples, "--dataset", dataset, "--store", store)
    out = tmp_path / "many.html"
    codeloop("report", store, "-o", out)
    open_report(page, out)
    assert len(task_ids(page)) == 50 and page.inner_text("#page") == "page 1 of 3"
    page.click("#next")
    page.click("#next")
    assert task_ids(page)[0] == "t100" and len(task_ids(page)) == 20
    assert page.is_disabled("#next")
    assert page.errors == []
