"""stdout comparison: whitespace-tolerant, order- and value-strict."""

from codeloop.tasks.stdout import stdout_matches


def test_whitespace_differences_are_tolerated():
    assert stdout_matches("1 2\n3\n", "1 2\n3")
    assert stdout_matches("  1 2  \r\n3\r\n\r\n", "1 2\n3\n")
    assert stdout_matches("1\t2\n\n\n3", "1 2\n3")
    assert stdout_matches("", "\n")
    assert stdout_matches("1 2\n3", "1\n2 3")  # tokens, not lines


def test_different_tokens_do_not_match():
    assert not stdout_matches("1 2", "2 1")
    assert not stdout_matches("1 2 2", "1 2")
    assert not stdout_matches("YES", "yes")
    assert not stdout_matches("1.0", "1")
    assert not stdout_matches("", "0")


def test_float_tolerance_is_opt_in():
    assert not stdout_matches("0.3333333", "0.33333333")
    assert stdout_matches("0.3333333", "0.33333333", float_tol=1e-6)
    assert stdout_matches("x 0.5000001", "x 0.5", float_tol=1e-6)
    assert not stdout_matches("y 0.5", "x 0.5", float_tol=1e-6)
    assert not stdout_matches("0.6", "0.5", float_tol=1e-6)
    assert stdout_matches("nan", "nan ", float_tol=1.0)  # equal as text
    assert not stdout_matches("nan", "1.0", float_tol=1.0)
