"""Parsing source text that comes from data files."""

from __future__ import annotations

import ast
import warnings
from typing import Literal, overload


@overload
def parse(source: str, mode: Literal["exec"] = "exec") -> ast.Module: ...
@overload
def parse(source: str, mode: Literal["eval"]) -> ast.Expression: ...


def parse(source: str, mode: Literal["exec", "eval"] = "exec") -> ast.Module | ast.Expression:
    """``ast.parse`` without the warnings (invalid escape sequences and the like) that
    benchmark code raises: they are the data's business, not the loader's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mode == "eval":
            return ast.parse(source, mode="eval")
        return ast.parse(source, mode="exec")
