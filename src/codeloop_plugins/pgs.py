"""`pgs`: the Property-Generated Solver (He et al., 2025; HeLeHanPrivate/PBTwithCodeGen).

A generator writes the program.  A tester writes *properties* of the specification (checks
that hold for any correct output on an input: an invariant of the result, a guarded brute
force answer on small inputs, a relation between two calls) and an *input generator*.  Per
repair pass (the official script runs two after the first generation):

1. the program runs on the visible tests; while it fails and repairs remain, it is repaired
   from the shortest failing visible case (input, its output, the expected output); when no
   repair passes them, the pass keeps the program it started with;
2. properties are asked for (up to 3 attempts) and kept only where they hold on the visible
   tests; the input generator is asked for (up to 3 attempts, the script's failure fed
   back) and run for about 50 inputs, at least 8 distinct ones kept;
3. the program runs on the visible inputs and the generated ones, shortest first
   (``len(str(input))``, the official order), with the properties asserted; the shortest
   failing input and the property it breaks go back to the generator; a repair that breaks
   a visible test is reverted (the official "final public gate"); up to 5 repairs a pass,
   shared with step 1.

Inputs (`inputs`): ``llm`` (the official tester's generator script), ``hypothesis``
(strategies from the entry point's type annotations, Hypothesis's shrinking to a minimal
counterexample), or ``both`` (the shortest failing input of either wins).  Hypothesis runs
*inside the sandboxed run*, beside the program: a shrink step is a call of the program, and
a call per sandbox execution would cost hundreds of executions a program; in the sandbox it
is one execution, and only plain data comes back (the minimal input, the property it
breaks).  The parent then runs that input again, checked, in a fresh sandboxed run with the
other inputs, so a program that forged Hypothesis's report gains nothing.  The trace and
the feedback's metadata say which source found the counterexample: ``visible``, ``llm`` or
``hypothesis``.

Everything the model wrote (program, properties, input generator) runs only in the sandbox
(`ctx.execute`); this module handles plain data: the decoded values the runs return, JSON
text, and the task's own prompt.  Properties run after the entry point returns, with its
parameters, `orig_<parameter>` copies taken before the call, and `result` bound.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from codeloop import (
    Answers,
    ExecResult,
    Feedback,
    GenerationRequest,
    Message,
    Solution,
    SolveContext,
    Status,
    Strategy,
    TaskKind,
    TestCase,
    TestKind,
    at_least,
    extract_code,
    feedback_kind,
    parse_settings,
    record_program,
    render_property_feedback,
    run_guarded,
    sampling_for,
    tests_feedback,
)

__all__ = ["PgsSettings", "make_pgs"]

InputSource = Literal["llm", "hypothesis", "both"]


@dataclass(frozen=True)
class PgsSettings:
    passes: int = 2  # repair passes after the first program (official: ITERATIVE_NUM=3)
    property_attempts: int = 3  # official --checker_max_attempts
    repairs: int = 5  # repairs per pass (official --repair_max_attempts)
    input_attempts: int = 3  # input-generator scripts per pass (official)
    inputs_requested: int = 50  # calls of the input generator (official: up to 50)
    min_inputs: int = 8  # distinct valid inputs an input generator must give (official)
    inputs: InputSource = "llm"  # official: the tester's generator script
    hypothesis_examples: int = 100  # Hypothesis's own default
    hypothesis_time_s: float = 10.0  # CPU time of the sandboxed Hypothesis run
    example_time_s: float = 1.0  # one Hypothesis example (program call and properties)
    checker_time_s: float = 1.0  # one property's check on one input
    temperature: float | None = 0.6  # official quick_run.sh
    max_tokens: int | None = None

    def check(self) -> None:
        for name in ("passes", "property_attempts", "repairs", "input_attempts"):
            at_least(name, getattr(self, name), 0)
        at_least("inputs_requested", self.inputs_requested, 1)
        at_least("min_inputs", self.min_inputs, 1)
        at_least("hypothesis_examples", self.hypothesis_examples, 1)
        for name in ("hypothesis_time_s", "example_time_s", "checker_time_s"):
            at_least(name, getattr(self, name), 0.01)
        at_least("temperature", self.temperature, 0.0)
        at_least("max_tokens", self.max_tokens, 1)
        if self.inputs not in ("llm", "hypothesis", "both"):
            raise ValueError(f"setting inputs must be llm, hypothesis or both, not {self.inputs!r}")


# ------------------------------------------------------------------------------ prompts

SYSTEM_CODER = (
    "You are an expert Python programmer. You write correct, complete and efficient "
    "solutions to programming problems."
)
SYSTEM_TESTER = (
    "You are a meticulous software tester. You state what a specification demands of every "
    "correct answer, and you design inputs that expose wrong answers."
)


def _code_text(view_prompt: str, entry: str) -> str:
    return (
        f"Solve this problem in Python.\n\n{view_prompt.rstrip()}\n\n"
        f"Answer with the complete function `{entry}` (with the imports and helpers it "
        "needs) in one ```python code block."
    )


def _properties_text(view_prompt: str, entry: str, rejected: Sequence[str]) -> str:
    lines = [
        f"Here is the specification of the Python function `{entry}`:\n",
        view_prompt.rstrip(),
        "",
        f"Write properties of `{entry}`: checks that every correct answer passes on every "
        "valid input, whatever the implementation. Each property is a short Python snippet "
        f"run right after `{entry}` returns, with these names bound: `result` (the value it "
        "returned), each parameter under its own name (its value after the call), and "
        "`orig_<parameter>` (a copy of each argument taken before the call). The modules "
        "`math`, `itertools`, `collections` and `functools` are available.",
        "",
        "Useful kinds of property: an independent expected answer computed by brute force, "
        "guarded so that it only runs on small inputs; invariants of the output (its type, "
        "length, order, range, relation to the input); a relation with the function's "
        "answer on a related input. State each check with `assert condition, message`. Do "
        "not import, print, catch exceptions or define classes. Only write properties the "
        "specification implies: a property that a correct answer can break is harmful.",
        "",
        "Answer with a JSON list in one ```json code block; each item has the keys "
        '"name" (short, unique), "checker_code" (the snippet) and "reason" (why every '
        "correct answer satisfies it).",
    ]
    if rejected:
        lines += [
            "",
            "An earlier answer's properties failed on the correct outputs of the examples: "
            + "; ".join(rejected)
            + ". Do not repeat them.",
        ]
    return "\n".join(lines)


def _inputs_text(view_prompt: str, entry: str, count: int) -> str:
    return "\n".join(
        [
            f"Here is the specification of the Python function `{entry}`:\n",
            view_prompt.rstrip(),
            "",
            "Write a Python function `generate_input(seed)` that returns one random valid "
            f"input for `{entry}`: the list of its positional arguments (a list even when it "
            "takes a single argument). Draw all randomness from `rng = random.Random(seed)` "
            f"(import random inside the function); it will be called with {count} different "
            "seeds. Keep inputs within the specification's constraints, and favour small "
            "inputs and edge cases (empty or single-element values, duplicates, zero, "
            "negative numbers, boundaries): a short failing input is the clearest evidence "
            "of a bug. Return plain Python values only (numbers, strings, booleans, None, "
            "lists, tuples, dicts, sets).",
            "",
            "Answer with the function in one ```python code block.",
        ]
    )


def _repair_text(view_prompt: str, entry: str, program: str, feedback: str) -> str:
    return (
        f"Problem:\n\n{view_prompt.rstrip()}\n\nCurrent code:\n\n```python\n{program.rstrip()}\n"
        f"```\n\n{feedback}\n\nCorrect the code. Answer with the complete corrected function "
        f"`{entry}` (with the imports and helpers it needs) in one ```python code block."
    )


# ------------------------------------------------------------------------------ harness

# Appended to the program text and run in the sandbox with it: it calls the entry point,
# runs the properties and returns plain data ([result, violations]).  A property whose own
# check raises or runs out of time says nothing about the program ("crashed", not counted).
_HARNESS = r"""

# ---- appended by the pgs strategy: properties and Hypothesis, run beside the program
class _PgsTimeout(BaseException):
    pass


def _pgs_raise_timeout(*_):
    raise _PgsTimeout()


def _pgs_copy(value):
    import copy
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


def _pgs_bind(func, args):
    import inspect
    try:
        bound = inspect.signature(func).bind(*args)
        bound.apply_defaults()
        return dict(bound.arguments)
    except (TypeError, ValueError):
        return {}


def _pgs_check(args, every):
    import collections, functools, itertools, math, signal
    func = globals()[_PGS_CONFIG["entry"]]
    names = _pgs_bind(func, args)
    originals = {"orig_" + key: _pgs_copy(value) for key, value in names.items()}
    result = func(*args)
    violations = []
    for name, checker in _PGS_CONFIG["properties"]:
        env = dict(globals())
        env.update(collections=collections, functools=functools, itertools=itertools, math=math)
        env.update(names)
        env.update(originals)
        env["result"] = result
        previous = signal.signal(signal.SIGVTALRM, _pgs_raise_timeout)
        signal.setitimer(signal.ITIMER_VIRTUAL, _PGS_CONFIG["checker_s"])
        try:
            exec(compile(checker, "<property " + name + ">", "exec"), env)
        except AssertionError as exc:
            violations.append([name, "violated", str(exc)[:700]])
        except _PgsTimeout:
            violations.append([name, "crashed", "the property's check ran out of time"])
        except Exception as exc:
            violations.append([name, "crashed", (type(exc).__name__ + ": " + str(exc))[:700]])
        finally:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            signal.signal(signal.SIGVTALRM, previous)
        if violations and violations[-1][1] == "violated" and not every:
            break
    return [result, violations]


def _pgs_checked(*args):
    return _pgs_check(args, False)


def _pgs_screened(*args):
    return _pgs_check(args, True)


def _pgs_hypothesis(seed, examples, example_s):
    import signal, typing
    try:
        import hypothesis
        from hypothesis import strategies as st
    except Exception as exc:
        return ["unavailable", "hypothesis cannot be imported: " + type(exc).__name__]
    st.register_type_strategy(int, st.integers(-1000, 1000))
    st.register_type_strategy(float, st.floats(-1e6, 1e6, allow_nan=False))
    namespace = dict(vars(typing))
    namespace.update(globals())
    parts = []
    for name, source in _PGS_CONFIG["annotations"]:
        if not source:
            return ["unavailable", "parameter " + name + " has no type annotation"]
        try:
            parts.append(st.from_type(eval(source, namespace)))
        except Exception as exc:
            return ["unavailable", "no strategy for " + name + ": " + source]
    if not parts:
        return ["unavailable", "the function takes no parameters"]
    state = {"examples": 0, "skipped": 0, "first": None, "best": None}

    def probe(args):
        state["examples"] += 1
        snapshot = _pgs_copy(list(args))
        previous = signal.signal(signal.SIGPROF, _pgs_raise_timeout)
        signal.setitimer(signal.ITIMER_PROF, example_s)
        try:
            violations = _pgs_check(list(args), False)[1]
        except (_PgsTimeout, Exception):
            state["skipped"] += 1  # a crash on a typed input may be outside the spec
            return
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, previous)
        broken = [v for v in violations if v[1] == "violated"]
        if broken:
            if state["first"] is None:
                state["first"] = snapshot
            if state["best"] is None or len(str(snapshot)) <= len(str(state["best"][0])):
                state["best"] = [snapshot, broken[0]]
            raise AssertionError(broken[0][0])

    run = hypothesis.given(st.tuples(*parts))(probe)
    run = hypothesis.seed(seed)(run)
    run = hypothesis.settings(
        max_examples=examples,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        print_blob=False,
        verbosity=hypothesis.Verbosity.quiet,
    )(run)
    try:
        run()
    except Exception:
        pass
    if state["best"] is None:
        return ["none", state["examples"], state["skipped"]]
    best, violation = state["best"]
    return ["found", best, violation, state["first"], state["examples"], state["skipped"]]
"""

_CHECKED = "_pgs_checked"
_SCREENED = "_pgs_screened"
_HYPOTHESIS = "_pgs_hypothesis"
_GENERATOR = "generate_input"
_PLAIN_LEAVES = (int, float, complex, str, bytes, bool, type(None))
_INPUT_REPR_CAP = 20_000  # a generated input longer than this is not a small input
_GENERATOR_RESULT_BYTES = 16 * 1024**2


@dataclass(frozen=True)
class Property:
    name: str
    checker: str
    reason: str


@dataclass(frozen=True)
class Signature:
    """The entry point's parameters as the task's prompt declares them."""

    names: tuple[str, ...] = ()
    annotations: tuple[str | None, ...] = ()
    required: int = 0
    maximum: int | None = None  # None: any number (*args), or not known

    def accepts(self, count: int) -> bool:
        return count >= self.required and (self.maximum is None or count <= self.maximum)


@dataclass
class Case:
    args: tuple[Any, ...]
    sources: list[str]


@dataclass(frozen=True)
class Counterexample:
    case_text: str  # the call, as Python
    sources: tuple[str, ...]
    kind: str  # "property_violation" or the failure kind ("error", "timeout", ...)
    prop: str  # the violated property's name ("" for another failure)
    message: str
    actual: str = ""
    traceback: str = ""


@dataclass
class _State:
    program: str
    raw: str
    node: int


def _plain(value: Any, depth: int = 0) -> bool:
    """Built only of builtin values (a decoded sandbox value that is not an opaque stand-in)."""
    if depth > 50:
        return False
    kind = type(value)
    if kind in _PLAIN_LEAVES:
        return True
    if kind in (list, tuple, set, frozenset):
        return all(_plain(item, depth + 1) for item in value)
    if kind is dict:
        return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    return False


def _cap(text: str, cap: int = 500) -> str:
    return text if len(text) <= cap else text[: cap - 3] + "..."


def _call_text(entry: str, args: Sequence[Any]) -> str:
    return _cap(f"{entry}({', '.join(repr(arg) for arg in args)})", 1500)


def _size(args: Sequence[Any]) -> int:
    """The official order's key: the length of the input's text."""
    return len(str(list(args)))


def signature_of(prompt: str, entry: str) -> Signature:
    """The entry point's parameters from the task's prompt (not from any program)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = ast.parse(prompt)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return Signature()
    for node in ast.walk(module):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == entry:
            arguments = [*node.args.posonlyargs, *node.args.args]
            names = tuple(a.arg for a in arguments)
            annotations = tuple(
                ast.unparse(a.annotation) if a.annotation is not None else None for a in arguments
            )
            required = len(arguments) - len(node.args.defaults)
            maximum = None if node.args.vararg is not None else len(arguments)
            return Signature(names, annotations, required, maximum)
    return Signature()


def parse_properties(text: str) -> list[Property]:
    """Properties in a tester's answer: a JSON list of {name, checker_code, reason}, kept
    where the checker compiles (compiled only, never run here), names made unique."""
    candidates = [m.group(1) for m in re.finditer(r"```(?:json)?\s*\n(.*?)```", text, re.DOTALL)]
    start, end = text.find("["), text.rfind("]")
    if start >= 0 and end > start:
        candidates.append(text[start : end + 1])
    items: list[Any] = []
    for candidate in candidates:
        try:
            loaded = json.loads(candidate)
        except (ValueError, RecursionError):
            continue
        if isinstance(loaded, list):
            items = loaded
            break
    found: list[Property] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        checker = item.get("checker_code")
        if not isinstance(checker, str) or not checker.strip() or len(checker) > 5000:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                compile(checker, "<property>", "exec", dont_inherit=True)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
        name = str(item.get("name") or f"property_{index + 1}")[:80]
        while name in seen:
            name += "_"
        seen.add(name)
        found.append(Property(name, checker, str(item.get("reason") or "")[:500]))
    return found


def make_pgs(**settings: object) -> Strategy:
    config = parse_settings(PgsSettings, "pgs", settings)

    async def solve(ctx: SolveContext) -> Solution:
        answers = Answers()
        view = ctx.view
        entry = view.entry_point or ""
        visible = tuple(view.visible_tests)
        calls = tuple(t for t in visible if t.kind is TestKind.CALL)
        signature = signature_of(view.prompt, entry) if entry else Signature()
        sampling = sampling_for(ctx, temperature=config.temperature, max_tokens=config.max_tokens)

        def harness(program: str, properties: Sequence[Property]) -> str:
            settings_literal = {
                "entry": entry,
                "properties": [[p.name, p.checker] for p in properties],
                "annotations": [
                    [name, source]
                    for name, source in zip(signature.names, signature.annotations, strict=True)
                ],
                "checker_s": config.checker_time_s,
            }
            return f"{program.rstrip()}\n{_HARNESS}\n_PGS_CONFIG = {settings_literal!r}\n"

        async def ask(system: str, user: str, purpose: str) -> Any:
            [completion] = await ctx.generate(
                GenerationRequest(
                    messages=(Message("system", system), Message("user", user)),
                    n=1,
                    sampling=sampling,
                    purpose=purpose,
                )
            )
            return completion

        def publish(state: _State) -> None:
            answers.set([state.program], [state.raw])

        async def visible_run(program: str, parent: int, label: str) -> ExecResult | None:
            if not visible:
                return None  # nothing to run: the program passes vacuously
            return await ctx.execute(program, visible, parent=parent, label=label)

        def shortest_visible_failure(result: ExecResult) -> tuple[Feedback, int]:
            items = tests_feedback(result, visible, entry_point=view.entry_point)
            ran = [o for o in result.outcomes if o.status is not Status.NOT_RUN]
            by_index = {o.index: item for o, item in zip(ran, items, strict=False)}
            order = sorted(range(len(visible)), key=lambda i: _visible_size(visible[i]))
            for index in order:
                item = by_index.get(index)
                if item is not None and item.kind not in ("passed", "infra_error"):
                    test = visible[index]
                    if test.kind is TestKind.CALL:
                        item = replace(item, test=_call_text(entry, test.args))
                    return item, index
            failure = result.first_failure()
            return Feedback(kind="error", message=failure.message if failure else ""), 0

        async def repair(state: _State, text: str, parent: int, **metadata: Any) -> _State:
            completion = await ask(
                SYSTEM_CODER, _repair_text(view.prompt, entry, state.program, text), "repair"
            )
            extracted, node = record_program(
                ctx, completion, "chat", parent=parent, role="repair", **metadata
            )
            return _State(extracted.code, completion.text, node)

        # ---------------------------------------------------------------- the phases

        async def public_phase(state: _State, pass_index: int, repairs: list[int]) -> _State | None:
            """The program passing the visible tests (repaired if need be), or None."""
            result = await visible_run(state.program, state.node, "visible")
            if result is None or result.passed:
                return state
            current = state
            while repairs[0] < config.repairs:
                item, index = shortest_visible_failure(result)
                text = render_property_feedback(item)
                feedback = ctx.record(
                    "feedback",
                    text,
                    parent=current.node,
                    source="visible",
                    failure=item.kind,
                    test_index=index,
                    pass_index=pass_index,
                )
                repairs[0] += 1
                current = await repair(current, text, feedback, pass_index=pass_index)
                result = await visible_run(current.program, current.node, "visible")
                if result is None or result.passed:
                    return current
            ctx.record(
                "stop",
                "no repair passes the visible tests: the pass keeps the program it started with",
                parent=current.node,
                pass_index=pass_index,
            )
            return None

        async def propose_properties(state: _State, pass_index: int) -> list[Property]:
            rejected: list[str] = []
            for attempt in range(config.property_attempts):
                completion = await ask(
                    SYSTEM_TESTER, _properties_text(view.prompt, entry, rejected), "properties"
                )
                proposed = parse_properties(completion.text)
                node = ctx.record(
                    "properties",
                    completion.text,
                    parent=state.node,
                    usage=completion.usage,
                    attempt=attempt,
                    pass_index=pass_index,
                    proposed=[p.name for p in proposed],
                )
                if not proposed:
                    ctx.record("note", "no usable property in the answer", parent=node)
                    continue
                dropped: dict[str, str] = {}
                if calls:
                    tests = tuple(replace(t, has_expected=False) for t in calls)
                    result = await ctx.execute(
                        harness(state.program, proposed),
                        tests,
                        entry_point=_SCREENED,
                        record=True,
                        parent=node,
                        label="properties on the visible tests",
                    )
                    for outcome, value in zip(result.outcomes, result.actual_values, strict=False):
                        test = calls[outcome.index]
                        if outcome.status is not Status.PASSED:
                            continue  # the run broke (the program passes these tests)
                        for name, kind, message in _violations(value):
                            dropped.setdefault(
                                name, f"{kind} on {_call_text(entry, test.args)}: {message}"
                            )
                kept = [p for p in proposed if p.name not in dropped]
                ctx.record(
                    "property_screen",
                    f"kept {len(kept)} of {len(proposed)} properties"
                    + ("" if calls else " (no visible call to check them on)"),
                    parent=node,
                    kept=[p.name for p in kept],
                    dropped=dropped,
                    screened=bool(calls),
                )
                if kept:
                    return kept
                rejected = [f"{name} ({_cap(why, 200)})" for name, why in dropped.items()]
            return []

        async def generate_inputs(state: _State, pass_index: int) -> list[tuple[Any, ...]]:
            best: list[tuple[Any, ...]] = []
            messages = [
                Message("system", SYSTEM_TESTER),
                Message("user", _inputs_text(view.prompt, entry, config.inputs_requested)),
            ]
            for attempt in range(config.input_attempts):
                [completion] = await ctx.generate(
                    GenerationRequest(
                        messages=tuple(messages), n=1, sampling=sampling, purpose="inputs"
                    )
                )
                script = extract_code(
                    completion.text, entry_point=_GENERATOR, prompt=None, mode="chat"
                ).code
                node = ctx.record(
                    "input_generator",
                    script,
                    parent=state.node,
                    usage=completion.usage,
                    raw=completion.text,
                    attempt=attempt,
                    pass_index=pass_index,
                )
                tests = tuple(
                    TestCase(TestKind.CALL, args=(seed,), has_expected=False)
                    for seed in range(config.inputs_requested)
                )
                result = await ctx.execute(
                    script,
                    tests,
                    entry_point=_GENERATOR,
                    record=True,
                    parent=node,
                    label="input generator",
                    limits=replace(ctx.exec_limits, result_bytes=_GENERATOR_RESULT_BYTES),
                )
                inputs, rejected = _valid_inputs(result, signature, calls)
                problem = None
                for outcome in result.outcomes:
                    if outcome.status.is_failure:
                        problem = outcome
                        break
                ctx.record(
                    "inputs",
                    f"{len(inputs)} distinct valid inputs of {config.inputs_requested} calls",
                    parent=node,
                    valid=len(inputs),
                    rejected=rejected,
                    status=result.status.value,
                    error=(problem.exception or problem.status.value) if problem else "",
                )
                if len(inputs) > len(best):
                    best = inputs
                if len(inputs) >= config.min_inputs:
                    return inputs
                message = (
                    f"Called with {config.inputs_requested} seeds, it gave {len(inputs)} "
                    f"distinct valid inputs; at least {config.min_inputs} are needed."
                )
                if rejected:
                    message += f" {rejected} results were not a valid argument list."
                if problem is not None:
                    what = problem.exception or problem.status.value
                    message += f" A call failed: {what}: {_cap(problem.message, 300)}"
                item = Feedback(
                    kind="input_generator",
                    message=message,
                    traceback=_cap(problem.traceback, 1500) if problem else "",
                )
                text = render_property_feedback(item)
                ctx.record("feedback", text, parent=node, source="input_generator")
                messages += [Message("assistant", completion.text), Message("user", text)]
            if best:
                ctx.record(
                    "note",
                    f"no generator reached {config.min_inputs} inputs: using the largest "
                    f"set ({len(best)})",
                    parent=state.node,
                )
            return best

        async def hypothesis_case(
            state: _State, properties: Sequence[Property], seed: int
        ) -> Case | None:
            test = TestCase(
                TestKind.CALL,
                args=(seed, config.hypothesis_examples, config.example_time_s),
                has_expected=False,
            )
            result = await ctx.execute(
                harness(state.program, properties),
                (test,),
                entry_point=_HYPOTHESIS,
                record=True,
                parent=state.node,
                label="hypothesis",
                limits=replace(ctx.exec_limits, time_s=config.hypothesis_time_s),
            )
            value = result.actual_values[0] if result.actual_values else None
            if result.status is not Status.PASSED or not isinstance(value, list) or not value:
                failure = result.first_failure()
                ctx.record(
                    "hypothesis",
                    f"the Hypothesis run failed: {result.status.value}",
                    parent=state.node,
                    status="failed",
                    error=_cap(failure.message if failure else "", 300),
                )
                return None
            status = value[0]
            if status == "found" and len(value) == 6 and _plain(value[1]):
                args, violation, first = value[1], value[2], value[3]
                ctx.record(
                    "hypothesis",
                    f"Hypothesis found a counterexample, shrunk to {_call_text(entry, args)}",
                    parent=state.node,
                    status="found",
                    input=_call_text(entry, args),
                    first_input=_call_text(entry, first) if _plain(first) else "",
                    property=str(violation[0]) if isinstance(violation, list) else "",
                    examples=value[4],
                    skipped=value[5],
                    seed=seed,
                )
                if isinstance(args, list) and signature.accepts(len(args)):
                    return Case(tuple(args), ["hypothesis"])
                return None
            ctx.record(
                "hypothesis",
                "Hypothesis found no counterexample"
                if status == "none"
                else f"Hypothesis could not run: {value[1] if len(value) > 1 else ''}",
                parent=state.node,
                status=str(status),
                detail=[x for x in value[1:] if isinstance(x, int | str)],
                seed=seed,
            )
            return None

        async def counterexample(
            state: _State,
            properties: Sequence[Property],
            inputs: Sequence[tuple[Any, ...]],
            seed: int,
        ) -> Counterexample | None:
            cases: dict[str, Case] = {}

            def add(args: tuple[Any, ...], source: str) -> None:
                key = repr(args)
                case = cases.setdefault(key, Case(args, []))
                if source not in case.sources:
                    case.sources.append(source)

            for test in calls:
                add(tuple(test.args), "visible")
            for args in inputs:
                add(args, "llm")
            if config.inputs in ("hypothesis", "both"):
                found = await hypothesis_case(state, properties, seed)
                if found is not None:
                    add(found.args, "hypothesis")
            ordered = sorted(cases.values(), key=lambda c: _size(c.args))  # stable
            if not ordered:
                return None
            tests = tuple(
                TestCase(
                    TestKind.CALL, args=c.args, has_expected=False, source=_call_text(entry, c.args)
                )
                for c in ordered
            )
            result = await ctx.execute(
                harness(state.program, properties),
                tests,
                entry_point=_CHECKED,
                record=True,
                parent=state.node,
                label="properties",
            )
            by_index = {o.index: o for o in result.outcomes}
            for index, case in enumerate(ordered):
                outcome = by_index.get(index)
                if outcome is None or outcome.status is Status.NOT_RUN:
                    continue
                text = _call_text(entry, case.args)
                if outcome.status is Status.PASSED:
                    value = (
                        result.actual_values[index] if index < len(result.actual_values) else None
                    )
                    broken = [v for v in _violations(value) if v[1] == "violated"]
                    if broken:
                        name, _, message = broken[0]
                        returned = value[0] if isinstance(value, list) and value else None
                        return Counterexample(
                            text,
                            tuple(case.sources),
                            "property_violation",
                            name,
                            message,
                            actual=_cap(repr(returned), 500) if _plain(returned) else "",
                        )
                    continue
                if outcome.status.is_failure:
                    message = outcome.message
                    if outcome.exception:
                        message = (
                            f"{outcome.exception}: {message}" if message else outcome.exception
                        )
                    return Counterexample(
                        text,
                        tuple(case.sources),
                        feedback_kind(outcome.status),
                        "",
                        _cap(message or outcome.status.value, 700),
                        traceback=_cap(outcome.traceback, 1500),
                    )
            return None

        async def property_phase(state: _State, pass_index: int, repairs: list[int]) -> _State:
            if view.kind is not TaskKind.FUNCTION or not entry:
                ctx.record("stop", "properties need a function task", parent=state.node)
                return state
            properties = await propose_properties(state, pass_index)
            if not properties:
                ctx.record("stop", "no property held on the visible tests", parent=state.node)
                return state
            by_name = {p.name: p for p in properties}
            inputs: list[tuple[Any, ...]] = []
            if config.inputs in ("llm", "both"):
                inputs = await generate_inputs(state, pass_index)
            found: Counterexample | None = None
            searched_for = ""
            while True:
                if searched_for != state.program:
                    seed = pass_index * 1000 + repairs[0]
                    found = await counterexample(state, properties, inputs, seed)
                    searched_for = state.program
                if found is None:
                    ctx.record(
                        "stop",
                        "no input breaks a property",
                        parent=state.node,
                        pass_index=pass_index,
                    )
                    return state
                if repairs[0] >= config.repairs:
                    ctx.record("stop", "repairs used up", parent=state.node, pass_index=pass_index)
                    return state
                cx = ctx.record(
                    "counterexample",
                    found.case_text,
                    parent=state.node,
                    source=found.sources[0],
                    sources=list(found.sources),
                    failure=found.kind,
                    property=found.prop,
                    message=found.message,
                    pass_index=pass_index,
                )
                shown = []
                if found.prop in by_name:
                    shown.append(by_name[found.prop])
                shown += [p for p in properties if p.name != found.prop]
                structured = [
                    {
                        "name": p.name,
                        "reason": p.reason,
                        "checker": p.checker,
                        "assertion_message": found.message if p.name == found.prop else "",
                    }
                    for p in shown
                ]
                item = Feedback(
                    kind=found.kind,
                    test=found.case_text,
                    message=f"{found.prop}: {found.message}" if found.prop else found.message,
                    actual=found.actual,
                    traceback=found.traceback,
                )
                text = render_property_feedback(item, structured)
                feedback = ctx.record(
                    "feedback",
                    text,
                    parent=cx,
                    source=found.sources[0],
                    sources=list(found.sources),
                    failure=found.kind,
                    property=found.prop,
                    pass_index=pass_index,
                )
                repairs[0] += 1
                candidate = await repair(
                    state, text, feedback, pass_index=pass_index, source=found.sources[0]
                )
                gate = await visible_run(candidate.program, candidate.node, "public gate")
                if gate is not None and not gate.passed:
                    ctx.record(
                        "revert",
                        "the repair fails a visible test: reverted to the program it repaired",
                        parent=candidate.node,
                        pass_index=pass_index,
                    )
                    continue
                state = candidate
                publish(state)

        async def body() -> None:
            completion = await ask(SYSTEM_CODER, _code_text(view.prompt, entry), "code")
            extracted, node = record_program(ctx, completion, "chat", role="generator")
            state = _State(extracted.code, completion.text, node)
            publish(state)
            for pass_index in range(config.passes):
                repairs = [0]
                passing = await public_phase(state, pass_index, repairs)
                if passing is None:
                    continue
                state = passing
                publish(state)
                state = await property_phase(state, pass_index, repairs)

        return await run_guarded(ctx, answers, body)

    return solve


make_pgs.settings = PgsSettings  # type: ignore[attr-defined]


def _visible_size(test: TestCase) -> int:
    if test.kind is TestKind.CALL:
        return _size(test.args)
    if test.kind is TestKind.STDIO:
        return len(test.stdin)
    return len(test.code)


def _violations(value: Any) -> list[tuple[str, str, str]]:
    """The [name, kind, message] triples of a harness's [result, violations] value."""
    if not isinstance(value, list) or len(value) != 2 or not isinstance(value[1], list):
        return []
    found: list[tuple[str, str, str]] = []
    for entry in value[1]:
        if isinstance(entry, list) and len(entry) == 3 and all(isinstance(x, str) for x in entry):
            found.append((entry[0], entry[1], entry[2]))
    return found


def _valid_inputs(
    result: ExecResult, signature: Signature, calls: Sequence[TestCase]
) -> tuple[list[tuple[Any, ...]], int]:
    """The distinct valid argument lists a generator's run returned, and how many results
    were not one (not a list, an opaque object, a wrong number of arguments, too large)."""
    arities = {len(t.args) for t in calls}
    inputs: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    rejected = 0
    for outcome, value in zip(result.outcomes, result.actual_values, strict=False):
        if outcome.status is not Status.PASSED:
            continue
        if not isinstance(value, list | tuple) or not _plain(value):
            rejected += 1
            continue
        count = len(value)
        fits = signature.accepts(count) if signature.names else (not arities or count in arities)
        key = repr(tuple(value))
        if not fits or len(key) > _INPUT_REPR_CAP:
            rejected += 1
            continue
        if key not in seen:
            seen.add(key)
            inputs.append(tuple(value))
    return inputs, rejected
