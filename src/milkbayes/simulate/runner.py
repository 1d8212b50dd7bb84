"""Run a simulation study on local processes or a Dask cluster, with checkpoints.

A study is ``n_tasks`` independent tasks. Task ``i`` is seeded by
``numpy.random.SeedSequence(seed, spawn_key=(i,))`` and by nothing else, so its
result does not depend on which worker ran it, in which order, in which batch, or
whether the study was interrupted and resumed: the local, Dask and resumed runs give
identical results. Tasks return small dicts of per-fit summaries (never traces),
so memory stays flat as a study grows.

Backends
--------
- ``workers=1`` and no cluster: in this process (tests, small studies, debugging);
- default: ``concurrent.futures.ProcessPoolExecutor`` with ``workers`` processes;
- ``scheduler="tcp://host:8786"`` or ``client=distributed.Client(...)``: Dask.

Each worker process keeps its compiled models in a module-level cache
(:mod:`milkbayes.simulate.engine`), so it compiles each model once and reuses it.

Examples
--------
>>> run = run_study("selftest", {"scale": 2.0}, n_tasks=3, seed=7, workers=1)
>>> [round(r["value"], 6) for r in run.results] == [
...     round(2.0 * np.random.default_rng(np.random.SeedSequence(7, spawn_key=(i,))).random(), 6)
...     for i in range(3)]
True
"""

from __future__ import annotations

import importlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from milkbayes import storage
from milkbayes.errors import CheckpointError, MilkbayesError

CHECKPOINT_FORMAT = 1
"""Version of the checkpoint file layout (first line: header; then one task per line)."""

TASKS: dict[str, str] = {
    "selftest": "milkbayes.simulate.runner:selftest_task",
    "frequentist": "milkbayes.simulate.design:frequentist_block_task",
    "bayes_fit": "milkbayes.simulate.design:bayes_fit_task",
    "rtm": "milkbayes.simulate.rtm:rtm_block_task",
    "sbc": "milkbayes.simulate.sbc:sbc_task",
}
"""Registered task functions, by name, as ``module:function`` (imported in the worker)."""


@dataclass(frozen=True)
class StudyRun:
    """The outcome of :func:`run_study`.

    Attributes
    ----------
    kind : str
        Name of the task function (a key of :data:`TASKS`).
    params : dict
        The task parameters (JSON-ready).
    seed : int
        Root seed; task *i* uses ``SeedSequence(seed, spawn_key=(i,))``.
    results : tuple of dict
        One small dict per task, in task order.
    backend : str
        ``"inline"``, ``"processes"`` or ``"dask"``.
    workers : int
        Worker processes used (for Dask: workers known to the scheduler).
    compilations : int
        Model compilations summed over the worker processes that ran tasks.
    worker_processes : int
        Distinct worker processes that ran at least one task in this run.
    resumed : int
        Tasks read back from the checkpoint instead of being run.
    elapsed : float
        Wall time in seconds.
    """

    kind: str
    params: dict
    seed: int
    results: tuple[dict, ...]
    backend: str
    workers: int
    compilations: int = 0
    worker_processes: int = 0
    resumed: int = 0
    elapsed: float = 0.0
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def tasks_run(self) -> int:
        """Tasks executed in this run (not read from the checkpoint)."""
        return len(self.results) - self.resumed


def task_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The seed sequence of task ``index``: a function of the root seed and index only.

    Examples
    --------
    >>> a = task_seed(1, 5).generate_state(2)
    >>> b = np.random.SeedSequence(1).spawn(6)[5].generate_state(2)
    >>> bool((a == b).all())
    True
    """
    return np.random.SeedSequence(int(seed), spawn_key=(int(index),))


def selftest_task(params: dict, seed: np.random.SeedSequence) -> dict:
    """A trivial task (one uniform draw times ``scale``) for testing the machinery."""
    return {"value": params["scale"] * float(np.random.default_rng(seed).random())}


def _resolve(kind: str) -> Callable[[dict, np.random.SeedSequence], dict]:
    if kind not in TASKS:
        raise MilkbayesError(f"unknown simulation task {kind!r}; known: {', '.join(TASKS)}")
    module_name, function_name = TASKS[kind].split(":")
    return getattr(importlib.import_module(module_name), function_name)


def _json_ready(result: dict) -> dict:
    # One canonical form (Python floats, lists, str keys) whether a result comes
    # fresh from a worker or back from the checkpoint; JSON floats round-trip exactly.
    return json.loads(json.dumps(result, allow_nan=True))


def execute_batch(kind: str, params: dict, indices: list[int], seed: int) -> dict:
    """Run tasks ``indices`` in this process; the unit of work sent to a worker."""
    from milkbayes.simulate import engine

    function = _resolve(kind)
    results = [(i, _json_ready(function(params, task_seed(seed, i)))) for i in indices]
    return {"results": results, "pid": os.getpid(), "compilations": engine.compilation_count()}


# ---------------------------------------------------------------- checkpoint


def _header(kind: str, params: dict, seed: int) -> dict:
    return {
        "milkbayes_checkpoint": CHECKPOINT_FORMAT,
        "kind": kind,
        "params": _json_ready(params),
        "seed": int(seed),
    }


def read_checkpoint(path: Path, kind: str, params: dict, seed: int) -> dict[int, dict]:
    """Finished task results in ``path``; creates the file (header only) when absent.

    A last line cut short by an interruption is removed (it is re-run); a header
    for another study raises :class:`CheckpointError`, so a checkpoint can never
    mix the results of two studies. A file that is not a checkpoint at all (a
    folder, binary data, JSON of another shape) is refused before anything in it
    is changed.

    Raises
    ------
    CheckpointError
        Naming ``path`` (and the row, for a bad line).
    OutputError
        When a new checkpoint cannot be written (read-only place, full disk).
    """
    path = Path(path)
    header = _header(kind, params, seed)
    if not path.exists():
        storage.atomic_write_text(path, json.dumps(header) + "\n")
        return {}
    if not path.is_file():
        raise CheckpointError(f"{path}: not a checkpoint file (it is a folder or a device)")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({error.strerror})") from None
    complete, _, tail = raw.rpartition(b"\n")
    rows = complete.split(b"\n") if complete else []
    if not rows:
        if tail.strip():  # our header is written whole, with its newline
            raise CheckpointError(f"{path}: row 1 is not a milkbayes checkpoint header")
        storage.atomic_write_text(path, json.dumps(header) + "\n")
        return {}
    found = _parse_line(rows[0])
    if not isinstance(found, dict) or "milkbayes_checkpoint" not in found:
        raise CheckpointError(f"{path}: row 1 is not a milkbayes checkpoint header")
    if found != header:
        differs = sorted(k for k in header if found.get(k) != header[k])
        raise CheckpointError(
            f"{path}: row 1: the checkpoint belongs to a different study (differs in: "
            f"{', '.join(differs)}); use another --checkpoint file or delete this one"
        )
    done: dict[int, dict] = {}
    for row, line in enumerate(rows[1:], start=2):
        entry = _parse_line(line)
        try:
            if not isinstance(entry["result"], dict):  # every task returns a mapping
                raise TypeError("a task result is a JSON object")
            done[int(entry["index"])] = entry["result"]
        except (KeyError, TypeError, ValueError, OverflowError):
            raise CheckpointError(f"{path}: row {row}: not a task result line") from None
    if tail:  # an interrupted append: keep the complete lines only
        try:
            with open(path, "r+b") as handle:
                handle.truncate(len(complete) + 1)
        except OSError as error:
            raise CheckpointError(
                f"{path}: cannot remove the half-written last line ({error.strerror})"
            ) from None
    return done


def _parse_line(line: bytes) -> object:
    """One JSON line of a checkpoint, or None when it is not JSON that can be read.

    Besides malformed JSON, a line may be binary (not UTF-8), nested beyond the
    parser's recursion limit or hold an integer of more than 4300 digits.
    """
    try:
        return json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _append(path: Path, results: Iterable[tuple[int, dict]]) -> None:
    text = "".join(json.dumps({"index": i, "result": r}) + "\n" for i, r in results)
    # One write on an O_APPEND descriptor, then fsync: a crash leaves at worst a
    # truncated last line, which read_checkpoint discards.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        raise CheckpointError(
            f"{path}: cannot append to the checkpoint ({error.strerror}); the results "
            "it already holds are kept"
        ) from None


# ---------------------------------------------------------------- running


def run_study(
    kind: str,
    params: dict,
    n_tasks: int,
    *,
    seed: int,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    checkpoint: str | Path | None = None,
    progress: bool = False,
    unit: str = "fits",
    units_per_task: int = 1,
    batch_size: int | None = None,
    description: str | None = None,
) -> StudyRun:
    """Run ``n_tasks`` tasks of ``kind`` and return their results in task order.

    Parameters
    ----------
    kind : str
        A key of :data:`TASKS`.
    params : dict
        JSON-ready parameters passed to every task.
    n_tasks : int
    seed : int
        Root seed (see :func:`task_seed`).
    workers : int, optional
        Local worker processes (default: ``os.cpu_count()``); 1 runs in this process.
    scheduler : str, optional
        Address of a Dask scheduler; the study runs on its workers.
    client : distributed.Client, optional
        An existing Dask client (takes precedence over ``scheduler``).
    checkpoint : path, optional
        JSON-lines file: finished tasks are appended as they complete, and tasks
        already in it are not run again.
    progress : bool
        Show a progress bar (units done, units per second, time left) on stderr.
    unit : str
        Name of the unit counted by the progress bar.
    units_per_task : int
        How many units (fits, simulated datasets) one task holds.
    batch_size : int, optional
        Tasks sent to a worker at once (grouping only; results do not depend on it).
    """
    if n_tasks < 1:
        raise MilkbayesError(f"a study needs at least one task, not {n_tasks}")
    _resolve(kind)
    started = time.perf_counter()
    done = read_checkpoint(Path(checkpoint), kind, params, seed) if checkpoint else {}
    done = {i: r for i, r in done.items() if i < n_tasks}
    resumed = len(done)
    todo = [i for i in range(n_tasks) if i not in done]
    distributed = client is not None or scheduler is not None
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise MilkbayesError(f"--workers must be >= 1, not {workers}")
    size = batch_size or max(1, min(50, math.ceil(len(todo) / (max(workers, 2) * 8))))
    batches = [todo[i : i + size] for i in range(0, len(todo), size)]
    compilations: dict[int, int] = {}

    with _Progress(
        progress, n_tasks * units_per_task, unit, description or kind, resumed * units_per_task
    ) as bar:

        def collect(batch: dict) -> None:
            if checkpoint:
                _append(Path(checkpoint), batch["results"])
            for index, result in batch["results"]:
                done[index] = result
            compilations[batch["pid"]] = batch["compilations"]
            bar.advance(len(batch["results"]) * units_per_task)

        if distributed:
            backend, workers = (
                "dask",
                _run_dask(kind, params, seed, batches, collect, scheduler, client),
            )
        elif workers == 1:
            backend = "inline"
            for batch in batches:
                collect(execute_batch(kind, params, batch, seed))
        else:
            backend = "processes"
            _run_processes(kind, params, seed, batches, collect, workers)

    results = tuple(done[i] for i in range(n_tasks))
    return StudyRun(
        kind=kind,
        params=_json_ready(params),
        seed=int(seed),
        results=results,
        backend=backend,
        workers=workers,
        compilations=sum(compilations.values()),
        worker_processes=len(compilations),
        resumed=resumed,
        elapsed=time.perf_counter() - started,
    )


def _run_processes(kind, params, seed, batches, collect, workers: int) -> None:
    if not batches:
        return
    # spawn, not fork: the parent may hold threads (numba, BLAS) that fork would copy.
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    try:
        pending = {pool.submit(execute_batch, kind, params, batch, seed) for batch in batches}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                collect(future.result())
    except BaseException:
        # Interrupted: finished batches are already in the checkpoint; do not wait
        # for the running ones.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_dask(kind, params, seed, batches, collect, scheduler, client) -> int:
    from distributed import Client, as_completed

    own = client is None
    if own:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as error:
            raise MilkbayesError(
                f"cannot reach the Dask scheduler at {scheduler}: {error}"
            ) from error
    try:
        workers = len(client.scheduler_info().get("workers", {}))
        futures = [
            client.submit(execute_batch, kind, params, batch, seed, pure=False) for batch in batches
        ]
        try:
            for future in as_completed(futures):
                collect(future.result())
        except BaseException:
            client.cancel(futures)
            raise
        return workers
    finally:
        if own:
            client.close()


class _Progress:
    """Progress on stderr: units done, units per second, time left.

    A rich bar on a terminal; on a pipe or a log file, where the bar would stay empty
    until the end, :class:`milkbayes.progress.PlainProgress` lines with the time left.
    """

    def __init__(self, enabled: bool, total: int, unit: str, description: str, done: int):
        self.enabled, self.total, self.unit = enabled, total, unit
        self.description, self.start_done = description, done
        self.done = done

    def __enter__(self):
        self._plain = None
        if self.enabled:
            from rich.console import Console

            if not Console(stderr=True).is_terminal:
                from milkbayes.progress import progress_reporter

                self._reporter = progress_reporter(enabled=True)
                self._plain = self._reporter.__enter__()
                self._plain(self.description, self.done, self.total)
                return self
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(f"{self.unit}"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("elapsed,"),
                TimeRemainingColumn(),
                TextColumn("left"),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(
                self.description, total=self.total, completed=self.done, rate=""
            )
            self._started = time.perf_counter()
        return self

    def advance(self, units: int) -> None:
        self.done += units
        if self._plain is not None:
            self._plain(self.description, self.done, self.total)
        elif self.enabled:
            elapsed = max(time.perf_counter() - self._started, 1e-9)
            rate = (self.done - self.start_done) / elapsed
            self._bar.update(self._task, completed=self.done, rate=f"{rate:,.1f} {self.unit}/s")

    def __exit__(self, *exc) -> None:
        if self._plain is not None:
            self._reporter.__exit__(*exc)
        elif self.enabled:
            self._bar.__exit__(*exc)
