"""The contract types: their docs are what `help()` shows, and pytest does not collect them."""

import dataclasses

import pytest

from codeloop import types


@pytest.mark.parametrize(
    "cls", [types.TestCase, types.TestSuite, types.TestKind, types.TestOutcome, types.Task]
)
def test_contract_types_keep_their_docstrings(cls):
    doc = cls.__doc__ or ""
    # a dataclass without a docstring gets its signature as __doc__
    assert doc and not doc.startswith(f"{cls.__name__}("), doc[:80]


def test_test_named_types_are_not_collected_by_pytest():
    for cls in (types.TestCase, types.TestSuite, types.TestKind, types.TestOutcome):
        assert cls.__test__ is False
    assert dataclasses.is_dataclass(types.TestCase)
