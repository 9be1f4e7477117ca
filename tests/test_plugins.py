"""The strategies in `codeloop_plugins` are written as a third party writes them: they
import codeloop's public API only, and they register through entry points."""

import ast
from pathlib import Path

import pytest

import codeloop

PLUGINS = Path(__file__).resolve().parents[1] / "src" / "codeloop_plugins"


def codeloop_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every `from codeloop... import name` and `import codeloop...`."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "codeloop":
                found.extend((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend(
                (alias.name, "") for alias in node.names if alias.name.split(".")[0] == "codeloop"
            )
    return found


@pytest.mark.parametrize("path", sorted(PLUGINS.rglob("*.py")), ids=lambda p: p.name)
def test_plugins_import_only_the_public_api(path):
    for module, name in codeloop_imports(path):
        assert module == "codeloop", f"{path.name} imports {module} (only `codeloop` is public)"
        if name:
            assert name in codeloop.__all__, f"{path.name} imports codeloop.{name}, not public"


def test_public_names_resolve():
    for name in codeloop.__all__:
        assert getattr(codeloop, name) is not None


@pytest.mark.parametrize("name", ["ldb", "agentcoder", "pgs"])
def test_plugins_register_through_entry_points(name):
    assert name in codeloop.STRATEGIES
    assert codeloop.STRATEGIES.origin(name) == "codeloop"  # the distribution, not "built-in"
