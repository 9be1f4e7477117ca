"""Which programs one run can serve: those that compile to the same code.

Comments, layout, an `else` the compiler drops or a constant it folds aside change a
program's text, not what it does; so does the choice of names for a function's local
variables.  `behaviour_key` is the compiled module with its line and column positions
taken out and, in a program that cannot see them, its local variables numbered instead of
named (arguments keep their names: callers may pass them by keyword).  Two programs with
the same key run the same code, so one run's results stand for both: their tracebacks
would differ only in line numbers and in the name an `UnboundLocalError` gives (a
program that uses randomness or the clock varies between its own runs as much).  A
program keeps its local names in its key when it could observe them: it handles
exceptions (it may read such a message) or it names a way to reach frames, code objects
or its namespace (`locals`, `sys._getframe`, `__traceback__`, `inspect`...).

CodeT runs one program per key on its generated tests, and `codeloop run` scores one
program per key on hidden tests (running each alike program on its own when a test
raised, for its own traceback).  The same compile gives `program_image`, the code a
sandboxed child loads instead of compiling the program itself.
"""

from __future__ import annotations

import dis
import functools
import inspect
import marshal
import types
import warnings

from codeloop.execution.child import PROGRAM_FILENAME


# `codeloop run` solves and then scores each task: scoring asks again for the keys of the
# programs the strategy just ran (7,015 of them in CodeT's run, ~0.1 ms each to compile),
# and the executor asks for the image of every program it runs.
@functools.lru_cache(maxsize=4096)
def _forms(code: str) -> tuple[bytes | None, bytes | None]:
    """(behaviour key, image) of a program, from one compile; (None, None) when it does
    not compile."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # optimize=0: as the sandbox's interpreter compiles (no -O), whatever this one does
            compiled = compile(code, PROGRAM_FILENAME, "exec", dont_inherit=True, optimize=0)
        except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
            return None, None
    # version 2: no back-references, whose use depends on objects' reference counts
    key = marshal.dumps(_canonical(compiled, rename=not _sees_local_names(compiled)), 2)
    # A compile that warns (SyntaxWarning...) is left to the child, where the warning goes
    # to the program's output as it would under plain Python.
    image = None if caught else marshal.dumps(compiled)
    return key, image


def behaviour_key(code: str) -> bytes | None:
    """The compiled module without positions, or None for a program that does not
    compile (it needs no run to know it fails)."""
    return _forms(code)[0]


def program_image(code: str) -> bytes | None:
    """The program compiled as the sandbox would compile it (`marshal`), for a child to
    load instead of compiling: ~0.07 ms here, where compiling in a fresh fork took 0.56 ms
    of its CPU (the compiler's memory, first touched after the fork, is copied page by
    page).  None when it does not compile or its compile warns: the child compiles it."""
    return _forms(code)[1]


# Ways a program can learn the names of its local variables, as the names (globals,
# attributes, imports) or strings (getattr, sys.modules) it uses.
_INTROSPECTION = frozenset(
    {
        "locals", "vars", "dir", "eval", "exec", "compile", "globals", "breakpoint",
        "__import__", "importlib", "__builtins__", "builtins", "_getframe", "currentframe",
        "f_locals", "f_code", "f_back", "tb_frame", "gi_frame", "cr_frame", "ag_frame",
        "gi_code", "cr_code", "ag_code", "marshal",
        "__traceback__", "exc_info", "exception", "__code__", "co_varnames", "inspect",
        "traceback", "print_exc", "format_exc", "dis", "gc", "pdb", "settrace", "setprofile",
    }
)  # fmt: skip
_PUSH_EXC_INFO = dis.opmap.get("PUSH_EXC_INFO")  # begins every exception handler


def _sees_local_names(code: types.CodeType) -> bool:
    """Whether the program may observe its local variables' names: it handles an
    exception (whose message may name one) or uses a name or string of `_INTROSPECTION`."""
    if _PUSH_EXC_INFO is not None and _PUSH_EXC_INFO in code.co_code[::2]:
        return True
    if not _INTROSPECTION.isdisjoint(code.co_names):
        return True
    return any(_names_introspection(c) for c in code.co_consts)


def _names_introspection(const: object) -> bool:
    if isinstance(const, types.CodeType):
        return _sees_local_names(const)
    if isinstance(const, str):
        return const in _INTROSPECTION
    if isinstance(const, tuple | frozenset):
        return any(_names_introspection(c) for c in const)
    return False


def _canonical(code: types.CodeType, *, rename: bool) -> types.CodeType:
    """`code` without line and column positions and, with `rename`, with its local
    variables (not its arguments, nor variables shared with nested functions) named by
    their slot: names no identifier can take, so they collide with none."""
    consts = tuple(
        _canonical(c, rename=rename) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    names = code.co_varnames
    if rename:
        flags = code.co_flags
        arguments = (
            code.co_argcount
            + code.co_kwonlyargcount
            + bool(flags & inspect.CO_VARARGS)
            + bool(flags & inspect.CO_VARKEYWORDS)
        )
        names = names[:arguments] + tuple(str(slot) for slot in range(arguments, len(names)))
    return code.replace(co_linetable=b"", co_firstlineno=1, co_consts=consts, co_varnames=names)
