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

import contextlib
import ctypes
import errno
import importlib
import json
import os
import select
import shutil
import signal
import socket
import stat
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

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

_PR_SET_NO_NEW_PRIVS = 38
_PR_GET_NO_NEW_PRIVS = 39
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_CLONE_NEWNET = 0x40000000
_S_IFMT = 0o170000  # file type bits of a mode (stat.S_IFMT is a function)
# Namespace flags clone() accepts; CLONE_NEWTIME (0x80) overlaps the exit signal in clone()
# and is only reachable through unshare/clone3, which are denied outright.
_CLONE_NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}

# Syscalls a program never needs, that reach outside its own process tree, change
# privileges, or leave state behind after it exits (SysV IPC, POSIX message queues).
_DENIED_SYSCALLS = tuple(
    """
    ptrace process_vm_readv process_vm_writev process_madvise pidfd_getfd kcmp
    mount umount2 pivot_root chroot fsopen fsconfig fsmount fspick open_tree move_mount
    mount_setattr unshare setns
    setsid setpgid
    setuid setgid setreuid setregid setresuid setresgid setgroups setfsuid setfsgid personality
    keyctl add_key request_key bpf perf_event_open userfaultfd fanotify_init io_uring_setup
    open_by_handle_at name_to_handle_at lookup_dcookie syslog
    kexec_load kexec_file_load init_module finit_module delete_module reboot swapon swapoff iopl
    ioperm acct quotactl quotactl_fd vhangup settimeofday clock_settime clock_adjtime adjtimex
    sethostname setdomainname
    shmget msgget semget mq_open
    """.split()
)

# Landlock constants the package does not define (ABI 4 network rights, ABI 6 scopes).
_LANDLOCK_RULE_PATH_BENEATH = 1
_LANDLOCK_ACCESS_NET_BIND_TCP = 1 << 0
_LANDLOCK_ACCESS_NET_CONNECT_TCP = 1 << 1
_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_LANDLOCK_SCOPE_SIGNAL = 1 << 1


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


def _is_beneath(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _never_granted(path: str) -> bool:
    # Equal to a forbidden directory, or above one ("/" would grant everything).
    return any(_is_beneath(forbidden, path) for forbidden in _NEVER_GRANTED)


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
    # would cost every child of a zygote ~120 page faults (see zygote.py)
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
    # import codeloop modules the zygote did not pre-import.
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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
            any(_is_beneath(real, p) for p in real_prefixes + real_system)
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
        if _never_granted(real) or any(_is_beneath(real, done) for done in chosen):
            continue
        chosen = [done for done in chosen if not _is_beneath(done, real)]
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


_LIBC = ctypes.CDLL(None, use_errno=True)
_prctl = _LIBC.prctl
_prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
_prctl.restype = ctypes.c_int


def _checked_prctl(option: int, arg2: int, arg3: int = 0) -> int:
    ctypes.set_errno(0)
    result = int(_prctl(option, arg2, arg3, 0, 0))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def no_new_privs() -> bool:
    """Whether PR_SET_NO_NEW_PRIVS is set on this thread."""
    return _checked_prctl(_PR_GET_NO_NEW_PRIVS, 0) == 1


def _unshare(flags: int) -> None:
    native = getattr(os, "unshare", None)  # Python 3.12+
    if native is not None:
        native(flags)
        return
    ctypes.set_errno(0)
    if _LIBC.unshare(ctypes.c_int(flags)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


class _RulesetAttr(ctypes.Structure):
    # struct landlock_ruleset_attr as of ABI 6; the kernel reads only the fields it knows.
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _LandlockPlan:
    """A ruleset description built in the zygote; `apply` makes only syscalls."""

    def __init__(
        self,
        abi: int,
        attr: _RulesetAttr,
        attr_size: int,
        rules: tuple[tuple[str, int], ...],
        workdir_access: int,
    ) -> None:
        from landlock.plumbing import (
            PathBeneathAttr,
            RulesetAttr,
            get_add_rule,
            get_create_ruleset,
            get_restrict_self,
        )

        self.abi = abi
        self.workdir_access = workdir_access
        self._attr = attr
        self._attr_size = attr_size
        # The package's wrapper is typed for its 8-byte attribute; the kernel reads
        # attr_size bytes, so hand it the longer struct through a cast pointer.
        self._attr_ptr = ctypes.cast(ctypes.pointer(attr), ctypes.POINTER(RulesetAttr))
        self._rule_type = PathBeneathAttr
        self._create_ruleset = get_create_ruleset()
        self._add_rule = get_add_rule()
        self._restrict_self = get_restrict_self()
        # The fixed rules' paths opened once, here (O_PATH): a child inherits the
        # descriptors with the rules (~0.25 ms less per child), and closes them with every
        # other inherited descriptor before the program loads.
        self._fixed_rules = [
            ctypes.byref(self._rule_type(access, os.open(path, os.O_PATH | os.O_CLOEXEC)))
            for path, access in rules
        ]

    def ruleset(self, workdir: str) -> int:
        """A ruleset (a descriptor) with the fixed rules and `workdir` read-write.  The
        zygote makes one per slot, whose work dir stays the same directory: a child only
        enforces it (~0.2 ms less per child than building it there)."""
        # The package's wrappers read errno even on success: clear it before every call.
        ctypes.set_errno(0)
        ruleset_fd = int(self._create_ruleset(self._attr_ptr, self._attr_size, 0))
        try:
            for rule in self._fixed_rules:
                ctypes.set_errno(0)
                self._add_rule(ruleset_fd, _LANDLOCK_RULE_PATH_BENEATH, rule, 0)
            path_fd = os.open(workdir, os.O_PATH | os.O_CLOEXEC)
            try:
                workdir_rule = self._rule_type(self.workdir_access, path_fd)
                ctypes.set_errno(0)
                self._add_rule(
                    ruleset_fd, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(workdir_rule), 0
                )
            finally:
                os.close(path_fd)
        except BaseException:
            os.close(ruleset_fd)
            raise
        return ruleset_fd

    def enforce(self, ruleset_fd: int) -> None:
        ctypes.set_errno(0)
        self._restrict_self(ruleset_fd, 0)

    def apply(self, workdir: str) -> None:
        ruleset_fd = self.ruleset(workdir)
        try:
            self.enforce(ruleset_fd)
        finally:
            os.close(ruleset_fd)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _SeccompProgram:
    """A BPF program exported by libseccomp, ready for PR_SET_SECCOMP."""

    def __init__(self, program: bytes) -> None:
        if not program or len(program) % 8:
            raise ValueError(f"bad BPF program length {len(program)}")
        self.instructions = len(program) // 8
        self._buffer = ctypes.create_string_buffer(program, len(program))
        self._fprog = _SockFprog(self.instructions, ctypes.addressof(self._buffer))
        self._address = ctypes.addressof(self._fprog)

    def load(self) -> None:
        _checked_prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, self._address)


def _build_seccomp_program() -> tuple[_SeccompProgram, str]:
    """The filter, built in a forked helper process: pyseccomp imports ctypes.util, which
    imports subprocess and threading, and threading's after-fork hook would then run in
    every child of the zygote (about 120 page faults, a tenth of a short run's)."""
    program, detail = _in_child(_seccomp_bpf, timeout=60.0)
    return _SeccompProgram(bytes.fromhex(program)), detail


def _seccomp_bpf() -> tuple[str, str]:
    import pyseccomp as sc  # raises at import when libseccomp is missing

    deny = sc.ERRNO(errno.EPERM)
    flt = sc.SyscallFilter(sc.ALLOW)
    # A syscall made through another ABI (i386 int 0x80, x32) kills the process.
    flt.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    # A binary tree over syscall numbers: the kernel emulates the filter for every syscall
    # when it is installed, so a linear filter costs ~90 us more per child here.
    with contextlib.suppress(OSError):
        flt.set_attr(sc.Attr.CTL_OPTIMIZE, 2)
    unknown: list[str] = []

    def number(name: str) -> int | None:
        nr = int(sc.resolve_syscall(sc.Arch.NATIVE, name))
        if nr < 0:
            unknown.append(name)
            return None
        return nr

    denied = 0
    for name in _DENIED_SYSCALLS:
        nr = number(name)
        if nr is not None:
            flt.add_rule(deny, nr)
            denied += 1
    # No socket can be created at all: the network namespace is empty, and a named UNIX
    # socket on the host (dbus, journald, X11) is reachable by path, which neither Landlock
    # (ABI <= 7) nor the namespace governs.  socketpair(AF_UNIX) stays: an unnamed pair
    # reaches nothing outside the run.  An address in sendto/sendmsg could still aim a
    # datagram at a host socket, so sendto with an address and sendmsg/sendmmsg are denied.
    socket_nr = number("socket")
    if socket_nr is not None:
        flt.add_rule(deny, socket_nr)
    pair = number("socketpair")
    if pair is not None:
        flt.add_rule(deny, pair, sc.Arg(0, sc.NE, socket.AF_UNIX))
    sendto = number("sendto")
    if sendto is not None:
        flt.add_rule(deny, sendto, sc.Arg(4, sc.NE, 0))
    for name in ("sendmsg", "sendmmsg", "connect", "bind"):
        nr = number(name)
        if nr is not None:
            flt.add_rule(deny, nr)
    clone = number("clone")
    if clone is not None:
        for flag in _CLONE_NAMESPACE_FLAGS.values():
            flt.add_rule(deny, clone, sc.Arg(0, sc.MASKED_EQ, flag, flag))
    clone3 = number("clone3")
    if clone3 is not None:
        # clone3 passes its flags in memory a filter cannot read; ENOSYS makes glibc fall
        # back to clone, whose flags the rules above do check.
        flt.add_rule(sc.ERRNO(errno.ENOSYS), clone3)
    for name, mode_arg in (("mknod", 1), ("mknodat", 2)):
        nr = number(name)
        if nr is not None:
            for kind in (stat.S_IFCHR, stat.S_IFBLK):
                flt.add_rule(deny, nr, sc.Arg(mode_arg, sc.MASKED_EQ, _S_IFMT, kind))
    prlimit = number("prlimit64")
    if prlimit is not None:
        flt.add_rule(deny, prlimit, sc.Arg(0, sc.NE, 0))  # limits of other processes

    memfd = os.memfd_create("codeloop-seccomp", os.MFD_CLOEXEC)
    with os.fdopen(memfd, "r+b") as handle:
        flt.export_bpf(handle)
        handle.seek(0)
        program = handle.read().hex()  # JSON-able, for _in_child
    detail = (
        f"{len(program) // 16}-instruction BPF filter, default allow: {denied} syscalls "
        "EPERM (ptrace, process_vm_*, mount family, unshare/setns, setsid/setpgid, "
        "set*id/setgroups, keyctl, bpf, perf_event_open, io_uring_setup, modules, SysV IPC, "
        "...); socket() EPERM (every family), socketpair other than AF_UNIX EPERM, connect, "
        "bind, sendmsg/sendmmsg and addressed sendto EPERM; clone with namespace flags EPERM; "
        "clone3 ENOSYS; device mknod EPERM; prlimit on other processes EPERM; "
        "foreign-ABI syscalls kill the process"
    )
    if unknown:
        detail += f"; not on this arch: {', '.join(unknown)}"
    return program, detail


def _plan_landlock(
    read_only: Iterable[str],
) -> tuple[_LandlockPlan, str]:
    from landlock import FSAccess, landlock_abi_version

    abi = int(landlock_abi_version())
    if abi < 1:
        raise OSError(errno.EOPNOTSUPP, f"Landlock ABI {abi}")
    handled_fs = int(FSAccess.all())  # the package adds REFER, TRUNCATE, IOCTL_DEV per ABI
    handled_net = _LANDLOCK_ACCESS_NET_BIND_TCP | _LANDLOCK_ACCESS_NET_CONNECT_TCP
    scoped = _LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | _LANDLOCK_SCOPE_SIGNAL
    if abi >= 6:
        attr, size = _RulesetAttr(handled_fs, handled_net, scoped), 24
    elif abi >= 4:
        attr, size = _RulesetAttr(handled_fs, handled_net, 0), 16
    else:
        attr, size = _RulesetAttr(handled_fs, 0, 0), 8

    read_dir = int(FSAccess.READ_FILE | FSAccess.READ_DIR | FSAccess.EXECUTE)
    read_file = int(FSAccess.READ_FILE | FSAccess.EXECUTE)
    write_file = int(FSAccess.READ_FILE | FSAccess.WRITE_FILE | FSAccess.TRUNCATE)
    write_file |= int(FSAccess.IOCTL_DEV)
    rules: list[tuple[str, int]] = []
    for path in read_only:
        if os.path.isdir(path):
            access = read_dir
        elif path in READ_WRITE_FILES:
            access = write_file
        else:
            access = read_file
        rules.append((path, access & handled_fs))
    # Everything in the work dir but making device nodes (a root child could otherwise
    # make a node for the disk and read it raw).
    workdir_access = handled_fs & ~int(FSAccess.MAKE_CHAR | FSAccess.MAKE_BLOCK)
    plan = _LandlockPlan(abi, attr, size, tuple(rules), workdir_access)
    extras = []
    if abi >= 4:
        extras.append("TCP bind/connect denied")
    if abi >= 6:
        extras.append("signals and abstract UNIX sockets scoped to the child's own tree")
    detail = (
        f"ABI {abi}: read-only system paths ({len(rules)} rules), read-write work dir; "
        f"{bin(handled_fs).count('1')} filesystem rights handled"
    )
    if extras:
        detail += "; " + "; ".join(extras)
    return plan, detail


def _may(st: os.stat_result, uid: int, gid: int, want: int) -> bool:
    if st.st_uid == uid:
        bits = st.st_mode >> 6
    elif st.st_gid == gid:
        bits = st.st_mode >> 3
    else:
        bits = st.st_mode
    return bits & want == want


def _explain_denial(path: str, uid: int, gid: int) -> str:
    """Which directory on the way to `path` stops uid (as seen by root)."""
    real = os.path.realpath(path)
    current = "/"
    for part in [p for p in real.split("/") if p][:-1]:
        current = os.path.join(current, part)
        try:
            st = os.stat(current)
        except OSError:
            continue
        if not _may(st, uid, gid, 0o1):
            return f"{current} is mode {stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}"
    try:
        st = os.stat(real)
    except OSError as exc:
        return exc.strerror or str(exc)
    return f"{real} is mode {stat.S_IMODE(st.st_mode):04o}, owner uid {st.st_uid}"


def _essential_paths(read_only: Iterable[str]) -> list[str]:
    """What the interpreter must read: its stdlib, extension modules, granted sys.path dirs."""
    granted = list(read_only)
    paths = [os.path.dirname(os.__file__), sysconfig.get_path("platstdlib"), os.__file__]
    dynload = os.path.join(sysconfig.get_path("platstdlib"), "lib-dynload")
    paths.append(dynload)
    for entry in sys.path:
        if entry and os.path.isdir(entry):
            real = os.path.realpath(entry)
            if any(_is_beneath(real, g) for g in granted):
                paths.append(real)
    return [p for p in dict.fromkeys(paths) if os.path.exists(p)]


def _access_check(read_only: list[str], essential: list[str]) -> dict[str, dict[str, str]]:
    """Run in the identity children will have: what they cannot reach or read."""
    unreachable: dict[str, str] = {}
    unreadable: dict[str, str] = {}
    for path in read_only:
        try:
            os.close(os.open(path, os.O_PATH | os.O_CLOEXEC))
        except OSError as exc:
            unreachable[path] = exc.strerror or str(exc)
    for path in [*read_only, *essential]:
        want = os.R_OK | (os.X_OK if os.path.isdir(path) else 0)
        if path in READ_WRITE_FILES:
            want |= os.W_OK
        if not os.access(path, want):
            unreadable[path] = "no access"
    return {"unreachable": unreachable, "unreadable": unreadable}


def _drop_to(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_until_eof(fd: int, deadline: float) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _in_child(task: Callable[[], Any], timeout: float, *, new_group: bool = False) -> Any:
    """Run `task` in a forked child and return its JSON-able result (None if it died)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read_fd)
            if new_group:
                os.setpgid(0, 0)
            payload: dict[str, Any] = {"result": task()}
        except BaseException as exc:  # report everything; a child must never return
            payload = {"error": f"{type(exc).__name__}: {exc}"}
            code = 1
        try:
            _write_all(write_fd, json.dumps(payload).encode())
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        data = _read_until_eof(read_fd, time.monotonic() + timeout)
    finally:
        os.close(read_fd)
    if data is None:
        with contextlib.suppress(ProcessLookupError):
            if new_group:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if not data:
        how = (
            f"killed by signal {os.WTERMSIG(status)}"
            if os.WIFSIGNALED(status)
            else f"exited {os.waitstatus_to_exitcode(status)} without a result"
        )
        raise IsolationError(f"check process {'timed out' if data is None else how}")
    payload = json.loads(data)
    if "error" in payload:
        raise IsolationError(f"check process failed: {payload['error']}")
    return payload["result"]


@dataclass(frozen=True)
class _Prepared:
    report: IsolationReport
    drop_uid: bool
    landlock: _LandlockPlan | None
    seccomp: _SeccompProgram | None
    no_new_privs_inherited: bool  # set in the zygote: children need not set it again


class Isolation:
    """Prepare once in the zygote; apply in every forked child before untrusted code runs."""

    def __init__(self, config: IsolationConfig) -> None:
        self._config = config
        self._prepared: _Prepared | None = None

    @property
    def config(self) -> IsolationConfig:
        return self._config

    @property
    def report(self) -> IsolationReport | None:
        return None if self._prepared is None else self._prepared.report

    @property
    def drops_uid(self) -> bool:
        """Whether children run as uid_base + slot (known after prepare_zygote); the zygote
        must then chown each work dir to `uid_for(slot)`."""
        return self._prepared is not None and self._prepared.drop_uid

    def uid_for(self, slot: int) -> int:
        if not 0 <= slot < self._config.uid_count:
            raise IsolationError(f"slot {slot} outside 0..{self._config.uid_count - 1}")
        return self._config.uid_base + slot

    def prepare_zygote(self) -> IsolationReport:
        """Set up what children will inherit; report what will be in force. Never raises
        for an unavailable layer. Call once, in the zygote, before forking children: it
        moves the calling process into an empty network namespace (where it can) and sets
        no_new_privs on it, for good."""
        if self._prepared is not None:
            return self._prepared.report
        config = self._config
        layers: dict[str, Layer] = {}
        read_only = [p for p in dict.fromkeys(config.read_only_paths) if os.path.exists(p)]
        missing_paths = [p for p in config.read_only_paths if p not in read_only]

        drop_uid, uid_layer, read_only = self._prepare_uid(read_only)
        layers["uid"] = uid_layer
        layers["rlimits"] = self._rlimits_layer(drop_uid)
        layers["no_new_privs"] = Layer(
            "no_new_privs",
            True,
            "PR_SET_NO_NEW_PRIVS (set in the zygote, inherited by every child) before "
            "Landlock and seccomp: setuid binaries and file capabilities grant nothing",
        )

        landlock_plan: _LandlockPlan | None = None
        if not config.use_landlock:
            layers["landlock"] = Layer("landlock", False, "disabled by config")
        else:
            try:
                landlock_plan, detail = _plan_landlock(read_only)
                if missing_paths:
                    detail += f"; absent, not granted: {', '.join(missing_paths)}"
                layers["landlock"] = Layer("landlock", True, detail)
            except Exception as exc:
                layers["landlock"] = Layer("landlock", False, f"unavailable: {_describe(exc)}")

        seccomp_program: _SeccompProgram | None = None
        if not config.use_seccomp:
            layers["seccomp"] = Layer("seccomp", False, "disabled by config")
        else:
            try:
                seccomp_program, detail = _build_seccomp_program()
                layers["seccomp"] = Layer("seccomp", True, detail)
            except Exception as exc:
                layers["seccomp"] = Layer("seccomp", False, f"unavailable: {_describe(exc)}")

        layers["netns"] = self._prepare_netns()

        # Once here rather than in every child (a prctl through ctypes cost a fresh fork
        # ~90 us of CPU): it is inherited across fork and can never be unset.  The zygote
        # execs nothing, so it loses nothing by it.
        try:
            _checked_prctl(_PR_SET_NO_NEW_PRIVS, 1)
            inherited = True
        except OSError:
            inherited = False  # each child sets it (and fails the run if it cannot)
        report = IsolationReport(tuple(layers[name] for name in LAYER_NAMES))
        self._prepared = _Prepared(report, drop_uid, landlock_plan, seccomp_program, inherited)
        return report

    def _prepare_uid(self, read_only: list[str]) -> tuple[bool, Layer, list[str]]:
        """(drop the uid?, its layer, the read-only paths children can reach)."""
        config = self._config
        euid = os.geteuid()
        first, last = config.uid_base, config.uid_base + config.uid_count - 1
        if not config.drop_uid:
            reason = f"disabled by config: children keep uid {euid}"
        elif euid != 0:
            reason = f"unavailable: the zygote is not root (euid {euid}); children keep uid {euid}"
        else:
            reason = ""
        essential = _essential_paths(read_only)
        if reason:
            found = _access_check(read_only, essential)
            reachable = [p for p in read_only if p not in found["unreachable"]]
            return False, Layer("uid", False, reason), reachable

        def check() -> dict[str, dict[str, str]]:
            _drop_to(first, first)
            return _access_check(read_only, essential)

        try:
            found = _in_child(check, timeout=30.0)
        except Exception as exc:
            layer = Layer("uid", False, f"unavailable: cannot test uid {first}: {exc}")
            return False, layer, read_only
        blocked = {
            path: _explain_denial(path, first, first)
            for path in essential
            if path in found["unreadable"]
        }
        if blocked:
            worst = "; ".join(f"{path} ({why})" for path, why in blocked.items())
            detail = (
                f"unavailable: uid {first} cannot read the interpreter: {worst}; children "
                f"keep uid 0 - start the zygote with a world-readable interpreter (the system "
                f"python, or a venv outside /root)"
            )
            return False, Layer("uid", False, detail), read_only
        detail = f"uid/gid {first}-{last} (uid_base + slot), no supplementary groups"
        skipped = sorted(set(found["unreachable"]) | set(found["unreadable"]))
        if skipped:
            detail += "; not readable by that uid, so left out: " + ", ".join(
                f"{path} ({_explain_denial(path, first, first)})" for path in skipped
            )
        reachable = [p for p in read_only if p not in found["unreachable"]]
        return True, Layer("uid", True, detail), reachable

    def _rlimits_layer(self, drop_uid: bool) -> Layer:
        euid = os.geteuid()
        if drop_uid:
            return Layer(
                "rlimits",
                True,
                "limits the child harness sets are binding: children are unprivileged "
                "(cannot raise hard limits) and RLIMIT_NPROC counts each slot's uid",
            )
        if euid != 0:
            return Layer(
                "rlimits",
                True,
                f"binding (children are unprivileged), but RLIMIT_NPROC counts every "
                f"process of uid {euid}, the zygote's included",
            )
        return Layer(
            "rlimits",
            False,
            "children keep uid 0: CAP_SYS_RESOURCE lets them raise their limits and "
            "RLIMIT_NPROC does not bind root",
        )

    def _prepare_netns(self) -> Layer:
        if not self._config.use_netns:
            return Layer("netns", False, "disabled by config")
        try:
            _unshare(_CLONE_NEWNET)
        except OSError as exc:
            hint = " (needs CAP_SYS_ADMIN)" if exc.errno == errno.EPERM else ""
            return Layer(
                "netns", False, f"unavailable: unshare(CLONE_NEWNET): {_describe(exc)}{hint}"
            )
        return Layer(
            "netns",
            True,
            "zygote and children share a new, empty network namespace (loopback down): "
            "no route anywhere, 127.0.0.1 included",
        )

    def workdir_ruleset(self, workdir: str) -> int | None:
        """The Landlock ruleset for children working in `workdir` (a descriptor the
        caller closes), or None where Landlock is not in force.  Raises OSError."""
        prepared = self._prepared
        if prepared is None or prepared.landlock is None:
            return None
        return prepared.landlock.ruleset(workdir)

    def apply_in_child(self, workdir: str, slot: int, ruleset: int | None = None) -> None:
        """Lock down this (forked, still privileged) child. Raises IsolationError.

        `ruleset`: `workdir_ruleset(workdir)`, made before the fork; None builds it here."""
        prepared = self._prepared
        if prepared is None:
            raise IsolationError("apply_in_child before prepare_zygote")
        step = "uid"
        try:
            if prepared.drop_uid:
                ident = self.uid_for(slot)
                _drop_to(ident, ident)
            if not prepared.no_new_privs_inherited:
                step = "no_new_privs"
                _checked_prctl(_PR_SET_NO_NEW_PRIVS, 1)
            if prepared.landlock is not None:
                step = "landlock"
                if ruleset is None:
                    prepared.landlock.apply(workdir)
                else:
                    prepared.landlock.enforce(ruleset)
            if prepared.seccomp is not None:
                step = "seccomp"
                prepared.seccomp.load()
        except IsolationError:
            raise
        except Exception as exc:
            raise IsolationError(f"{step}: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{name} {exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}"


# --- probe: verify every layer empirically ---------------------------------------------

_FRESH_IMPORT = "fractions"  # a stdlib module, imported anew to prove the stdlib is readable


@dataclass(frozen=True)
class _ProbeSite:
    workdir: str
    outside: str  # writable by the child's uid, outside its work dir
    secret: str  # root-only file inside the work dir
    zygote_pid: int


def _expect_denied(action: Callable[[], object], what: str) -> str | None:
    """None when `action` fails with a permission error, else the complaint."""
    try:
        action()
    except PermissionError:
        return None
    except OSError as exc:
        return f"{what}: {_describe(exc)}, expected EPERM/EACCES"
    return f"{what}: allowed"


def _check_landlock(site: _ProbeSite) -> list[str]:
    problems = [
        _expect_denied(lambda: open("/etc/passwd", "rb").close(), "read /etc/passwd"),
        _expect_denied(
            lambda: open(os.path.join(site.outside, "x"), "wb").close(),
            "write outside the work dir",
        ),
        _expect_denied(
            lambda: open(f"/proc/{site.zygote_pid}/environ", "rb").close(),
            "read the zygote's /proc entry",
        ),
    ]
    try:
        with open(os.path.join(site.workdir, "probe.txt"), "w") as handle:
            handle.write("ok")
        with open("/dev/null", "w") as handle:
            handle.write("ok")
        sys.modules.pop(_FRESH_IMPORT, None)
        importlib.import_module(_FRESH_IMPORT)
    except Exception as exc:
        problems.append(f"allowed access failed: {_describe(exc)}")
    return [p for p in problems if p]


def _check_seccomp() -> list[str]:
    problems = [
        _expect_denied(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM), "AF_INET"),
        _expect_denied(lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM), "AF_INET6"),
        _expect_denied(lambda: os.setpgid(0, 0), "setpgid"),
        _expect_denied(os.setsid, "setsid"),
        _expect_denied(lambda: _unshare(0x10000000), "unshare(CLONE_NEWUSER)"),
    ]
    try:
        left, right = socket.socketpair(socket.AF_UNIX)
        left.sendall(b"x")
        if right.recv(1) != b"x":
            problems.append("AF_UNIX socketpair lost data")
        left.close()
        right.close()
        import threading  # not at the top: see subprocess above

        seen: list[int] = []
        worker = threading.Thread(target=lambda: seen.append(1))
        worker.start()
        worker.join()
        if seen != [1]:
            problems.append("thread did not run")
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 7:
            problems.append(f"forked child ended with status {status}")
    except Exception as exc:
        problems.append(f"allowed call failed: {_describe(exc)}")
    return [p for p in problems if p]


def _check_uid(expected: int, site: _ProbeSite) -> list[str]:
    problems: list[str | None] = []
    if os.getresuid() != (expected,) * 3 or os.getresgid() != (expected,) * 3:
        problems.append(f"ids are {os.getresuid()}/{os.getresgid()}, expected {expected}")
    if os.getgroups():
        problems.append(f"supplementary groups {os.getgroups()}")
    problems.append(_expect_denied(lambda: os.setuid(0), "setuid(0)"))
    problems.append(
        _expect_denied(lambda: open(site.secret, "rb").close(), "read a root-only file")
    )
    return [p for p in problems if p]


def _check_rlimits() -> list[str]:
    import resource

    problems: list[str] = []
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 64), 64))
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 65))
        problems.append("raised a hard limit")
    except (ValueError, PermissionError):
        pass
    resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))
    try:
        pid = os.fork()
    except BlockingIOError:
        return problems
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    problems.append("fork succeeded past RLIMIT_NPROC=1")
    return problems


def _verify_child(isolation: Isolation, site: _ProbeSite, slot: int) -> dict[str, Any]:
    """In a fresh child of the probe zygote: apply, then test each layer."""
    report = isolation.report
    assert report is not None
    os.chdir(site.workdir)
    started = time.perf_counter_ns()
    isolation.apply_in_child(site.workdir, slot)
    cost_us = (time.perf_counter_ns() - started) / 1000
    active = {layer.name for layer in report.layers if layer.active}
    found: dict[str, list[str]] = {}
    if "uid" in active:
        found["uid"] = _check_uid(isolation.uid_for(slot), site)
    if "no_new_privs" in active:
        found["no_new_privs"] = [] if no_new_privs() else ["not set"]
    if "landlock" in active:
        found["landlock"] = _check_landlock(site)
    if "seccomp" in active:
        found["seccomp"] = _check_seccomp()
    if "rlimits" in active:  # last: it leaves the child unable to fork
        found["rlimits"] = _check_rlimits()
    return {"cost_us": cost_us, "problems": found}


def _check_netns(caller_netns: str | None) -> list[str]:
    problems: list[str] = []
    try:
        if caller_netns is not None and os.readlink("/proc/self/ns/net") == caller_netns:
            problems.append("still in the caller's network namespace")
    except OSError:
        pass
    probe_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe_socket.settimeout(1.0)
        probe_socket.connect(("127.0.0.1", 9))
        problems.append("connected to 127.0.0.1")
    except ConnectionRefusedError:
        problems.append("127.0.0.1 reachable (connection refused)")
    except OSError:
        pass
    finally:
        probe_socket.close()
    return problems


def _probe_zygote(
    config: IsolationConfig, site: _ProbeSite, slot: int, caller_netns: str | None
) -> dict[str, Any]:
    isolation = Isolation(config)
    started = time.perf_counter()
    report = isolation.prepare_zygote()
    prepare_ms = (time.perf_counter() - started) * 1000
    site = replace(site, zygote_pid=os.getpid())
    problems: dict[str, list[str]] = {}
    if report.layer("netns").active:
        problems["netns"] = _check_netns(caller_netns)
    cost_us: float | None = None
    try:
        child = _in_child(lambda: _verify_child(isolation, site, slot), timeout=20.0)
        cost_us = float(child["cost_us"])
        problems.update(child["problems"])
    except IsolationError as exc:
        for name in ("uid", "no_new_privs", "landlock", "seccomp", "rlimits"):
            problems.setdefault(name, [f"verification child failed: {exc}"])
    return {
        "report": report.to_dict(),
        "problems": problems,
        "cost_us": cost_us,
        "prepare_ms": prepare_ms,
    }


def _make_site(config: IsolationConfig, slot: int) -> tuple[str, _ProbeSite]:
    base = tempfile.mkdtemp(prefix="codeloop-probe-")
    os.chmod(base, 0o711)  # noqa: S103 - the child's uid must traverse it to its work dir
    workdir = os.path.join(base, "work")
    outside = os.path.join(base, "outside")
    os.mkdir(workdir, 0o700)
    os.mkdir(outside, 0o700)
    secret = os.path.join(workdir, "root-only")
    with open(secret, "w") as handle:
        handle.write("secret")
    os.chmod(secret, 0o600)
    if os.geteuid() == 0 and config.drop_uid:
        ident = config.uid_base + slot
        os.chown(workdir, ident, ident)
        os.chown(outside, ident, ident)
    return base, _ProbeSite(workdir, outside, secret, zygote_pid=0)


def probe(
    config: IsolationConfig | None = None, slot: int = 0, timeout: float = 60.0
) -> IsolationReport:
    """Prepare a throwaway zygote in a forked child (this process keeps its network), apply
    the isolation in its child, and test every layer there. A layer is reported active
    only when the test confirmed it; the report carries apply_in_child's measured cost."""
    config = config or IsolationConfig()
    if not 0 <= slot < config.uid_count:
        raise IsolationError(f"slot {slot} outside 0..{config.uid_count - 1}")
    try:
        caller_netns: str | None = os.readlink("/proc/self/ns/net")
    except OSError:
        caller_netns = None
    base, site = _make_site(config, slot)
    try:
        outcome = _in_child(
            lambda: _probe_zygote(config, site, slot, caller_netns), timeout, new_group=True
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    prepared = IsolationReport.from_dict(outcome["report"])
    problems: dict[str, list[str]] = outcome["problems"]
    layers = []
    for layer in prepared.layers:
        if not layer.active:
            layers.append(layer)
        elif layer.name not in problems:
            layers.append(Layer(layer.name, False, f"{layer.detail}; NOT verified"))
        elif problems[layer.name]:
            failed = "; ".join(problems[layer.name])
            layers.append(Layer(layer.name, False, f"verification failed: {failed}"))
        else:
            layers.append(Layer(layer.name, True, f"{layer.detail}; verified"))
    cost = outcome["cost_us"]
    return IsolationReport(tuple(layers), None if cost is None else float(cost))
