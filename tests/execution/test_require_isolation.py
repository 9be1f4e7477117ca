"""CODELOOP_REQUIRE_ISOLATION (CI sets it): a missing isolation layer fails, never skips.

Each test makes a layer go missing (a report that says so, a test gated on root, an
executor with isolation off) and checks that the variable turns the usual skip or warning
into a failure, and that without it developers on weaker kernels still get a skip.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import anyio
import pytest
from typer.testing import CliRunner

from codeloop.cli import app
from codeloop.execution import isolation
from codeloop.execution.isolation import (
    REQUIRE_ISOLATION_VAR,
    IsolationReport,
    Layer,
    required_by_environment,
)
from codeloop.execution.local import LocalExecutor, SandboxError

from .isolation_gate import requires
from .test_hostile import CASE_BY_NAME, Findings, _missing_layer, _result

LANDLOCK_OFF = {
    "layers": [
        {"name": "uid", "active": True, "detail": "uid 61000"},
        {"name": "landlock", "active": False, "detail": "unavailable: kernel too old"},
    ]
}


@pytest.fixture
def required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_ISOLATION_VAR, "1")


@pytest.fixture
def not_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_ISOLATION_VAR, raising=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("yes", True), ("TRUE", True), ("", False), ("0", False), ("off", False)],
)
def test_the_variable_reads_yes_or_no(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv(REQUIRE_ISOLATION_VAR, value)
    assert required_by_environment() is expected


def test_a_value_that_is_neither_yes_nor_no_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # a typo must not quietly turn the requirement off
    monkeypatch.setenv(REQUIRE_ISOLATION_VAR, "ture")
    with pytest.raises(ValueError, match="ture"):
        required_by_environment()


def _outcome(call: Callable[[], object]) -> str:
    """How a test body ends: 'failed: ...', 'skipped: ...' or 'ran'.  Caught here, so that a
    skip cannot escape and turn the checking test itself into a skip."""
    try:
        call()
    except pytest.fail.Exception as exc:
        return f"failed: {exc}"
    except pytest.skip.Exception as exc:
        return f"skipped: {exc}"
    return "ran"


def _hostile_result_without_landlock() -> str:
    """A hostile case's outcome, with findings as the hostile module's fixture records them
    when Landlock is missing."""
    case = CASE_BY_NAME["write_tmp"]
    assert "landlock" in case.needs
    reason = _missing_layer(case, LANDLOCK_OFF)
    assert "landlock" in reason
    findings = Findings(site=cast(Any, None))
    findings.skipped[case.name] = reason
    return _outcome(lambda: _result(findings, case.name))


@pytest.mark.usefixtures("required")
def test_hostile_case_fails_when_its_layer_is_missing_and_isolation_is_required() -> None:
    outcome = _hostile_result_without_landlock()
    assert outcome.startswith("failed: ") and "landlock" in outcome, outcome
    assert REQUIRE_ISOLATION_VAR in outcome


@pytest.mark.usefixtures("not_required")
def test_hostile_case_skips_when_its_layer_is_missing_on_a_developer_machine() -> None:
    outcome = _hostile_result_without_landlock()
    assert outcome.startswith("skipped: ") and "landlock" in outcome, outcome


def _gated_test() -> None:
    raise AssertionError("a gated test must not run when its requirement is missing")


@pytest.mark.usefixtures("required")
def test_a_test_that_needs_root_fails_without_root_when_isolation_is_required() -> None:
    outcome = _outcome(requires(False, "needs root")(_gated_test))
    assert outcome.startswith("failed: ") and "needs root" in outcome, outcome


@pytest.mark.usefixtures("not_required")
def test_a_test_that_needs_root_skips_without_root_on_a_developer_machine() -> None:
    outcome = _outcome(requires(False, "needs root")(_gated_test))
    assert outcome.startswith("skipped: ") and "needs root" in outcome, outcome
    assert requires(True, "needs root")(_gated_test) is _gated_test


def test_executor_requires_isolation_as_the_variable_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(REQUIRE_ISOLATION_VAR, "1")
    assert LocalExecutor(workers=1).require_isolation is True
    assert LocalExecutor(workers=1, require_isolation=False).require_isolation is False
    monkeypatch.setenv(REQUIRE_ISOLATION_VAR, "0")
    assert LocalExecutor(workers=1).require_isolation is False
    assert LocalExecutor(workers=1, require_isolation=True).require_isolation is True


@pytest.mark.usefixtures("required")
def test_executor_with_isolation_off_refuses_to_start_when_required() -> None:
    async def start() -> None:
        async with LocalExecutor(workers=1, isolation=False, preload=()):
            pass

    with pytest.raises(SandboxError, match="isolation required"):
        anyio.run(start)


def test_sandbox_check_exits_non_zero_when_a_layer_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = IsolationReport(
        (Layer("uid", True, "uid 61000"), Layer("landlock", False, "unavailable: ENOSYS"))
    )
    monkeypatch.setattr(isolation, "probe", lambda: report)
    result = CliRunner().invoke(app, ["sandbox", "check", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["missing"] == ["landlock"]


@pytest.mark.usefixtures("required")
def test_cli_requires_isolation_when_the_variable_is_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from codeloop.runs import evaluate as evaluate_module

    seen: list[bool] = []

    async def refuse(samples: Any, options: Any, progress: Any = None) -> None:
        seen.append(options.require_isolation)
        raise SandboxError("isolation required but not fully in force; missing: landlock")

    monkeypatch.setattr(evaluate_module, "evaluate", refuse)
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"task_id": "HumanEval/0", "completion": ""}\n')
    result = CliRunner().invoke(app, ["evaluate", str(samples), "--dataset", "humaneval"])
    assert seen == [True]
    assert result.exit_code != 0 and "missing: landlock" in result.output
