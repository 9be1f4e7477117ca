"""Which programs one run can serve: those that compile to the same code.

Comments, layout, an `else` the compiler drops or a constant it folds aside change a
program's text, not what it does.  `behaviour_key` is the compiled module with its line
and column positions taken out; two programs with the same key run the same code, so one
run's results stand for both (their tracebacks would differ only in line numbers; a
program that uses randomness or the clock varies between its own runs as much).  CodeT
runs one program per key on its generated tests, and `codeloop run` scores one program
per key on hidden tests.
"""

from __future__ import annotations

import functools
import marshal
import types
import warnings


# `codeloop run` solves and then scores each task: scoring asks again for the keys of the
# programs the strategy just ran (7,015 of them in CodeT's run, ~0.1 ms each to compile).
@functools.lru_cache(maxsize=4096)
def behaviour_key(code: str) -> bytes | None:
    """The compiled module without positions, or None for a program that does not
    compile (it needs no run to know it fails)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compiled = compile(code, "<program>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
            return None
    # version 2: no back-references, whose use depends on objects' reference counts
    return marshal.dumps(_without_positions(compiled), 2)


def _without_positions(code: types.CodeType) -> types.CodeType:
    consts = tuple(
        _without_positions(c) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    return code.replace(co_linetable=b"", co_firstlineno=1, co_consts=consts)
