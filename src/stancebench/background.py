"""Running a CPU-bound step in a forked process while this one gets on with other work.

``train`` uses it for TF-IDF fits: the child inherits the loaded data and libraries (no pickling of
inputs, no re-imports), fits on one core while the parent opens the MLflow store, starts the run and
imports what logging needs on another, and sends back the fitted model and predictions.  Only the
result crosses the pipe (pickled); a child that raises sends its exception, with the child's
traceback attached as a note.

Only the forking thread lives on in the child.  At the fork in ``train`` the one other Python thread
is tqdm's progress-bar monitor (from loading the data), whose lock the child's scikit-learn code
never takes; that is why this is used for TF-IDF fits only, not for code that may use threads.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from stancebench.errors import UserError


def fork_available() -> bool:
    """Forking a process that has loaded scientific libraries is dependable on Linux only."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask: taskset, cgroup cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class ForkedCall:
    """``fn(*args, **kwargs)`` started at once in a forked child; :meth:`result` waits for it.

    ``what`` names the work, and ``hint`` the way out, in the one-line :class:`UserError` raised when
    the child dies without an answer (killed for memory, say).  Call
    :meth:`cancel` (or use the object as a context manager) so that an error in the parent never
    leaves the child running.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, what: str = "background", hint: str = "",
                 **kwargs: Any):
        context = multiprocessing.get_context("fork")
        self.what, self.hint = what, hint
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_child, args=(os.getpid(), send, fn, args, kwargs), daemon=True,
                                        name=f"stancebench {what}")
        self._process.start()
        send.close()  # the parent keeps only the reading end: EOF then means the child is gone

    def result(self) -> Any:
        try:
            ok, value = self._receive.recv()
        except EOFError:
            self._process.join()
            code = self._process.exitcode
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            memory = " (out of memory?)" if code == -9 else ""
            hint = f"; {self.hint}" if self.hint else ""
            raise UserError(f"the {self.what} process ended without a result ({how}){memory}{hint}") from None
        except Exception as exc:  # an exception class that does not unpickle, say
            self.cancel()
            raise RuntimeError(f"the {self.what}'s answer could not be read: {exc}") from exc
        finally:
            self._receive.close()
        self._process.join()
        if ok:
            return value
        raise value

    def cancel(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()

    def __enter__(self) -> ForkedCall:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.cancel()


class DeferredCall:
    """The in-process stand-in of :class:`ForkedCall`: ``fn`` runs when :meth:`result` is called."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        self._call = (fn, args, kwargs)

    def result(self) -> Any:
        fn, args, kwargs = self._call
        return fn(*args, **kwargs)

    def cancel(self) -> None:
        pass

    def __enter__(self) -> DeferredCall:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        pass


def start(fn: Callable[..., Any], *args: Any, fork: bool, what: str = "background", hint: str = "",
          **kwargs: Any) -> ForkedCall | DeferredCall:
    """``fn(*args, **kwargs)`` in a forked child started now (``fork``), or in this process on ``result()``."""
    if fork:
        return ForkedCall(fn, *args, what=what, hint=hint, **kwargs)
    return DeferredCall(fn, *args, **kwargs)


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (``kill -9`` of the command included)."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not glibc/musl Linux: the parent's cancel() still applies
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _child(parent: int, send, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    import signal

    # Ctrl-C reaches the whole process group: the parent handles it (and cancels this process);
    # the child neither races it with an exception of its own nor outlives it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    try:
        message = (True, fn(*args, **kwargs))
    except BaseException as exc:
        exc.add_note(f"(raised in a forked process)\n{''.join(traceback.format_exception(exc)).rstrip()}")
        message = (False, exc)
    try:
        send.send(message)
    except Exception as exc:  # an unpicklable result or exception: say so instead of vanishing
        what = "result" if message[0] else f"exception {message[1]!r}"
        send.send((False, RuntimeError(f"the {what} could not be sent back from the forked process: {exc}")))
    finally:
        send.close()
