"""`codeloop evaluate --test-order fail-first` (an option, off by default): a task's hidden
tests run with the tests that failed other programs of the same task first, so that a
wrong program fails fast.

Wrong programs of a task often fail the same few tests.  Run in the dataset's order, a
program that fails its 700th test runs 699 passing ones first (HumanEval+ tasks have up
to ~1,000); run after the tests that failed the programs scored before it, such a
program fails on the first.  A right program runs every test either way.  The verdict of each
group (EvalPlus: base, base+plus) does not depend on the order: tests are only moved
within their group, and the groups still run one after another, so a program passes a
group exactly when it passes all of the group's tests.  What can differ is *which*
failing test a wrong program is failed on, and so its status (a program that hangs on
one test and fails another is a timeout in one order and a failure in the other).

Timeouts do not promote a test: a hang costs its whole limit, and putting it first would
make every later program that hangs there wait it out before failing a cheaper test.
Nor do syntax errors, which fail a program before any test.
"""

from __future__ import annotations

from collections.abc import Sequence

from codeloop.types import ExecResult, Status

ORDERS = ("fail-first", "given")  # `codeloop evaluate --test-order`

_NOT_COUNTED = (Status.TIMEOUT, Status.SYNTAX_ERROR)


class FailFirst:
    """Failures seen so far on one task's tests, and the order they suggest.

    `group_sizes`: the number of tests in each group, in order (tests are indexed as in
    `Task.all_hidden()`).  Tests move only within their group.
    """

    def __init__(self, group_sizes: Sequence[int]) -> None:
        self._groups = []
        start = 0
        for size in group_sizes:
            self._groups.append(range(start, start + size))
            start += size
        self.failures = [0] * start
        self._group_start = [group.start for group in self._groups for _ in group]
        self._order: tuple[int, ...] | None = None
        self._position: dict[int, int] = {}
        self._stale = False

    def record(self, result: ExecResult) -> None:
        """Count the tests `result` failed (but not on a timeout or before any test ran)."""
        for outcome in result.outcomes:
            status = outcome.status
            if status.is_failure and status not in _NOT_COUNTED:
                index = outcome.index
                if 0 <= index < len(self.failures):
                    self.failures[index] += 1
                    self._stale = self._stale or self._moves(index)

    def _moves(self, index: int) -> bool:
        """Whether one more failure of test `index` changes the order."""
        if self._order is None:
            return True
        at = self._position[index]
        if at == self._group_start[index]:
            return False  # first of its group already
        before = self._order[at - 1]
        counts = self.failures
        return counts[before] < counts[index] or (
            counts[before] == counts[index] and before > index
        )

    def order(self) -> tuple[int, ...] | None:
        """The order for the next program: within each group, the tests that failed most
        first, the rest as the dataset gives them.  None while nothing has failed (the
        dataset's order)."""
        if self._stale:
            counts = self.failures
            order: list[int] = []
            for group in self._groups:
                order += sorted(group, key=lambda i: -counts[i])  # stable: ties keep order
            self._order = tuple(order)
            self._position = {index: at for at, index in enumerate(order)}
            self._stale = False
        return self._order
