"""The Landlock layer: a ruleset planned once in the zygote (read-only system paths, a
read-write work dir, network rights and scopes where the ABI has them), enforced in each
child with a few syscalls."""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterable

from codeloop.execution.isolation.config import READ_WRITE_FILES

# Landlock constants the package does not define (ABI 4 network rights, ABI 6 scopes).
_LANDLOCK_RULE_PATH_BENEATH = 1
_LANDLOCK_ACCESS_NET_BIND_TCP = 1 << 0
_LANDLOCK_ACCESS_NET_CONNECT_TCP = 1 << 1
_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_LANDLOCK_SCOPE_SIGNAL = 1 << 1


class _RulesetAttr(ctypes.Structure):
    # struct landlock_ruleset_attr as of ABI 6; the kernel reads only the fields it knows.
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class LandlockPlan:
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


def plan_landlock(
    read_only: Iterable[str],
) -> tuple[LandlockPlan, str]:
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
    plan = LandlockPlan(abi, attr, size, tuple(rules), workdir_access)
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
