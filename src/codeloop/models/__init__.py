"""Models: one async Backend protocol, providers selected by model strings, a response cache.

See docs/models.md.  Providers with optional dependencies (vllm, hf, llamacpp) are imported
only when asked for.
"""

from codeloop.models.base import (
    DEFAULT_PRICES,
    Backend,
    MissingDependency,
    ModelContextExceeded,
    ModelError,
    ModelRequestError,
    ModelUnavailable,
    NoModelConfigured,
    Price,
    PriceTable,
    PromptMode,
    declared_prompt_mode,
    total_usage,
)
from codeloop.models.cache import CachedBackend
from codeloop.models.mock import MockBackend
from codeloop.models.openai_backend import OpenAIBackend
from codeloop.models.registry import (
    DEFAULT_OPENAI_MODEL,
    PROVIDERS,
    default_model_spec,
    load_backend,
    resolve_model,
)
from codeloop.models.replay import ReplayBackend

__all__ = [
    "DEFAULT_OPENAI_MODEL",
    "DEFAULT_PRICES",
    "PROVIDERS",
    "Backend",
    "CachedBackend",
    "MissingDependency",
    "MockBackend",
    "ModelContextExceeded",
    "ModelError",
    "ModelRequestError",
    "ModelUnavailable",
    "NoModelConfigured",
    "OpenAIBackend",
    "Price",
    "PriceTable",
    "PromptMode",
    "ReplayBackend",
    "declared_prompt_mode",
    "default_model_spec",
    "load_backend",
    "resolve_model",
    "total_usage",
]
