"""Pieces the strategies share: settings, code requests, sampled programs, extraction,
generated tests."""

from __future__ import annotations

import ast
import dataclasses
import types
import typing
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal, NamedTuple, TypeVar, get_args, get_origin

from codeloop.extract import DEFAULT_STOPS, Extracted, Mode, extract_code, fenced_blocks
from codeloop.strategies import prompts
from codeloop.strategies.base import SolveContext
from codeloop.tasks.asserts import convert_check
from codeloop.types import (
    Completion,
    GenerationRequest,
    Message,
    ProblemView,
    Sampling,
    TestCase,
    TestKind,
)

S = TypeVar("S")

ModeSetting = Literal["auto", "chat", "completion"]


# ---------------------------------------------------------------------------- settings


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """Settings often come from a command line as strings: convert what is unambiguous."""
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in get_args(annotation):
                return None
        for option in options:
            try:
                return _coerce(name, value, option)
            except ValueError:
                continue
        raise ValueError(f"setting {name}={value!r}: expected {annotation}")
    if origin is Literal:
        allowed = get_args(annotation)
        if value not in allowed:
            raise ValueError(f"setting {name}={value!r}: expected one of {', '.join(allowed)}")
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError(f"setting {name}={value!r}: expected true or false")
    if annotation is int:
        if isinstance(value, bool):
            raise ValueError(f"setting {name}={value!r}: expected an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ValueError(f"setting {name}={value!r}: expected an integer")
    if annotation is float:
        if isinstance(value, bool):
            raise ValueError(f"setting {name}={value!r}: expected a number")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError(f"setting {name}={value!r}: expected a number")
    if annotation is str:
        if not isinstance(value, str):
            raise ValueError(f"setting {name}={value!r}: expected a string")
        return value
    return value


def parse_settings(cls: type[S], strategy: str, values: Mapping[str, Any]) -> S:
    """Build a settings dataclass from keyword settings, with a clear ValueError for
    unknown names and wrong values (the class's `check()` validates ranges)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ValueError(
            f"strategy {strategy!r} has no setting {', '.join(map(repr, unknown))}; "
            f"its settings: {', '.join(sorted(fields))}"
        )
    converted = {name: _coerce(name, value, hints[name]) for name, value in values.items()}
    settings = cls(**converted)
    check = getattr(settings, "check", None)
    if check is not None:
        check()
    return settings


def at_least(name: str, value: float | None, low: float) -> None:
    if value is not None and value < low:
        raise ValueError(f"setting {name} must be at least {low}, not {value}")


# ------------------------------------------------------------------------- generation


def resolve_mode(mode: str, declared: Mode | None) -> Mode:
    """The mode a strategy runs in: `auto` takes what the model declares (`ctx.prompt_mode`:
    a replay of recorded completions says "completion"), chat where it declares nothing."""
    if mode == "auto":
        return declared or "chat"
    if mode in ("chat", "completion"):
        return typing.cast(Mode, mode)
    raise ValueError(f"unknown mode {mode!r}: use auto, chat or completion")


def sampling_for(
    ctx: SolveContext,
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stop: Sequence[str] | None = None,
) -> Sampling:
    sampling = ctx.sampling
    if temperature is not None:
        sampling = replace(sampling, temperature=temperature)
    if max_tokens is not None:
        sampling = replace(sampling, max_tokens=max_tokens)
    if stop is not None:
        sampling = replace(sampling, stop=tuple(stop))
    return sampling


def code_request(
    ctx: SolveContext,
    mode: Mode,
    n: int,
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stops: Sequence[str] = DEFAULT_STOPS,
) -> GenerationRequest:
    """The first request for code: a chat turn asking for the solution, or the bare prompt
    for a completion model to continue (stopped at the HumanEval stop sequences)."""
    if mode == "completion":
        return GenerationRequest(
            prompt=ctx.view.prompt,
            n=n,
            sampling=sampling_for(ctx, temperature=temperature, max_tokens=max_tokens, stop=stops),
            purpose="code",
        )
    return GenerationRequest(
        messages=code_messages(ctx.view),
        n=n,
        sampling=sampling_for(ctx, temperature=temperature, max_tokens=max_tokens),
        purpose="code",
    )


def code_messages(view: ProblemView) -> tuple[Message, ...]:
    return (
        Message("system", prompts.SYSTEM_CODE),
        Message("user", prompts.code_request_text(view)),
    )


def tests_messages(view: ProblemView, count: int) -> tuple[Message, ...]:
    """A chat request for `count` unit tests (assert lines) of the function."""
    return (
        Message("system", prompts.SYSTEM_TESTS),
        Message("user", prompts.tests_request_text(view, count)),
    )


def extract(
    view: ProblemView, text: str, mode: Mode, stops: Sequence[str] = DEFAULT_STOPS
) -> Extracted:
    return extract_code(
        text, entry_point=view.entry_point, prompt=view.prompt, mode=mode, stops=stops
    )


def record_program(
    ctx: SolveContext,
    completion: Completion,
    mode: Mode,
    stops: Sequence[str] = DEFAULT_STOPS,
    *,
    parent: int | None = None,
    **metadata: Any,
) -> tuple[Extracted, int]:
    """The program in a completion, recorded as a "program" node with the call's usage,
    the model's text and how the code was found; returns it and the node's id."""
    extracted = extract(ctx.view, completion.text, mode, stops)
    node = ctx.record(
        "program",
        extracted.code,
        parent=parent,
        usage=completion.usage,
        raw=completion.text,
        how=extracted.how,
        **metadata,
    )
    return extracted, node


class SampledPrograms(NamedTuple):
    codes: list[str]  # in sample order, duplicates included
    raws: list[str]  # the model's text behind each program
    nodes: list[int]  # each program's trace node


async def sample_programs(
    ctx: SolveContext,
    mode: Mode,
    n: int,
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stops: Sequence[str] = DEFAULT_STOPS,
) -> SampledPrograms:
    """`n` programs from one code request, each recorded as a "program" node (metadata
    `sample`: its index); completions are cut at `stops`."""
    request = code_request(
        ctx, mode, n, temperature=temperature, max_tokens=max_tokens, stops=stops
    )
    sampled = SampledPrograms([], [], [])
    for index, completion in enumerate(await ctx.generate(request)):
        extracted, node = record_program(ctx, completion, mode, stops, sample=index)
        sampled.codes.append(extracted.code)
        sampled.raws.append(completion.text)
        sampled.nodes.append(node)
    return sampled


# ----------------------------------------------------------------------- generated tests


def _compiles(source: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(source, "<test>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return False
    return True


def split_assertions(
    text: str, entry_point: str, *, stops: Sequence[str], limit: int | None = None
) -> list[str]:
    """Assertions in a model's test sample, CodeT's way: the text continues an open
    ``assert ``, so it is split on ``assert ``; parts that name the entry point become
    assertions, each cut at the stop sequences, and those that compile are kept (the first
    `limit` of them)."""
    found: list[str] = []
    for part in ("assert " + text).split("assert "):
        if entry_point.strip() not in part or not part.strip():
            continue
        assertion = ("assert " + part).strip()
        for stop in stops:
            at = assertion.find(stop)
            if at >= 0:
                assertion = assertion[:at]
        assertion = assertion.strip()
        if _compiles(assertion):
            found.append(assertion)
            if limit is not None and len(found) >= limit:
                break
    return found


def chat_assertions(text: str, entry_point: str, *, limit: int | None = None) -> list[str]:
    """Assert statements in a chat answer (fenced or not), one per statement, in order."""
    blocks = [code for tag, code, _ in fenced_blocks(text) if tag in ("", "python", "py")]
    source = "\n".join(blocks) if blocks else text
    found: list[str] = []
    module = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = ast.parse(source)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            module = None
    if module is not None:
        candidates = [
            ast.get_source_segment(source, node) or ast.unparse(node)
            for node in ast.walk(module)
            if isinstance(node, ast.Assert)
        ]
    else:  # line by line, as Reflexion reads its tests
        candidates = [line.strip() for line in source.splitlines() if line.strip()]
    for candidate in candidates:
        candidate = candidate.strip()
        if (
            candidate.startswith("assert")
            and entry_point in candidate
            and _compiles(candidate)
            and candidate not in found
        ):
            found.append(candidate)
            if limit is not None and len(found) >= limit:
                break
    return found


def assertion_test(assertion: str, entry_point: str, time_limit_s: float | None) -> TestCase | None:
    """A test made from one generated assert: a data test (call, expected, comparison,
    judged outside the sandbox) where the assert converts, else code run in the sandbox.
    None for an assert that tests nothing (``assert True``)."""
    converted = convert_check(assertion, entry_point)
    if converted.converted and len(converted.tests) == 1:
        return replace(converted.tests[0], source=assertion, time_limit_s=time_limit_s)
    if converted.converted and not converted.tests:
        return None
    if not converted.converted and converted.tests:
        # the sandbox runs the assert as written (module level, then a no-op check)
        return replace(converted.tests[0], source=assertion, time_limit_s=time_limit_s)
    code = f"{assertion}\n\n\ndef check(candidate):\n    pass\n"
    return TestCase(kind=TestKind.CODE, code=code, source=assertion, time_limit_s=time_limit_s)
