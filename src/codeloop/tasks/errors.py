"""Errors raised while loading tasks."""

from __future__ import annotations

from pathlib import Path


class TaskLoadError(ValueError):
    """A dataset could not be loaded: unknown name, missing file, malformed data."""


class TaskFileError(TaskLoadError):
    """A task file is malformed; names the file and, where known, the 1-based line."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")
