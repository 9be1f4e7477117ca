"""The child harness: how it copies a test's inputs (`fresh_inputs`), and its warm-up in
the zygote (`warm_up`)."""

import json
import marshal
import subprocess
import sys
from fractions import Fraction

from codeloop.execution.child import DEEPCOPY, fresh_inputs


def test_inputs_nothing_can_change_are_not_copied():
    assert fresh_inputs((1, 2.5, "s", b"b", None, True, 3j, (1, ("x",)), frozenset({1}))) is None
    assert fresh_inputs(()) is None


def test_plain_containers_travel_as_a_marshal_image():
    shared = [1, 2]
    args = ([1, [2, {"k": {3}}]], {(1, 2): shared}, shared)
    image = fresh_inputs(args)
    assert isinstance(image, bytes)
    copy = marshal.loads(image)
    assert copy == args and copy[0] is not args[0]
    assert copy[1][(1, 2)] is copy[2]  # shared containers stay shared
    assert isinstance(fresh_inputs(((1, [2]),)), bytes)  # a list inside a tuple


def test_anything_else_is_deep_copied():
    assert fresh_inputs((bytearray(b"x"),)) is DEEPCOPY  # marshal would make it bytes
    assert fresh_inputs(([Fraction(1, 2)],)) is DEEPCOPY
    assert fresh_inputs(((Fraction(1, 2),),)) is DEEPCOPY

    class Sub(list):
        pass

    assert fresh_inputs((Sub(),)) is DEEPCOPY
    looped: list = []
    looped.append(looped)
    assert fresh_inputs((looped,)) is DEEPCOPY
    deep: list = []
    for _ in range(100):
        deep = [deep]
    assert fresh_inputs((deep,)) is DEEPCOPY


def test_warm_up_specializes_the_per_test_path_and_leaves_nothing_behind():
    # in a fresh interpreter: the harness code as no test has run it yet
    script = """
import dis, json, linecache, os
from codeloop.execution import child

def specialized(fn):
    plain = dis.get_instructions(fn)
    return sum(a.opname != b.opname for a, b in zip(plain, dis.get_instructions(fn, adaptive=True)))

paths = (child._run_function, child._Channel.send, child._mark)
before = [specialized(f) for f in paths]
fds, cache = sorted(os.listdir("/proc/self/fd")), dict(linecache.cache)
child.warm_up()
print(json.dumps({
    "before": before,
    "after": [specialized(f) for f in paths],
    "same fds": fds == sorted(os.listdir("/proc/self/fd")),
    "same cache": cache == linecache.cache,
}))
"""
    found = json.loads(
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout
    )
    assert found["before"] == [0, 0, 0]
    assert all(n > 0 for n in found["after"]), found
    assert found["same fds"] and found["same cache"]  # no descriptor left open, no source cached
