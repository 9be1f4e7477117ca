"""Visible tests from docstring examples."""

from codeloop.tasks.docstring import docstring_examples
from codeloop.types import Compare, TestKind

DOCTEST = '''from typing import List


def below_zero(operations: List[int]) -> bool:
    """ Detect a negative balance.
    >>> below_zero([1, 2, 3])
    False
    >>> below_zero([1, 2, -4, 5])
    True
    >>> helper(3)
    4
    >>> print(below_zero([]))
    False
    """
'''


def pairs(prompt: str, entry_point: str):
    return [(t.args, t.expected) for t in docstring_examples(prompt, entry_point)]


def test_doctest_examples_stop_at_the_closing_quotes():
    tests = docstring_examples(DOCTEST, "below_zero")
    assert [(t.args, t.expected) for t in tests] == [
        (([1, 2, 3],), False),
        (([1, 2, -4, 5],), True),
    ]
    assert all(t.kind is TestKind.CALL and t.compare is Compare.EQUAL for t in tests)
    assert tests[0].source == ">>> below_zero([1, 2, 3])\nFalse"


def test_doctest_comparison_without_output():
    prompt = 'def f(x):\n    """\n    >>> f([]) == 0\n    >>> f([1, 1]) == 2\n    """\n'
    assert pairs(prompt, "f") == [(([],), 0), (([1, 1],), 2)]


def test_multiline_doctest_output():
    prompt = 'def f(n):\n    """\n    >>> f(2)\n    [[1, 2],\n     [3, 4]]\n    """\n'
    assert pairs(prompt, "f") == [((2,), [[1, 2], [3, 4]])]


def test_arrow_and_equality_styles():
    prompt = '''def f(a, b=0):
    """
    f(1, 2) == 3
    f([1], 2) ➞ [1, 2]
    f("a", 'b') => "ab"
    * f(0, 0) -> 0
    f(2, 2) ==> 4
    f(3, 3) = 6
    f(4, 4) returns 8
    f(5, 5) should return 10.
    f(6, 6)   # returns 12
    f(7, 7) # => 14
    for f(8, 8) == 16
    f(9, 9) returns 18 # because 9 + 9
    f(10, 10) == 20 (the sum)
    """
'''
    assert pairs(prompt, "f") == [
        ((1, 2), 3),
        (([1], 2), [1, 2]),
        (("a", "b"), "ab"),
        ((0, 0), 0),
        ((2, 2), 4),
        ((3, 3), 6),
        ((4, 4), 8),
        ((5, 5), 10),
        ((6, 6), 12),
        ((7, 7), 14),
        ((8, 8), 16),
        ((9, 9), 18),
        ((10, 10), 20),
    ]


def test_examples_that_are_not_literal_calls_are_skipped():
    prompt = '''def f(x):
    """
    Write a function f() that returns twice x.
    f(a) => False
    f(n) = 1 + n / 2, if n is even.
    f(2) = 1 + (2 / 2) = 2
    f(1) -> 3 - 0 - 1 = 2
    f(3) => true
    g(3) == 6
    obj.f(3) == 6
    f(x=3) == 6
    f(4) == ""broken"
    f(5)
    """
'''
    assert pairs(prompt, "f") == []


def test_example_call_spanning_lines():
    prompt = '''def get_row(lst, x):
    """
    get_row([
      [1, 2],
      [3, 1]
    ], 1) == [(0, 0), (1, 1)]
    """
'''
    assert pairs(prompt, "get_row") == [(([[1, 2], [3, 1]], 1), [(0, 0), (1, 1)])]


def test_prose_examples_name_the_parameters():
    prompt = '''def sum_squares(lst, k=1):
    """
    For lst = [1,2,3], k = 2 the output should be 14
    For k = 1, lst = [] the output should be 0.
    """
'''
    assert pairs(prompt, "sum_squares") == [(([1, 2, 3], 2), 14), (([], 1), 0)]
    single = '''def solve(N):
    """
    For N = 1000, the sum of digits will be 1 the output should be "1".
    Example 1:
        Input: 150
        Output: "110"
    """
'''
    assert pairs(single, "solve") == [((1000,), "1"), ((150,), "110")]
    named = (
        'def g(arr, k):\n    """\n    Input: arr = [3, 1], k = 1\n    Output: 24 # sum\n    """\n'
    )
    assert pairs(named, "g") == [(([3, 1], 1), 24)]


def test_duplicates_are_dropped_and_sources_kept():
    prompt = 'def f(x):\n    """\n    >>> f(1)\n    2\n\n    f(1) == 2\n    f(2) == 3\n    """\n'
    tests = docstring_examples(prompt, "f")
    assert [t.source for t in tests] == [">>> f(1)\n2", "f(2) == 3"]


def test_entry_point_must_match_whole_name():
    prompt = 'def f(x):\n    """\n    ff(1) == 2\n    f_(1) == 2\n    """\n'
    assert pairs(prompt, "f") == []
