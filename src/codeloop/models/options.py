"""Which keyword options a provider's backend constructor accepts (`--model-option`).

The built-in providers' factories take `**options` and pass them to their backend class, so
the names come from that class's constructor.  A plugin provider's names come from its
factory's own keyword parameters.  `None` means "any": the constructor takes `**options`
(vLLM engine options, llama.cpp's `Llama` options) or the factory does not name its keywords.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from codeloop.registry import PROVIDERS

__all__ = ["accepted_options", "check_options"]

# provider -> (module, constructor, leading positional parameters the factory fills itself)
_BUILT_IN: dict[str, tuple[str, str, int]] = {
    "openai": ("codeloop.models.openai_backend", "OpenAIBackend", 2),  # model, base_url
    "vllm": ("codeloop.models.vllm_backend", "VLLMBackend", 1),  # model
    "hf": ("codeloop.models.hf_backend", "HFBackend", 1),  # model
    "llamacpp": ("codeloop.models.llamacpp_backend", "LlamaCppBackend", 1),  # path
    "replay": ("codeloop.models.replay", "ReplayBackend", 1),  # path
    "mock": ("codeloop.models.mock", "load_mock", 1),  # rest
}


# constructor arguments that take Python objects (a client, a price table, a loaded model):
# given from Python only, never as a command-line string
_PYTHON_ONLY = frozenset({"client", "prices", "llm", "model_kwargs"})


def _keywords(fn: Callable[..., Any], skip: int) -> tuple[tuple[str, ...], bool]:
    """(names of the parameters a keyword can set, past the first `skip`), takes **kwargs."""
    params = list(inspect.signature(fn).parameters.values())
    names: list[str] = []
    open_ended = False
    positional = 0
    for param in params:
        if param.kind is param.VAR_KEYWORD:
            open_ended = True
        elif param.kind is param.VAR_POSITIONAL:
            continue
        elif param.kind is param.POSITIONAL_ONLY:
            positional += 1
        elif param.kind is param.POSITIONAL_OR_KEYWORD and positional < skip:
            positional += 1
        elif param.name not in _PYTHON_ONLY:
            names.append(param.name)
    return tuple(names), open_ended


def accepted_options(provider: str) -> tuple[str, ...] | None:
    """The option names `provider` accepts; None when it accepts any (or is unknown here)."""
    if provider in _BUILT_IN:
        module, attr, skip = _BUILT_IN[provider]
        target = getattr(importlib.import_module(module), attr)
        fn = target.__init__ if inspect.isclass(target) else target
        names, open_ended = _keywords(fn, skip + (1 if inspect.isclass(target) else 0))
    else:
        factory = PROVIDERS.get(provider)
        if factory is None:
            return None  # load_backend reports the unknown provider
        names, open_ended = _keywords(factory, 1)
    return None if open_ended else names


def check_options(spec: str, options: dict[str, Any]) -> str | None:
    """A one-line error when `options` hold a name the provider of `spec` does not accept."""
    provider = spec.partition(":")[0]
    accepted = accepted_options(provider)
    if accepted is None:
        return None
    unknown = sorted(set(options) - set(accepted))
    if not unknown:
        return None
    valid = ", ".join(accepted) if accepted else "none"
    return (
        f"--model-option {unknown[0]}: provider {provider!r} has no option {unknown[0]!r}; "
        f"it accepts: {valid}"
    )
