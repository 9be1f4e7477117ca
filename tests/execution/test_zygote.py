"""A zygote's slot work dirs (the same directory run after run, emptied in between), when
its loop wakes, and how it reads a run's CPU time."""

import os
import subprocess
import sys
import time

import pytest

from codeloop.execution import zygote as zygote_module
from codeloop.execution.zygote import Run, Zygote, procfs, workroot


@pytest.fixture
def zygote(tmp_path):
    made = Zygote({"slot_base": 0, "slot_count": 2})
    made.workroot = str(tmp_path / "root")
    os.mkdir(made.workroot)
    yield made
    for place in made.workdirs.values():
        os.close(place.fd)


def litter(path: str) -> None:
    os.makedirs(os.path.join(path, "a", "b"))
    for name in (".output", "top", os.path.join("a", "b", "f")):
        with open(os.path.join(path, name), "w") as handle:
            handle.write("x")
    os.symlink("/", os.path.join(path, "link"))
    os.chmod(path, 0o755)


def test_a_work_dir_is_emptied_and_kept_for_the_slots_next_run(zygote):
    first = zygote._workdir(0)
    litter(first.path)
    zygote._clear_workdir(0)
    again = zygote._workdir(0)
    assert again is first
    assert os.listdir(first.path) == []
    assert oct(os.stat(first.path).st_mode & 0o777) == oct(0o700)
    assert zygote._workdir(1).path != first.path  # each slot its own


def test_a_work_dir_that_cannot_be_emptied_is_replaced(zygote, monkeypatch):
    first = zygote._workdir(0)
    litter(first.path)
    monkeypatch.setattr(workroot.shutil, "rmtree", lambda *a, **k: None)  # "a" stays
    open_fds = len(os.listdir("/proc/self/fd"))
    zygote._clear_workdir(0)
    fresh = zygote._workdir(0)
    assert fresh.path != first.path and os.listdir(fresh.path) == []
    assert os.fstat(fresh.fd).st_ino == os.stat(fresh.path).st_ino
    assert len(os.listdir("/proc/self/fd")) == open_fds  # the old descriptor was closed


def test_a_work_dir_swapped_for_a_link_is_not_followed(zygote, tmp_path):
    """Without Landlock, a program that outlives its run could rename its work dir and
    put a link to somewhere else in its place: clearing must not empty that place."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / ".output").write_text("keep")
    (victim / "precious").write_text("keep")
    victim.chmod(0o751)
    first = zygote._workdir(0)
    os.rename(first.path, first.path + "-moved")
    os.symlink(victim, first.path)
    zygote._clear_workdir(0)
    assert sorted(os.listdir(victim)) == [".output", "precious"]
    assert oct(victim.stat().st_mode & 0o777) == oct(0o751)
    fresh = zygote._workdir(0)
    assert fresh.path != first.path and os.path.realpath(fresh.path) == fresh.path


def test_a_run_being_ended_is_waited_on_without_spinning(zygote):
    now = time.monotonic()
    run = Run(
        job=None,  # type: ignore[arg-type]
        pid=1,
        chan_fd=-1,
        slot=0,
        out_fd=-1,
        shm=None,  # type: ignore[arg-type]
        started=now - 1.0,
        started_ns=time.monotonic_ns() - 1_000_000_000,
        cpu_limit_s=1.0,
        check_at=now - 0.5,
        test_indices=[0],
    )
    zygote.runs[run.pid] = run
    assert zygote._next_timeout() == 0.0  # its budget is due a look: look at it now
    run.reason, run.kill_at = "timeout", now + 0.05
    assert 0.0 < zygote._next_timeout() <= 0.05  # asked to flush: killed when the grace ends
    # Killed: nothing is due until its exit wakes the loop.  Its past deadline used to give
    # a zero timeout, so the loop spun until the reap (in CodeT's run, 30,416 of a zygote's
    # 42,858 turns on 60 tasks).
    run.kill_at = 0.0
    assert zygote._next_timeout() is None
    run.per_test = [0.1]  # with per-test limits the loop still looks every poll interval
    assert zygote._next_timeout() == zygote_module.POLL_INTERVAL_S


def _cpu_s_from_proc(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rpartition(b")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_another_processs_cpu_time_is_read_from_its_cpu_clock():
    """The zygote reads a run's CPU time through the process CPU clock of its pid: the
    kernel's own count (utime + stime), readable for any process, None once it is gone."""
    busy = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
    try:
        time.sleep(0.3)
        before = _cpu_s_from_proc(busy.pid)
        cpu = procfs.process_cpu_ns(busy.pid)
        after = _cpu_s_from_proc(busy.pid)
        assert cpu is not None and cpu > 0
        # /proc counts in clock ticks (10 ms); the clock in nanoseconds
        assert before - 0.02 <= cpu / 1e9 <= after + 0.02
    finally:
        busy.kill()
        busy.wait()
    assert procfs.process_cpu_ns(busy.pid) is None


def test_a_runs_cpu_time_includes_its_own_processes(zygote):
    """A program that hands its work to child processes still spends its own budget: once
    the run is seen with children, their CPU time counts (a fork bomb used to outlive its
    limit by a minute, each of its 64 processes spinning under RLIMIT_CPU alone)."""
    program = "import os\nif os.fork() == 0:\n    while 1: pass\nos.wait()\n"
    parent = subprocess.Popen([sys.executable, "-c", program], start_new_session=True)
    try:
        now = time.monotonic()
        run = Run(
            job=None,  # type: ignore[arg-type]
            pid=parent.pid,
            chan_fd=-1,
            slot=0,
            out_fd=-1,
            shm=None,  # type: ignore[arg-type]
            started=now,
            started_ns=time.monotonic_ns(),
            cpu_limit_s=10.0,
            test_indices=[0],
        )
        zygote.runs[run.pid] = run
        deadline = time.monotonic() + 60
        child_cpu = 0
        while child_cpu < 0.1e9 and time.monotonic() < deadline:  # however busy the machine
            time.sleep(0.05)
            children = procfs.child_pids(parent.pid)
            if children:
                child_cpu = procfs.process_cpu_ns(children[0]) or 0
        own = procfs.process_cpu_ns(parent.pid)
        assert own is not None and child_cpu >= 0.1e9
        cpu = zygote._run_cpu_ns(run, time.monotonic_ns())
        assert run.forked
        assert cpu is not None and cpu >= own + child_cpu  # its spinning child's time counts
    finally:
        os.killpg(parent.pid, 9)
        parent.wait()
