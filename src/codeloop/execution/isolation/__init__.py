"""Lock a forked child down before it runs untrusted code.

A trusted zygote (root, single-threaded) calls `Isolation.prepare_zygote` once: it moves
itself into an empty network namespace, compiles the seccomp filter, checks that the
unprivileged uids can read the interpreter, and detects Landlock. Each forked child then
calls `Isolation.apply_in_child`, which only makes a handful of cheap syscalls: drop to a
per-slot uid, restrict itself with Landlock, load the prebuilt filter (no_new_privs, which
both need, is set once in the zygote and inherited).

Layers that the kernel or the process cannot provide are reported inactive with the reason,
never silently skipped: `IsolationReport` says what is in force, and `probe` checks each
layer empirically in a throwaway process tree.

One module per layer, the shared parts and the self-check apart:
- `config`: `IsolationConfig`, the paths a child may read, `IsolationReport` and `Layer`;
- `kernel`: prctl, unshare, error text, `in_child` (a check run in a forked process);
- `credentials` (uid and rlimits), `landlock`, `seccomp`, `netns`: each layer's set-up;
- `core`: `Isolation`, which prepares every layer in the zygote and applies them in a child;
- `selfcheck`: `probe`, which verifies each layer empirically.

Library notes (landlock 1.0.0.dev5, pyseccomp 0.1.2 over libseccomp 2.5):
- `landlock.Ruleset` is not used: its error check trusts a stale ctypes errno (a successful
  call raises after any earlier failed ctypes call), it never closes the ruleset fd, and its
  ruleset attribute has no room for network rights (ABI 4) or scopes (ABI 6). We use the
  package's plumbing (flags, rule struct, syscall wrappers) with errno reset before each call
  and a ruleset attribute that carries all three fields.
- libseccomp 2.5 regenerates the BPF program on every `load()` (about 0.7 ms here), so the
  zygote exports the program once and children install it with one prctl.
"""

from __future__ import annotations

from codeloop.execution.isolation.config import (
    DEVICE_FILES,
    LAYER_NAMES,
    READ_WRITE_FILES,
    REQUIRE_ISOLATION_VAR,
    IsolationConfig,
    IsolationError,
    IsolationReport,
    Layer,
    default_read_only_paths,
    required_by_environment,
)
from codeloop.execution.isolation.core import Isolation
from codeloop.execution.isolation.kernel import no_new_privs
from codeloop.execution.isolation.selfcheck import probe

__all__ = [
    "DEVICE_FILES",
    "LAYER_NAMES",
    "READ_WRITE_FILES",
    "REQUIRE_ISOLATION_VAR",
    "Isolation",
    "IsolationConfig",
    "IsolationError",
    "IsolationReport",
    "Layer",
    "default_read_only_paths",
    "no_new_privs",
    "probe",
    "required_by_environment",
]
