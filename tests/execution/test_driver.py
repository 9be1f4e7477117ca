"""Code tests (assert-style checks) run in a trusted driver, never next to the program.

Four of the hostile programs below (`eq_always_true`, `patched_builtin_abs`,
`patched_math_module`, `redefined_task_helper`) passed their check when the check ran
inside the program's own process, as it did before the driver: they forged the verdict.
The others attack the driver itself (kill it, exit under it, patch what it raises); a
right answer given after such an attack must not count either.  Through the driver every
one fails, and the honest program beside it passes.
"""

import pytest

from codeloop.execution.local import run_sync
from codeloop.types import ExecRequest, Limits, Status, TestCase, TestKind, TestSuite

FAST = Limits(time_s=2.0)


def code_suite(check: str, context: str = "", entry: str = "f") -> TestSuite:
    return TestSuite(
        tests=(TestCase(TestKind.CODE, code=check, context=context),), entry_point=entry
    )


def run(programs: list[str], suite: TestSuite):
    return run_sync([ExecRequest(p, suite, limits=FAST) for p in programs], workers=2)


HONEST = "def f(x):\n    return 5\n"
EXACT = code_suite("def check(candidate):\n    assert candidate(1) == 5\n")
WITH_ABS = code_suite("def check(candidate):\n    assert abs(candidate(1) - 5) < 1e-9\n")
WITH_MATH = code_suite(
    "import math\n\ndef check(candidate):\n    assert math.fabs(candidate(1) - 5) < 1e-6\n"
)
# HumanEval/32's shape: the check calls a helper the task's prompt defines
WITH_HELPER = code_suite(
    "def check(candidate):\n    assert helper(candidate(1)) == 10\n",
    context="def helper(x):\n    return 2 * x\n\ndef f(x):\n    '''the task's stub'''\n",
)

HOSTILE = {
    "eq_always_true": (
        EXACT,
        "class Yes:\n    def __eq__(self, other):\n        return True\n"
        "def f(x):\n    return Yes()\n",
    ),
    "patched_builtin_abs": (
        WITH_ABS,
        "import builtins\nbuiltins.abs = lambda value: 0\ndef f(x):\n    return 0\n",
    ),
    "patched_math_module": (
        WITH_MATH,
        "import math\nmath.fabs = lambda value: 0.0\ndef f(x):\n    return 0\n",
    ),
    "redefined_task_helper": (
        WITH_HELPER,
        "def helper(x):\n    return 10\ndef f(x):\n    return 0\n",
    ),
    "patched_assertion_error": (
        EXACT,
        "import builtins\nclass Never(Exception):\n    pass\n"
        "builtins.AssertionError = Never\ndef f(x):\n    return 0\n",
    ),
    "exit_zero_inside_the_call": (
        EXACT,
        "import os\ndef f(x):\n    os._exit(0)\n",
    ),
    "kills_every_process_it_may": (
        EXACT,
        "import os, signal\ndef f(x):\n    os.kill(-1, signal.SIGKILL)\n    return 5\n",
    ),
    "kills_its_children_then_answers": (
        EXACT,
        "import os, signal, glob\n"
        "def f(x):\n"
        "    for path in glob.glob('/proc/self/task/*/children'):\n"
        "        for pid in open(path).read().split():\n"
        "            try:\n"
        "                os.kill(int(pid), signal.SIGKILL)\n"
        "            except OSError:\n"
        "                pass\n"
        "    return 4\n",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_program_cannot_forge_a_code_test(name):
    suite, hostile = HOSTILE[name]
    honest_result, hostile_result = run([HONEST, hostile], suite)
    assert honest_result.status is Status.PASSED, honest_result
    assert hostile_result.status is not Status.PASSED, hostile_result
    assert hostile_result.status is not Status.INFRA_ERROR, hostile_result


def test_the_check_sees_the_programs_exceptions_by_type():
    suite = code_suite(
        "def check(candidate):\n"
        "    try:\n"
        "        candidate(-1)\n"
        "    except ValueError:\n"
        "        pass\n"
        "    else:\n"
        "        raise AssertionError('no ValueError')\n"
        "    assert candidate(2) == 4\n"
    )
    raising = "def f(x):\n    if x < 0:\n        raise ValueError('negative')\n    return 2 * x\n"
    silent = "def f(x):\n    return 2 * x\n"
    other = "def f(x):\n    if x < 0:\n        raise KeyError(x)\n    return 2 * x\n"
    good, bad, wrong_type = run([raising, silent, other], suite)
    assert good.status is Status.PASSED
    assert bad.status is Status.ERROR and bad.outcomes[0].exception == "AssertionError"
    # uncaught, the program's own exception is what the outcome shows, with its traceback
    assert wrong_type.outcomes[0].exception == "KeyError"
    assert "<program>" in wrong_type.outcomes[0].traceback


def test_names_the_check_leaves_undefined_are_the_programs():
    """MBPP's checks call the program's functions by name and use modules it imported."""
    suite = code_suite(
        "def check(candidate):\n"
        "    assert double(3) == 6\n"
        "    assert sys.getsizeof((1, 2)) == size((1, 2))\n"
        "    assert LIMIT == 7\n"
    )
    program = (
        "import sys\nLIMIT = 7\n"
        "def double(x):\n    return 2 * x\n"
        "def size(t):\n    return sys.getsizeof(t)\n"
        "def f(x):\n    return x\n"
    )
    missing = "def f(x):\n    return x\n"
    good, bad = run([program, missing], suite)
    assert good.status is Status.PASSED, good
    assert bad.status is Status.ERROR and bad.outcomes[0].exception == "NameError"


def test_call_tests_beside_code_tests_are_judged_as_data():
    suite = TestSuite(
        tests=(
            TestCase(TestKind.CALL, args=(1,), expected=5),
            TestCase(TestKind.CODE, code="def check(candidate):\n    assert candidate(2) == 5\n"),
            TestCase(TestKind.CALL, args=(3,), expected=6),
        ),
        entry_point="f",
    )
    (result,) = run([HONEST], suite)
    assert [o.status for o in result.outcomes] == [Status.PASSED, Status.PASSED, Status.FAILED]
    assert (result.outcomes[2].expected, result.outcomes[2].actual) == ("6", "5")


def test_load_failures_and_hangs_in_a_driven_run_are_classified():
    programs = [
        "def f(x) return\n",
        "import no_such_module_xyz\ndef f(x):\n    return 5\n",
        "def f(x):\n    while True:\n        pass\n",
        "def g(x):\n    return 5\n",
    ]
    syntax, load, hang, missing = run(programs, EXACT)
    assert syntax.status is Status.SYNTAX_ERROR
    assert load.status is Status.ERROR and "no_such_module_xyz" in load.outcomes[0].message
    assert hang.status is Status.TIMEOUT
    assert missing.status is Status.ERROR and missing.outcomes[0].exception == "NameError"


SNOOP = """
import sys, types

SECRET = ''.join(['SECRET', '-EXPECTED'])  # never a constant of this program


def holds(code):
    return any(
        c == SECRET or (isinstance(c, types.CodeType) and holds(c)) for c in code.co_consts
    )


def search(root, found, seen):
    stack = [(root, 0)]
    while stack:
        obj, depth = stack.pop()
        if id(obj) in seen or depth > 20:
            continue
        seen.add(id(obj))
        if isinstance(obj, types.CodeType):
            if holds(obj):
                found.append(obj)
        elif isinstance(obj, str):
            if SECRET in obj and obj is not SECRET:
                found.append(obj)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend((item, depth + 1) for item in obj)
        elif isinstance(obj, dict):
            stack.extend((item, depth + 1) for item in (*obj.keys(), *obj.values()))
        elif not isinstance(obj, (type, types.ModuleType, int, float, bytes)):
            try:
                stack.extend((item, depth + 1) for item in vars(obj).values())
            except TypeError:
                pass
            for cls in type(obj).__mro__:
                for slot in getattr(cls, '__slots__', ()):
                    try:
                        stack.append((getattr(obj, slot), depth + 1))
                    except AttributeError:
                        pass


def f(x):
    found, seen = [], set()
    frame = sys._getframe()
    while frame is not None:
        search(dict(frame.f_locals), found, seen)
        frame = frame.f_back
    import gc
    search(gc.get_objects(), found, seen)
    return SECRET if found else 'nothing found'
"""


def test_the_program_never_holds_the_check_code():
    """The check (with its expected value) stays in the driver: the program's process
    drops it before the program loads, so a search of every object the program can reach
    (its frames up to the sandbox's own, and the collector's objects) finds no trace of it;
    with that trace it would answer the check's expected value."""
    suite = code_suite("def check(candidate):\n    assert candidate(1) == 'SECRET-EXPECTED'\n")
    (result,) = run([SNOOP], suite)
    assert result.status is Status.ERROR and result.outcomes[0].exception == "AssertionError"
