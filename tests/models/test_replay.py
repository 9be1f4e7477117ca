"""replay: recorded samples per task, from JSONL files and the CodeT folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeloop.models import ModelRequestError, ReplayBackend, load_backend, total_usage
from codeloop.tasks.paths import shared_data_dir
from codeloop.types import GenerationRequest

pytestmark = pytest.mark.anyio

SHARED = shared_data_dir()
CODET = SHARED / "codet" if SHARED is not None else Path("/nonexistent/codet")


def req(task_id: str | None, n: int = 1, purpose: str = "code") -> GenerationRequest:
    return GenerationRequest(prompt="ignored", n=n, task_id=task_id, purpose=purpose)


@pytest.fixture
def recording(tmp_path):
    path = tmp_path / "rec.jsonl"
    rows = [
        {"task_id": "T/0", "completions": ["a0", "a1", "a2"]},
        {"task_id": "T/1", "completion": "b0"},
        {"task_id": "T/1", "completion": "b1"},
        {"task_id": "T/0", "purpose": "tests", "completions": ["assert f(1) == 1"]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


async def test_jsonl_samples_in_recorded_order_with_a_cursor(recording):
    backend = load_backend(f"replay:{recording}")
    assert backend.name == f"replay:{recording}"
    assert [c.text for c in await backend.generate(req("T/0", n=2))] == ["a0", "a1"]
    assert [c.text for c in await backend.generate(req("T/0"))] == ["a2"]
    with pytest.raises(
        ModelRequestError, match="3 recorded 'code' samples; 3 already served, 1 more"
    ):
        await backend.generate(req("T/0"))
    # lines for one task are concatenated
    assert [c.text for c in await backend.generate(req("T/1", n=2))] == ["b0", "b1"]
    assert [c.text for c in await backend.generate(req("T/0", purpose="tests"))] == [
        "assert f(1) == 1"
    ]
    backend.reset()
    assert [c.text for c in await backend.generate(req("T/0"))] == ["a0"]


async def test_other_purposes_get_code_and_usage_counts_calls(recording):
    backend = ReplayBackend(recording)
    out = await backend.generate(req("T/1", n=2, purpose="reflection"))
    assert [c.text for c in out] == ["b0", "b1"]
    total = total_usage(out)
    assert (total.calls, total.tokens) == (1, 0)


async def test_unknown_and_missing_task_ids(recording):
    backend = ReplayBackend(recording)
    with pytest.raises(ModelRequestError, match="set request.task_id"):
        await backend.generate(req(None))
    with pytest.raises(ModelRequestError, match="no recording for task 'X/1'.*2 tasks"):
        await backend.generate(req("X/1"))
    with pytest.raises(ModelRequestError, match="no recorded 'tests'"):
        await backend.generate(req("T/1", purpose="tests"))


def test_bad_paths(tmp_path):
    with pytest.raises(ModelRequestError, match="no such file"):
        ReplayBackend(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "T", "oops": 1}\n')
    with pytest.raises(ModelRequestError, match="neither"):
        ReplayBackend(bad)
    codet_like = tmp_path / "gen.jsonl"
    codet_like.write_text('{"prompt": "p", "samples": ["s"]}\n')
    with pytest.raises(ModelRequestError, match="CodeT folder"):
        ReplayBackend(codet_like)


def write_codet(folder: Path, model: str = "m") -> None:
    tasks = [{"task_id": f"H/{i}", "prompt": f"def f{i}():\n"} for i in range(2)]
    tests = [{"task_id": f"H/{i}", "prompt": f"def f{i}():\n    pass\n\nassert "} for i in range(2)]
    (folder / "H_for_code_generation.jsonl").write_text(
        "".join(json.dumps(t) + "\n" for t in tasks)
    )
    (folder / "H_for_test_case_generation.jsonl").write_text(
        "".join(json.dumps(t) + "\n" for t in tests)
    )
    # generated files list prompts in another order than the task files
    (folder / f"H_{model}_code_solution.jsonl").write_text(
        "".join(
            json.dumps({"prompt": t["prompt"], "samples": [f"code{i}-{k}" for k in range(3)]})
            + "\n"
            for i, t in reversed(list(enumerate(tasks)))
        )
    )
    (folder / f"H_{model}_test_case.jsonl").write_text(
        "".join(
            json.dumps({"prompt": t["prompt"], "samples": [f"test{i}-{k}" for k in range(2)]})
            + "\n"
            for i, t in enumerate(tests)
        )
    )


async def test_codet_folder_layout_joins_on_prompt(tmp_path):
    write_codet(tmp_path)
    backend = load_backend(f"replay:{tmp_path}")
    assert backend.task_ids == ["H/0", "H/1"]
    assert [c.text for c in await backend.generate(req("H/1", n=3))] == [
        "code1-0",
        "code1-1",
        "code1-2",
    ]
    assert [c.text for c in await backend.generate(req("H/1", n=2, purpose="tests"))] == [
        "test1-0",
        "test1-1",
    ]
    assert backend.recorded_prompt("H/0") == "def f0():\n"
    assert backend.recorded_prompt("H/0", "tests").endswith("assert ")


def test_codet_folder_with_several_models_asks_to_name_one(tmp_path):
    write_codet(tmp_path, "a")
    write_codet(tmp_path, "b")
    with pytest.raises(ModelRequestError, match="several models"):
        ReplayBackend(tmp_path)
    backend = ReplayBackend(tmp_path / "H_b_code_solution.jsonl")
    assert backend.recorded("H/0") == ["code0-0", "code0-1", "code0-2"]
    assert backend.recorded("H/0", "tests") == ["test0-0", "test0-1"]


def test_codet_prompts_without_task_files_are_explained(tmp_path):
    write_codet(tmp_path)
    (tmp_path / "H_for_code_generation.jsonl").unlink()
    with pytest.raises(ModelRequestError, match="for_code_generation"):
        ReplayBackend(tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not CODET.is_dir(), reason=f"CodeT data not found at {CODET}")
async def test_real_codet_recordings():
    backend = load_backend(f"replay:{CODET}")
    assert len(backend.task_ids) == 164
    code = await backend.generate(req("HumanEval/0", n=100))
    tests = await backend.generate(req("HumanEval/0", n=100, purpose="tests"))
    assert len(code) == len(tests) == 100
    # raw samples, served as recorded: a continuation of the CodeT prompt
    assert code[0].text.startswith("    for i in range(len(numbers)):")
    assert backend.recorded_prompt("HumanEval/0").startswith("from typing import List")
    assert backend.recorded_prompt("HumanEval/0", "tests").rstrip().endswith("assert")
    with pytest.raises(ModelRequestError, match="100 recorded 'code' samples"):
        await backend.generate(req("HumanEval/0"))
    # a path relative to the shared data folder works too
    assert load_backend("replay:codet").task_ids == backend.task_ids


# ------------------------------------------------------------ the form it declares


def test_a_recording_declares_completions_and_wrappers_pass_it_on(recording, tmp_path):
    from codeloop.models import CachedBackend, MockBackend, declared_prompt_mode

    replay = ReplayBackend(recording)
    assert replay.prompt_mode == "completion"
    assert declared_prompt_mode(replay) == "completion"
    assert declared_prompt_mode(ReplayBackend(recording, prompt_mode="chat")) == "chat"
    with pytest.raises(ModelRequestError, match="prompt_mode 'both'"):
        ReplayBackend(recording, prompt_mode="both")  # type: ignore[arg-type]

    cached = CachedBackend(replay, tmp_path / "cache.sqlite")
    assert declared_prompt_mode(cached) == "completion"  # through the cache

    class Metered:  # as the run wraps each task's backend
        def __init__(self, backend):
            self.backend = backend
            self.name = backend.name

    assert declared_prompt_mode(Metered(cached)) == "completion"
    # the name decides nothing: a mock called replay:... declares nothing
    assert declared_prompt_mode(MockBackend(["x"], name="replay:fake")) is None
    assert declared_prompt_mode(MockBackend(["x"], prompt_mode="completion")) == "completion"

    class Loop:  # a wrapper that wraps itself is not followed forever
        prompt_mode = None

    loop = Loop()
    loop.backend = loop  # type: ignore[attr-defined]
    assert declared_prompt_mode(loop) is None


def test_a_replay_run_sends_bare_prompts_through_the_run_and_the_cache(tmp_path):
    """Recorded continuations score only as continuations of the prompt: the run loop's
    wrappers keep what the recording declares.  (A replay is never put behind the response
    cache: its answers follow the order of the calls.)"""
    from typer.testing import CliRunner

    from codeloop.cli import app

    task = {
        "task_id": "demo/add",
        "prompt": "def add(a, b):\n",
        "entry_point": "add",
        "tests": [{"input": [1, 2], "output": 3}, {"input": [2, 2], "output": 4}],
    }
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(task) + "\n")
    recorded = tmp_path / "recorded.jsonl"
    # a continuation passes only when cut at the stop sequences ("\nif"): as a chat answer,
    # the whole text is the program and `add` ends up None
    continuation = "    return a + b\n\nif True:\n    add = None\n"
    recorded.write_text(json.dumps({"task_id": "demo/add", "completion": continuation}))

    def run(*extra: str) -> dict:
        out = tmp_path / "out.json"
        args = ["run", str(tasks), "--model", f"replay:{recorded}", "--k", "1"]
        args += ["--cache", str(tmp_path / "cache.sqlite"), "--json", str(out), *extra]
        result = CliRunner().invoke(app, args)
        assert result.exit_code in (0, 1), result.output
        return json.loads(out.read_text())

    first = run()
    assert first["pass_at_k"] == {"1": 1.0} and first["cost"]["cached_calls"] == 0
    again = run()  # with --cache given: still served by the recording, not the cache
    assert again["pass_at_k"] == {"1": 1.0} and again["cost"]["cached_calls"] == 0
    assert not (tmp_path / "cache.sqlite").exists()
    as_chat = run("--model-option", "prompt_mode=chat", "--no-cache")
    assert as_chat["pass_at_k"] == {"1": 0.0}


# ------------------------------------------------------------------ recorded trajectories


@pytest.fixture
def trajectory(tmp_path):
    path = tmp_path / "results.jsonl"
    rows = [
        {"task_id": "T/0", "implementations": ["seed0", "fix1", "fix2"], "is_solved": True},
        {"task_id": "T/1", "implementations": ["only"], "test_feedback": [[]]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


async def test_ldb_results_serve_programs_in_order_and_mark_unrecorded_answers(trajectory):
    backend = load_backend(f"replay:{trajectory}")
    assert backend.task_ids == ["T/0", "T/1"]
    [seed] = await backend.generate(req("T/0", purpose="code"))
    assert (seed.text, seed.finish_reason) == ("seed0", "replay")
    [verdict] = await backend.generate(req("T/0", purpose="verdict"))
    assert (verdict.text, verdict.finish_reason) == ("", "not_recorded")
    assert [c.text for c in await backend.generate(req("T/0", purpose="repair"))] == ["fix1"]
    assert [c.text for c in await backend.generate(req("T/0", purpose="repair"))] == ["fix2"]
    # the verdict never moves the program cursor; past the trajectory is an error
    [again] = await backend.generate(req("T/0", purpose="verdict"))
    assert again.finish_reason == "not_recorded"
    with pytest.raises(ModelRequestError, match="3 recorded programs .*3 already served"):
        await backend.generate(req("T/0", purpose="repair"))
    # each task has its own cursor
    assert [c.text for c in await backend.generate(req("T/1"))] == ["only"]
    assert backend.recorded("T/0", "repair") == ["seed0", "fix1", "fix2"]
    backend.reset()
    assert [c.text for c in await backend.generate(req("T/0", purpose="code"))] == ["seed0"]


def test_ldb_results_with_a_bad_implementations_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"task_id": "T/0", "implementations": "not a list"}) + "\n")
    with pytest.raises(ModelRequestError, match="not a list"):
        ReplayBackend(path)


LDB_GPT35 = (
    SHARED if SHARED is not None else Path("/nonexistent")
) / "llmdebugger/results/ldb/humaneval/gpt-3.5-turbo-0613/results.jsonl"


@pytest.mark.skipif(not LDB_GPT35.is_file(), reason=f"LDB results not found at {LDB_GPT35}")
async def test_real_ldb_results_file():
    path = LDB_GPT35
    backend = ReplayBackend(path)
    assert len(backend.task_ids) == 164
    rows = {json.loads(line)["task_id"]: json.loads(line) for line in path.open()}
    programs = backend.recorded("HumanEval/97")
    assert programs == rows["HumanEval/97"]["implementations"] and len(programs) == 3
    [first] = await backend.generate(req("HumanEval/97"))
    assert first.text == programs[0]


async def test_a_cached_replay_still_serves_a_repeated_request_the_next_program(
    trajectory, tmp_path
):
    """Replay answers by call order: a response cache would answer the second identical
    repair request with the first one's program without moving the cursor, and shift
    every later answer.  `load_backend(..., cache=...)` leaves a replay uncached."""
    backend = load_backend(f"replay:{trajectory}", cache=tmp_path / "cache.sqlite")
    assert backend.cacheable is False and not hasattr(backend, "hits")
    repair = req("T/0", purpose="repair")
    served = [(await backend.generate(repair))[0].text for _ in range(3)]
    assert served == ["seed0", "fix1", "fix2"]
