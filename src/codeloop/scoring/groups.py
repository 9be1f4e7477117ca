"""Groups of hidden tests and their verdicts (EvalPlus: base, then base+plus).

A task's hidden tests come in named groups; each group's verdict is cumulative: a program
passes "base+plus" when it passes every test of base and of plus.  `codeloop evaluate` and
`codeloop run` judge a program's result the same way through these two functions.
"""

from __future__ import annotations

from codeloop.types import ExecResult, Status, Task


def group_names(task: Task) -> list[str]:
    """The task's cumulative group names, in order ("base", "base+plus"); ["base"] when
    the task has no hidden tests."""
    names: list[str] = []
    for name in task.hidden_tests:
        names.append(name if not names else f"{names[-1]}+{name}")
    return names or ["base"]


def group_verdicts(task: Task, result: ExecResult) -> dict[str, bool]:
    """Cumulative group name -> whether `result` (a run on `task.all_hidden()`, in order)
    passes every test of that group and of the groups before it."""
    verdicts: dict[str, bool] = {}
    position = 0
    ok = True
    for name, cumulative in zip(task.hidden_tests, group_names(task), strict=True):
        size = len(task.hidden_tests[name])
        segment = result.outcomes[position : position + size]
        position += size
        ok = (
            ok
            and result.status is not Status.INFRA_ERROR
            and all(o.status is Status.PASSED for o in segment)
        )
        verdicts[cumulative] = ok
    return verdicts
