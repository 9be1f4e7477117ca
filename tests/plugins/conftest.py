"""One sandbox per test module: starting zygotes costs more than most strategy tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from codeloop.execution.local import LocalExecutor


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def executor(anyio_backend: str) -> AsyncIterator[LocalExecutor]:
    async with LocalExecutor(workers=2) as ex:
        yield ex
