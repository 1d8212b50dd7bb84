"""The reanalysis of large studies: plain progress lines, and the method chosen by size.

- :class:`~milkbayes.cli.report_commands.PlainProgress` driven by a fake clock: the
  lines it prints, their rate and the time-left estimate worked out by hand;
- ``milkbayes reanalyze --fast`` in a subprocess with stderr piped, on a generated
  study of 300 mothers: it finishes, prints plain lines (no progress bar), and its
  summary and report name the cross-validation method of each candidate, which must
  be the one :func:`milkbayes.comparison.choose_method` gives for its Pareto k;
- the study too large for the exact Wilcoxon p: the command the refusal suggests
  exists and runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from milkbayes import comparison as compare
from milkbayes.cli import main
from milkbayes.cli.report_commands import PLAIN_PROGRESS_INTERVAL, PlainProgress, _progress_bars
from milkbayes.errors import FrequentistOptionError
from milkbayes.reanalysis.settings import STAGES

ENTRY_POINT = Path(sys.executable).with_name("milkbayes")


def write_study(folder: Path, n: int, seed: int = 1) -> Path:
    """Write a study: pre ~ lognormal(log 8, 0.4), post = pre + N(10, 5) >= 0.1, to 0.1."""
    rng = np.random.default_rng(seed)
    pre = np.round(rng.lognormal(np.log(8.0), 0.4, n), 1)
    post = np.round(np.clip(pre + rng.normal(10.0, 5.0, n), 0.1, None), 1)
    work = rng.choice(["short", "long"], n)
    parity = rng.choice(["primipara", "multipara"], n)
    path = folder / "big.csv"
    rows = [
        f"m{i},{a},{b},{w},{p}"
        for i, (a, b, w, p) in enumerate(zip(pre, post, work, parity, strict=True))
    ]
    path.write_text("id,pre,post,work_duration,parity\n" + "\n".join(rows) + "\n")
    (folder / "big.json").write_text(json.dumps({"outcome": {"kind": "volume", "unit": "ml"}}))
    return path


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_prints_a_line_per_interval_with_the_time_left():
    clock, lines = FakeClock(), []
    progress = PlainProgress(lines.append, interval=10.0, clock=clock)
    progress("fit", 0, 3)  # a quick stage: no line at all
    clock.now = 2.0
    progress("fit", 3, 3)
    assert lines == []
    # 2,000 refits at 0.5 s each from t = 2: a line every 10 s, not one per refit
    for done in range(1, 2001):
        clock.now = 2.0 + 0.5 * done
        progress("compare", done, 2000)
    assert len(lines) == 1000 // 10 + 1  # 1,000 s of work, one line per 10 s, and the end
    # first line 10 s after the start (t = 10, 16 refits done): 1,984 left at the
    # rate since the stage's first tick (0.5 s) is 992 s, i.e. 16.5 min -> "17 min"
    assert lines[0] == "compare: 16/2000, about 17 min left"
    assert lines[1] == "compare: 36/2000, about 16 min left"  # 982 s
    assert lines[-1] == "compare: done in 17 min"  # from t = 2.5 to t = 1002
    # a second report of the same stage's end is not repeated
    progress("compare", 1, 1)
    assert len(lines) == 1000 // 10 + 1


def test_plain_progress_restarts_its_estimate_when_the_total_changes():
    clock, lines = FakeClock(), []
    progress = PlainProgress(lines.append, interval=10.0, clock=clock)
    progress("compare", 0, 3)
    clock.now = 100.0  # 100 s for the first candidate
    progress("compare", 1, 3)
    clock.now = 101.0
    progress("compare", 1, 10)  # now counting refits: 1 done in the new count
    clock.now = 111.0
    progress("compare", 5, 10)  # 4 refits in 10 s: 5 left take 12.5 s
    assert lines == ["compare: 1/3, about 3 min left", "compare: 5/10, about 12 s left"]


def test_plain_progress_heartbeat_names_a_silent_stage():
    clock, lines = FakeClock(), []
    progress = PlainProgress(lines.append, interval=10.0, clock=clock)
    progress("diagnostics", 0, 1)
    clock.now = 59.0
    progress.heartbeat()
    assert lines == []
    clock.now = 60.0
    progress.heartbeat()
    assert lines == ["diagnostics: still running (60 s)"]


def test_progress_is_plain_when_stderr_is_not_a_terminal(capsys, monkeypatch):
    with _progress_bars(enabled=True) as progress:  # pytest's stderr is no terminal
        assert isinstance(progress, PlainProgress)
        assert progress._interval == PLAIN_PROGRESS_INTERVAL
    for value, interval in (("2.5", 2.5), ("0", PLAIN_PROGRESS_INTERVAL), ("x", 10.0)):
        monkeypatch.setenv("MILKBAYES_PROGRESS_INTERVAL", value)
        with _progress_bars(enabled=True) as progress:
            assert progress._interval == interval


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    """``milkbayes reanalyze --fast`` on 300 generated mothers, stderr piped."""
    folder = tmp_path_factory.mktemp("scale")
    data = write_study(folder, 300)
    out = folder / "report"
    # a line every second at most, so that a quick machine still prints some
    env = dict(os.environ, PYTHONWARNINGS="ignore", MILKBAYES_PROGRESS_INTERVAL="1")
    done = subprocess.run(
        [str(ENTRY_POINT), "reanalyze", "--fast", "--data", str(data), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads((out / "summary.json").read_text()), out


def test_large_study_finishes_and_names_the_method_of_each_candidate(big_run):
    _, summary, out = big_run
    section = summary["comparison"]
    assert summary["data"]["n"] == 300
    psis = {p["label"]: p for p in section["psis"] if p["level"] == "mother"}
    markdown = (out / "report.md").read_text()
    for row in section["lomo"]:
        # the method the summary reports is the one choose_method gives for its k
        n_high = psis[row["label"]]["n_high_k"]
        expected = "kfold" if n_high > compare.MAX_EXACT_REFITS else "psis+refits"
        assert row["method"] == expected, (row["label"], n_high)
        if expected == "kfold":
            assert row["n_folds"] == compare.KFOLD_K and row["n_refitted"] == 300
            assert row["method_text"] == f"{compare.KFOLD_K}-fold by mother"
        else:
            assert row["n_refitted"] == n_high and row["n_folds"] is None
        assert f"| {row['method_text']} |" in markdown
    assert section["settings"]["max_exact_refits"] == compare.MAX_EXACT_REFITS
    # the premise: at 300 mothers the hierarchical model has too many bad k for reloo,
    # the paired models (no per-mother parameter) none
    methods = {row["label"]: row["method"] for row in section["lomo"]}
    assert methods["prepost_hierarchical/normal"] == "kfold"
    assert methods["paired_change/normal"] == "psis+refits"


def test_large_study_prints_plain_progress_lines_and_no_bar(big_run):
    done, _, _ = big_run
    assert "━" not in done.stderr  # rich's bar glyph: no bar on a pipe
    stages = "|".join(STAGES)
    lines = [line for line in done.stderr.splitlines() if re.match(rf"^({stages}): ", line)]
    assert "findfont" not in done.stderr  # third-party log noise is kept off stderr
    assert any(re.match(r"^compare: \d+/\d+", line) for line in lines), done.stderr[-2000:]
    assert all(
        re.match(r"^[a-z]+: (\d+/\d+(, about .+ left)?|done in .+|still running \(.+\))$", line)
        for line in lines
    ), lines


def test_too_large_for_the_exact_p_points_to_a_command_that_runs(tmp_path, capsys):
    from milkbayes.data import load_study
    from milkbayes.frequentist.reproduce import reproduce

    data = write_study(tmp_path, 20_000)
    with pytest.raises(FrequentistOptionError) as refused:
        reproduce(load_study(data))
    command = re.search(r"`milkbayes (wilcoxon [^`]+)`", str(refused.value)).group(1)
    assert main(command.split() + ["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 20_000 or result.get("n_pairs", 20_000) == 20_000
