"""Progress on stderr for long commands: rich bars on a terminal, plain lines elsewhere.

Every command that can run for more than a couple of seconds reports through one
callback, ``progress(stage, done, total)``; :func:`progress_reporter` gives it rich
bars (with the time left) on a terminal and :class:`PlainProgress` lines (``"fit:
40/100, about 6 s left"``) when stderr is a pipe or a log file, where a bar would stay
empty until the end and a long run would look hung. It lives at the foundation so that
library loops (the simulations) and the CLI report the same way.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any

PLAIN_PROGRESS_INTERVAL = 10.0
"""Seconds between two plain progress lines when stderr is not a terminal.

The environment variable ``MILKBAYES_PROGRESS_INTERVAL`` (seconds, > 0) overrides it,
e.g. for a log that should be denser or sparser.
"""


def _plain_interval() -> float:
    """:data:`PLAIN_PROGRESS_INTERVAL`, or ``MILKBAYES_PROGRESS_INTERVAL`` when valid."""
    import math
    import os

    try:
        value = float(os.environ.get("MILKBAYES_PROGRESS_INTERVAL", ""))
    except ValueError:
        return PLAIN_PROGRESS_INTERVAL
    return value if math.isfinite(value) and value > 0 else PLAIN_PROGRESS_INTERVAL


def _duration(seconds: float) -> str:
    """A rough human duration: ``"40 s"``, ``"3 min"``, ``"1 h 05 min"``.

    Examples
    --------
    >>> _duration(42.4), _duration(170), _duration(3900)
    ('42 s', '3 min', '1 h 05 min')
    """
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


class PlainProgress:
    """``progress(stage, done, total)`` as plain lines, for a stderr that is not a terminal.

    A log file or a pipe gets no progress bar (rich draws nothing there until the
    end), so long work would look hung. This prints ``"compare: 120/2000, about
    2 min left"`` at most once every ``interval`` seconds, and a stage's end
    (``"compare: done in 4 min"``) only for stages that took at least that long, so
    a short run prints nothing. The estimate of the time left is the rate since the
    stage's current count began (a stage that changes its total, e.g. from
    candidates to refits, starts its estimate again).

    Parameters
    ----------
    write : callable(str)
        Receives each line (without newline).
    interval : float
        Least seconds between two lines.
    clock : callable() -> float
        Monotonic seconds (a parameter so that tests can drive it).
    first : float, optional
        Seconds before the first line (default ``interval``): a command that usually
        takes seconds, not minutes (``milkbayes fit``), says what it is doing after
        ``first`` seconds, then every ``interval``. A stage's end is reported when the
        stage took at least ``first`` seconds.

    Examples
    --------
    >>> now = [0.0]
    >>> lines = []
    >>> progress = PlainProgress(lines.append, interval=10, clock=lambda: now[0])
    >>> for step in range(1, 101):
    ...     now[0] = step * 1.0
    ...     progress("compare", step, 100)
    >>> lines[:2]
    ['compare: 10/100, about 90 s left', 'compare: 20/100, about 80 s left']
    >>> lines[-1]
    'compare: done in 99 s'
    """

    def __init__(self, write, *, interval: float = PLAIN_PROGRESS_INTERVAL, clock=None, first=None):
        import threading
        import time

        self._lock = threading.Lock()  # the heartbeat thread also writes
        self._write = write
        self._interval = interval
        self._first = interval if first is None else first
        self._eager = first is not None  # a silent stage is named after `first` s
        self._emitted = False
        self._clock = clock or time.monotonic
        self._last_line = self._clock()
        self._stage: str | None = None
        self._stage_start = 0.0
        self._base: tuple[float, int, int] | None = None  # (time, done, total)
        self._done = 0
        self._ended: str | None = None  # the stage whose end was last reported

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Record progress; print a line if the last one is old enough."""
        with self._lock:
            self._record(stage, done, total)

    def _record(self, stage: str, done: int, total: int) -> None:
        now = self._clock()
        if stage != self._stage:
            self._stage, self._stage_start, self._base = stage, now, None
        if self._base is None or self._base[2] != total or done < self._base[1]:
            self._base = (now, done, total)
        self._done = done
        if total > 0 and done >= total:
            late = now - self._stage_start >= self._first
            if late and self._ended != stage:
                self._ended = stage
                self._emit(now, f"{stage}: done in {_duration(now - self._stage_start)}")
            return
        if self._ended == stage:
            self._ended = None
        if now - self._last_line < (self._interval if self._emitted else self._first):
            return
        self._emit(now, self._line(now))

    def _line(self, now: float) -> str:
        """``"stage: done/total"``, with the time left once a step has been timed."""
        start, start_done, total = self._base
        done = self._done
        line = f"{self._stage}: {done}/{total}"
        if done > start_done and now > start:
            left = (now - start) / (done - start_done) * (total - done)
            line += f", about {_duration(left)} left"
        return line

    def heartbeat(self) -> None:
        """Say which stage is still running when it has been silent for a while.

        Some stages (e.g. the diagnostics of a large study, or compiling a model)
        report no steps; this is called every few seconds by
        :func:`progress_reporter`. When ``first`` was given and nothing has been printed,
        it prints the stage's count once ``first`` seconds have passed
        (``"fit: 0/100"``); otherwise it prints
        ``"diagnostics: still running (3 min)"`` once the last line is six intervals
        old.
        """
        with self._lock:
            now = self._clock()
            finished = self._base is not None and 0 < self._base[2] <= self._done
            if self._stage is None or finished:
                return
            if self._eager and not self._emitted and now - self._last_line >= self._first:
                self._emit(now, self._line(now))
            elif now - self._last_line >= 6 * self._interval:
                running = _duration(now - self._stage_start)
                self._emit(now, f"{self._stage}: still running ({running})")

    def _emit(self, now: float, line: str) -> None:
        self._last_line = now
        self._emitted = True
        self._write(line)


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextmanager
def progress_reporter(
    enabled: bool = True, *, first: float | None = None, interval: float | None = None
):
    """A ``progress(stage, done, total)`` callback reporting on stderr.

    Rich bars with the elapsed and the remaining time on a terminal;
    :class:`PlainProgress` lines otherwise (every ``interval`` seconds, default
    :data:`PLAIN_PROGRESS_INTERVAL`, ``MILKBAYES_PROGRESS_INTERVAL`` overriding both;
    the first after ``first`` seconds), with a heartbeat thread that names a
    stage which has been silent for a long time. Yields None when not ``enabled``.

    Examples
    --------
    >>> with progress_reporter(enabled=False) as progress:
    ...     progress is None
    True
    """
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    if not console.is_terminal:
        import os
        import threading

        if interval is None or os.environ.get("MILKBAYES_PROGRESS_INTERVAL"):
            interval = _plain_interval()
        if first is not None and os.environ.get("MILKBAYES_PROGRESS_INTERVAL"):
            first = min(first, interval)  # a denser log asked for: its first line too
        wake = min(interval, first or interval)
        plain = PlainProgress(_stderr_line, interval=interval, first=first)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(wake):
                plain.heartbeat()

        threading.Thread(target=beat, name="milkbayes-progress", daemon=True).start()
        try:
            yield plain
        finally:
            stop.set()
        return
    with Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("elapsed,"),
        TimeRemainingColumn(),
        TextColumn("left"),
        console=console,
        transient=False,
    ) as bars:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=max(total, 1))
            bars.update(tasks[stage], completed=done, total=max(total, 1))

        yield progress
