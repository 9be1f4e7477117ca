"""Reading JSON Lines files (plain or gzip) with line numbers."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from codeloop.tasks.errors import TaskFileError


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
