"""The one Backend protocol, model errors, prices and small helpers every provider shares.

A backend turns a `GenerationRequest` into exactly `request.n` completions, in order.  Usage
is attached to the completions so that adding up `c.usage` over what a call returned gives
the call's cost exactly: the first completion of each underlying model call carries the
call itself (`calls=1`, prompt tokens, latency), completion tokens go to the sample that
produced them (or are spread evenly when a server only reports a total).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, runtime_checkable

from codeloop.types import Completion, GenerationRequest, Message, Usage

__all__ = [
    "Backend",
    "DEFAULT_PRICES",
    "MissingDependency",
    "ModelContextExceeded",
    "ModelError",
    "ModelRequestError",
    "ModelUnavailable",
    "NoModelConfigured",
    "Price",
    "PriceTable",
    "PromptMode",
    "Stopwatch",
    "apply_stop",
    "check_request",
    "declared_prompt_mode",
    "last_user_message",
    "render_plain_chat",
    "split_usage",
    "total_usage",
]


PromptMode = Literal["chat", "completion"]


@runtime_checkable
class Backend(Protocol):
    """A model.  `name` is the spec that selects it, e.g. "openai:gpt-4o-mini".

    Optional: `prompt_mode`, the request form the model serves when a strategy's `mode` is
    `auto` ("completion": it continues a bare prompt, as recorded completions do; "chat"),
    read with `declared_prompt_mode`; a wrapper (cache, metering) exposes the backend it
    wraps as `.backend`, so the declaration is found through it.
    """

    name: str

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        """Exactly `request.n` completions, in order.  Raises `ModelError` subclasses."""
        ...

    async def aclose(self) -> None:
        """Release connections, engines and files.  Safe to call twice."""
        ...


def declared_prompt_mode(backend: object) -> PromptMode | None:
    """The `prompt_mode` a backend declares, looked for through wrappers (`.backend`);
    None where none declares one."""
    for _ in range(16):  # wrappers of wrappers, but never a cycle
        mode = getattr(backend, "prompt_mode", None)
        if mode == "chat" or mode == "completion":
            return mode
        backend = getattr(backend, "backend", None)
        if backend is None:
            break
    return None


# ------------------------------------------------------------------------------- errors


class ModelError(Exception):
    """Anything that went wrong asking a model.

    `retryable` says whether the same request may succeed if sent again later (a server
    that was down, a rate limit).  Backends already retry what is worth retrying; the run
    loop uses the flag to decide between "count against the error budget and go on" and
    "stop: this will never work".
    """

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class ModelUnavailable(ModelError):
    """The server could not be reached (or kept failing) after all retries."""

    retryable = True


class ModelRequestError(ModelError):
    """The request itself was refused (HTTP 4xx, unknown task, exhausted recording...)."""

    retryable = False


class ModelContextExceeded(ModelRequestError):
    """The prompt (with the tokens asked for, where a server counts them too) does not fit
    the model's context: sending it again cannot help.  Lengths are in tokens; None where
    the model or server did not say."""

    retryable = False

    def __init__(
        self,
        model: str,
        *,
        prompt_tokens: int | None,
        context_tokens: int | None,
        completion_tokens: int | None = None,
        detail: str = "",
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.context_tokens = context_tokens
        self.completion_tokens = completion_tokens
        prompt = "of unknown length" if prompt_tokens is None else f"of {prompt_tokens} tokens"
        wanted = f" plus {completion_tokens} tokens to generate" if completion_tokens else ""
        context = "unknown" if context_tokens is None else f"{context_tokens} tokens"
        message = f"{model}: the prompt {prompt}{wanted} does not fit the model's context"
        message += f" length ({context})"
        if detail:
            message += f"; the server said: {detail}"
        super().__init__(message)


class MissingDependency(ModelError):
    """An optional package that a provider needs is not installed; the message has the fix."""

    retryable = False

    def __init__(self, package: str, extra: str, provider: str) -> None:
        self.package = package
        self.extra = extra
        self.hint = f"pip install 'codeloop[{extra}]'"
        super().__init__(
            f"the {provider!r} model provider needs the Python package {package!r}, "
            f"which is not installed: {self.hint}"
        )


NO_MODEL_HELP = """\
no model configured.  Give one of:
  --model openai:gpt-4o-mini                    (OpenAI; needs OPENAI_API_KEY)
  --model openai:MODEL@http://127.0.0.1:8000/v1 (any OpenAI-compatible server: vLLM,
                                                 SGLang, llama.cpp server, Ollama, TGI)
  --model hf:PATH_OR_NAME                       (transformers, in process)
  --model llamacpp:PATH.gguf                    (llama.cpp, in process)
  --model replay:PATH                           (recorded samples, e.g. shared/data/codet)
  --model mock:file:PATH                        (scripted answers from a .json/.jsonl file)
(mock:echo echoes the prompt back, so it always scores 0: it only exercises the pipeline)
or set the environment variable CODELOOP_MODEL to one of these strings, or set
OPENAI_API_KEY to use openai:gpt-4o-mini by default."""


class NoModelConfigured(ModelError):
    """No --model, no CODELOOP_MODEL and no OPENAI_API_KEY: the message says how to give one."""

    retryable = False

    def __init__(self, message: str = NO_MODEL_HELP) -> None:
        super().__init__(message)


# ------------------------------------------------------------------------------- prices


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per 1,000 tokens."""

    prompt_per_1k: float
    completion_per_1k: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt_per_1k + completion_tokens * self.completion_per_1k) / (
            1000.0
        )


@dataclass(frozen=True)
class PriceTable:
    """Known list prices of hosted models.  Unknown models cost `None`, never a guess.

    Dated snapshots ("gpt-4o-mini-2024-07-18") are priced as their family: the longest
    known name that the model's name starts with wins.
    """

    prices: dict[str, Price] = field(default_factory=dict)

    def lookup(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        best = max(
            (name for name in self.prices if model.startswith(name + "-")), key=len, default=None
        )
        return self.prices[best] if best is not None else None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.lookup(model)
        return None if price is None else price.cost(prompt_tokens, completion_tokens)


def _per_million(prompt: float, completion: float) -> Price:
    return Price(prompt / 1000.0, completion / 1000.0)


# OpenAI list prices (USD per 1M tokens, standard tier), as published in 2025.
DEFAULT_PRICES = PriceTable(
    {
        "gpt-4o-mini": _per_million(0.15, 0.60),
        "gpt-4o": _per_million(2.50, 10.00),
        "gpt-4.1": _per_million(2.00, 8.00),
        "gpt-4.1-mini": _per_million(0.40, 1.60),
        "gpt-4.1-nano": _per_million(0.10, 0.40),
        "gpt-4-turbo": _per_million(10.00, 30.00),
        "gpt-4": _per_million(30.00, 60.00),
        "gpt-3.5-turbo": _per_million(0.50, 1.50),
        "o1": _per_million(15.00, 60.00),
        "o1-mini": _per_million(1.10, 4.40),
        "o3": _per_million(2.00, 8.00),
        "o3-mini": _per_million(1.10, 4.40),
        "o4-mini": _per_million(1.10, 4.40),
    }
)


# ------------------------------------------------------------------------------ helpers


def check_request(request: GenerationRequest) -> None:
    """Refuse malformed requests the same way in every provider."""
    if (request.messages is None) == (request.prompt is None):
        raise ModelRequestError("a GenerationRequest needs exactly one of `messages` or `prompt`")
    if request.messages is not None and not request.messages:
        raise ModelRequestError("a chat request needs at least one message")
    if request.n < 1:
        raise ModelRequestError(f"n must be at least 1, not {request.n}")


def last_user_message(request: GenerationRequest) -> str:
    """The prompt of a completion request, or the last user message of a chat."""
    if request.prompt is not None:
        return request.prompt
    for message in reversed(request.messages or ()):
        if message.role == "user":
            return message.content
    return request.messages[-1].content if request.messages else ""


def render_plain_chat(messages: Sequence[Message]) -> str:
    """A chat as plain text, for models without a chat template."""
    parts = [f"{m.role.capitalize()}: {m.content}" for m in messages]
    return "\n\n".join(parts) + "\n\nAssistant:"


def apply_stop(text: str, stop: Iterable[str]) -> tuple[str, bool]:
    """Cut `text` at the earliest stop sequence; says whether it cut."""
    cut = len(text)
    for sequence in stop:
        if sequence:
            at = text.find(sequence)
            if 0 <= at < cut:
                cut = at
    return text[:cut], cut < len(text)


def split_usage(
    n: int,
    *,
    prompt_tokens: int = 0,
    completion_tokens: int | Sequence[int] = 0,
    latency_s: float = 0.0,
    price: Price | None = None,
    cached: bool = False,
) -> list[Usage]:
    """One call's usage as `n` per-sample shares that add up to the call.

    The first share carries the call (calls=1 or cached_calls=1), the prompt tokens and the
    latency; completion tokens are per sample when given as a list, else spread evenly.
    """
    if isinstance(completion_tokens, int):
        base, extra = divmod(completion_tokens, n)
        per_sample = [base + (1 if i < extra else 0) for i in range(n)]
    else:
        per_sample = list(completion_tokens)
        if len(per_sample) != n:
            raise ValueError("one completion token count per sample")
    shares = []
    for i, completion in enumerate(per_sample):
        prompt = prompt_tokens if i == 0 else 0
        shares.append(
            Usage(
                calls=1 if i == 0 and not cached else 0,
                cached_calls=1 if i == 0 and cached else 0,
                prompt_tokens=prompt,
                completion_tokens=completion,
                latency_s=latency_s if i == 0 else 0.0,
                cost_usd=None if price is None else price.cost(prompt, completion),
            )
        )
    return shares


def total_usage(completions: Iterable[Completion]) -> Usage:
    """What a batch of completions cost, all together."""
    total = Usage()
    for completion in completions:
        total = total + completion.usage
    return total


def with_usage(completions: Sequence[Completion], usages: Sequence[Usage]) -> list[Completion]:
    return [replace(c, usage=u) for c, u in zip(completions, usages, strict=True)]


class Stopwatch:
    """`with Stopwatch() as sw: ...` then `sw.seconds`."""

    def __init__(self) -> None:
        self.start = 0.0
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
