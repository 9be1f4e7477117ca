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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeloop.types import ExecResult, Status, TestOutcome

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evaluations (
    eval_key TEXT PRIMARY KEY,
    created REAL NOT NULL,
    config TEXT NOT NULL,
    isolation TEXT NOT NULL,
    wall REAL                    -- seconds, all invocations; NULL: written before it was kept
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
class StoredEvaluation:
    eval_key: str
    created: float
    config: dict[str, Any]  # the evaluation's options (EvaluateOptions, store left out)
    wall: float | None  # all invocations together; None: not kept (an older store)


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
    """A run store.  `read_only`: open an existing file without writing to it (no table is
    created, nothing migrated), as `codeloop compare` reads stores."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        # evaluations begun by this process: close() adds the time the store was open
        self._opened = time.monotonic()
        self._evaluations: list[str] = []
        if read_only:
            uri = self.path.resolve().as_uri() + "?mode=ro"
            self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            return
        if str(path) != ":memory:" and not self.path.parent.is_dir():
            # no folder is created unasked: a mistyped path fails here, not in a new tree
            raise FileNotFoundError(f"store {path}: the folder {self.path.parent} does not exist")
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Stores written before `evaluations.wall` existed get it (NULL: not kept)."""
        if "wall" not in self.columns("evaluations"):
            try:
                self.db.execute("ALTER TABLE evaluations ADD COLUMN wall REAL")
            except sqlite3.OperationalError:  # another process added it first
                if "wall" not in self.columns("evaluations"):
                    raise

    def columns(self, table: str) -> set[str]:
        """The columns of `table` (empty: no such table)."""
        return {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}

    def tables(self) -> set[str]:
        rows = self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}

    def close(self) -> None:
        """Closes the store; an evaluation begun here gets the time since the store was
        opened added to its wall time (so an interrupted one counts too)."""
        try:
            wall = time.monotonic() - self._opened
            for eval_key in self._evaluations:
                self.db.execute(
                    "UPDATE evaluations SET wall = wall + ? WHERE eval_key = ?", (wall, eval_key)
                )
        finally:
            self.db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin_evaluation(
        self, eval_key: str, config: dict[str, Any], isolation: dict[str, Any]
    ) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO evaluations (eval_key, created, config, isolation, wall) "
            "VALUES (?, ?, ?, ?, 0)",
            (eval_key, time.time(), json.dumps(config, sort_keys=True), json.dumps(isolation)),
        )
        if eval_key not in self._evaluations:
            self._evaluations.append(eval_key)

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

    def stored_evaluations(self) -> list[StoredEvaluation]:
        """Every evaluation kept, oldest first (a store written before wall times were kept
        reads with `wall` None)."""
        if "wall" in self.columns("evaluations"):
            sql = "SELECT eval_key, created, config, wall FROM evaluations ORDER BY created"
        else:
            sql = "SELECT eval_key, created, config, NULL FROM evaluations ORDER BY created"
        rows = self.db.execute(sql)
        return [
            StoredEvaluation(key, float(created), json.loads(config), wall_s)
            for key, created, config, wall_s in rows
        ]


def count_verdicts(path: str | Path) -> int:
    """Verdicts kept in the evaluate store at `path` (infra errors excluded: they are retried);
    0 when the file does not exist or holds no verdicts table. Read-only: creates nothing."""
    import contextlib

    path = Path(path)
    if not path.is_file():
        return 0
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            row = db.execute(
                "SELECT COUNT(*) FROM verdicts WHERE status != ?", (Status.INFRA_ERROR.value,)
            ).fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0])


def _detail(outcome: TestOutcome) -> dict[str, Any]:
    detail: dict[str, Any] = {"i": outcome.index, "status": outcome.status.value}
    for name in ("expected", "actual", "exception", "message", "traceback"):
        value = getattr(outcome, name)
        if value:
            detail[name] = value
    return detail


# ----------------------------------------------------------------------------- codeloop run
#
# `codeloop run` keeps its own tables beside evaluate's (which it never touches): the run's
# config, each task's solution and trace, and the hidden-test verdict of each ranked program.
# A task's solution and its verdicts are each committed in one transaction, so a run killed
# at any moment keeps every task it finished and resumes at the first unfinished one.

RUN_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_key TEXT PRIMARY KEY,
    created REAL NOT NULL,
    config TEXT NOT NULL          -- JSON: dataset, strategy, settings, model, budgets, scoring
);
CREATE TABLE IF NOT EXISTS run_sessions (
    session INTEGER PRIMARY KEY AUTOINCREMENT,
    run_key TEXT NOT NULL,
    started REAL NOT NULL,
    wall REAL NOT NULL,           -- updated as tasks finish, so a killed session still counts
    tasks INTEGER NOT NULL,       -- tasks finished in this session
    stop_reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_solutions (
    run_key TEXT NOT NULL,
    task_id TEXT NOT NULL,
    position INTEGER NOT NULL,    -- the task's place in the dataset
    view_sha TEXT NOT NULL,       -- what the strategy saw; a changed task is solved again
    programs TEXT NOT NULL,       -- JSON list, ranked best first
    raw TEXT NOT NULL,            -- JSON list of raw model outputs
    trace TEXT NOT NULL,          -- JSON list of trace nodes
    usage TEXT NOT NULL,          -- JSON Usage
    error TEXT NOT NULL,          -- non-empty: the task errored (model, strategy, sandbox)
    note TEXT NOT NULL,           -- e.g. the budget ran out (not an error)
    wall REAL NOT NULL,
    created REAL NOT NULL,
    ties TEXT NOT NULL DEFAULT '', -- JSON {"groups": [[[rank, samples], ...], ...],
                                  --   "no_consensus": false}; '' when the strategy gave none
    PRIMARY KEY (run_key, task_id)
);
CREATE TABLE IF NOT EXISTS run_scored (
    run_key TEXT NOT NULL,
    task_id TEXT NOT NULL,
    score_key TEXT NOT NULL,      -- hidden tests + limits the verdicts were judged under
    solution_created REAL NOT NULL,
    wall REAL NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (run_key, task_id, score_key)
);
CREATE TABLE IF NOT EXISTS run_verdicts (
    run_key TEXT NOT NULL,
    task_id TEXT NOT NULL,
    score_key TEXT NOT NULL,
    rank INTEGER NOT NULL,        -- 0: the strategy's top-ranked program
    program_sha TEXT NOT NULL,
    status TEXT NOT NULL,
    groups TEXT NOT NULL,         -- JSON {"base": true, "base+plus": false}
    statuses TEXT NOT NULL,
    details TEXT NOT NULL,
    duration REAL NOT NULL,
    PRIMARY KEY (run_key, task_id, score_key, rank)
);
"""


SOLUTIONS_SQL = (
    "SELECT task_id, position, view_sha, programs, raw, trace, usage, error, note, wall, "
    "created, ties FROM run_solutions WHERE run_key = ? ORDER BY position"
)


@dataclass(frozen=True)
class StoredSolution:
    task_id: str
    position: int
    view_sha: str
    programs: list[str]
    raw: list[str]
    trace: list[dict[str, Any]]
    usage: dict[str, Any]
    error: str
    note: str
    wall: float
    created: float
    # the strategy's tie groups (Solution.tie_groups): (rank, samples) per program, best first
    tie_groups: list[list[tuple[int, int]]] = field(default_factory=list)
    no_consensus: bool = False

    def ties_json(self) -> str:
        if not self.tie_groups:
            return ""
        groups = [[[rank, samples] for rank, samples in group] for group in self.tie_groups]
        return json.dumps({"groups": groups, "no_consensus": self.no_consensus})


def _ties_of(text: str | None) -> tuple[list[list[tuple[int, int]]], bool]:
    if not text:
        return [], False
    data = json.loads(text)
    groups = [[(int(rank), int(samples)) for rank, samples in group] for group in data["groups"]]
    return groups, bool(data.get("no_consensus", False))


@dataclass(frozen=True)
class RankVerdict:
    rank: int
    program_sha: str
    status: Status
    groups: dict[str, bool]
    statuses: str = ""
    details: tuple[dict[str, Any], ...] = ()
    duration: float = 0.0


@dataclass(frozen=True)
class StoredRun:
    run_key: str
    created: float
    config: dict[str, Any]
    wall: float  # all sessions together
    sessions: int
    last_stop: str


class RunTables:
    """The `codeloop run` tables of a run store (an evaluate store may hold both)."""

    def __init__(self, store: RunStore) -> None:
        self.db = store.db
        self.db.execute("PRAGMA busy_timeout=30000")
        if not store.read_only:
            self.db.executescript(RUN_SCHEMA)
            self._migrate()
        # read only, a store written before the ties column existed reads as having none
        self._solutions_sql = SOLUTIONS_SQL
        if "ties" not in store.columns("run_solutions"):
            self._solutions_sql = SOLUTIONS_SQL.replace(", ties FROM", ", '' FROM")

    def _migrate(self) -> None:
        """Stores written before a column existed get it (with its default)."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(run_solutions)")}
        if "ties" not in columns:
            try:
                self.db.execute(
                    "ALTER TABLE run_solutions ADD COLUMN ties TEXT NOT NULL DEFAULT ''"
                )
            except sqlite3.OperationalError:  # another process added it first
                columns = {row[1] for row in self.db.execute("PRAGMA table_info(run_solutions)")}
                if "ties" not in columns:
                    raise

    def _transaction(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                self.db.execute(sql, params)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ runs and sessions
    def begin_run(self, run_key: str, config: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO runs VALUES (?, ?, ?)",
            (run_key, time.time(), json.dumps(config, sort_keys=True, default=str)),
        )

    def start_session(self, run_key: str) -> int:
        cursor = self.db.execute(
            "INSERT INTO run_sessions (run_key, started, wall, tasks, stop_reason) "
            "VALUES (?, ?, 0, 0, 'running')",
            (run_key, time.time()),
        )
        return int(cursor.lastrowid or 0)

    def update_session(self, session: int, wall: float, tasks: int, stop_reason: str) -> None:
        self.db.execute(
            "UPDATE run_sessions SET wall = ?, tasks = ?, stop_reason = ? WHERE session = ?",
            (wall, tasks, stop_reason, session),
        )

    def runs(self) -> list[StoredRun]:
        rows = self.db.execute(
            "SELECT r.run_key, r.created, r.config, COALESCE(SUM(s.wall), 0), COUNT(s.session), "
            "(SELECT stop_reason FROM run_sessions WHERE run_key = r.run_key "
            " ORDER BY session DESC LIMIT 1) "
            "FROM runs r LEFT JOIN run_sessions s ON s.run_key = r.run_key "
            "GROUP BY r.run_key ORDER BY r.created"
        ).fetchall()
        return [
            StoredRun(key, created, json.loads(config), float(wall), int(n), str(last or ""))
            for key, created, config, wall, n, last in rows
        ]

    # ------------------------------------------------------------------ isolation
    # The isolation layers the run's scoring sandbox had in force, kept in `meta` (which
    # every store has) under "run_isolation:RUN_KEY": the last invocation's.
    def record_isolation(self, run_key: str, isolation: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            (f"run_isolation:{run_key}", json.dumps(isolation, default=str)),
        )

    def isolation(self, run_key: str) -> dict[str, Any] | None:
        """None: not recorded (a store written before it was kept, or never scored)."""
        try:
            row = self.db.execute(
                "SELECT value FROM meta WHERE key = ?", (f"run_isolation:{run_key}",)
            ).fetchone()
        except sqlite3.OperationalError:  # no meta table
            return None
        return json.loads(row[0]) if row else None

    # ------------------------------------------------------------------------- solutions
    def record_solution(self, run_key: str, solution: StoredSolution) -> None:
        """Replaces any earlier solution of the task, and with it the verdicts on it."""
        self._transaction(
            [
                (
                    "DELETE FROM run_verdicts WHERE run_key = ? AND task_id = ?",
                    (run_key, solution.task_id),
                ),
                (
                    "DELETE FROM run_scored WHERE run_key = ? AND task_id = ?",
                    (run_key, solution.task_id),
                ),
                (
                    "INSERT OR REPLACE INTO run_solutions (run_key, task_id, position, view_sha, "
                    "programs, raw, trace, usage, error, note, wall, created, ties) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_key,
                        solution.task_id,
                        solution.position,
                        solution.view_sha,
                        json.dumps(solution.programs),
                        json.dumps(solution.raw),
                        json.dumps(solution.trace, default=repr),
                        json.dumps(solution.usage),
                        solution.error,
                        solution.note,
                        solution.wall,
                        solution.created,
                        solution.ties_json(),
                    ),
                ),
            ]
        )

    def solutions(self, run_key: str) -> dict[str, StoredSolution]:
        rows = self.db.execute(self._solutions_sql, (run_key,))
        out: dict[str, StoredSolution] = {}
        for row in rows:
            groups, no_consensus = _ties_of(row[11])
            out[row[0]] = StoredSolution(
                task_id=row[0],
                position=row[1],
                view_sha=row[2],
                programs=json.loads(row[3]),
                raw=json.loads(row[4]),
                trace=json.loads(row[5]),
                usage=json.loads(row[6]),
                error=row[7],
                note=row[8],
                wall=row[9],
                created=row[10],
                tie_groups=groups,
                no_consensus=no_consensus,
            )
        return out

    # -------------------------------------------------------------------------- verdicts
    def record_verdicts(
        self,
        run_key: str,
        task_id: str,
        score_key: str,
        solution_created: float,
        verdicts: list[RankVerdict],
        wall: float,
    ) -> None:
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (
                "DELETE FROM run_verdicts WHERE run_key = ? AND task_id = ? AND score_key = ?",
                (run_key, task_id, score_key),
            )
        ]
        for v in verdicts:
            statements.append(
                (
                    "INSERT INTO run_verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_key,
                        task_id,
                        score_key,
                        v.rank,
                        v.program_sha,
                        v.status.value,
                        json.dumps(v.groups),
                        v.statuses,
                        json.dumps(list(v.details)),
                        v.duration,
                    ),
                )
            )
        statements.append(
            (
                "INSERT OR REPLACE INTO run_scored VALUES (?, ?, ?, ?, ?, ?)",
                (run_key, task_id, score_key, solution_created, wall, time.time()),
            )
        )
        self._transaction(statements)

    def scored(self, run_key: str) -> dict[tuple[str, str], float]:
        """(task_id, score_key) -> creation time of the solution those verdicts judged."""
        rows = self.db.execute(
            "SELECT task_id, score_key, solution_created FROM run_scored WHERE run_key = ?",
            (run_key,),
        )
        return {(t, k): float(c) for t, k, c in rows}

    def verdicts(self, run_key: str) -> dict[tuple[str, str], list[RankVerdict]]:
        """(task_id, score_key) -> verdicts by rank."""
        rows = self.db.execute(
            "SELECT task_id, score_key, rank, program_sha, status, groups, statuses, details, "
            "duration FROM run_verdicts WHERE run_key = ? ORDER BY task_id, score_key, rank",
            (run_key,),
        )
        out: dict[tuple[str, str], list[RankVerdict]] = {}
        for row in rows:
            out.setdefault((row[0], row[1]), []).append(
                RankVerdict(
                    rank=row[2],
                    program_sha=row[3],
                    status=Status(row[4]),
                    groups=json.loads(row[5]),
                    statuses=row[6],
                    details=tuple(json.loads(row[7])),
                    duration=row[8],
                )
            )
        return out


def verdict_of(
    rank: int, program_sha: str, result: ExecResult, groups: dict[str, bool]
) -> RankVerdict:
    """A ranked program's verdict in the form the store keeps (as evaluate's `record`)."""
    details = [
        _detail(o)
        for o in result.outcomes
        if o.status is not Status.PASSED and o.status is not Status.NOT_RUN
    ]
    if result.infra_error:
        details.append({"infra_error": result.infra_error})
    return RankVerdict(
        rank=rank,
        program_sha=program_sha,
        status=result.status,
        groups=groups,
        statuses="".join(STATUS_LETTERS[o.status] for o in result.outcomes),
        details=tuple(details),
        duration=result.duration_s,
    )
