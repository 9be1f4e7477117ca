"""The fail-first test order: failures move a test to the front of its group, nothing else."""

from codeloop.scoring.order import FailFirst
from codeloop.types import ExecResult, Status, TestOutcome


def result(statuses: dict[int, Status], count: int) -> ExecResult:
    outcomes = tuple(TestOutcome(i, statuses.get(i, Status.PASSED)) for i in range(count))
    first = next((o.status for o in outcomes if o.status is not Status.PASSED), Status.PASSED)
    return ExecResult(status=first, outcomes=outcomes)


def test_nothing_failed_yet_means_the_datasets_order():
    book = FailFirst([3, 2])
    assert book.order() is None
    book.record(result({}, 5))
    assert book.order() is None


def test_failing_tests_move_to_the_front_of_their_own_group_only():
    book = FailFirst([3, 3])  # base: 0-2, plus: 3-5
    book.record(result({2: Status.FAILED}, 6))
    assert book.order() == (2, 0, 1, 3, 4, 5)
    book.record(result({5: Status.ERROR}, 6))
    # a plus test never jumps ahead of base tests
    assert book.order() == (2, 0, 1, 5, 3, 4)


def test_the_most_failed_test_leads_and_ties_keep_the_dataset_order():
    book = FailFirst([4])
    for failed in (3, 1, 3, 2):
        book.record(result({failed: Status.FAILED}, 4))
    assert book.order() == (3, 1, 2, 0)
    assert book.failures == [0, 1, 1, 2]
    book.record(result({2: Status.FAILED}, 4))  # 2 now ties 3, at two failures each
    assert book.order() == (2, 3, 1, 0)  # equal counts: the lower index first


def test_timeouts_and_syntax_errors_do_not_promote_a_test():
    book = FailFirst([3])
    book.record(result({2: Status.TIMEOUT}, 3))
    book.record(result({0: Status.SYNTAX_ERROR}, 3))
    assert book.order() is None
    book.record(result({1: Status.MEMORY}, 3))
    assert book.order() == (1, 0, 2)


def test_not_run_and_infra_errors_are_not_failures():
    book = FailFirst([3])
    book.record(result({1: Status.NOT_RUN, 2: Status.INFRA_ERROR}, 3))
    assert book.order() is None


def test_a_failure_that_changes_no_place_keeps_the_order_object():
    book = FailFirst([3])
    book.record(result({1: Status.FAILED}, 3))
    first = book.order()
    book.record(result({1: Status.FAILED}, 3))  # already first of its group
    assert book.order() is first
    book.record(result({2: Status.FAILED}, 3))  # 2 (1 failure) passes 0 (none)
    assert book.order() == (1, 2, 0)
