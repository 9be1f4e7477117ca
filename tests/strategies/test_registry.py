"""make_strategy: names, settings, validation."""

import pytest

from codeloop.strategies import STRATEGIES, make_strategy


def test_the_four_strategies():
    assert {"sample", "self_debug", "reflexion", "codet"} <= set(STRATEGIES)
    for name in STRATEGIES:
        assert callable(make_strategy(name))


def test_unknown_name_lists_the_names():
    with pytest.raises(ValueError, match="codet, reflexion, sample, self_debug"):
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


def test_command_line_strings_are_converted():
    make_strategy("sample", n="5", temperature="0.2", rank="false")
    make_strategy("reflexion", memory="none")
    make_strategy("codet", test_time_limit_s="None", n=10.0)
    with pytest.raises(ValueError, match="expected true or false"):
        make_strategy("sample", rank="perhaps")
