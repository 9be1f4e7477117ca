"""One-way imports (DESIGN.md): nothing that generates or executes may reach the scorer.

Hidden tests live in `Task.hidden_tests`; the scorer and run orchestration are the only
places that may use them.  This test fails the build when a module outside `scoring/`,
`runs/` and the CLI imports either of them.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "codeloop"
FORBIDDEN = ("codeloop.scoring", "codeloop.runs")
# The root `__init__.py` is the public API: `codeloop.run` and `codeloop.evaluate` import the
# runs inside the functions, as the CLI does.  No module of codeloop imports the root package
# (import-linter checks the arrows transitively; see pyproject's contract).
ALLOWED = ("scoring", "runs", "cli", "report", "export", "__init__.py")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def guarded_files() -> list[Path]:
    files = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        if relative.parts[0] in ALLOWED:
            continue
        files.append(path)
    return files


@pytest.mark.parametrize("path", guarded_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_scoring_imports_outside_scoring(path):
    bad = sorted(m for m in imported_modules(path) if m.startswith(FORBIDDEN))
    assert not bad, f"{path.relative_to(SRC)} imports {bad}"


def test_nothing_inside_codeloop_imports_the_public_api():
    offenders = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if path != SRC / "__init__.py" and "codeloop" in imported_modules(path)
    ]
    assert not offenders, f"modules importing the root package: {offenders}"


def test_strategies_do_not_touch_hidden_tests():
    strategies = SRC / "strategies"
    offenders = []
    for path in sorted(strategies.rglob("*.py")) if strategies.exists() else []:
        text = path.read_text(encoding="utf-8")
        if "hidden_tests" in text or "all_hidden" in text:
            offenders.append(str(path.relative_to(SRC)))
    assert not offenders, f"strategies reading hidden tests: {offenders}"


def test_the_rule_catches_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from codeloop.scoring.passk import pass_at_k\nimport codeloop.runs.store\n")
    assert {"codeloop.scoring.passk", "codeloop.runs.store"} <= imported_modules(bad)
