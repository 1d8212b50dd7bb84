"""One function's result computed in a forked helper process, or here when that fails.

A command that starts with a long stretch of imports on one core (``milkbayes
reanalyze``: about 2 s before its background worker exists) leaves the other core
idle. Work that needs none of those imports can fill it: :meth:`ForkedCall.start`
forks a helper that calls ``work()`` at once, and :meth:`ForkedCall.result` returns
what it returned, sent back by ``multiprocessing``'s connection (which pickles it, as
it does the reanalysis worker's results) over a pipe opened before the fork and
shared only with the helper: nothing from outside the two processes is unpickled.

The helper is an accelerator and nothing more: when it cannot be forked (not
Linux), fails, dies, is interrupted or has not answered within
:data:`HELPER_PATIENCE_SECONDS`, :meth:`ForkedCall.result` calls ``work()`` in the
calling process, which then raises where it always did. Either way the result is
what ``work()`` returns: the same function on the same inputs (a forked process has
the caller's memory), only computed in another process.

Notes
-----
A fork copies only the calling thread, and a lock held by another thread stays
locked in the child. Fork the helper before starting threads of one's own; the
threads that may then be alive are idle native pools that prepare for a fork
themselves (OpenBLAS's) and, under a progress display, a Python heartbeat thread
whose only lock guards the output streams, which the helper never writes to: its
standard streams go to ``/dev/null`` at once (:func:`detach_from_parent`). The
helper dies with the calling process (``PR_SET_PDEATHSIG``; its end of the pipe
closes too) and leaves by ``os._exit``, running no exit handler of the caller.

Examples
--------
>>> call = ForkedCall.start(lambda: sum(range(10)))
>>> call.result()
45
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

__all__ = [
    "HELPER_PATIENCE_SECONDS",
    "ForkedCall",
    "detach_from_parent",
    "end_helper",
    "fork_helper",
]

HELPER_PATIENCE_SECONDS = 300.0
"""How long :meth:`ForkedCall.result` waits for the helper before ending it.

A helper that never answers (none has been seen; a lock inherited through the fork
is the conceivable cause) must not hang the command: after this long it is killed
and the work done in the calling process. Far beyond what the work handed to a
helper takes (seconds)."""


class ForkedCall:
    """``work()`` running in a forked helper process (see the module's description).

    Use :meth:`start`, then :meth:`result` once; :meth:`close` ends the helper
    without waiting (on an error; closing twice is harmless). Only the process
    that started the helper ends or reaps it: a copy of this object inherited by
    another forked process does nothing.

    Attributes
    ----------
    pid : int or None
        The helper's process id while it runs; None without one or once reaped.
    computed_by : {"helper", "caller"} or None
        Where :meth:`result`'s value came from (None before it is asked).
    """

    def __init__(self, work: Callable[[], Any], pid: int | None, connection: Any):
        self._work = work
        self.pid = pid
        self._connection = connection
        self._owner = os.getpid()
        self.computed_by: str | None = None

    @classmethod
    def start(cls, work: Callable[[], Any]) -> ForkedCall:
        """Fork a helper that calls ``work()`` now.

        Without a fork (not Linux, no descriptors left), the returned object computes
        ``work()`` in this process when :meth:`result` is asked.
        """
        forked = fork_helper(lambda connection, parent: _helper(connection, work, parent))
        if forked is None:
            return cls(work, None, None)
        return cls(work, *forked)

    def result(self) -> Any:
        """``work()``'s value: the helper's, else computed here (see the module's notes)."""
        answer = None
        if self.pid is not None and self._owner == os.getpid():
            try:
                if self._connection.poll(HELPER_PATIENCE_SECONDS):
                    answer = self._connection.recv()
            except Exception:  # noqa: BLE001 - a broken or unreadable answer: computed here
                answer = None
            finally:
                self.close()
        if isinstance(answer, tuple) and len(answer) == 2 and answer[0] is True:
            self.computed_by = "helper"
            return answer[1]
        self.computed_by = "caller"
        return self._work()

    def close(self) -> None:
        """End the helper (if still running) and reap it; in its starter only."""
        if self.pid is None or self._owner != os.getpid():
            return
        pid, self.pid = self.pid, None
        end_helper(pid)
        try:
            self._connection.close()
        except OSError:  # pragma: no cover - already closed
            pass

    def __del__(self) -> None:
        """End a helper whose result was never asked: no helper outlives its caller's need."""
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - at interpreter exit anything may be gone
            pass


def end_helper(pid: int) -> None:
    """Kill the helper ``pid`` if it still runs, and reap it (its starter only)."""
    import signal

    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    except ChildProcessError:  # pragma: no cover - reaped elsewhere
        pass


def fork_helper(
    child: Callable[[Any, int], Any], *, duplex: bool = False
) -> tuple[int, Any] | None:
    """Fork a helper process that runs ``child(connection, parent_pid)`` and never returns.

    The two processes share only a ``multiprocessing`` pipe opened before the fork
    (one-way, helper to caller, unless ``duplex``); the standard streams are flushed
    first so that nothing buffered is copied into the helper, and ``child`` must end
    with ``os._exit``. Returns the helper's process id and the caller's end of the
    pipe, or None when no helper can be forked (not Linux, no descriptors left, a
    closed stream, the fork refused): the caller then does the work itself.
    """
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return None
    from multiprocessing import Pipe

    try:
        ours, theirs = Pipe(duplex=duplex)
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return None
    parent = os.getpid()
    try:
        with warnings.catch_warnings():
            # Python warns of any fork while other threads run; the threads that may
            # be alive here are those of the module's notes
            warnings.filterwarnings(
                "ignore", message=r".*multi-threaded.*fork", category=DeprecationWarning
            )
            pid = os.fork()
    except OSError:
        ours.close()
        theirs.close()
        return None
    if pid == 0:  # pragma: no cover - the helper (checked through what it sends)
        ours.close()
        child(theirs, parent)
        os._exit(1)  # a child that returned: end the helper all the same
    theirs.close()
    return pid, ours


def _helper(  # pragma: no cover - checked through what it returns
    connection: Any, work: Callable[[], Any], parent: int
) -> None:
    """The helper's life: ``work()``, ``(True, value)`` sent to the caller, then ``os._exit``.

    A value that cannot be pickled raises before anything is written, and the
    caller then gets ``(False, None)`` and computes the value itself.
    """
    status = 1
    try:
        detach_from_parent(parent)
        connection.send((True, work()))
        status = 0
    except BaseException:  # noqa: BLE001 - the caller computes it itself
        try:
            connection.send((False, None))
        except BaseException:  # noqa: BLE001, S110 - the caller is gone or interrupted
            pass
    finally:
        os._exit(status)


def detach_from_parent(parent: int) -> None:  # pragma: no cover - runs in a helper
    """Cut a forked helper from its parent's streams, signals, profiler and lifetime.

    Its standard streams go to ``/dev/null``; the inherited stream objects are left
    untouched (never flushed: the parent writes what they hold) and kept referenced
    (a finalised stream flushes). It drops a profiler the parent runs, takes the
    default handlers of SIGINT and SIGTERM, and is killed when the parent dies
    (``PR_SET_PDEATHSIG``); it exits at once if the parent is already gone.
    """
    import signal
    import threading

    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    _SET_ASIDE.extend(s for s in (sys.stdout, sys.stderr) if s is not None)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the helper's life
    sys.setprofile(None)
    threading.setprofile(None)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent ended before the prctl took effect
        os._exit(1)


_SET_ASIDE: list[Any] = []
"""The parent's stream objects, kept referenced in a helper (see :func:`detach_from_parent`)."""
