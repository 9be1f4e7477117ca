"""Where the shared, read-only data files live.

Data files are never copied into the project: they are read from the shared data folder,
located by the environment variable ``CODELOOP_SHARED_DATA`` or, by default, the
``shared/data`` folder beside the repository root (``<repo>/../shared/data``).
"""

from __future__ import annotations

import os
from pathlib import Path

from codeloop.tasks.errors import TaskLoadError

SHARED_DATA_ENV = "CODELOOP_SHARED_DATA"

# src/codeloop/tasks/paths.py -> parents[3] is the repository root
_REPO_ROOT = Path(__file__).resolve().parents[3]

HUMANEVAL_PLUS_FILE = Path("evalplus") / "HumanEvalPlus-v0.1.10.jsonl.gz"
MBPP_PLUS_FILE = Path("evalplus") / "MbppPlus-pre-release-767efcc.jsonl"
MBPP_CODET_FILE = Path("codet") / "mbpp_sanitized_for_code_generation.jsonl"


def shared_data_dir() -> Path | None:
    """The shared data folder, or None when it does not exist."""
    configured = os.environ.get(SHARED_DATA_ENV)
    candidate = Path(configured) if configured else _REPO_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def shared_data_file(relative: Path) -> Path | None:
    """A file inside the shared data folder, or None when the folder is absent."""
    root = shared_data_dir()
    return None if root is None else root / relative


def dataset_file(
    path: str | Path | None, env: str, relative: Path, name: str, *, hint: str = ""
) -> Path:
    """A named dataset's file: `path` when given, else ``$env``, else `relative` in the
    shared data folder; TaskLoadError when none of them is there to look in.  `hint` says
    what file to pass (default: where it is expected in the shared folder)."""
    if path is not None:
        return Path(path)
    configured = os.environ.get(env)
    if configured:
        return Path(configured)
    file = shared_data_file(relative)
    if file is None:
        raise TaskLoadError(
            f"{name} data not found: the shared data folder is missing; set {env} or pass "
            f"dataset_file ({hint or f'expected shared/data/{relative.as_posix()}'})"
        )
    return file
