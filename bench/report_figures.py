"""How long `codeloop report` takes to write, how big the file is, and how long Chromium
takes to show it; and how long `codeloop view` takes to answer.

    python bench/report_figures.py STORE[=SAMPLES] ... [--repeat 3] [--chromium PATH]

For each store (with the samples file an evaluate store was made from, after `=`):

- generate: wall time of `codeloop report STORE -o FILE` as a user runs it (a fresh
  process: Python start, reading the store and the dataset, writing the page);
- size: the HTML file (plotly.js alone is about 4.8 MB of it);
- in Chromium (through Playwright; a fresh page each time, median of --repeat): the load
  event, the first task rows on screen, every plot drawn (all measured from navigation
  start by the page's own clock), and opening the task with the most programs (from the
  click to its page drawn: details unpacked, parsed and rendered);
- viewer: the live viewer's `/api/page` answer, first (reads the store) and again (the
  store unchanged: from memory), and `/api/task` for that task.

The first store given is the baseline the others are read against (e.g. a small run).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

WATCH = """
(() => {
  const seen = () => {
    if (!window.__rowsAt && document.querySelector('#tasks-table tbody tr'))
      window.__rowsAt = performance.now();
    if (!window.__plottedAt && document.body && document.body.dataset.plotted)
      window.__plottedAt = performance.now();
  };
  new MutationObserver(seen).observe(document, {subtree: true, childList: true, attributes: true});
})();
"""

OPEN_TASK = """
async (id) => {
  const start = performance.now();
  location.hash = '#task/' + encodeURIComponent(id);
  while (true) {
    const title = document.getElementById('task-title');
    if (title && title.textContent === id) break;
    await new Promise((r) => requestAnimationFrame(r));
  }
  await new Promise((r) => requestAnimationFrame(r));
  return performance.now() - start;
}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def timed_get(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        response.read()
    return time.perf_counter() - start


def measure(spec: str, folder: Path, browser, repeat: int) -> dict[str, object]:
    store, _, samples = spec.partition("=")
    out = folder / (Path(store).stem + ".html")
    cmd = [sys.executable, "-m", "codeloop.cli", "report", store, "-o", str(out)]
    if samples:
        cmd += ["--samples", samples]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    generate_s = time.perf_counter() - start

    from codeloop.report.data import load_store

    sources = load_store(store, tasks=False)
    rows = {t.task_id: t for s in sources for t in s.tasks}
    busiest = max(rows.values(), key=lambda t: (t.programs_tried, len(t.trace), t.samples))
    samples_n = sum(s.summary.samples for s in sources)

    loads, firsts, plots, opens = [], [], [], []
    for _ in range(repeat):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.add_init_script(WATCH)
        page.goto(out.as_uri(), wait_until="load", timeout=120000)
        page.wait_for_selector("body[data-plotted='1']", timeout=120000)
        timing = page.evaluate(
            "() => [performance.getEntriesByType('navigation')[0].loadEventEnd, "
            "window.__rowsAt, window.__plottedAt]"
        )
        loads.append(timing[0])
        firsts.append(timing[1])
        plots.append(timing[2])
        opens.append(page.evaluate(OPEN_TASK, busiest.task_id))
        assert not errors, errors
        page.close()

    import uvicorn

    from codeloop.report.server import make_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            make_app(store, samples=[samples] if samples else ()),
            host="127.0.0.1",
            port=port,
            log_level="error",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}/api/"
    first_page = timed_get(base + "page")
    again_page = timed_get(base + "page")
    task_s = timed_get(base + "task?id=" + urllib.request.quote(busiest.task_id, safe=""))
    server.should_exit = True
    thread.join(timeout=10)
    return {
        "store": Path(store).name,
        "tasks": len(rows),
        "samples": samples_n,
        "busiest": f"{busiest.task_id} ({busiest.programs_tried} programs, "
        f"{len(busiest.trace)} nodes)",
        "generate_s": generate_s,
        "html_mb": out.stat().st_size / 1e6,
        "load_ms": statistics.median(loads),
        "rows_ms": statistics.median(firsts),
        "plots_ms": statistics.median(plots),
        "open_task_ms": statistics.median(opens),
        "view_page_first_s": first_page,
        "view_page_again_s": again_page,
        "view_task_s": task_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="+", help="STORE or STORE=SAMPLES")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--chromium", default=os.environ.get("CODELOOP_CHROMIUM", "/usr/bin/chromium")
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print("machine:", json.dumps({"cpus": os.cpu_count(), "loadavg": os.getloadavg()}))
    results = []
    with tempfile.TemporaryDirectory(prefix="report-figures-") as name, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        for spec in args.stores:
            results.append(measure(spec, Path(name), browser, args.repeat))
            print(json.dumps(results[-1]), flush=True)
        browser.close()
    print("loadavg after:", os.getloadavg())
    head = (
        f"{'store':28} {'tasks':>5} {'samples':>7} {'generate s':>10} {'HTML MB':>8} "
        f"{'load ms':>8} {'rows ms':>8} {'plots ms':>9} {'open task ms':>12} "
        f"{'view page s':>11} {'again s':>8} {'view task s':>11}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r['store']:28} {r['tasks']:>5} {r['samples']:>7} {r['generate_s']:>10.2f} "
            f"{r['html_mb']:>8.1f} {r['load_ms']:>8.0f} {r['rows_ms']:>8.0f} "
            f"{r['plots_ms']:>9.0f} {r['open_task_ms']:>12.0f} {r['view_page_first_s']:>11.2f} "
            f"{r['view_page_again_s']:>8.3f} {r['view_task_s']:>11.3f}"
        )
    for r in results:
        print(f"  {r['store']}: opened task {r['busiest']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
