"""docs/strategies.md lists every strategy setting with the code's default, and the links
between the docs resolve (files and section anchors)."""

import dataclasses
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES_DOC = ROOT / "docs" / "strategies.md"
MODULES = {
    "sample": "codeloop.strategies.sample",
    "self_debug": "codeloop.strategies.self_debug",
    "reflexion": "codeloop.strategies.reflexion",
    "codet": "codeloop.strategies.codet",
    "agentcoder": "codeloop_plugins.agentcoder",
    "pgs": "codeloop_plugins.pgs",
    "ldb": "codeloop_plugins.ldb",
}


def settings_class(module_name: str) -> type:
    module = importlib.import_module(module_name)
    found = [
        value
        for name, value in vars(module).items()
        if name.endswith("Settings") and isinstance(value, type) and dataclasses.is_dataclass(value)
    ]
    assert len(found) == 1, f"{module_name}: expected one settings dataclass, found {found}"
    return found[0]


def section(text: str, strategy: str) -> str:
    match = re.search(rf"^## `{strategy}`\n(.*?)(?=^## |\Z)", text, re.DOTALL | re.MULTILINE)
    assert match, f"docs/strategies.md has no section for {strategy}"
    return match.group(1)


def shown(value: object) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"`{value}`"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@pytest.mark.parametrize("strategy", sorted(MODULES))
def test_every_setting_is_documented_with_its_default(strategy):
    text = section(STRATEGIES_DOC.read_text(encoding="utf-8"), strategy)
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", text, re.MULTILINE))
    for field in dataclasses.fields(settings_class(MODULES[strategy])):
        assert field.name in rows, f"{strategy}: setting {field.name} is not in docs/strategies.md"
        assert rows[field.name] == shown(field.default), (
            f"{strategy}: {field.name} documented as {rows[field.name]!r}, "
            f"the code's default is {field.default!r}"
        )
    documented = set(rows) - {f.name for f in dataclasses.fields(settings_class(MODULES[strategy]))}
    assert not documented, f"{strategy}: documented settings the code lacks: {documented}"


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}


DOCS = [ROOT / "README.md", ROOT / "bench" / "RESULTS.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    assert doc.exists(), f"{doc.name} is missing from the checkout"
    text = doc.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # an external address
        file_part, _, fragment = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        assert path.exists(), f"{doc.name}: link to {target}: no such file"
        if fragment:
            assert fragment in anchors(path), f"{doc.name}: link to {target}: no such section"
