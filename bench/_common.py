"""Helpers shared by the benchmark scripts: paths, timed subprocesses, plain-text tables.

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
import time
from collections.abc import Sequence
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


def goal(met: bool) -> str:
    return "met" if met else "NOT met"


def first_lines(text: str, n: int, indent: str = "      | ") -> str:
    lines = text.splitlines()
    shown = lines[:n]
    more = f"\n{indent}... ({len(lines) - n} more lines)" if len(lines) > n else ""
    return "\n".join(indent + line for line in shown) + more
