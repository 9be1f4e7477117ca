"""make_strategy: names, settings, validation."""

import pytest

from codeloop.models import MockBackend
from codeloop.strategies import STRATEGIES, SolveContext, make_strategy
from codeloop.strategies.codet import CodeTSettings
from codeloop.strategies.common import parse_settings
from codeloop.strategies.reflexion import ReflexionSettings
from codeloop.strategies.sample import SampleSettings
from codeloop.types import Budget, GenerationRequest

from .helpers import RIGHT, WRONG, add_view


def scripted_backend() -> MockBackend:
    """Code requests: a wrong `add` first, the right one after; test requests: asserts;
    reflections and explanations: a sentence."""
    codes = 0

    def answer(request: GenerationRequest, index: int) -> str:
        nonlocal codes
        if request.purpose == "tests":
            return "```python\nassert add(1, 2) == 3\nassert add(2, 2) == 4\n```\n"
        if request.purpose in ("reflection", "explanation"):
            return "It subtracts b instead of adding it."
        codes += 1
        return WRONG if codes == 1 else RIGHT

    return MockBackend(answer)


# settings that let each strategy see both answers: two samples where it samples
THE_FOUR = {"sample": {"n": 2}, "self_debug": {}, "reflexion": {}, "codet": {"n": 4, "m": 2}}


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(THE_FOUR))
async def test_the_four_strategies_find_the_right_program(name, executor):
    assert set(THE_FOUR) <= set(STRATEGIES)
    backend = scripted_backend()
    ctx = SolveContext(add_view(((1, 2), 3), ((2, 2), 4)), backend, executor, Budget())
    solution = await make_strategy(name, **THE_FOUR[name])(ctx)
    assert solution.error == ""
    assert "return a + b" in solution.programs[0]  # the wrong first answer is not chosen
    assert any("return a - b" in node.content for node in solution.trace)  # it was seen
    assert backend.calls >= 1 and solution.usage.calls == backend.calls


def test_unknown_name_lists_the_names():
    # built-ins and the installed plugins (entry points), sorted
    with pytest.raises(
        ValueError, match="agentcoder, codet, ldb, pgs, reflexion, sample, self_debug"
    ):
        make_strategy("mcts")


def test_unknown_setting_lists_the_settings():
    with pytest.raises(ValueError, match="no setting 'roundz'.*rounds"):
        make_strategy("self_debug", roundz=3)


@pytest.mark.parametrize(
    ("name", "settings", "message"),
    [
        ("sample", {"n": 0}, "n must be at least 1"),
        ("sample", {"n": "many"}, "expected an integer"),
        ("sample", {"temperature": -1}, "temperature"),
        ("sample", {"mode": "json"}, "expected one of auto, chat, completion"),
        ("self_debug", {"feedback": "verbose"}, "simple, unit_test, unit_test_explanation"),
        # self_debug and reflexion are conversations: a `mode` setting would change nothing
        ("self_debug", {"mode": "chat"}, "no setting 'mode'"),
        ("reflexion", {"mode": "chat"}, "no setting 'mode'"),
        ("reflexion", {"memory": 0}, "memory must be at least 1"),
        ("codet", {"program_weight": "log"}, "sqrt, count"),
        ("codet", {"test_time_limit_s": 0}, "positive"),
    ],
)
def test_bad_values(name, settings, message):
    with pytest.raises(ValueError, match=message):
        make_strategy(name, **settings)


@pytest.mark.parametrize(
    ("cls", "name", "strings", "values"),
    [
        (
            SampleSettings,
            "sample",
            {"n": "5", "temperature": "0.2", "rank": "false"},
            {"n": 5, "temperature": 0.2, "rank": False},
        ),
        (SampleSettings, "sample", {"rank": "YES", "max_tokens": "none"}, {"rank": True}),
        (ReflexionSettings, "reflexion", {"memory": "none"}, {"memory": None}),
        (ReflexionSettings, "reflexion", {"memory": "3"}, {"memory": 3}),
        (
            CodeTSettings,
            "codet",
            {"test_time_limit_s": "None", "n": 10.0},
            {"test_time_limit_s": None, "n": 10},
        ),
    ],
)
def test_command_line_strings_are_converted(cls, name, strings, values):
    settings = parse_settings(cls, name, strings)
    for key, value in values.items():
        got = getattr(settings, key)
        assert got == value and type(got) is type(value), (key, got)
    with pytest.raises(ValueError, match="expected true or false"):
        make_strategy("sample", rank="perhaps")


@pytest.mark.anyio
async def test_converted_strings_change_what_the_strategy_does(executor):
    backend = MockBackend([WRONG, RIGHT, RIGHT, RIGHT, RIGHT])
    ctx = SolveContext(add_view(((1, 2), 3)), backend, executor, Budget())
    solution = await make_strategy("sample", n="5", temperature="0.2", rank="false")(ctx)
    request = backend.requests[0]
    assert (request.n, request.sampling.temperature) == (5, 0.2)
    # rank=false: the programs stay in sample order, none is run
    assert "return a - b" in solution.programs[0]
    assert solution.usage.executions == 0
