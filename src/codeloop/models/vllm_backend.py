"""`vllm:MODEL`: vLLM in process, for GPU batch work.

(For a vLLM *server*, use `openai:MODEL@http://HOST:PORT/v1`.)

vLLM is fastest when it sees many prompts at once, and a strategy run sends one request per
task, concurrently.  So requests that arrive together are gathered into one batch (a short
window, `batch_window_s`, after the first) and sent as one `LLM.generate(prompts,
[SamplingParams...])` call in a worker thread; each request gets its own sampling
parameters (n, temperature, top_p, max_tokens, stop, seed).  Chat requests are rendered with
the tokenizer's chat template (a plain "Role: text" rendering when it has none).  Usage:
prompt tokens, completion tokens per sample, and the batch's wall time as each request's
latency.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from codeloop.models.base import (
    MissingDependency,
    Stopwatch,
    apply_stop,
    check_request,
    render_plain_chat,
    split_usage,
)
from codeloop.types import Completion, GenerationRequest

__all__ = ["MicroBatcher", "VLLMBackend"]

BatchFn = Callable[[list[GenerationRequest]], list[list[Completion]]]


@dataclass
class _Pending:
    request: GenerationRequest
    done: anyio.Event = field(default_factory=anyio.Event)
    result: list[Completion] | None = None
    error: BaseException | None = None


class MicroBatcher:
    """Gathers concurrent requests into batches for a blocking `run(requests)` function.

    No background task: the first caller to find no batch in flight leads one.  It waits
    `window_s`, takes every pending request, runs the batch in a worker thread and hands out
    the results; callers that arrived meanwhile wait for the next round.
    """

    def __init__(self, run: BatchFn, *, window_s: float = 0.01, max_batch: int = 1024) -> None:
        self.run = run
        self.window_s = window_s
        self.max_batch = max_batch
        self.batches: list[int] = []  # sizes of the batches run, for tests and stats
        self._pending: list[_Pending] = []
        self._busy = False
        self._round = anyio.Event()

    async def submit(self, request: GenerationRequest) -> list[Completion]:
        item = _Pending(request)
        self._pending.append(item)
        while not item.done.is_set():
            if self._busy:
                await self._round.wait()
                continue
            self._busy = True
            try:
                await anyio.sleep(self.window_s)
                batch = self._pending[: self.max_batch]
                del self._pending[: len(batch)]
                await self._run(batch)
            finally:
                self._busy = False
                finished, self._round = self._round, anyio.Event()
                finished.set()
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    async def _run(self, batch: list[_Pending]) -> None:
        self.batches.append(len(batch))
        try:
            results = await anyio.to_thread.run_sync(self.run, [p.request for p in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch of {len(batch)} gave {len(results)} results")
        except Exception as error:
            for pending in batch:
                pending.error = error
                pending.done.set()
            return
        for pending, result in zip(batch, results, strict=True):
            pending.result = result
            pending.done.set()


class VLLMBackend:
    """vLLM `LLM` in process; see the module docstring."""

    def __init__(
        self,
        model: str,
        *,
        llm: Any = None,
        batch_window_s: float = 0.01,
        **engine_options: Any,
    ) -> None:
        self.name = f"vllm:{model}"
        try:
            import vllm
        except ImportError as error:
            if llm is None:
                raise MissingDependency("vllm", "vllm", "vllm") from error
            vllm = None
        self._vllm = vllm
        self.llm = llm if llm is not None else vllm.LLM(model=model, **engine_options)
        self._batcher = MicroBatcher(self._run_batch, window_s=batch_window_s)

    def _sampling_params(self, request: GenerationRequest) -> Any:
        s = request.sampling
        options: dict[str, Any] = {
            "n": request.n,
            "temperature": s.temperature,
            "top_p": s.top_p if s.temperature > 0 else 1.0,
            "max_tokens": s.max_tokens,
            "stop": list(s.stop),
            "seed": s.seed,
        }
        factory = self._vllm.SamplingParams if self._vllm is not None else dict
        return factory(**options)

    def _prompt(self, request: GenerationRequest) -> str:
        if request.prompt is not None:
            return request.prompt
        messages = request.messages or ()
        tokenizer = self.llm.get_tokenizer()
        if getattr(tokenizer, "chat_template", None):
            return str(
                tokenizer.apply_chat_template(
                    [{"role": m.role, "content": m.content} for m in messages],
                    tokenize=False,
                    add_generation_prompt=True,
                )
            )
        return render_plain_chat(messages)

    def _run_batch(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        prompts = [self._prompt(r) for r in requests]
        params = [self._sampling_params(r) for r in requests]
        with Stopwatch() as sw:
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
        results: list[list[Completion]] = []
        for request, output in zip(requests, outputs, strict=True):
            samples = sorted(output.outputs, key=lambda o: getattr(o, "index", 0))
            texts, reasons, counts = [], [], []
            for sample in samples:
                text, cut = apply_stop(sample.text, request.sampling.stop)
                texts.append(text)
                reasons.append("stop" if cut else str(sample.finish_reason or ""))
                counts.append(len(sample.token_ids or ()))
            usages = split_usage(
                len(samples),
                prompt_tokens=len(output.prompt_token_ids or ()),
                completion_tokens=counts,
                latency_s=sw.seconds,
            )
            results.append(
                [
                    Completion(text=t, finish_reason=r, usage=u)
                    for t, r, u in zip(texts, reasons, usages, strict=True)
                ]
            )
        return results

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        check_request(request)
        return await self._batcher.submit(request)

    async def aclose(self) -> None:
        self.llm = None
