"""The report's data: what run and evaluate stores hold, read only, as typed records.

`load_store(path)` reads every run and evaluation a store keeps into `Source`s: a
summary (what ran and how, pass@k by group of hidden tests, cost, errors), one `TaskRecord`
per task (outcome, programs tried with the feedback each got, the answers and their
hidden-test verdicts) and each task's trace as a general tree of nodes (parent ids).

Safe while a run writes the store: the file is opened with sqlite's read-only URI mode and
everything of one source is read inside one read transaction, so a WAL store gives a
consistent snapshot of the tasks finished so far.  Nothing is written or migrated (sqlite
may create the `-shm`/`-wal` files a WAL store reads through, as any reader does).

The store does not keep tasks' prompts or visible tests, nor an evaluation's programs: they
are read again from the dataset and the samples file named in the store's config, when
those can still be loaded (`TaskRecord.prompt` is None otherwise).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeloop.runs.compare import open_store
from codeloop.runs.report import cost_summary, infra_failure, usage_of
from codeloop.runs.store import RankVerdict, RunStore, RunTables, StoredSolution, StoredVerdict
from codeloop.scoring.passk import mean_pass_at_k, usable_ks
from codeloop.scoring.ties import ranked_pass_at
from codeloop.types import Status, Task

__all__ = [
    "Attempt",
    "Source",
    "Summary",
    "TaskLoader",
    "TaskRecord",
    "TraceNode",
    "Verdict",
    "load_store",
    "load_stores",
    "store_version",
]

RUN_KS = (1, 2, 5, 10)


@dataclass(frozen=True)
class TraceNode:
    """One node of a strategy's trace; `parent` None: a root."""

    id: int
    parent: int | None
    kind: str
    content: str
    usage: dict[str, Any]
    metadata: dict[str, Any]
    children: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent": self.parent,
            "kind": self.kind,
            "content": self.content,
            "usage": self.usage,
            "metadata": self.metadata,
        }


@dataclass(frozen=True)
class Verdict:
    """A hidden-test verdict: of a run's ranked program (`index` is the rank) or of an
    evaluation's sample (`index` is the sample index).  `failures`: the non-passing tests
    (index `i`, status, expected, actual, exception ...), with `test` (how the test reads)
    added where the task could be loaded."""

    index: int
    status: str
    groups: dict[str, bool]
    statuses: str
    failures: list[dict[str, Any]]
    duration_s: float
    program: str | None = None  # None: the store does not keep it and it could not be read

    @property
    def passed(self) -> bool:
        return bool(self.groups) and all(self.groups.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "status": self.status,
            "groups": self.groups,
            "statuses": self.statuses,
            "failures": self.failures,
            "duration_s": round(self.duration_s, 4),
            "program": self.program,
        }


@dataclass(frozen=True)
class Attempt:
    """A program the strategy tried (a trace "program" node) and what running it said."""

    node: int
    program: str
    executions: list[str]  # e.g. "failed: passed 0 of 1 tests"
    feedback: list[str]  # the feedback text it got
    calls_before: int  # model calls spent on the task up to and including this program
    tokens_before: int

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "program": self.program,
            "executions": self.executions,
            "feedback": self.feedback,
            "calls": self.calls_before,
            "tokens": self.tokens_before,
        }


@dataclass
class TaskRecord:
    task_id: str
    position: int
    solved: bool  # run: the top-ranked program passes every hidden test; evaluate: a sample does
    groups: dict[str, bool]  # run: group -> top program passes; evaluate: group -> some sample
    samples: int  # evaluate: samples judged; run: programs ranked
    passed: int  # evaluate: samples passing every group; run: ranked programs passing
    pass_at_1: float  # run: 1.0/0.0 (top program); evaluate: passed / samples
    error: str = ""
    note: str = ""
    failure: str = ""  # run: the kind of infrastructure failure, "" when none
    usage: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    verdicts: list[Verdict] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    trace: list[TraceNode] = field(default_factory=list)
    answer_calls: int | None = None  # calls spent until the top answer was first generated
    prompt: str | None = None
    visible_tests: list[str] = field(default_factory=list)
    finished_at: float = 0.0

    @property
    def programs_tried(self) -> int:
        return len(self.attempts) if self.attempts else self.samples

    def row_json(self) -> dict[str, Any]:
        """What the task table shows (small: one a task, all sent at once)."""
        return {
            "task_id": self.task_id,
            "position": self.position,
            "solved": self.solved,
            "groups": self.groups,
            "samples": self.samples,
            "passed": self.passed,
            "pass_at_1": round(self.pass_at_1, 4),
            "programs": self.programs_tried,
            "error": self.error,
            "note": self.note,
            "failure": self.failure,
            "calls": int(self.usage.get("calls", 0) or 0),
            "tokens": int(self.usage.get("prompt_tokens", 0) or 0)
            + int(self.usage.get("completion_tokens", 0) or 0),
            "wall_s": round(self.wall_s, 4),
            "answer_calls": self.answer_calls,
        }

    def detail_json(self) -> dict[str, Any]:
        """The task's page: prompt, visible tests, attempts, verdicts, trace."""
        return {
            **self.row_json(),
            "prompt": self.prompt,
            "visible_tests": self.visible_tests,
            "attempts": [a.to_json() for a in self.attempts],
            "verdicts": [v.to_json() for v in self.verdicts],
            "trace": [n.to_json() for n in self.trace],
            "usage": self.usage,
        }


@dataclass
class Summary:
    store: str
    kind: str  # "run" or "evaluate"
    key: str  # run_key or eval_key
    dataset: str
    strategy: str  # "-" for an evaluation
    settings: dict[str, Any]
    model: str
    budget: str
    tasks: int  # tasks with a result
    samples: int  # evaluate: verdicts kept; run: programs ranked and scored
    errors: int
    groups: list[str]
    pass_at_k: dict[str, dict[str, float]]  # group -> k -> value
    cost: dict[str, Any]  # calls, cached_calls, tokens, prompt/completion tokens, executions, $
    wall_s: float | None
    isolation: dict[str, Any] | None  # None: not recorded (a run store written before it was)
    stop: str  # the last session's stop reason ("complete", "running", ...); "" for evaluate
    error_list: list[tuple[str, str]] = field(default_factory=list)  # (task_id, error)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        name = Path(self.store).name
        what = self.strategy if self.kind == "run" else "evaluate"
        return f"{name}:{what}:{self.key[:6]}"

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "label": self.label,
            "kind": self.kind,
            "key": self.key,
            "dataset": self.dataset,
            "strategy": self.strategy,
            "settings": self.settings,
            "model": self.model,
            "budget": self.budget,
            "tasks": self.tasks,
            "samples": self.samples,
            "errors": self.errors,
            "groups": self.groups,
            "pass_at_k": self.pass_at_k,
            "cost": self.cost,
            "wall_s": self.wall_s,
            "isolation": self.isolation,
            "stop": self.stop,
            "error_list": [list(e) for e in self.error_list],
        }


@dataclass
class Source:
    """One run or evaluation of a store: its summary and its tasks in dataset order."""

    summary: Summary
    tasks: list[TaskRecord]

    def task(self, task_id: str) -> TaskRecord | None:
        for record in self.tasks:
            if record.task_id == task_id:
                return record
        return None


# --------------------------------------------------------------------------- loading


def store_version(path: str | Path) -> str:
    """A cheap token that changes when the store gains rows (the viewer polls it)."""
    store, kinds = open_store(path)
    try:
        parts = []
        db = store.db
        if "runs" in kinds:
            for table in ("run_solutions", "run_scored", "run_sessions"):
                if table in store.tables():
                    sql = f"SELECT COUNT(*), MAX(rowid) FROM {table}"  # noqa: S608 (fixed names)
                    row = db.execute(sql).fetchone()
                    parts.append(f"{row[0]}.{row[1]}")
            if "run_sessions" in store.tables():
                row = db.execute("SELECT MAX(stop_reason) FROM run_sessions").fetchone()
                parts.append(f"{row[0]}")
        if "evaluations" in kinds:
            row = db.execute("SELECT COUNT(*), MAX(created) FROM verdicts").fetchone()
            parts.append(f"{row[0]}.{row[1]}")
        return "-".join(parts)
    finally:
        store.close()


def load_stores(
    paths: Iterable[str | Path], *, tasks: bool = True, samples: Sequence[str | Path] = ()
) -> list[Source]:
    """Every run and evaluation of every store, in the order given."""
    sources: list[Source] = []
    loader = TaskLoader(samples) if tasks else None
    for path in dict.fromkeys(Path(p).resolve() for p in paths):
        sources += load_store(path, tasks=tasks, loader=loader)
    return sources


def load_store(
    path: str | Path,
    *,
    tasks: bool = True,
    samples: Sequence[str | Path] = (),
    loader: TaskLoader | None = None,
) -> list[Source]:
    """Every run, then every evaluation, of the store at `path` (oldest first).

    `tasks`: also read the dataset (prompts, visible tests, the text of failing hidden
    tests).  `samples`: samples files an evaluation was made from (the store keeps only
    each program's digest): a sample whose task, index and digest match gets its program.
    Raises RunError for what is not a store."""
    store, kinds = open_store(path)
    if loader is None and tasks:
        loader = TaskLoader(samples)
    try:
        sources: list[Source] = []
        # one read transaction: a consistent snapshot while a run writes (WAL)
        store.db.execute("BEGIN")
        try:
            if "runs" in kinds:
                sources += _runs(store, str(path), loader)
            if "evaluations" in kinds:
                sources += _evaluations(store, str(path), loader)
        finally:
            store.db.execute("ROLLBACK")
        return sources
    except sqlite3.Error as exc:  # e.g. a store still being created by its writer
        from codeloop.runs.options import RunError

        raise RunError(f"{path}: cannot read the store ({exc})") from exc
    finally:
        store.close()


class TaskLoader:
    """Datasets read again for the report (prompts, visible and hidden test text), once each."""

    def __init__(self, samples: Sequence[str | Path] = ()) -> None:
        self._cache: dict[tuple[str, str | None], dict[str, Task] | None] = {}
        self.samples = [Path(p) for p in samples]

    def tasks(self, config: Mapping[str, Any]) -> dict[str, Task] | None:
        dataset = config.get("dataset")
        if not isinstance(dataset, str) or not dataset:
            return None
        dataset_file = config.get("dataset_file")
        key = (dataset, dataset_file if isinstance(dataset_file, str) else None)
        if key not in self._cache:
            from codeloop.tasks import load_tasks

            options = config.get("task_options")
            try:
                loaded = load_tasks(
                    dataset,
                    dataset_file=key[1],
                    options=options if isinstance(options, dict) else None,
                )
                self._cache[key] = {t.task_id: t for t in loaded}
            except Exception:  # a moved file, missing shared data: the report goes on without
                self._cache[key] = None
        return self._cache[key]


def _describe(task: Task | None, test_index: int) -> str | None:
    if task is None:
        return None
    from codeloop.feedback.tests import describe_test

    hidden = task.all_hidden()
    if not 0 <= test_index < len(hidden):
        return None
    return describe_test(hidden[test_index], task.entry_point)


def _visible(task: Task | None) -> list[str]:
    if task is None:
        return []
    from codeloop.feedback.tests import describe_test, show

    lines = []
    for test in task.visible_tests:
        text = describe_test(test, task.entry_point)
        if test.has_expected and not test.source.strip() and not test.code:
            text += f" == {show(test.expected, 200)}"
        lines.append(text)
    return lines


def _failures(details: Sequence[Mapping[str, Any]], task: Task | None) -> list[dict[str, Any]]:
    out = []
    for detail in details:
        item = dict(detail)
        if isinstance(item.get("i"), int):
            test = _describe(task, item["i"])
            if test is not None:
                item["test"] = test
        out.append(item)
    return out


def _trace(nodes: Sequence[Mapping[str, Any]]) -> list[TraceNode]:
    children: dict[int, list[int]] = {}
    ids = []
    for position, node in enumerate(nodes):
        node_id = node.get("id", position)
        ids.append(int(node_id) if isinstance(node_id, int) else position)
    known = set(ids)
    for node_id, node in zip(ids, nodes, strict=True):
        parent = node.get("parent")
        if isinstance(parent, int) and parent in known:
            children.setdefault(parent, []).append(node_id)
    out = []
    for node_id, node in zip(ids, nodes, strict=True):
        parent = node.get("parent")
        out.append(
            TraceNode(
                id=node_id,
                parent=parent if isinstance(parent, int) and parent in known else None,
                kind=str(node.get("kind", "")),
                content=str(node.get("content", "")),
                usage=dict(node.get("usage") or {}),
                metadata=dict(node.get("metadata") or {}),
                children=tuple(children.get(node_id, ())),
            )
        )
    return out


def _attempts(trace: Sequence[TraceNode]) -> list[Attempt]:
    """The programs of a trace, in the order generated, each with the executions and
    feedback hung below it (directly, or below its execution node)."""
    by_id = {n.id: n for n in trace}
    calls = tokens = 0
    attempts: list[Attempt] = []
    for node in trace:
        calls += int(node.usage.get("calls", 0) or 0)
        tokens += int(node.usage.get("prompt_tokens", 0) or 0)
        tokens += int(node.usage.get("completion_tokens", 0) or 0)
        if node.kind != "program":
            continue
        executions: list[str] = []
        feedback: list[str] = []
        pending = list(node.children)
        while pending:
            child = by_id[pending.pop(0)]
            if child.kind == "execution":
                executions.append(child.content)
                pending += [c for c in child.children if by_id[c].kind == "feedback"]
            elif child.kind == "feedback":
                feedback.append(child.content)
        attempts.append(Attempt(node.id, node.content, executions, feedback, calls, tokens))
    return attempts


def _answer_calls(attempts: Sequence[Attempt], answer: str | None) -> int | None:
    if answer is None:
        return None
    for attempt in attempts:
        if attempt.program == answer:
            return attempt.calls_before
    return None


def _verdict(verdict: RankVerdict, program: str | None, task: Task | None) -> Verdict:
    return Verdict(
        index=verdict.rank,
        status=verdict.status.value,
        groups=dict(verdict.groups),
        statuses=verdict.statuses,
        failures=_failures(verdict.details, task),
        duration_s=verdict.duration,
        program=program,
    )


def _settings_text(config: Mapping[str, Any]) -> str:
    budget = config.get("per_task_budget")
    return str(budget) if budget is not None else "-"


def _runs(store: RunStore, path: str, loader: TaskLoader | None) -> list[Source]:
    tables = RunTables(store)
    sources = []
    for stored in tables.runs():
        config = stored.config
        known = loader.tasks(config) if loader else None
        solutions = tables.solutions(stored.run_key)
        verdicts = tables.verdicts(stored.run_key)
        latest: dict[str, tuple[str, float]] = {}
        for (task_id, key), created in tables.scored(stored.run_key).items():
            if task_id not in latest or created >= latest[task_id][1]:
                latest[task_id] = (key, created)
        records: list[TaskRecord] = []
        groups: list[str] = []
        finished_usage = []
        for task_id, solution in solutions.items():
            failure = infra_failure(solution.error, solution.trace) if solution.error else ""
            if not solution.error and task_id not in latest:
                continue  # solved, not scored yet: not finished
            ranks = verdicts.get((task_id, latest[task_id][0]), []) if task_id in latest else []
            task = known.get(task_id) if known else None
            records.append(_run_task(solution, ranks, failure, task))
            finished_usage.append(usage_of(solution.usage))
            for rank in ranks:
                groups += [g for g in rank.groups if g not in groups]
        groups = groups or ["base"]
        scored = [r for r in records if not r.failure]
        ranked = [_Ranked(r, groups) for r in scored]
        pass_at_k = ranked_pass_at(ranked, groups, RUN_KS)
        settings = dict(config.get("settings") or {})
        sources.append(
            Source(
                Summary(
                    store=path,
                    kind="run",
                    key=stored.run_key,
                    dataset=str(config.get("dataset", "?")),
                    strategy=str(config.get("strategy", "?")),
                    settings=settings,
                    model=str(config.get("model", "?")),
                    budget=_settings_text(config),
                    tasks=len(scored),
                    samples=sum(r.samples for r in scored),
                    errors=sum(1 for r in records if r.error),
                    groups=groups,
                    pass_at_k=pass_at_k,
                    cost=cost_summary(finished_usage),
                    wall_s=stored.wall,
                    isolation=tables.isolation(stored.run_key),
                    stop=stored.last_stop,
                    error_list=[(r.task_id, r.error) for r in records if r.error],
                    config=config,
                ),
                records,
            )
        )
    return sources


def _matching(
    programs: Mapping[tuple[str, int], tuple[str, str]], task_id: str, verdict: StoredVerdict
) -> str | None:
    found = programs.get((task_id, verdict.sample_index))
    return found[1] if found and found[0] == verdict.program_sha else None


class _Ranked:
    """A task in the shape `ranked_pass_at` reads: per group, pass per ranked program."""

    def __init__(self, record: TaskRecord, groups: list[str]) -> None:
        self.groups = {name: [bool(v.groups.get(name)) for v in record.verdicts] for name in groups}
        self.ranked = self.groups[groups[-1]]
        self.ties: dict[str, dict[str, float]] = {}


def _run_task(
    solution: StoredSolution, ranks: list[RankVerdict], failure: str, task: Task | None
) -> TaskRecord:
    trace = _trace(solution.trace)
    attempts = _attempts(trace)
    programs = solution.programs
    verdicts = [
        _verdict(v, programs[v.rank] if v.rank < len(programs) else None, task) for v in ranks
    ]
    top = verdicts[0] if verdicts and verdicts[0].index == 0 else None
    solved = bool(top and top.passed and not solution.error)
    return TaskRecord(
        task_id=solution.task_id,
        position=solution.position,
        solved=solved,
        groups=dict(top.groups) if top else {},
        samples=len(verdicts),
        passed=sum(1 for v in verdicts if v.passed),
        pass_at_1=1.0 if solved else 0.0,
        error=solution.error,
        note=solution.note,
        failure=failure,
        usage=dict(solution.usage),
        wall_s=solution.wall,
        verdicts=verdicts,
        attempts=attempts,
        trace=trace,
        answer_calls=_answer_calls(attempts, programs[0] if programs else None),
        prompt=task.prompt if task else None,
        visible_tests=_visible(task),
        finished_at=solution.created,
    )


def _evaluations(store: RunStore, path: str, loader: TaskLoader | None) -> list[Source]:
    sources = []
    isolation_of = dict(store.db.execute("SELECT eval_key, isolation FROM evaluations").fetchall())
    for evaluation in store.stored_evaluations():
        config = evaluation.config
        known = loader.tasks(config) if loader else None
        programs = _sample_programs(loader.samples if loader else [], known)
        by_task: dict[str, list[StoredVerdict]] = {}
        for verdict in store.verdicts(evaluation.eval_key):
            by_task.setdefault(verdict.task_id, []).append(verdict)
        order = {tid: i for i, tid in enumerate(known)} if known else {}
        records = []
        groups: list[str] = []
        counts: dict[str, list[tuple[int, int]]] = {}
        infra = 0
        errors: list[tuple[str, str]] = []
        for position, (task_id, rows) in enumerate(
            sorted(by_task.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
        ):
            task = known.get(task_id) if known else None
            judged = [v for v in rows if v.status is not Status.INFRA_ERROR]
            infra += len(rows) - len(judged)
            for v in rows:
                if v.status is Status.INFRA_ERROR:
                    errors.append((task_id, f"sample {v.sample_index}: sandbox error"))
            for v in judged:
                groups += [g for g in v.groups if g not in groups]
            task_groups = sorted({g for v in judged for g in v.groups}, key=groups.index)
            for name in task_groups:
                c = sum(1 for v in judged if v.groups.get(name))
                counts.setdefault(name, []).append((len(judged), c))
            verdicts = [
                Verdict(
                    index=v.sample_index,
                    status=v.status.value,
                    groups=dict(v.groups),
                    statuses=v.statuses,
                    failures=_failures(v.details, task),
                    duration_s=v.duration,
                    program=_matching(programs, task_id, v),
                )
                for v in rows
            ]
            passed = sum(1 for v in verdicts if v.passed and v.status != Status.INFRA_ERROR.value)
            records.append(
                TaskRecord(
                    task_id=task_id,
                    position=order.get(task_id, position),
                    solved=passed > 0,
                    groups={name: any(v.groups.get(name) for v in judged) for name in task_groups},
                    samples=len(judged),
                    passed=passed,
                    pass_at_1=passed / len(judged) if judged else 0.0,
                    wall_s=sum(v.duration for v in rows),
                    verdicts=verdicts,
                    prompt=task.prompt if task else None,
                    visible_tests=_visible(task),
                )
            )
        requested = sorted({int(k) for k in config.get("ks") or [1]})
        pass_at_k = {}
        for name, task_counts in counts.items():
            ks = usable_ks((n for n, _ in task_counts), requested)
            pass_at_k[name] = {str(k): mean_pass_at_k(task_counts, k) for k in ks}
        isolation_text = isolation_of.get(evaluation.eval_key)
        sources.append(
            Source(
                Summary(
                    store=path,
                    kind="evaluate",
                    key=evaluation.eval_key,
                    dataset=str(config.get("dataset", "?")),
                    strategy="-",
                    settings={},
                    model="-",
                    budget="-",
                    tasks=len(records),
                    samples=sum(len(v) for v in by_task.values()),
                    errors=infra,
                    groups=groups or ["base"],
                    pass_at_k=pass_at_k,
                    cost={
                        "calls": None,
                        "executions": sum(len(v) for v in by_task.values()),
                        "tokens": None,
                        "cost_usd": None,
                    },
                    wall_s=evaluation.wall,
                    isolation=json.loads(isolation_text) if isolation_text else None,
                    stop="",
                    error_list=errors,
                    config=config,
                ),
                records,
            )
        )
    return sources


def _sample_programs(
    files: Sequence[Path], known: Mapping[str, Task] | None
) -> dict[tuple[str, int], tuple[str, str]]:
    """(task_id, sample index) -> (program digest, program) of the samples files given."""
    if known is None or not files:
        return {}
    from codeloop.runs.keys import text_sha
    from codeloop.scoring.samples import read_samples

    programs: dict[tuple[str, int], tuple[str, str]] = {}
    for path in files:
        try:
            read = read_samples(path, known)
        except Exception:  # samples of another dataset: they match no verdict of this one
            read = None
        for sample in read.samples if read else []:
            programs[(sample.task_id, sample.index)] = (text_sha(sample.program), sample.program)
    return programs
