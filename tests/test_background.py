"""stancebench.background: a call in a forked process, its result, its errors, its end."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from stancebench.background import DeferredCall, ForkedCall, fork_available, start
from stancebench.errors import UserError

pytestmark = pytest.mark.skipif(not fork_available(), reason="fork is used on Linux only")


def test_the_result_comes_back_from_another_process():
    big = np.arange(2_000_000, dtype=np.float64)  # inherited by the child, not sent to it
    with ForkedCall(lambda scale: (os.getpid(), big * scale), 2.0) as call:
        pid, doubled = call.result()
    assert pid != os.getpid()
    np.testing.assert_array_equal(doubled, big * 2.0)


def test_an_exception_in_the_child_is_raised_in_the_parent_with_the_childs_traceback():
    def fails():
        raise UserError("training fold 3 has one class only")

    with pytest.raises(UserError, match="^training fold 3 has one class only") as info:
        ForkedCall(fails).result()
    assert str(info.value) == "training fold 3 has one class only"  # what the CLI prints: one line
    note = "\n".join(getattr(info.value, "__notes__", []))
    assert "raised in a forked process" in note and "in fails" in note


def test_a_child_that_dies_is_one_clear_error_naming_how():
    with pytest.raises(UserError, match=r"the tiny fit process ended without a result \(exit code 3\); try this"):
        ForkedCall(os._exit, 3, what="tiny fit", hint="try this").result()


def test_a_child_killed_by_the_kernel_suggests_memory():
    def killed():
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(UserError, match=r"killed by signal 9\) \(out of memory\?\)"):
        ForkedCall(killed).result()


def test_an_unpicklable_result_is_reported_not_lost():
    with pytest.raises(RuntimeError, match="could not be sent back"):
        ForkedCall(lambda: (lambda: None)).result()


def test_cancel_stops_a_running_child_at_once():
    call = ForkedCall(time.sleep, 60)
    started = time.perf_counter()
    call.cancel()
    assert time.perf_counter() - started < 5
    assert not call._process.is_alive()


def test_leaving_the_block_on_an_error_stops_the_child():
    with pytest.raises(KeyError):
        with ForkedCall(time.sleep, 60) as call:
            raise KeyError("the tracking store failed")
    assert not call._process.is_alive()


def test_start_without_fork_runs_in_this_process_only_when_asked():
    calls = []
    deferred = start(lambda x: calls.append(x) or os.getpid(), 7, fork=False)
    assert isinstance(deferred, DeferredCall) and calls == []
    assert deferred.result() == os.getpid() and calls == [7]
    assert isinstance(start(os.getpid, fork=True), ForkedCall)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie lingers until whoever adopted it reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_child_leaves_ctrl_c_to_the_parent_and_dies_with_it():
    # A parent that forks a sleeping child, then is SIGKILLed: the child must go too (no orphan
    # fitting for minutes), and a SIGINT to the child meanwhile must not end it.
    import subprocess
    import sys

    code = (
        "import os, sys, time, signal\n"
        "from stancebench.background import ForkedCall\n"
        "call = ForkedCall(time.sleep, 60)\n"
        "print(call._process.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        time.sleep(0.3)
        os.kill(child, signal.SIGINT)
        time.sleep(0.3)
        assert _running(child)  # still there: SIGINT is ignored in the child
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not _running(child):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the forked child outlived its killed parent")
    finally:
        if parent.poll() is None:
            parent.kill()
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
