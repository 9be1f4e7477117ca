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


def test_program_image_is_the_program_compiled_as_the_child_would():
    import marshal

    from codeloop.execution.behaviour import program_image
    from codeloop.execution.child import PROGRAM_FILENAME

    source = "def f(x):\n    y = x + 1\n    return y\n"
    image = program_image(source)
    assert image is not None
    code = marshal.loads(image)
    plain = compile(source, PROGRAM_FILENAME, "exec", dont_inherit=True, optimize=0)
    assert code == plain and code.co_filename == PROGRAM_FILENAME
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["f"](1) == 2
    assert program_image("def f(x)\n    return x\n") is None  # does not compile
    # a compile that warns is left to the child, whose output then carries the warning
    assert program_image("def f(x):\n    return x is 1\n") is None
    assert behaviour_key("def f(x):\n    return x is 1\n") is not None
