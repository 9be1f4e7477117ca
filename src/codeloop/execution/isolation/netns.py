"""The network layer: the zygote (and so every child) moves into a new, empty network
namespace."""

from __future__ import annotations

import errno

from codeloop.execution.isolation.config import IsolationConfig, Layer
from codeloop.execution.isolation.kernel import describe, unshare

_CLONE_NEWNET = 0x40000000


def prepare_netns(config: IsolationConfig) -> Layer:
    """Move this process (the zygote, before it forks) into a new, empty network namespace;
    the layer says whether it could."""
    if not config.use_netns:
        return Layer("netns", False, "disabled by config")
    try:
        unshare(_CLONE_NEWNET)
    except OSError as exc:
        hint = " (needs CAP_SYS_ADMIN)" if exc.errno == errno.EPERM else ""
        return Layer("netns", False, f"unavailable: unshare(CLONE_NEWNET): {describe(exc)}{hint}")
    return Layer(
        "netns",
        True,
        "zygote and children share a new, empty network namespace (loopback down): "
        "no route anywhere, 127.0.0.1 included",
    )
