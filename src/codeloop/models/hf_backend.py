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
"""

from __future__ import annotations

import threading
from typing import Any

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


class HFBackend:
    """transformers causal LM; see the module docstring."""

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        dtype: str | None = None,
        trust_remote_code: bool = False,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        torch, transformers = _import()
        self._torch = torch
        self._transformers = transformers
        self.name = f"hf:{model}"
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        kwargs: dict[str, Any] = dict(model_kwargs or {})
        if dtype is not None:
            kwargs["dtype"] = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                model, trust_remote_code=trust_remote_code
            )
            self.model = transformers.AutoModelForCausalLM.from_pretrained(
                model, trust_remote_code=trust_remote_code, **kwargs
            )
        except OSError as error:
            raise ModelRequestError(
                f"hf: could not load {model!r}: {error}.  Give a local folder with the "
                "model's config, weights and tokenizer (or a name already in the Hugging Face "
                "cache; nothing is downloaded when HF_HUB_OFFLINE=1)"
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
