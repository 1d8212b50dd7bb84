"""Progress of long commands when stderr is not a terminal: plain lines with the time left.

- :class:`milkbayes.progress.PlainProgress` with ``first`` (the seconds before the
  first line, as ``milkbayes fit`` uses), driven by a fake clock: which lines it
  prints and their time-left estimates, worked out by hand;
- ``milkbayes fit`` in a subprocess whose stderr is a pipe: plain ``fit: k/100, about
  N s left`` lines, no terminal control characters, and a clean stdout;
- the simulations' progress (``simulate.runner._Progress``) on a pipe: plain lines
  with the time left instead of a rich bar that would stay empty until the end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from milkbayes.progress import PlainProgress, progress_reporter

ENTRY_POINT = Path(sys.executable).with_name("milkbayes")
ETA_LINE = re.compile(r"^(?P<stage>[a-z -]+): (?P<done>\d+)/(?P<total>\d+), about \d+ s left$")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_first_line_after_first_seconds_then_every_interval():
    clock, lines = FakeClock(), []
    progress = PlainProgress(lines.append, interval=10.0, first=2.0, clock=clock)
    progress("fit", 0, 100)
    clock.now = 1.9
    progress.heartbeat()
    assert lines == []
    clock.now = 2.0  # compiling: no step timed yet, so no estimate
    progress.heartbeat()
    assert lines == ["fit: 0/100"]
    clock.now = 4.0  # 35 of 100 in 4 s: 65 left at 35/4 per s take 7.4 s
    progress("fit", 35, 100)
    assert lines == ["fit: 0/100"]  # the next line waits for the interval
    clock.now = 12.0  # 55 in 12 s: 45 left take 9.8 s
    progress("fit", 55, 100)
    assert lines[-1] == "fit: 55/100, about 10 s left"
    clock.now = 13.0
    progress("fit", 100, 100)
    assert lines[-1] == "fit: done in 13 s"


def test_a_fit_shorter_than_first_prints_nothing():
    clock, lines = FakeClock(), []
    progress = PlainProgress(lines.append, interval=10.0, first=2.0, clock=clock)
    progress("fit", 0, 100)
    clock.now = 1.5
    progress("fit", 100, 100)
    clock.now = 5.0
    progress.heartbeat()  # the stage is over: nothing to say
    assert lines == []


def test_reporter_is_plain_on_a_pipe_and_honours_the_environment(monkeypatch):
    monkeypatch.setenv("MILKBAYES_PROGRESS_INTERVAL", "0.5")
    with progress_reporter(first=2.0, interval=2.0) as progress:  # pytest's stderr: no tty
        assert isinstance(progress, PlainProgress)
        assert (progress._interval, progress._first) == (0.5, 0.5)
    monkeypatch.delenv("MILKBAYES_PROGRESS_INTERVAL")
    with progress_reporter(first=2.0, interval=2.0) as progress:
        assert (progress._interval, progress._first) == (2.0, 2.0)


def test_fit_prints_plain_progress_with_the_time_left_on_a_pipe(tmp_path):
    env = dict(os.environ, MILKBAYES_PROGRESS_INTERVAL="0.01")
    done = subprocess.run(
        [
            str(ENTRY_POINT),
            "fit",
            "paired_change",
            *("--draws", "100", "--tune", "100", "--chains", "2"),
            *("--out", str(tmp_path / "run"), "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)  # stdout holds the JSON object and nothing else
    assert "\r" not in done.stderr and "\x1b[" not in done.stderr  # no bar, no colours
    matches = [m for m in map(ETA_LINE.match, done.stderr.splitlines()) if m]
    assert matches, done.stderr
    assert {m["stage"] for m in matches} == {"fit"}
    assert all(m["total"] == "100" and 0 < int(m["done"]) < 100 for m in matches)


def test_simulation_progress_is_plain_with_the_time_left_on_a_pipe(capsys, monkeypatch):
    from milkbayes.simulate.runner import _Progress

    monkeypatch.setenv("MILKBAYES_PROGRESS_INTERVAL", "0.01")
    with _Progress(True, total=5, unit="datasets", description="power", done=0) as bar:
        for _ in range(4):
            time.sleep(0.03)
            bar.advance(1)
    lines = capsys.readouterr().err.splitlines()
    matches = [m for m in map(ETA_LINE.match, lines) if m]
    assert matches, lines
    assert all(m["stage"] == "power" and m["total"] == "5" for m in matches)
