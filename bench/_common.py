"""Helpers shared by the benchmark scripts: paths, timed subprocesses, plain-text tables,
and what the harness comparisons (agreement_humaneval.py, evalplus_compare.py) share.

The scripts in bench/ are run as files (``python bench/agreement_humaneval.py``), so this
module is imported as ``_common`` from the script's own folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA_ENV = "CODELOOP_SHARED_DATA"


def shared_data_dir() -> Path:
    """The shared, read-only data folder (never copied into the repository)."""
    configured = os.environ.get(SHARED_DATA_ENV)
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    if not path.is_dir():
        sys.exit(f"shared data folder not found: {path} (set {SHARED_DATA_ENV})")
    return path


def venv_tool(name: str) -> str:
    """A console script installed next to this interpreter, else one found on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        sys.exit(f"`{name}` not found next to {sys.executable} nor on PATH")
    return found


@dataclass
class Timed:
    wall_s: float
    returncode: int
    stdout: str
    stderr: str
    timed_out: float | None = None  # the limit, when the command was killed for exceeding it

    def check(self, what: str) -> Timed:
        if self.timed_out is not None:
            sys.stderr.write(self.stdout[-4000:] + "\n" + self.stderr[-4000:] + "\n")
            sys.exit(f"{what} did not finish within {self.timed_out:g}s (killed)")
        if self.returncode != 0:
            sys.stderr.write(self.stdout[-4000:] + "\n" + self.stderr[-4000:] + "\n")
            sys.exit(f"{what} failed with exit status {self.returncode}")
        return self


def run_timed(
    cmd: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> Timed:
    """Run a command to completion; wall clock includes interpreter start-up.

    The command gets its own session, so that on `timeout` it is killed together with
    whatever it started (sandbox workers, pool processes)."""
    if timeout is None:
        timeout = _tool_timeout
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,  # no tool may stop to ask a question
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        return Timed(time.perf_counter() - started, proc.returncode, stdout, stderr, timeout)
    wall = time.perf_counter() - started
    return Timed(wall, proc.returncode, stdout, stderr)


_tool_timeout: float | None = None


def set_tool_timeout(seconds: float | None) -> None:
    """The default limit for run_timed (set from --tool-timeout)."""
    global _tool_timeout
    _tool_timeout = seconds if seconds and seconds > 0 else None


def add_timeout_arg(parser: Any, default: float | None = 7200.0) -> None:
    parser.add_argument(
        "--tool-timeout",
        type=float,
        default=default,
        metavar="S",
        help=f"kill any one harness run after S seconds (default {default:g}; 0: never)",
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: bool = True) -> str:
    """A plain-text table: first column left-aligned, the rest right-aligned."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = []
        for i, value in enumerate(row):
            if i == 0 or not right:
                parts.append(value.ljust(widths[i]))
            else:
                parts.append(value.rjust(widths[i]))
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def ratio(baseline_s: float, ours_s: float) -> float:
    return baseline_s / ours_s if ours_s > 0 else float("inf")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, Any]:
    """What the figures were measured on (they are only comparable within one run)."""
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def write_json(path: str | Path | None, payload: dict[str, Any]) -> None:
    if path is None:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    print(f"\nJSON summary written to {target}")


BASELINE_QUOTED = "n/a (baseline quoted)"


def goal(met: bool | None) -> str:
    """A goal's verdict.  None: its baseline was quoted (another day, another machine), not
    run side by side in this run, so the goal is not judged."""
    if met is None:
        return BASELINE_QUOTED
    return "met" if met else "NOT met"


def default_workers() -> int:
    """codeloop's default sandbox workers (one per core it may use): the worker count a
    baseline gets, so that both sides have the same cores."""
    from codeloop.execution.local import default_workers as codeloop_default

    return codeloop_default()


def first_lines(text: str, n: int, indent: str = "      | ") -> str:
    lines = text.splitlines()
    shown = lines[:n]
    more = f"\n{indent}... ({len(lines) - n} more lines)" if len(lines) > n else ""
    return "\n".join(indent + line for line in shown) + more


# ------------------------------------------------------------------ harness comparisons


def add_comparison_args(parser: Any) -> None:
    """The options every harness comparison ends with."""
    parser.add_argument(
        "--show-code",
        type=int,
        default=0,
        metavar="N",
        help="print the first N lines of each differing completion",
    )
    add_timeout_arg(parser)
    parser.add_argument("--json", type=Path, default=None, help="write a JSON summary here")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")


@contextlib.contextmanager
def temp_workdir(prefix: str, keep: bool) -> Iterator[Path]:
    """A temp folder for one comparison, removed afterwards unless `keep`."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield workdir
    finally:
        if keep:
            print(f"temp folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def read_samples_file(path: Path) -> list[dict[str, Any]]:
    """The rows of a samples JSONL file, each with `_index`: its place among its task's."""
    rows = []
    counts: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        row["_index"] = counts[row["task_id"]]
        counts[row["task_id"]] += 1
        rows.append(row)
    return rows


@dataclass
class Evaluated:
    """One `codeloop evaluate` run: its wall clock, its JSON report, its command line."""

    wall_s: float
    report: dict[str, Any]
    command: str  # without the executable's path

    def verdicts(self, *fields: str) -> dict[tuple[str, int], dict[str, Any]]:
        """Per sample: `fields` of its result, then its status and message."""
        return {
            (r["task_id"], r["sample_index"]): {
                **{name: r[name] for name in fields},
                "status": r["status"],
                "message": r.get("message", ""),
            }
            for r in self.report["results"]
        }

    def health(self) -> dict[str, Any]:
        """What the report says about the run itself, beside its verdicts."""
        report = self.report
        return {
            "status_counts": report.get("status_counts", {}),
            "infra_errors": report.get("infra_errors", 0),
            "executed": report.get("executed"),
            "isolation_missing": [
                layer["name"]
                for layer in report.get("isolation", {}).get("layers", [])
                if not layer.get("active")
            ],
        }


def codeloop_evaluate(
    samples: Path,
    workdir: Path,
    tag: str,
    options: Sequence[str],
    extra: Sequence[str],
    env: dict[str, str] | None = None,
) -> Evaluated:
    """`codeloop evaluate SAMPLES OPTIONS --json OUT EXTRA` in `workdir`, timed."""
    out = workdir / f"codeloop_{tag}.json"
    cmd = [venv_tool("codeloop"), "evaluate", str(samples), *options, "--json", str(out), *extra]
    timed = run_timed(cmd, cwd=workdir, env=env).check(f"codeloop evaluate ({tag})")
    return Evaluated(timed.wall_s, json.loads(out.read_text()), " ".join(cmd[1:]))


def isolation_note(missing: Sequence[str]) -> str:
    if not missing:
        return "isolation: all layers in force"
    return f"isolation MISSING: {', '.join(missing)}"


def print_missing(missing: Sequence[dict[str, Any]], flag: str, baseline: str) -> None:
    """Samples one side has no verdict for; `flag` is True where `baseline` has one."""
    if not missing:
        return
    print(f"  !! {len(missing)} sample(s) missing from one side:")
    for m in missing[:20]:
        side = "codeloop" if m[flag] else baseline
        print(f"     {m['task_id']} #{m['sample_index']} missing from {side}")
