from codeloop.execution.codec import Opaque
from codeloop.execution.compare import exact_equal, verdict
from codeloop.tasks.oracles import evalplus_close
from codeloop.types import Compare, TestCase, TestKind


def call(expected, compare=Compare.EQUAL, atol=0.0):
    return TestCase(TestKind.CALL, args=(), expected=expected, compare=compare, atol=atol)


def test_equal_follows_python_equality_on_builtins():
    assert verdict(call(1), 1.0)
    assert verdict(call(1), True)
    assert not verdict(call([1]), (1,))
    assert not verdict(call(1), Opaque("X", ""))
    assert not verdict(call(Opaque("X", "")), Opaque("X", ""))


def test_opaque_values_keep_their_truthiness_for_oracles():
    truthy = TestCase(TestKind.CALL, compare=Compare.ORACLE, oracle="truthy")
    assert verdict(truthy, Opaque("Match", "", True))
    assert not verdict(truthy, Opaque("Match", "", False))
    assert not verdict(truthy, Opaque("Match", "", None))


def test_exact_is_type_strict():
    assert not exact_equal(1, 1.0)
    assert not exact_equal(True, 1)
    assert not exact_equal([1], (1,))
    assert exact_equal({"a": [1, (2,)]}, {"a": [1, (2,)]})
    assert verdict(call(True, Compare.EXACT), True)
    assert not verdict(call(True, Compare.EXACT), 1)


def test_evalplus_close():
    assert evalplus_close(0.1 + 0.2, 0.3, 0)  # floats get atol 1e-6 even when atol is 0
    assert not evalplus_close(0.31, 0.3, 0)
    assert evalplus_close([1.0, 2.0000001], [1.0, 2.0], 0)
    assert not evalplus_close((1.0,), [1.0], 1e-3)  # type must match when not ==
    assert evalplus_close(3, 3, 0)
    assert not evalplus_close(3, 4, 0)
    assert evalplus_close(1.00005, 1.0, 1e-4)
    assert not evalplus_close([1.0, 2.0], [1.0], 1e-3)
