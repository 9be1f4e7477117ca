"""Offline runs are pointed at `replay:` and `mock:file:`; `mock:echo` is described for what
it is (it echoes the prompt, so it always scores 0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeloop.models.base import NO_MODEL_HELP

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "text",
    [
        (ROOT / "README.md").read_text(),
        (ROOT / "docs" / "models.md").read_text(),
        NO_MODEL_HELP,
    ],
)
def test_offline_help_points_at_replay_and_mock_file(text: str) -> None:
    flat = " ".join(text.split())
    assert "replay:" in flat
    assert "mock:file:" in flat
    assert "mock:echo echoes the prompt" in flat.replace("`", "")
    assert "always scores 0" in flat
