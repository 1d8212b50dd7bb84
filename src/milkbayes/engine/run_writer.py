"""A helper process that builds a run folder's NetCDF file while ``milkbayes fit`` ends.

After its imports, a fit that will be saved spends about half of its time on one
core: the run folder's prior draws, the NetCDF writer's imports (h5netcdf, and
``dask.distributed``, which xarray's writer asks for dask's scheduler) and the
NetCDF encoding of the tree, all while the other core is idle but for the short
sampling. :meth:`RunWriter.start` forks a helper before the chains start
(:func:`milkbayes.engine.fit.fit` with ``run_folder=True``); it draws the prior,
compiles the log-prior function and imports the writer while the chains run and the
main process compiles the log-likelihood's, then receives the rest of the run's tree
(:class:`milkbayes.engine.fit.RunTree`, pickled by ``multiprocessing`` over the
pipe shared only with it) and returns the file's bytes while
the main process computes the diagnostics and the JSON files
(:func:`milkbayes.engine.runs.save_run`).

The bytes are those the main process would build: the same functions run on the same
data and seeds (:func:`milkbayes.engine.fit.complete_run_tree`), only in another
process. The helper is an accelerator and nothing more: when it cannot be forked
(not Linux), fails, dies or is interrupted, :meth:`RunWriter.receive` returns None
and the main process builds the file itself, raising where it always did.

Notes
-----
A fork copies only the calling thread, and a lock held by another thread stays
locked in the child. The helper is forked before nutpie starts its chains; the
threads then alive are idle native pools that prepare for a fork themselves
(OpenBLAS's, pyarrow's jemalloc) and, under a progress display, a Python heartbeat
thread whose only lock guards the output streams, which the helper never writes to:
its standard streams go to ``/dev/null`` at once. The helper dies with the main
process (``PR_SET_PDEATHSIG``; its end of the pipe closes too) and leaves by
``os._exit``, running no exit handler of the main process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from milkbayes.engine.forked_call import detach_from_parent, end_helper, fork_helper

_OK, _FAILED = b"\x01", b"\x00"

HELPER_PATIENCE_SECONDS = 300.0
"""How long :meth:`RunWriter.receive` waits for the helper's bytes before ending it.

A helper that never answers (none has been seen; a lock inherited through the fork
is the conceivable cause) must not hang the command: after this long the helper is
killed and the main process builds the file itself, the same bytes. A helper that is
merely slow (a very large run with cold caches) then costs one rebuild, not a wrong
file. Five minutes is far beyond what the bundled runs and the 2,000-mother
benchmark need (well under a second of waiting).
"""


class RunWriter:
    """The helper process of one fit's run folder (see the module's description).

    Use :meth:`start`; then :meth:`send` the run's tree once, :meth:`receive` the
    NetCDF bytes, and :meth:`close` (also on error; closing twice is harmless).
    """

    def __init__(self, pid: int, connection: Any):
        self.pid = pid
        self._connection = connection
        self._sender: Any = None
        self._sent = False

    @classmethod
    def start(cls, prior_tree: Callable[[], Any], log_prior: Callable[[], Any]) -> RunWriter | None:
        """Fork the helper, which calls both callables at once (None: no fork here).

        Parameters
        ----------
        prior_tree : callable
            Returns the run folder's prior tree
            (:func:`milkbayes.engine.predictive.prior_predictive`), drawn in the helper.
        log_prior : callable
            Returns the function ``tree -> log_prior group`` of the fit's model
            (compiled in the helper while the chains run).
        """
        if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
            return None
        import xarray as xr

        # xarray imports dask.array (when installed) at its first variable, to know
        # dask's array type: both processes build variables, so once, before the fork
        xr.Variable((), 0.0)

        forked = fork_helper(
            lambda connection, parent: _helper(connection, prior_tree, log_prior, parent),
            duplex=True,
        )
        return None if forked is None else cls(*forked)

    def send(self, parts: Any) -> None:
        """Send the run's tree but its prior (:func:`milkbayes.engine.fit.run_tree_parts`).

        Sent from a thread: the helper may still be drawing the prior, and this
        process has the diagnostics to compute meanwhile.
        """
        import threading

        def deliver() -> None:
            try:
                self._connection.send(parts)  # multiprocessing's pickling, to our own child
            except Exception:  # noqa: BLE001, S110 - the helper is gone (receive() says so) or closed
                pass

        self._sender = threading.Thread(target=deliver, name="milkbayes-run-writer", daemon=True)
        self._sender.start()
        self._sent = True

    def receive(self) -> bytes | None:
        """The NetCDF file's bytes, or None when the helper failed (build them here).

        None too when the helper has not answered within
        :data:`HELPER_PATIENCE_SECONDS`; it is then ended.
        """
        import time

        if not self._sent:
            return None
        deadline = time.monotonic() + HELPER_PATIENCE_SECONDS
        try:
            self._sender.join(HELPER_PATIENCE_SECONDS)
            if self._sender.is_alive():  # the helper does not read: ended by close()
                return None
            if not self._connection.poll(max(0.0, deadline - time.monotonic())):
                return None
            message = self._connection.recv_bytes()
        except (EOFError, OSError, ValueError):
            return None
        finally:
            self.close()
        if message[:1] != _OK:
            return None
        return memoryview(message)[1:]

    def close(self) -> None:
        """End the helper (if still running) and reap it."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        end_helper(pid)
        if self._sender is not None:  # its write fails at once now that the helper is gone
            self._sender.join()
        try:
            self._connection.close()
        except OSError:  # pragma: no cover - already closed
            pass

    def __del__(self) -> None:
        """End the helper of a fit never saved: no helper outlives its result."""
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - at interpreter exit anything may be gone
            pass


def _helper(  # pragma: no cover - checked through the bytes it returns
    connection: Any, prior_tree: Callable[[], Any], log_prior: Callable[[], Any], parent: int
) -> None:
    """The helper's life: prior draws, log-prior function, writer imports; one tree."""
    status = 1
    try:
        detach_from_parent(parent)
        prior = prior_tree()
        log_prior_of = log_prior()
        from milkbayes.engine.runs import import_writer, netcdf_ready

        import_writer()
        parts = connection.recv()  # from the main process, over the pipe it made
        from milkbayes.engine.fit import complete_run_tree

        tree = netcdf_ready(complete_run_tree(parts, prior, log_prior_of))
        payload = tree.to_netcdf(engine="h5netcdf")
        connection.send_bytes(_OK + bytes(payload))
        status = 0
    except BaseException:  # noqa: BLE001 - the main process builds the file itself
        try:
            connection.send_bytes(_FAILED)
        except BaseException:  # noqa: BLE001, S110 - the main process is gone or interrupted
            pass
    finally:
        os._exit(status)
