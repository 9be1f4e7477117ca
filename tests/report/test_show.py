"""`codeloop show`: per-task outcomes and one task in full, in the terminal."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from codeloop.cli import app

pytestmark = pytest.mark.slow  # the stores are made by real runs


def show(*args):
    return CliRunner().invoke(app, ["show", *map(str, args)], terminal_width=200)


def test_outcomes_table(stores):
    result = show(stores["run"])
    assert result.exit_code == 0, result.output
    assert "self_debug" in result.output and "pass@1 base" in result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if "demo/" in line}
    assert "solved" in lines["demo/add"] and "failed" in lines["demo/neg"]


def test_only_unsolved(stores):
    result = show(stores["run"], "--only", "unsolved")
    assert result.exit_code == 0
    assert "demo/neg" in result.output and "demo/add" not in result.output


def test_one_task_programs_feedback_and_the_failing_hidden_test(stores):
    result = show(stores["run"], "demo/neg")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "program 1 of 3" in out and "program 2 of 3" in out
    assert "Expected: -1" in out  # the feedback the repair got
    assert "-    return a  # [bold]markup" in out  # a diff from the program before
    assert "hidden tests: failed" in out
    failing = out[out.index("failing test") :]
    assert "neg(1) == -1" in failing and "expected  -1" in failing and "actual    1" in failing


def test_markup_in_programs_is_shown_as_written(stores):
    # a program holding console markup must not restyle the output nor vanish
    result = show(stores["run"], "demo/neg")
    assert "return a  # [bold]markup[/bold] </script><script>window.__pwned" in result.output


def test_evaluation_samples(stores):
    bare = show(stores["evaluate"], "demo/add")
    assert bare.exit_code == 0 and "sample 1" in bare.output and "return a - b" not in bare.output
    full = show(stores["evaluate"], "demo/add", "--samples", stores["samples"])
    assert "return a - b" in full.output and "expected  3" in full.output


def test_errors(stores, tmp_path):
    missing = show(tmp_path / "none.sqlite")
    assert missing.exit_code == 2 and "no such run store" in missing.output
    unknown = show(stores["run"], "demo/zzz")
    assert unknown.exit_code == 2 and "no task 'demo/zzz'" in unknown.output
    assert show(stores["run"], "--only", "some").exit_code == 2


def test_store_text_and_paths_are_not_read_as_markup(stores, tmp_path, copy_with_strategy):
    evil = "s<a href='https://evil.example'>x</a>[/][bold red]"
    copy = copy_with_strategy(stores["run"], tmp_path / "odd[/bold]dir", evil, "run[red].sqlite")
    result = show(copy)
    assert result.exit_code == 0, result.output
    assert "run[red].sqlite" in result.output and "[/][bold red]" in result.output
    page = tmp_path / "out[/bold]" / "r.html"
    page.parent.mkdir(parents=True)
    written = CliRunner().invoke(app, ["report", str(copy), "-o", str(page)])
    assert written.exit_code == 0, written.output
    assert "out[/bold]" in written.output and page.exists()
