"""`behaviour_key`: programs that compile to the same code share one run."""

from codeloop.execution.behaviour import behaviour_key


def test_behaviour_key_ignores_comments_and_layout():
    a = "def f(a, b):\n    # add them\n    return a + b\n"
    b = "def f(a,b):\n\n    return (a + b)  # sum\n"
    assert behaviour_key(a) == behaviour_key(b)
    assert behaviour_key(a) != behaviour_key("def f(a, b):\n    return b + a\n")
    # what the compiler drops, or folds, changes nothing either
    c = "def f(a, b):\n    if a:\n        return a + b\n    else:\n        return 2 * 3\n"
    d = "def f(a, b):\n    if a:\n        return a + b\n    return 6\n"
    assert behaviour_key(c) == behaviour_key(d)
    assert behaviour_key(c) != behaviour_key(c.replace("return 2 * 3", "return 2 * 4"))
    assert behaviour_key("def f(a, b)\n    return a\n") is None
    assert behaviour_key("return 1\n") is None  # parses, does not compile
