"""A zygote: a warm, trusted process that forks one locked-down child per program run.

Started by the evaluator (one per core) with a scrubbed environment.  It pre-imports the
modules programs commonly use, prepares isolation once (network namespace, compiled seccomp
filter), then serves jobs from its control pipe.  Each run is a fork: cheap, because the
interpreter is already warm.  The zygote itself never runs untrusted code and never holds an
expected value: it forwards what a child writes, as bytes, and enforces deadlines by killing
the child's process group.  A hung child does not hold the zygote: runs are supervised
concurrently from one event loop.

Run with `python -m codeloop.execution.zygote CONFIG_JSON`.

The parts, each a module (`Zygote` combines them):
- `state`: suites, jobs, work dirs, runs, and the state the parts share;
- `workroot`: the work root and each slot's work dir (made, emptied, replaced);
- `launch`: forking a run and locking the child down before the harness runs;
- `supervise`: CPU budgets, backstops, timeouts, channels and reaping (`procfs` reads
  the clocks);
- `serve`: start-up, the serve loop, `main`.
"""

from __future__ import annotations

from codeloop.execution.zygote.serve import (
    PRELOAD,
    SINGLE_THREADED,
    Zygote,
    interpreter_tag,
    main,
)
from codeloop.execution.zygote.state import Job, Run, Suite, Workdir
from codeloop.execution.zygote.supervise import (
    BACKSTOP_FACTOR,
    FLUSH_GRACE_S,
    POLL_INTERVAL_S,
    WRITE_OUT_AFTER_S,
    WRITE_OUT_POLL_S,
)
from codeloop.execution.zygote.workroot import WORKDIR_BYTES

__all__ = [
    "BACKSTOP_FACTOR",
    "FLUSH_GRACE_S",
    "POLL_INTERVAL_S",
    "PRELOAD",
    "SINGLE_THREADED",
    "WORKDIR_BYTES",
    "WRITE_OUT_AFTER_S",
    "WRITE_OUT_POLL_S",
    "Job",
    "Run",
    "Suite",
    "Workdir",
    "Zygote",
    "interpreter_tag",
    "main",
]
