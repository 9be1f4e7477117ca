"""The run store: an append-only sqlite file of everything a run did.

Each finished sample verdict is committed on its own (WAL mode), so a run killed with
SIGKILL loses only what was still executing; rerunning with the same store skips every
sample whose program, tests and limits are unchanged.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeloop.types import ExecResult, Status, TestOutcome

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evaluations (
    eval_key TEXT PRIMARY KEY,
    created REAL NOT NULL,
    config TEXT NOT NULL,
    isolation TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS verdicts (
    eval_key TEXT NOT NULL,
    task_id TEXT NOT NULL,
    sample_index INTEGER NOT NULL,
    program_sha TEXT NOT NULL,
    status TEXT NOT NULL,
    groups TEXT NOT NULL,        -- JSON {"base": true, "base+plus": false}
    statuses TEXT NOT NULL,      -- one letter per test, see STATUS_LETTERS
    details TEXT NOT NULL,       -- JSON list of non-passing outcomes
    duration REAL NOT NULL,
    output TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (eval_key, task_id, sample_index)
);
"""

STATUS_LETTERS = {
    Status.PASSED: "P",
    Status.FAILED: "F",
    Status.ERROR: "E",
    Status.TIMEOUT: "T",
    Status.MEMORY: "M",
    Status.OUTPUT_LIMIT: "O",
    Status.SIGNAL: "K",
    Status.EXITED_EARLY: "X",
    Status.SYNTAX_ERROR: "S",
    Status.NOT_RUN: "-",
    Status.INFRA_ERROR: "I",
}
LETTER_STATUS = {v: k for k, v in STATUS_LETTERS.items()}


@dataclass(frozen=True)
class StoredVerdict:
    task_id: str
    sample_index: int
    program_sha: str
    status: Status
    groups: dict[str, bool]
    statuses: str
    details: list[dict[str, Any]]
    duration: float
    output: str


class RunStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin_evaluation(
        self, eval_key: str, config: dict[str, Any], isolation: dict[str, Any]
    ) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO evaluations VALUES (?, ?, ?, ?)",
            (eval_key, time.time(), json.dumps(config, sort_keys=True), json.dumps(isolation)),
        )

    def done(self, eval_key: str) -> dict[tuple[str, int], str]:
        """(task_id, sample_index) -> program sha of every stored verdict (infra errors excluded:
        they are retried)."""
        rows = self.db.execute(
            "SELECT task_id, sample_index, program_sha FROM verdicts "
            "WHERE eval_key = ? AND status != ?",
            (eval_key, Status.INFRA_ERROR.value),
        )
        return {(t, i): sha for t, i, sha in rows}

    def record(
        self,
        eval_key: str,
        task_id: str,
        sample_index: int,
        program_sha: str,
        result: ExecResult,
        groups: dict[str, bool],
    ) -> None:
        statuses = "".join(STATUS_LETTERS[o.status] for o in result.outcomes)
        details = [
            _detail(o)
            for o in result.outcomes
            if o.status is not Status.PASSED and o.status is not Status.NOT_RUN
        ]
        if result.infra_error:
            details.append({"infra_error": result.infra_error})
        self.db.execute(
            "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                eval_key,
                task_id,
                sample_index,
                program_sha,
                result.status.value,
                json.dumps(groups),
                statuses,
                json.dumps(details),
                result.duration_s,
                result.stdout[:4096],
                time.time(),
            ),
        )

    def verdicts(self, eval_key: str) -> Iterator[StoredVerdict]:
        rows = self.db.execute(
            "SELECT task_id, sample_index, program_sha, status, groups, statuses, details, "
            "duration, output FROM verdicts WHERE eval_key = ? ORDER BY task_id, sample_index",
            (eval_key,),
        )
        for row in rows:
            yield StoredVerdict(
                task_id=row[0],
                sample_index=row[1],
                program_sha=row[2],
                status=Status(row[3]),
                groups=json.loads(row[4]),
                statuses=row[5],
                details=json.loads(row[6]),
                duration=row[7],
                output=row[8],
            )

    def evaluations(self) -> list[tuple[str, dict[str, Any]]]:
        rows = self.db.execute("SELECT eval_key, config FROM evaluations ORDER BY created")
        return [(key, json.loads(config)) for key, config in rows]


def _detail(outcome: TestOutcome) -> dict[str, Any]:
    detail: dict[str, Any] = {"i": outcome.index, "status": outcome.status.value}
    for name in ("expected", "actual", "exception", "message", "traceback"):
        value = getattr(outcome, name)
        if value:
            detail[name] = value
    return detail
