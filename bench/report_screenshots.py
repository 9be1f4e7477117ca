"""Screenshots of `codeloop report` and `codeloop view` for the docs (docs/*.png).

Makes two small runs of a demo dataset with scripted (mock) model outputs, self_debug and
sample, and an evaluation of samples; writes their report and photographs it in Chromium
through Playwright (the overview, a task's page with its diff, failing test and trace),
then serves one store with `codeloop view` while a second run adds tasks to it and
photographs the live page.

    python bench/report_screenshots.py [--out docs] [--chromium /usr/bin/chromium]
        [--codet-store STORE]

`--codet-store`: a store of `codeloop run humaneval --strategy codet --model
replay:../shared/data/codet` (13 minutes on 2 cores): also photographs a task's consensus
sets in its trace (docs/report-codet-trace.png).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TASKS = [
    ("add", "a, b", "Add two numbers.", [[1, 2], [5, 5]], [3, 10]),
    ("neg", "a", "Negate a number.", [[1], [-4]], [-1, 4]),
    ("largest", "xs", "The largest item of a non-empty list.", [[[1, 5, 2]], [[-3, -1]]], [5, -1]),
    ("rev", "s", "The string reversed.", [["abc"], [""]], ["cba", ""]),
    ("is_even", "n", "True when n is even.", [[2], [7]], [True, False]),
    ("vowels", "s", "How many vowels s has.", [["banana"], ["xyz"]], [3, 0]),
    ("clamp", "x, lo, hi", "x limited to [lo, hi].", [[5, 0, 3], [-1, 0, 3]], [3, 0]),
    ("fib", "n", "The n-th Fibonacci number (fib(0) = 0).", [[10], [1]], [55, 1]),
]
# per task: the first answer (sample's, and self_debug's first try), then self_debug's repairs
ANSWERS = {
    "add": ["return a - b", "return a + b"],
    "neg": ["return -a"],
    "largest": ["return xs[0]", "return sorted(xs)[0]", "return max(xs)"],
    "rev": ["return s[::-1]"],
    "is_even": ["return n % 2 == 1", "return n % 2 == 1", "return n % 2 == 1"],
    "vowels": ["return sum(c in 'aeiou' for c in s)"],
    "clamp": ["return max(lo, x)", "return min(hi, max(lo, x))"],
    "fib": [
        "return n if n < 2 else fib(n - 1) + fib(n - 2)",
    ],
}


def write_demo(folder: Path) -> tuple[Path, Path, Path]:
    rows = []
    for name, args, doc, inputs, outputs in TASKS:
        tests = [{"input": i, "output": o} for i, o in zip(inputs, outputs, strict=True)]
        rows.append(
            {
                "task_id": f"demo/{name}",
                "prompt": f'def {name}({args}):\n    """{doc}"""\n',
                "entry_point": name,
                "tests": tests,
                "visible_tests": tests[:1],
            }
        )
    dataset = folder / "demo.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    answers = folder / "answers.json"
    scripted = {
        f"demo/{name}": [f"    {line}\n" for line in lines] * 3 for name, lines in ANSWERS.items()
    }
    answers.write_text(json.dumps(scripted))
    samples = folder / "samples.jsonl"
    samples.write_text(
        "".join(
            json.dumps({"task_id": f"demo/{name}", "completion": f"    {line}\n"}) + "\n"
            for name, lines in ANSWERS.items()
            for line in lines
        )
    )
    return dataset, answers, samples


def codeloop(*args: object) -> None:
    subprocess.run([sys.executable, "-m", "codeloop.cli", *map(str, args)], check=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument(
        "--chromium", default=os.environ.get("CODELOOP_CHROMIUM", "/usr/bin/chromium")
    )
    parser.add_argument("--codet-store", type=Path)
    args = parser.parse_args()
    import uvicorn
    from playwright.sync_api import sync_playwright

    from codeloop.report.server import make_app

    with tempfile.TemporaryDirectory(prefix="report-shots-") as name:
        folder = Path(name)
        dataset, answers, samples = write_demo(folder)
        model = f"mock:file:{answers}"
        debug, sample, evaluated = (
            folder / f"{n}.sqlite" for n in ("self_debug", "sample", "eval")
        )
        codeloop("run", dataset, "--strategy", "self_debug", "--model", model, "--store", debug)
        codeloop("run", dataset, "--strategy", "sample", "--model", model, "--store", sample)
        codeloop("evaluate", samples, "--dataset", dataset, "--store", evaluated)
        page_file = folder / "report.html"
        codeloop("report", debug, sample, evaluated, "--samples", samples, "-o", page_file)

        live = folder / "live.sqlite"
        first = ["--task", "demo/add", "--task", "demo/neg", "--task", "demo/largest"]
        codeloop(
            "run", dataset, "--strategy", "self_debug", "--model", model, "--store", live, *first
        )
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(make_app(live), host="127.0.0.1", port=port, log_level="error")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)

        args.out.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_file.as_uri())
            page.wait_for_selector("body[data-plotted='1']")
            page.wait_for_timeout(800)
            page.screenshot(path=str(args.out / "report-overview.png"))
            page.evaluate("document.getElementById('plots').scrollIntoView()")
            page.wait_for_timeout(300)
            page.screenshot(path=str(args.out / "report-plots.png"))
            page.evaluate("document.getElementById('tasks').scrollIntoView()")
            page.select_option("#filter", "disagree")
            page.wait_for_timeout(200)
            page.screenshot(path=str(args.out / "report-tasks.png"))
            page.goto(page_file.as_uri() + "#task/demo%2Flargest")
            page.wait_for_selector("#task-title")
            root = page.locator(".source-block[data-source='0'] .tree > details.node").first
            root.locator("summary").first.click()
            page.wait_for_timeout(200)
            page.evaluate("document.getElementById('task').scrollIntoView()")
            page.screenshot(path=str(args.out / "report-task.png"), full_page=False)

            page.set_viewport_size({"width": 1280, "height": 1250})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("tr[data-task='demo/largest']")
            codeloop("run", dataset, "--strategy", "self_debug", "--model", model, "--store", live)
            page.wait_for_selector("tr[data-task='demo/fib']", timeout=30000)
            page.wait_for_timeout(800)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(args.out / "view.png"))
            if args.codet_store is not None:
                codet_page = folder / "codet.html"
                codeloop("report", args.codet_store, "-o", codet_page)
                page.set_viewport_size({"width": 1280, "height": 900})
                page.goto(codet_page.as_uri() + "#task/HumanEval%2F1")
                page.wait_for_function(
                    "(document.getElementById('task-title') || {}).textContent === 'HumanEval/1'"
                )
                ranking = page.locator("details.node:has(> summary .kind:text-is('ranking'))").first
                ranking.locator("summary").first.click()
                ranking.locator("table.records").wait_for()
                ranking.scroll_into_view_if_needed()
                page.evaluate("window.scrollBy(0, -120)")
                page.screenshot(path=str(args.out / "report-codet-trace.png"))
            browser.close()
        server.should_exit = True
        thread.join(timeout=10)
    names = ["report-overview", "report-plots", "report-tasks", "report-task", "view"]
    for name in names + (["report-codet-trace"] if args.codet_store else []):
        path = args.out / f"{name}.png"
        print(f"{path}: {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
