"""docs/extending.md's examples, run as written, and plugins end to end: the registries,
entry points, `--strategy module:factory`, `codeloop strategies`, `codeloop.run`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

import codeloop
from codeloop.cli import app
from codeloop.models.mock import MockBackend
from codeloop.registry import DATASETS, PROVIDERS, STRATEGIES, PluginError, Registry

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "extending.md"


def example(name: str) -> str:
    """The python block that follows `<!-- example: name -->` in docs/extending.md."""
    found = re.search(
        rf"<!-- example: {name} -->\s*```python\n(.*?)```", DOC.read_text(), re.DOTALL
    )
    assert found, f"docs/extending.md has no example {name!r}"
    return found.group(1)


def load_example(name: str) -> types.ModuleType:
    module = types.ModuleType(f"codeloop_doc_{name}")
    sys.modules[module.__name__] = module
    exec(compile(example(name), f"docs/extending.md:{name}", "exec"), module.__dict__)
    return module


@pytest.fixture(autouse=True)
def clean_registries():
    """Registrations made by a test are undone after it."""
    for registry in (STRATEGIES, DATASETS, PROVIDERS):
        registry._load_builtins()
    saved = [
        (r, dict(r._factories), dict(r._settings), dict(r._origin), r._plugins_loaded)
        for r in (STRATEGIES, DATASETS, PROVIDERS)
    ]
    yield
    for registry, factories, settings, origin, plugins_loaded in saved:
        registry._factories, registry._settings, registry._origin = factories, settings, origin
        registry._plugins_loaded = plugins_loaded
    for name in ("strategy", "dataset", "provider"):
        sys.modules.pop(f"codeloop_doc_{name}", None)


TASKS = [
    {
        "task_id": "demo/square",
        "prompt": "def square(x):\n",
        "entry_point": "square",
        "tests": [{"input": [3], "output": 9}, {"input": [-4], "output": 16}],
        "visible_tests": [{"input": [2], "output": 4}],
    }
]
WRONG, RIGHT = "    return x\n", "    return x * x\n"


def tasks_file(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    return path


def answers_file(tmp_path: Path) -> Path:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"demo/square": [WRONG, RIGHT]}))
    return path


def only_rate(report) -> float:
    [group] = report.pass_at_k.values()
    return group["1"]


# --------------------------------------------------------------------- the doc's examples


def test_strategy_example_runs_through_the_python_api(tmp_path):
    load_example("strategy")
    assert "retry" in STRATEGIES
    backend = MockBackend({"demo/square": [WRONG, RIGHT]})
    report = codeloop.run(
        str(tasks_file(tmp_path)),
        strategy="retry",
        model=backend,
        settings={"tries": "3"},  # strings, as from the command line
        use_cache=False,
        ks=(1,),
    )
    # the first sample fails the visible test, the second passes and is ranked first
    assert backend.calls == 2
    assert only_rate(report) == 1.0
    assert report.results[0].programs == 2


def test_strategy_example_settings_are_listed(tmp_path):
    load_example("strategy")
    result = CliRunner().invoke(app, ["strategies"])
    assert result.exit_code == 0, result.output
    block = result.output.split("retry", 1)[1]
    assert "tries = 3" in block and "temperature = 0.8" in block
    # the built-ins list their settings dataclass's defaults
    assert re.search(r"^codet .*\n(    .*\n)*    n = 100$", result.output, re.MULTILINE)


def test_strategy_example_rejects_an_unknown_setting():
    load_example("strategy")
    with pytest.raises(ValueError, match="no setting 'trys'"):
        STRATEGIES["retry"](trys=2)


def test_dataset_and_provider_examples_run_together():
    load_example("dataset")
    load_example("provider")
    load_example("strategy")
    report = codeloop.run(
        "squares", strategy="retry", model="constant:    return x * x\\n", use_cache=False, ks=(1,)
    )
    assert report.tasks_selected == 1
    assert only_rate(report) == 1.0
    wrong = codeloop.run(
        "squares", strategy="sample", model="constant:    return x\\n", use_cache=False, ks=(1,)
    )
    assert only_rate(wrong) == 0.0  # the hidden tests score: 3 -> 9 fails


def test_run_takes_a_factory_a_solve_and_a_task_list():
    module = load_example("strategy")
    tasks = load_example("dataset").load_squares()
    backend = module_backend = MockBackend([WRONG, RIGHT], cycle=True)
    report = codeloop.run(tasks, strategy=module.make_retry, model=backend, use_cache=False)
    assert only_rate(report) == 1.0
    solve = module.make_retry(tries=1)
    report = codeloop.run(tasks, strategy=solve, model=module_backend, use_cache=False, ks=(1,))
    assert report.config["strategy"].endswith("solve")
    with pytest.raises(ValueError, match="settings go to a strategy factory"):
        codeloop.run(tasks, strategy=solve, settings={"tries": 2}, model=backend)


# ------------------------------------------------------------------- module:factory on the CLI


def test_cli_takes_a_strategy_by_module_and_factory(tmp_path, monkeypatch):
    (tmp_path / "mystrategies.py").write_text(example("strategy"))
    monkeypatch.syspath_prepend(str(tmp_path))
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(tasks_file(tmp_path)),
            "--strategy",
            "mystrategies:make_retry",
            "--setting",
            "tries=2",
            "--model",
            f"mock:file:{answers_file(tmp_path)}",
            "--no-cache",
            "--k",
            "1",
            "--json",
            str(tmp_path / "out.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["config"]["strategy"] == "mystrategies:make_retry"
    assert data["config"]["settings"] == {"tries": 2}
    assert data["pass_at_k"] == {"1": 1.0}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:make", "cannot import module 'no_such_module_xyz'"),
        ("json:make_nothing", "module 'json' has no attribute 'make_nothing'"),
        ("nowhere_strategy", "unknown strategy 'nowhere_strategy'"),
    ],
)
def test_cli_bad_strategy_is_a_one_line_usage_error(tmp_path, spec, message):
    result = CliRunner().invoke(
        app,
        ["run", str(tasks_file(tmp_path)), "--strategy", spec, "--model", "mock:echo"],
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


# ------------------------------------------------------------------------------ registries


def write_dist(root: Path, name: str, group: str, entries: dict[str, str]) -> None:
    """A distribution importlib.metadata finds on sys.path: NAME-1.0.dist-info."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    info.joinpath("METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "".join(f"{key} = {value}\n" for key, value in entries.items())
    info.joinpath("entry_points.txt").write_text(f"[{group}]\n{lines}")


def test_a_broken_entry_point_names_its_package(tmp_path, monkeypatch):
    write_dist(tmp_path, "brokenplugin", "codeloop.strategies", {"bad": "no_such_mod_q:make"})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("strategy", "codeloop.strategies", "codeloop.strategies")
    registry.register("known", lambda: None)
    assert "known" in registry  # a registered name is found without reading entry points
    with pytest.raises(PluginError, match="'bad' from package 'brokenplugin'.*failed to load"):
        list(registry)


def test_entry_points_are_read_lazily_and_registered(tmp_path, monkeypatch):
    (tmp_path / "epstrategy.py").write_text(example("strategy").replace('"retry"', '"retry_ep"'))
    write_dist(tmp_path, "epplugin", "codeloop.strategies", {"viaep": "epstrategy:make_retry"})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("strategy", "codeloop.strategies", "codeloop.strategies")
    assert "epstrategy" not in sys.modules  # nothing read yet
    assert "viaep" in registry
    assert registry.origin("viaep") == "epplugin"
    assert callable(registry["viaep"](tries=1))
    sys.modules.pop("epstrategy", None)


def test_registry_is_a_mapping_and_decorators_register():
    @codeloop.strategy("tiny_api")
    def make_tiny(*, rounds: int = 2, label: str = "x"):
        async def solve(ctx):  # pragma: no cover - not run
            raise AssertionError

        return solve

    assert STRATEGIES["tiny_api"] is make_tiny
    assert STRATEGIES.settings("tiny_api") == [("rounds", 2), ("label", "x")]
    del STRATEGIES["tiny_api"]
    assert "tiny_api" not in STRATEGIES


def test_import_codeloop_stays_light():
    code = "import sys, codeloop; print(sorted(m for m in sys.modules if m.startswith('codeloop')))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    ).stdout
    assert out.strip() == "['codeloop', 'codeloop.registry']"


# -------------------------------------------------------- a plugin package, from the CLI

PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "codeloop-retry-plugin"
version = "0.1"

[project.entry-points."codeloop.strategies"]
retry_plugin = "retry_plugin:make_retry"

[tool.setuptools]
py-modules = ["retry_plugin"]
"""


def cli(args: list[str], pythonpath: list[Path]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath))}
    return subprocess.run(
        [sys.executable, "-c", "from codeloop.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.mark.slow
def test_a_pip_installed_plugin_runs_from_the_cli(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    package.joinpath("pyproject.toml").write_text(textwrap.dedent(PLUGIN_PYPROJECT))
    # the doc's strategy, registered under the entry point's name (and not by decorator)
    source = example("strategy").replace('@codeloop.strategy("retry", settings=RetrySettings)', "")
    source += "\nmake_retry.settings = RetrySettings\n"
    package.joinpath("retry_plugin.py").write_text(source)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--no-index", "--target", str(target), str(package)],
        check=True,
        timeout=300,
    )
    assert list(target.glob("codeloop_retry_plugin-0.1.dist-info"))
    path = [target, ROOT / "src"]

    listed = cli(["strategies"], path)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^retry_plugin +\(codeloop-retry-plugin\)$", listed.stdout, re.MULTILINE)
    assert "    tries = 3" in listed.stdout.split("retry_plugin", 1)[1]

    for strategy in ("retry_plugin", "retry_plugin:make_retry"):
        out = tmp_path / f"{strategy.replace(':', '_')}.json"
        ran = cli(
            ["run", str(tasks_file(tmp_path)), "--strategy", strategy]
            + ["--model", f"mock:file:{answers_file(tmp_path)}", "--no-cache", "--k", "1"]
            + ["--json", str(out)],
            path,
        )
        assert ran.returncode == 0, ran.stderr
        data = json.loads(out.read_text())
        assert data["config"]["strategy"] == strategy
        assert data["pass_at_k"] == {"1": 1.0}


def test_evaluate_scores_a_samples_file_on_a_plugin_dataset(tmp_path):
    load_example("dataset")
    samples = tmp_path / "samples.jsonl"
    rows = [{"task_id": "squares/0", "completion": c} for c in (RIGHT, WRONG)]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = codeloop.evaluate(samples, dataset="squares", ks=(1,))
    assert report.samples == 2
    assert [r.passed for r in sorted(report.results, key=lambda r: r.sample_index)] == [
        True,
        False,
    ]
    [group] = report.pass_at_k.values()
    assert group["1"] == 0.5
