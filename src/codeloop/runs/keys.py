"""Digests that identify what a verdict or a solution depends on.

The same digest in `codeloop evaluate` (its evaluation key) and `codeloop run` (its score
and view keys), computed value by value so that it agrees across processes whatever the
hash seed.
"""

from __future__ import annotations

import hashlib

from codeloop.execution.codec import digest as value_digest
from codeloop.types import ProblemView, Task


def text_sha(text: str) -> str:
    """The sha256 hex digest of `text` (lone surrogates kept, as programs may hold them)."""
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def tasks_digest(tasks: list[Task]) -> str:
    """What the verdicts depend on: every hidden test (inputs, expected, comparison, limit).

    Tasks loaded from a file are identified by the file's content hash (cheap, and the
    expected values computed from its references follow from it); others are hashed value
    by value.
    """
    digest = hashlib.sha256()
    for task in tasks:
        digest.update(task.task_id.encode())
        source = task.metadata.get("source_sha256")
        if source:
            digest.update(str(source).encode())
        else:
            digest.update(task.prompt.encode())
        for group, tests in task.hidden_tests.items():
            digest.update(group.encode())
            if not source:
                for t in tests:
                    digest.update(value_digest((t.kind.value, t.args, t.code, t.stdin)))
                    digest.update(value_digest((t.expected, t.compare.value, t.atol, t.oracle)))
            digest.update(repr([t.time_limit_s for t in tests]).encode())
    return digest.hexdigest()


def view_sha(view: ProblemView) -> str:
    """What a strategy saw, digested the way the hidden tests are (so it agrees across
    processes whatever the hash seed)."""
    stand_in = Task(
        task_id=view.task_id,
        prompt="\0".join([view.prompt, str(view.entry_point), view.kind.value, view.language]),
        entry_point=view.entry_point,
        hidden_tests={"visible": view.visible_tests},
    )
    return tasks_digest([stand_in])[:24]
