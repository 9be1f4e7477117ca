"""Fixtures shared across the test packages.

`executor`: one sandbox per test module (starting zygotes costs more than most strategy
tests).  `reachable`: the walk the leak tests use to show that nothing a strategy's context
reaches holds a hidden test.
"""

from __future__ import annotations

import types
from collections import deque
from collections.abc import AsyncIterator, Callable

import pytest

from codeloop.execution.local import LocalExecutor


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def executor(anyio_backend: str) -> AsyncIterator[LocalExecutor]:
    async with LocalExecutor(workers=2) as ex:
        yield ex


def reachable_from(root: object) -> list[object]:
    """Every object reachable from `root`: instance attributes (dicts and slots),
    containers, closures and defaults of functions, bound methods' objects.  Module globals
    are not followed (everything would be reachable through sys.modules)."""
    seen: set[int] = set()
    found: list[object] = []
    stack = [root]
    leaves = (str, bytes, int, float, bool, type(None))
    opaque = (types.ModuleType, type, types.BuiltinFunctionType)
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        found.append(obj)
        if isinstance(obj, leaves) or isinstance(obj, opaque):
            continue
        if isinstance(obj, types.MethodType):
            stack.extend((obj.__self__, obj.__func__))
        elif isinstance(obj, types.FunctionType):
            stack.extend(cell.cell_contents for cell in obj.__closure__ or () if _filled(cell))
            stack.extend(obj.__defaults__ or ())
            stack.extend((obj.__kwdefaults__ or {}).values())
        elif isinstance(obj, dict | types.MappingProxyType):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset | deque):
            stack.extend(obj)
        else:
            try:
                stack.extend(vars(obj).values())
            except TypeError:
                pass
            for cls in type(obj).__mro__:
                for slot in getattr(cls, "__slots__", ()):
                    if isinstance(slot, str) and hasattr(obj, slot):
                        stack.append(getattr(obj, slot))
    return found


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


@pytest.fixture
def reachable() -> Callable[[object], list[object]]:
    return reachable_from
