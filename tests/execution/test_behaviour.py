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


def _run(source: str, *args: object) -> object:
    namespace: dict = {}
    exec(compile(source, "<program>", "exec"), namespace)
    return namespace["f"](*args)


def test_behaviour_key_ignores_the_names_of_local_variables():
    a = (
        "def f(xs, *rest, scale=2, **options):\n"
        "    total = 0\n"
        "    for item in xs:\n"
        "        total += item * scale\n"
        "    return total, [k * 2 for k in rest], sorted(options)\n"
    )
    b = a.replace("total", "acc").replace("item", "x").replace("k * 2 for k", "j * 2 for j")
    assert a != b and behaviour_key(a) == behaviour_key(b)
    assert _run(a, [1, 2], 10) == _run(b, [1, 2], 10) == (6, [20], [])
    # arguments keep their names (a caller may pass them by keyword), starred ones too
    for old, new in (("xs", "ys"), ("scale", "factor"), ("rest", "more"), ("options", "kw")):
        assert behaviour_key(a) != behaviour_key(a.replace(old, new))
    # which variable is which still matters
    swapped = "def f(a, b):\n    x = a\n    y = b\n    return x - y\n"
    assert behaviour_key(swapped) != behaviour_key(swapped.replace("x - y", "y - x"))
    # a global name or a name shared with a nested function is kept
    glob = "N = 3\ndef f(a):\n    return a + N\n"
    assert behaviour_key(glob) != behaviour_key(glob.replace("N", "M"))
    cell = "def f(a):\n    c = a\n    def g():\n        return c\n    return g()\n"
    assert behaviour_key(cell) != behaviour_key(cell.replace("c", "d"))


def test_a_program_that_may_see_its_local_names_keeps_them_in_its_key():
    programs = [
        # the namespace itself, directly or by a string
        "def f(a):\n    value = a\n    return sorted(locals())\n",
        "def f(a):\n    value = a\n    return sorted(vars())\n",
        "import builtins\ndef f(a):\n    value = a\n"
        "    return sorted(getattr(builtins, 'locals')())\n",
        # frames and code objects
        "import sys\ndef f(a):\n    value = a\n    return sorted(sys._getframe().f_locals)\n",
        "def f(a):\n    value = a\n    return f.__code__.co_varnames\n",
        "import marshal\ndef f(a):\n    def g():\n        value = a\n        yield value\n"
        "    return marshal.dumps(g().gi_code)\n",
        # an exception handler may read a message that names a local variable
        "def f(a):\n    try:\n        del value\n"
        "    except Exception as e:\n        return str(e)\n",
        # a name in a string, as the f-string `=` form writes it
        "def f(a):\n    value = a\n    return f'{value=}'\n",
    ]
    for program in programs:
        renamed = program.replace("value", "other")
        assert _run(program, 1) != _run(renamed, 1), program
        assert behaviour_key(program) != behaviour_key(renamed), program
