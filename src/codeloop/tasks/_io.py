"""Reading JSON Lines files (plain or gzip) with line numbers."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from codeloop.tasks.errors import TaskFileError
from codeloop.types import Task


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for each non-blank line; every record must be an object."""
    if not path.is_file():
        raise TaskFileError(path, None, "no such file")
    try:
        with _open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise TaskFileError(path, number, f"invalid JSON: {exc.msg}") from None
                if not isinstance(record, dict):
                    kind = type(record).__name__
                    raise TaskFileError(path, number, f"expected a JSON object, got {kind}")
                yield number, record
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise TaskFileError(path, None, f"cannot read: {exc}") from None


def require_str(path: Path, line: int, record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        raise TaskFileError(path, line, f"field {key!r} must be a string")
    return value


def stamp_source(tasks: list[Task], file: Path) -> list[Task]:
    """Record which file (by content) the tasks came from: `metadata["source_sha256"]`.

    Caches and run stores key their entries on it, which is much cheaper than hashing
    every test's values and agrees across processes.
    """
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    source = digest.hexdigest()
    return [replace(t, metadata={**t.metadata, "source_sha256": source}) for t in tasks]
