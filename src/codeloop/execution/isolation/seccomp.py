"""The seccomp layer: a BPF filter compiled once (in a helper process), installed in each
child with one prctl."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import socket
import stat

from codeloop.execution.isolation.kernel import checked_prctl, in_child

_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
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


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class SeccompProgram:
    """A BPF program exported by libseccomp, ready for PR_SET_SECCOMP."""

    def __init__(self, program: bytes) -> None:
        if not program or len(program) % 8:
            raise ValueError(f"bad BPF program length {len(program)}")
        self.instructions = len(program) // 8
        self._buffer = ctypes.create_string_buffer(program, len(program))
        self._fprog = _SockFprog(self.instructions, ctypes.addressof(self._buffer))
        self._address = ctypes.addressof(self._fprog)

    def load(self) -> None:
        checked_prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, self._address)


def build_seccomp_program() -> tuple[SeccompProgram, str]:
    """The filter, built in a forked helper process: pyseccomp imports ctypes.util, which
    imports subprocess and threading, and threading's after-fork hook would then run in
    every child of the zygote (about 120 page faults, a tenth of a short run's)."""
    program, detail = in_child(_seccomp_bpf, timeout=60.0)
    return SeccompProgram(bytes.fromhex(program)), detail


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
        program = handle.read().hex()  # JSON-able, for in_child
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
