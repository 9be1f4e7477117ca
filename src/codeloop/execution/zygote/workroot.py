"""Where runs live: the work root (a private tmpfs per slot where the zygote is root), and
each slot's work dir, the same directory run after run, emptied in between."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import tempfile
from typing import Any

from codeloop.execution.zygote.state import Workdir, ZygoteState, c_library

CLONE_NEWNS = 0x00020000
MS_NOSUID = 2
MS_NODEV = 4
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
WORKDIR_BYTES = 64 * 1024 * 1024


class WorkRoot(ZygoteState):
    """The work root and the slots' work dirs."""

    def _prepare_workroot(self) -> dict[str, Any]:
        """Where run directories live, and the layer that says how they are bounded.

        As root, the zygote takes a private mount namespace and gives every slot its own
        small tmpfs: a run's files are cheap to create and remove, live in memory, and are
        capped in total (RLIMIT_FSIZE caps only each file).  Otherwise runs share /dev/shm
        (or the temp dir) with a per-file cap only, and the layer says so.
        """
        size = int(self.config.get("workdir_bytes", WORKDIR_BYTES))
        if os.geteuid() == 0 and not self.config.get("tmpdir"):
            try:
                libc = c_library()
                if libc.unshare(CLONE_NEWNS) != 0:
                    raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
                if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
                    raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
                self.workroot = tempfile.mkdtemp(prefix="codeloop-sbx-")
                os.chmod(self.workroot, 0o711)  # noqa: S103 - children traverse, never list
                self.slot_mount_options = f"size={size},mode=0711,nr_inodes=4096".encode()
                return {
                    "name": "workdir",
                    "active": True,
                    "detail": f"each run in a private tmpfs of {size >> 20} MiB "
                    "(files, inodes and total size capped)",
                }
            except OSError as exc:
                detail = f"private tmpfs unavailable ({exc}); "
        else:
            detail = "not root: " if os.geteuid() != 0 else "work dir base given: "
        base = self.config.get("tmpdir")
        if not base and os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
            base = "/dev/shm"
        self.workroot = tempfile.mkdtemp(prefix="codeloop-sbx-", dir=base)
        os.chmod(self.workroot, 0o711)  # noqa: S103 - children traverse, never list
        return {
            "name": "workdir",
            "active": False,
            "detail": detail + f"runs share {base or tempfile.gettempdir()}; only each "
            "file is capped (RLIMIT_FSIZE), not their total",
        }

    def _slot_dir(self, slot: int) -> str:
        """The directory a slot's runs live under (its own tmpfs when available)."""
        path = os.path.join(self.workroot, f"s{slot}")
        if slot not in self.slot_dirs:
            os.mkdir(path, 0o711)
            if self.slot_mount_options:
                libc = c_library()
                if (
                    libc.mount(
                        b"tmpfs",
                        path.encode(),
                        b"tmpfs",
                        MS_NOSUID | MS_NODEV,
                        self.slot_mount_options,
                    )
                    != 0
                ):
                    raise OSError(ctypes.get_errno(), f"mount tmpfs on {path}")
            self.slot_dirs.add(slot)
        return path

    def _workdir(self, slot: int) -> Workdir:
        """The slot's work dir, made at its first run (or after one left it unclearable)."""
        made = self.workdirs.get(slot)
        if made is not None:
            return made
        self.seq += 1
        path = os.path.join(self._slot_dir(slot), f"w{self.seq}")
        os.mkdir(path, 0o700)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            if self.isolation is not None and self.isolation.drops_uid:
                uid = self.isolation.uid_for(self.slot_base + slot)
                os.fchown(fd, uid, uid)
            ruleset = None
            if self.isolation is not None:
                ruleset = self.isolation.workdir_ruleset(path)
        except BaseException:
            os.close(fd)
            shutil.rmtree(path, ignore_errors=True)
            raise
        st = os.fstat(fd)
        made = Workdir(path, fd, (st.st_dev, st.st_ino), ruleset)
        self.workdirs[slot] = made
        return made

    def _clear_workdir(self, slot: int) -> None:
        """Empty a slot's work dir for its next run, through its descriptor.  Where that
        fails (a program's directory without permissions, under a non-root zygote) or
        the path no longer names it, the slot's next run gets a new work dir and ruleset;
        this one is left as it is, out of every later run's reach."""
        place = self.workdirs[slot]
        fd = place.fd
        try:
            st = os.lstat(place.path)
            if (st.st_dev, st.st_ino) == place.ident:
                os.fchmod(fd, 0o700)  # the program owns it and may have changed its mode
                # Most programs leave only their output file: two syscalls, no tree walk.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(".output", dir_fd=fd)
                left = os.listdir(fd)
                for name in left:
                    try:
                        os.unlink(name, dir_fd=fd)
                    except IsADirectoryError:
                        shutil.rmtree(name, ignore_errors=True, dir_fd=fd)
                    except FileNotFoundError:
                        pass
                if not left or not os.listdir(fd):
                    return
        except OSError:
            pass
        del self.workdirs[slot]
        os.close(fd)
        if place.ruleset is not None:
            os.close(place.ruleset)

    def _remove_workroot(self) -> None:
        """At shutdown: unmount the slots' tmpfs and remove the work root."""
        libc = c_library() if self.slot_mount_options else None
        for slot in self.slot_dirs:
            if libc is not None:
                libc.umount2(os.path.join(self.workroot, f"s{slot}").encode(), MNT_DETACH)
        shutil.rmtree(self.workroot, ignore_errors=True)
