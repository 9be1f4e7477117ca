"""What the sandbox is asked to enforce (`IsolationConfig`, the paths a child may read) and
what it reports back (`IsolationReport`, one `Layer` each)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

LAYER_NAMES = ("rlimits", "uid", "no_new_privs", "landlock", "seccomp", "netns")

# Set (CI sets it) to make a missing isolation layer an error instead of a warning: the
# executor and the CLI refuse to run, and the sandbox tests fail instead of skipping.
REQUIRE_ISOLATION_VAR = "CODELOOP_REQUIRE_ISOLATION"
_YES = ("1", "true", "yes", "on")
_NO = ("", "0", "false", "no", "off")


def required_by_environment() -> bool:
    """Whether CODELOOP_REQUIRE_ISOLATION asks for every layer. A value that is neither
    yes nor no is an error: a typo must not turn the requirement off."""
    value = os.environ.get(REQUIRE_ISOLATION_VAR, "").strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise ValueError(f"{REQUIRE_ISOLATION_VAR}={os.environ[REQUIRE_ISOLATION_VAR]!r}: use 1 or 0")


# Device files a program may use; /dev/null is the only one it may also write.
DEVICE_FILES = ("/dev/null", "/dev/zero", "/dev/urandom")
READ_WRITE_FILES = ("/dev/null",)

# Directories that hold other users' data, secrets or live kernel state. A path from
# sys.path or a prefix that *is* one of these (or lies above them, like "/") is never
# granted; paths beneath them (a prefix under /root, say) are.
_NEVER_GRANTED = tuple(
    "/ /etc /home /root /tmp /var /var/tmp /run /proc /sys /dev /dev/shm".split()
)
_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")


class IsolationError(RuntimeError):
    """The sandbox could not be put in place: an infrastructure error, never a program's."""


@dataclass(frozen=True)
class Layer:
    name: str
    active: bool
    detail: str


@dataclass(frozen=True)
class IsolationReport:
    layers: tuple[Layer, ...]
    # apply_in_child's cost in a freshly forked child, when `probe` measured it.
    apply_cost_us: float | None = None

    def missing(self) -> list[str]:
        return [layer.name for layer in self.layers if not layer.active]

    def fully_isolated(self) -> bool:
        return not self.missing()

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fully_isolated": self.fully_isolated(),
            "missing": self.missing(),
            "layers": [
                {"name": layer.name, "active": layer.active, "detail": layer.detail}
                for layer in self.layers
            ],
            "apply_cost_us": self.apply_cost_us,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IsolationReport:
        layers = tuple(
            Layer(str(item["name"]), bool(item["active"]), str(item["detail"]))
            for item in data["layers"]
        )
        cost = data.get("apply_cost_us")
        return cls(layers, None if cost is None else float(cost))


def is_beneath(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _never_granted(path: str) -> bool:
    # Equal to a forbidden directory, or above one ("/" would grant everything).
    return any(is_beneath(forbidden, path) for forbidden in _NEVER_GRANTED)


def _interpreter_layout(python_executable: str | None) -> tuple[list[str], list[str]]:
    """(prefixes, sys.path) of the interpreter that will run the zygote."""
    if python_executable is None or os.path.abspath(python_executable) == sys.executable:
        prefixes = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
        return prefixes, list(sys.path)
    script = (
        "import json, sys; print(json.dumps([[sys.prefix, sys.base_prefix, sys.exec_prefix,"
        " sys.base_exec_prefix], sys.path]))"
    )
    # imported here, not at the top: subprocess imports threading, whose after-fork hook
    # would cost every child of a zygote ~120 page faults (see seccomp.build_seccomp_program)
    import subprocess

    # -E: the zygote runs with a scrubbed environment, so PYTHON* variables must not count.
    done = subprocess.run(
        [python_executable, "-E", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    if done.returncode != 0:
        raise IsolationError(
            f"cannot query interpreter {python_executable}: {done.stderr.strip()[-500:]}"
        )
    prefixes, path = json.loads(done.stdout)
    return [str(p) for p in prefixes], [str(p) for p in path]


def _package_root() -> str:
    # The directory holding the codeloop package (src/ in a checkout): the child harness may
    # import codeloop modules the zygote did not pre-import.  This file is
    # codeloop/execution/isolation/config.py: four levels down.
    here = os.path.abspath(__file__)
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(here))))


def default_read_only_paths(python_executable: str | None = None) -> tuple[str, ...]:
    """Paths a child may read and execute: system dirs, the interpreter, its packages.

    sys.path entries are granted only when they lie under an interpreter prefix or a system
    dir, or are site-/dist-packages dirs, or hold codeloop itself: the script directory, the
    current directory and PYTHONPATH entries may hold what a program must not see (hidden
    tests, run stores). Never /etc, /home, /root, /tmp, /proc themselves; a prefix beneath
    /root or /home is granted. Nested paths are folded into their parent; the result holds
    resolved paths plus DEVICE_FILES (of which READ_WRITE_FILES are also writable).
    """
    prefixes, search_path = _interpreter_layout(python_executable)
    real_prefixes = [os.path.realpath(p) for p in prefixes if p]
    real_system = [os.path.realpath(p) for p in _SYSTEM_DIRS]
    candidates: list[str] = [*_SYSTEM_DIRS, *prefixes]
    for entry in search_path:
        if not entry or not os.path.isabs(entry):
            continue  # "" is the current directory
        real = os.path.realpath(entry)
        parts = real.split("/")
        if (
            any(is_beneath(real, p) for p in real_prefixes + real_system)
            or "site-packages" in parts
            or "dist-packages" in parts
            or real == os.path.realpath(_package_root())
        ):
            candidates.append(entry)
    if python_executable is None:
        candidates.append(_package_root())

    chosen: list[str] = []
    for candidate in candidates:
        if not candidate or not os.path.exists(candidate):
            continue
        real = os.path.realpath(candidate)
        if _never_granted(real) or any(is_beneath(real, done) for done in chosen):
            continue
        chosen = [done for done in chosen if not is_beneath(done, real)]
        chosen.append(real)
    chosen.extend(path for path in DEVICE_FILES if os.path.exists(path))
    return tuple(chosen)


@dataclass(frozen=True)
class IsolationConfig:
    read_only_paths: tuple[str, ...] = field(default_factory=default_read_only_paths)
    uid_base: int = 61000  # children run as uid/gid uid_base + slot
    uid_count: int = 256
    use_landlock: bool = True
    use_seccomp: bool = True
    use_netns: bool = True
    drop_uid: bool = True

    def __post_init__(self) -> None:
        if self.uid_base <= 0 or self.uid_count <= 0:
            raise ValueError("uid_base and uid_count must be positive")
        if self.uid_base + self.uid_count > 2**32 - 2:
            raise ValueError("uid range exceeds the 32-bit uid space")
        if not all(os.path.isabs(path) for path in self.read_only_paths):
            raise ValueError("read_only_paths must be absolute")
