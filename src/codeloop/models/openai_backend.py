"""`openai:MODEL[@BASE_URL]`: OpenAI and any OpenAI-compatible server, via the official SDK.

- Chat requests go to /chat/completions, prompt requests to /completions.
- `n > 1`: asked for in one call; a server that returns fewer choices (llama.cpp's server
  ignores `n`) gets further calls until n are collected, concurrently, one sample each, and
  the backend remembers that this server ignores `n`.  With a fixed seed, call k of the
  emulation uses seed + k so that the samples differ.
- Retries with exponential backoff and jitter on connection errors, timeouts, 408, 409,
  429 and 5xx only; any other 4xx is a `ModelRequestError` at once.  After the retries a
  `ModelUnavailable` names the URL and how to fix it.
- A refusal because the prompt does not fit the model's context (OpenAI's, vLLM's,
  SGLang's, llama.cpp's or TGI's wording) is a `ModelContextExceeded` with the lengths the
  server gave.
- At most `max_concurrency` requests in flight (default 8).
- The key: `api_key=`, else CODELOOP_API_KEY, else OPENAI_API_KEY, else "EMPTY" for a
  base URL other than OpenAI's (local servers accept anything).
- Usage from the response; latency measured per call; cost from the price table for
  OpenAI's own models (None for any other server).
- Stop sequences are also applied to the returned text, so more than the 4 that OpenAI
  accepts can be given (the first 4 are sent).
"""

from __future__ import annotations

import math
import os
import random
import re
from typing import Any

import anyio

from codeloop.models.base import (
    DEFAULT_PRICES,
    ModelContextExceeded,
    ModelError,
    ModelRequestError,
    ModelUnavailable,
    Price,
    PriceTable,
    Stopwatch,
    apply_stop,
    check_request,
    split_usage,
)
from codeloop.types import Completion, GenerationRequest, Sampling

__all__ = ["OpenAIBackend", "OPENAI_BASE_URL"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
RETRYABLE_STATUS = frozenset({408, 409, 429})
OPENAI_MAX_STOP = 4


# How OpenAI-compatible servers say that a prompt does not fit the model's context.
CONTEXT_STATUS = frozenset({400, 413, 422})
CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
CONTEXT_WORDING = re.compile(
    r"context[ _]?(length|size|window)|maximum context|`inputs` tokens \+ `max_new_tokens`",
    re.IGNORECASE,
)
# The lengths, where the text gives them (named groups: prompt, completion, context).
CONTEXT_NUMBERS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        # OpenAI, vLLM
        r"maximum context length is (?P<context>\d+)",
        r"\((?P<prompt>\d+) in the messages, (?P<completion>\d+) in the completion\)",
        r"(?:messages|prompt) resulted in (?P<prompt>\d+) tokens",
        r"requested (?P<completion>\d+) output tokens and your prompt contains at least "
        r"(?P<prompt>\d+) input tokens",
        r"prompt \(total length (?P<prompt>\d+)\) is too long to fit into the model "
        r"\(context length (?P<context>\d+)\)",
        # SGLang
        r"input \((?P<prompt>\d+) tokens\) is longer than the model's context length "
        r"\((?P<context>\d+) tokens\)",
        # TGI
        r"must be <= (?P<context>\d+)\. Given: (?P<prompt>\d+) `inputs` tokens and "
        r"(?P<completion>\d+) `max_new_tokens`",
    )
)


def context_exceeded(
    name: str, status: int, body: object, text: str
) -> ModelContextExceeded | None:
    """The refusal as a `ModelContextExceeded` when it says the prompt does not fit the
    model's context, else None.  `body` is the JSON error object, `text` its message."""
    if status not in CONTEXT_STATUS:
        return None
    fields = body if isinstance(body, dict) else {}
    codes = {str(fields.get("code")), str(fields.get("type"))}
    if not (codes & CONTEXT_CODES or CONTEXT_WORDING.search(text)):
        return None
    lengths: dict[str, int] = {}
    for pattern in CONTEXT_NUMBERS:
        found = pattern.search(text)
        if found:
            for key, value in found.groupdict().items():
                lengths.setdefault(key, int(value))
    # llama.cpp's server gives them as fields
    for key, field in (("prompt", "n_prompt_tokens"), ("context", "n_ctx")):
        if isinstance(fields.get(field), int):
            lengths.setdefault(key, fields[field])
    return ModelContextExceeded(
        name,
        prompt_tokens=lengths.get("prompt"),
        context_tokens=lengths.get("context"),
        completion_tokens=lengths.get("completion"),
        detail=text,
    )


def _is_openai(base_url: str | None) -> bool:
    return base_url is None or base_url.rstrip("/") == OPENAI_BASE_URL


def _normalise_url(url: str) -> str:
    if "://" not in url:
        url = "http://" + url
    return url.rstrip("/")


class _Attempt(Exception):
    """A failed attempt worth retrying; carries the SDK error."""

    def __init__(self, error: Exception, delay_hint: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.delay_hint = delay_hint


class OpenAIBackend:
    """OpenAI-compatible HTTP backend; see the module docstring."""

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        max_concurrency: int = 8,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        timeout_s: float = 600.0,
        prices: PriceTable = DEFAULT_PRICES,
        client: Any = None,
    ) -> None:
        if not model:
            raise ModelRequestError("openai: a model name is needed, e.g. openai:gpt-4o-mini")
        self.model = model
        self.base_url = None if base_url is None else _normalise_url(base_url)
        self.url = self.base_url or OPENAI_BASE_URL
        self.name = f"openai:{model}" + (f"@{self.base_url}" if self.base_url else "")
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.official = _is_openai(self.base_url)
        self.price: Price | None = prices.lookup(model) if self.official else None
        self.n_supported = True  # set False once the server is seen ignoring n
        self._semaphore = anyio.Semaphore(max_concurrency)
        if client is None:
            key = api_key or os.environ.get("CODELOOP_API_KEY") or os.environ.get("OPENAI_API_KEY")
            if not key:
                if self.official:
                    raise ModelRequestError(
                        f"openai:{model} needs an API key: set OPENAI_API_KEY (or "
                        "CODELOOP_API_KEY), or name a local server with "
                        f"openai:{model}@http://127.0.0.1:8000/v1"
                    )
                key = "EMPTY"
            import openai

            client = openai.AsyncOpenAI(
                api_key=key, base_url=self.url, max_retries=0, timeout=timeout_s
            )
        self._client = client

    # ----------------------------------------------------------------------- public

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        check_request(request)
        results: list[Completion] = []
        calls = 0
        while len(results) < request.n:
            missing = request.n - len(results)
            if self.n_supported or missing == 1:
                got = await self._call(request, missing, calls)
                calls += 1
                results.extend(got)
                if missing > 1 and len(got) == 1:
                    self.n_supported = False  # e.g. llama.cpp's server
                continue
            results.extend(await self._one_sample_each(request, missing, calls))
            calls += missing
        return results[: request.n]

    async def _one_sample_each(
        self, request: GenerationRequest, count: int, first_call: int
    ) -> list[Completion]:
        """For a server that ignores n: `count` calls of one sample, all concurrently."""
        batch: list[list[Completion]] = [[] for _ in range(count)]
        errors: list[ModelError] = []

        async def one(slot: int) -> None:
            try:
                batch[slot] = await self._call(request, 1, first_call + slot)
            except ModelError as error:
                errors.append(error)

        async with anyio.create_task_group() as group:
            for slot in range(count):
                group.start_soon(one, slot)
        if errors:
            raise errors[0]
        return [completion for got in batch for completion in got]

    async def aclose(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            await close()

    # ---------------------------------------------------------------------- one call

    def _arguments(self, request: GenerationRequest, n: int, call_index: int) -> dict[str, Any]:
        sampling: Sampling = request.sampling
        args: dict[str, Any] = {
            "model": self.model,
            "n": n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        if sampling.stop:
            stop = list(sampling.stop)
            args["stop"] = stop[:OPENAI_MAX_STOP] if self.official else stop
        if sampling.seed is not None:
            args["seed"] = sampling.seed + call_index
        if request.messages is not None:
            args["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
            key = "max_completion_tokens" if self.official else "max_tokens"
            args[key] = sampling.max_tokens
        else:
            args["prompt"] = request.prompt
            args["max_tokens"] = sampling.max_tokens
        return args

    async def _call(self, request: GenerationRequest, n: int, call_index: int) -> list[Completion]:
        args = self._arguments(request, n, call_index)
        attempt = 0
        while True:
            try:
                async with self._semaphore:
                    with Stopwatch() as sw:
                        response = await self._send(request, args)
                return self._completions(request, response, sw.seconds)
            except _Attempt as failed:
                if attempt >= self.max_retries:
                    raise self._unavailable(failed.error, attempt + 1) from failed.error
                delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
                delay *= 0.5 + random.random()
                if failed.delay_hint is not None:
                    delay = max(delay, min(self.max_backoff_s, failed.delay_hint))
                attempt += 1
                await anyio.sleep(delay)

    async def _send(self, request: GenerationRequest, args: dict[str, Any]) -> Any:
        import openai

        try:
            if request.messages is not None:
                return await self._client.chat.completions.create(**args)
            return await self._client.completions.create(**args)
        except openai.APIConnectionError as error:  # includes timeouts
            raise _Attempt(error) from error
        except openai.APIStatusError as error:
            status = error.status_code
            if status in RETRYABLE_STATUS or status >= 500:
                raise _Attempt(error, _retry_after(error)) from error
            body = error.body
            text = body.get("message") if isinstance(body, dict) else None
            overflow = context_exceeded(
                self.name, status, body, text if isinstance(text, str) else str(error)
            )
            if overflow is not None:
                raise overflow from error
            raise ModelRequestError(self._refusal(status, error)) from error
        except openai.APIError as error:  # e.g. a response that is not what the API promises
            raise ModelRequestError(
                f"{self.name}: bad response from {self.url}: {error}"
            ) from error

    def _refusal(self, status: int, error: Exception) -> str:
        detail = str(error)
        if status in (401, 403):
            fix = "check the API key (OPENAI_API_KEY or CODELOOP_API_KEY)"
        elif status == 404:
            fix = f"is {self.model!r} a model that {self.url} serves?"
        else:
            fix = "the server refused the request"
        return f"{self.name}: HTTP {status} from {self.url}: {fix}: {detail}"

    def _unavailable(self, error: Exception, attempts: int) -> ModelError:
        import openai

        if isinstance(error, openai.APIStatusError):
            what = f"kept failing with HTTP {error.status_code} ({error})"
            question = "is the server healthy and serving /v1?"
        else:
            what = f"could not be reached ({type(error).__name__}: {error})"
            question = f"is a server listening at {self.url}?"
        if self.official:
            fix = "check your network connection and https://status.openai.com"
        else:
            fix = (
                f"{question}  Start one (e.g. `vllm serve MODEL`, "
                "`llama-server -m MODEL.gguf --port 8000`, `ollama serve`) or point "
                "--model at it: openai:MODEL@http://HOST:PORT/v1"
            )
        return ModelUnavailable(f"{self.url} {what} after {attempts} attempts: {fix}")

    def _completions(
        self, request: GenerationRequest, response: Any, latency: float
    ) -> list[Completion]:
        choices = sorted(response.choices or [], key=lambda c: getattr(c, "index", 0) or 0)
        if not choices:
            raise ModelRequestError(f"{self.name}: the server returned no choices")
        texts: list[str] = []
        reasons: list[str] = []
        for choice in choices:
            if request.messages is not None:
                raw = choice.message.content if choice.message is not None else None
            else:
                raw = choice.text
            text, cut = apply_stop(raw or "", request.sampling.stop)
            texts.append(text)
            reasons.append("stop" if cut else str(choice.finish_reason or ""))
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        shares = split_usage(
            len(choices),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=latency,
            price=self.price,
        )
        return [
            Completion(text=t, finish_reason=r, usage=u)
            for t, r, u in zip(texts, reasons, shares, strict=True)
        ]


def _retry_after(error: Any) -> float | None:
    """Seconds from a Retry-After header, when the server sent one."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
