"""`llamacpp:PATH.gguf`: llama-cpp-python in process (`pip install 'codeloop[llamacpp]'`).

Chat requests go to `create_chat_completion` (the GGUF's own chat template), prompt requests
to `create_completion`.  llama.cpp makes one sample per call, so n samples are n calls, run
one after another in a worker thread; with a fixed seed, sample i uses seed + i so that the
samples differ.  Usage comes from each response.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anyio

from codeloop.models.base import (
    MissingDependency,
    ModelRequestError,
    Stopwatch,
    apply_stop,
    check_request,
    split_usage,
)
from codeloop.types import Completion, GenerationRequest

__all__ = ["LlamaCppBackend"]


class LlamaCppBackend:
    """A GGUF model through llama-cpp-python; see the module docstring."""

    def __init__(
        self,
        path: str,
        *,
        n_ctx: int = 4096,
        n_gpu_layers: int = 0,
        llm: Any = None,
        **options: Any,
    ) -> None:
        self.name = f"llamacpp:{path}"
        if llm is None:
            try:
                import llama_cpp
            except ImportError as error:
                raise MissingDependency("llama-cpp-python", "llamacpp", "llamacpp") from error
            model_path = Path(path).expanduser()
            if not model_path.is_file():
                raise ModelRequestError(f"llamacpp: no such model file: {model_path}")
            llm = llama_cpp.Llama(
                model_path=str(model_path),
                n_ctx=n_ctx,
                n_gpu_layers=n_gpu_layers,
                verbose=False,
                **options,
            )
        self.llm = llm
        self._lock = threading.Lock()

    def _one(self, request: GenerationRequest, index: int) -> Completion:
        s = request.sampling
        options: dict[str, Any] = {
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_tokens,
            "stop": list(s.stop),
        }
        if s.seed is not None:
            options["seed"] = s.seed + index
        with Stopwatch() as sw:
            if request.messages is not None:
                messages = [{"role": m.role, "content": m.content} for m in request.messages]
                response = self.llm.create_chat_completion(messages=messages, **options)
                choice = response["choices"][0]
                raw = (choice.get("message") or {}).get("content") or ""
            else:
                response = self.llm.create_completion(prompt=request.prompt, **options)
                choice = response["choices"][0]
                raw = choice.get("text") or ""
        text, cut = apply_stop(raw, s.stop)
        usage = response.get("usage") or {}
        (share,) = split_usage(
            1,
            prompt_tokens=int(usage.get("prompt_tokens", 0) or 0),
            completion_tokens=int(usage.get("completion_tokens", 0) or 0),
            latency_s=sw.seconds,
        )
        reason = "stop" if cut else str(choice.get("finish_reason") or "")
        return Completion(text=text, finish_reason=reason, usage=share)

    def _generate(self, request: GenerationRequest) -> list[Completion]:
        with self._lock:
            return [self._one(request, i) for i in range(request.n)]

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        check_request(request)
        return await anyio.to_thread.run_sync(self._generate, request)

    async def aclose(self) -> None:
        llm, self.llm = self.llm, None
        close = getattr(llm, "close", None)
        if close is not None:
            close()
