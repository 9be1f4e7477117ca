"""`hf:MODEL_OR_PATH`: transformers in process, on the CPU or a GPU.

The model and tokenizer load when the backend is built (`AutoModelForCausalLM`,
`AutoTokenizer`).  A chat request uses the tokenizer's chat template when it has one, else a
plain "Role: text" rendering; a prompt request is tokenised as is.  Sampling maps to
`generate` (temperature 0 is greedy), `n` to `num_return_sequences`, a seed to
`torch.manual_seed`.  Stop strings end a sequence early (a stopping criterion that decodes
the tail of each sequence) and the text is cut at the first of them.  Usage: prompt tokens
and, per sample, the tokens generated before the end-of-sequence token.  Generation runs in
a worker thread, one request at a time.

Context.  A prompt that fills the model's context (its `max_position_embeddings`) is a
`ModelContextExceeded` naming both lengths; a prompt that fits gets at most the room left
(`max_tokens` is cut to context - prompt, and a sample cut there ends with "length").
Beyond its positions a model fails with an index error deep in torch.

Offline.  `MODEL_OR_PATH` is a local folder or a Hugging Face hub name.  A hub name loads
from the cache alone (`local_files_only`) when the user asks for offline (`HF_HUB_OFFLINE`
or `TRANSFORMERS_OFFLINE` set, or `--model-option local_files_only=true`) or when a quick
probe (a TCP connection to the hub, a few seconds at most) fails; a name that is not in the
cache then fails at once with a one-line hint, where transformers would retry the hub for
about a minute.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio

from codeloop.models.base import (
    MissingDependency,
    ModelContextExceeded,
    ModelRequestError,
    Stopwatch,
    apply_stop,
    check_request,
    render_plain_chat,
    split_usage,
)
from codeloop.types import Completion, GenerationRequest

__all__ = ["HFBackend"]


def _import() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as error:
        package = "torch" if "torch" in str(error) else "transformers"
        raise MissingDependency(package, "hf", "hf") from error
    return torch, transformers


def _check_installed() -> None:
    """`MissingDependency` for transformers or torch, before torch is imported (seconds):
    transformers imports lazily, torch is only looked for."""
    try:
        import transformers  # noqa: F401
    except ImportError as error:
        raise MissingDependency("transformers", "hf", "hf") from error
    if importlib.util.find_spec("torch") is None:
        raise MissingDependency("torch", "hf", "hf")


# Where configs keep the number of positions a model has (GPT-2: n_positions, aliased).
CONTEXT_FIELDS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


def context_length(config: Any) -> int | None:
    """The most tokens (prompt and generated) the model can attend to; None if unsaid."""
    for name in CONTEXT_FIELDS:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _stop_criteria(transformers: Any, tokenizer: Any, stops: tuple[str, ...], start: int) -> Any:
    """Ends each sequence once its generated text contains a stop string.

    Decodes only the last few tokens at each step (a stop string that just appeared ends
    in the newest token), so it costs little and works with any tokenizer, unlike
    transformers' own `stop_strings`, which some tokenizers cannot handle.
    """
    import torch

    window = max(len(s) for s in stops) + 4

    class StopOnStrings(transformers.StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = []
            for row in input_ids:
                tail = row[max(start, len(row) - window) :]
                text = tokenizer.decode(tail, skip_special_tokens=True)
                done.append(any(stop in text for stop in stops if stop))
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StopOnStrings()


TRUE_VALUES = ("1", "on", "yes", "true")
PROBE_TIMEOUT_S = 3.0
DEFAULT_ENDPOINT = "https://huggingface.co"


def offline_requested() -> bool:
    """Whether the environment asks the Hugging Face libraries not to reach the hub."""
    return any(
        os.environ.get(name, "").strip().lower() in TRUE_VALUES
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_cache() -> Path:
    """The hub cache folder, read from the environment now (huggingface_hub reads it once, at
    import)."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "huggingface" / "hub"


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT


def hub_reachable(endpoint: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the hub opens within `timeout_s` (name lookup included:
    it runs in a thread that is left behind if it hangs)."""
    parts = urlsplit(endpoint)
    host = parts.hostname
    if not host:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    result: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=connect, name="hf-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout_s + 0.5)
    return bool(result and result[0])


def in_cache(name: str) -> bool:
    """Whether the hub cache holds `name`'s config (a model downloaded before)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(name, "config.json", cache_dir=hub_cache())
    return isinstance(found, str)


def _is_repo_id(name: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return not name.startswith(("/", ".", "~"))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


LOCAL_HINT = (
    "give a local folder with the model's config, weights and tokenizer, or a name already "
    "in the Hugging Face cache (download it where there is network: hf download NAME); "
    "offline runs without a model: --model replay:STORE or mock:file:PATH"
)


def hub_access(name: str, *, local_files_only: bool) -> bool:
    """Decide, before transformers is asked, whether the hub name `name` loads from the cache
    alone (True) or may be downloaded (False); a name that cannot load is a
    `ModelRequestError` with the hint, at once."""
    if not _is_repo_id(name):
        raise ModelRequestError(
            f"hf: could not load {name!r}: no such folder, and not a Hugging Face model "
            f"name; {LOCAL_HINT}"
        )
    cached = in_cache(name)
    if local_files_only or offline_requested():
        why = "local_files_only=true" if local_files_only else "offline (HF_HUB_OFFLINE)"
        if not cached:
            raise ModelRequestError(
                f"hf: could not load {name!r}: not a local folder and not in the Hugging Face "
                f"cache ({hub_cache()}), and {why} forbids downloading it; {LOCAL_HINT}"
            )
        return True
    endpoint = hub_endpoint()
    if hub_reachable(endpoint):
        return False
    if cached:
        return True  # no network: the cached copy, without a minute of retries
    raise ModelRequestError(
        f"hf: could not load {name!r}: not a local folder, not in the Hugging Face cache "
        f"({hub_cache()}), and the hub ({endpoint}) cannot be reached; {LOCAL_HINT}"
    )


class HFBackend:
    """transformers causal LM; see the module docstring."""

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        dtype: str | None = None,
        trust_remote_code: bool = False,
        local_files_only: bool = False,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        _check_installed()
        # decided before torch is imported (seconds): a model that cannot load fails at once
        local = Path(model).expanduser().is_dir()
        cache_only = (
            local_files_only if local else hub_access(model, local_files_only=local_files_only)
        )
        torch, transformers = _import()
        self._torch = torch
        self._transformers = transformers
        self.name = f"hf:{model}"
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        kwargs: dict[str, Any] = dict(model_kwargs or {})
        if dtype is not None:
            kwargs["dtype"] = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        load: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        if not local:
            load["cache_dir"] = str(hub_cache())  # the cache that was looked in
        if cache_only:
            load["local_files_only"] = True
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(model, **load)
            self.model = transformers.AutoModelForCausalLM.from_pretrained(model, **load, **kwargs)
        except OSError as error:
            raise ModelRequestError(
                f"hf: could not load {model!r}: {_one_line(error)}; {LOCAL_HINT}"
            ) from error
        self.model.to(self.device)
        self.model.eval()
        self.context_length = context_length(self.model.config)
        self._lock = threading.Lock()

    def _text(self, request: GenerationRequest) -> tuple[str, bool]:
        """The text to tokenise, and whether a chat template made it (with its own BOS)."""
        if request.prompt is not None:
            return request.prompt, False
        messages = request.messages or ()
        if getattr(self.tokenizer, "chat_template", None):
            rendered = self.tokenizer.apply_chat_template(
                [{"role": m.role, "content": m.content} for m in messages],
                tokenize=False,
                add_generation_prompt=True,
            )
            return str(rendered), True
        return render_plain_chat(messages), False

    def _generate(self, request: GenerationRequest) -> list[Completion]:
        torch = self._torch
        sampling = request.sampling
        text, templated = self._text(request)
        with Stopwatch() as sw, self._lock, torch.inference_mode():
            encoded = self.tokenizer(text, return_tensors="pt", add_special_tokens=not templated)
            encoded = {k: v.to(self.device) for k, v in encoded.items()}
            prompt_length = int(encoded["input_ids"].shape[1])
            room = None if self.context_length is None else self.context_length - prompt_length
            if room is not None and room < 1:
                raise ModelContextExceeded(
                    self.name, prompt_tokens=prompt_length, context_tokens=self.context_length
                )
            max_new = sampling.max_tokens if room is None else min(sampling.max_tokens, room)
            eos = self.tokenizer.eos_token_id
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
            options: dict[str, Any] = {
                "max_new_tokens": max_new,
                "num_return_sequences": request.n,
                "pad_token_id": pad,
            }
            if sampling.temperature > 0:
                options.update(
                    do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p
                )
            else:
                options.update(do_sample=False, temperature=None, top_p=None)
            if sampling.stop:
                criteria = _stop_criteria(
                    self._transformers, self.tokenizer, sampling.stop, prompt_length
                )
                options["stopping_criteria"] = self._transformers.StoppingCriteriaList([criteria])
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            output = self.model.generate(**encoded, **options)
        sequences = output[:, prompt_length:].tolist()
        texts: list[str] = []
        reasons: list[str] = []
        counts: list[int] = []
        for tokens in sequences:
            ended = eos is not None and eos in tokens
            if ended:
                tokens = tokens[: tokens.index(eos)]
            elif pad is not None and pad in tokens:
                # padded after a stop string ended this sequence early
                tokens = tokens[: tokens.index(pad)]
                ended = True
            decoded = self.tokenizer.decode(tokens, skip_special_tokens=True)
            decoded, cut = apply_stop(decoded, sampling.stop)
            texts.append(decoded)
            counts.append(len(tokens))
            reasons.append("stop" if ended or cut else "length")
        usages = split_usage(
            request.n, prompt_tokens=prompt_length, completion_tokens=counts, latency_s=sw.seconds
        )
        return [
            Completion(text=t, finish_reason=r, usage=u)
            for t, r, u in zip(texts, reasons, usages, strict=True)
        ]

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        check_request(request)
        return await anyio.to_thread.run_sync(self._generate, request)

    async def aclose(self) -> None:
        return None
