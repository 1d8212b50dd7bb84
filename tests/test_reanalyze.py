"""The main job end to end, on a copy of the bundled data with hostile participant ids.

One tiny run (2 chains x 100 draws; the paired model as the only comparison
candidate) is shared by the tests of this module. Its numbers are checked against
scipy, a hand-computed Hodges-Lehmann estimate, the closed-form JZS integral
(Rouder et al. 2009, eq. 1) and PSIS-LOO, which must agree with exact
leave-one-mother-out where its Pareto k says it is reliable.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import sys

import numpy as np
import pytest
from scipy import integrate, stats

from _small_runs import TINY as SMALL_RUN
from milkbayes.cli import main
from milkbayes.errors import EXIT_DIAGNOSTICS_FAILED, EXIT_USER_ERROR, RunExistsError
from milkbayes.reanalysis.pipeline import (
    FAST,
    FULL,
    DiagnosticsFailedError,
    load_input_study,
    run_reanalysis,
)
from milkbayes.report import render as report

HOSTILE_IDS = ("<script>alert(1)</script>", '=HYPERLINK("http://evil.example")', "@SUM(A1)")

# reloo off: the shared run refits every mother, so that exact LOMO can be checked
# against PSIS-LOO (test_exact_lomo_agrees_with_reliable_psis); reloo is tested apart
TINY = dataclasses.replace(SMALL_RUN, reloo=False)


@pytest.fixture(scope="module")
def hostile_csv(tmp_path_factory):
    """The bundled table with three hostile ids, saved without a sidecar (not reconstructed)."""
    from milkbayes.datasets import load_bundled

    table = load_bundled("volume_ml").table.copy()
    table["id"] = table["id"].astype(str)
    table.loc[: len(HOSTILE_IDS) - 1, "id"] = HOSTILE_IDS
    folder = tmp_path_factory.mktemp("hostile")
    path = folder / "study.csv"
    table.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def run(hostile_csv, tmp_path_factory):
    """One strict tiny run: diagnostics must fail (200 draws cannot give ESS >= 400)."""
    out = tmp_path_factory.mktemp("runs") / "report"
    study = load_input_study(hostile_csv)
    with pytest.raises(DiagnosticsFailedError) as failed:
        run_reanalysis(study, out, strict=True, settings=TINY, sensitivity=False)
    return study, failed.value


def test_strict_run_writes_the_report_then_fails(run):
    _, error = run
    result = error.result
    assert error.exit_code == EXIT_DIAGNOSTICS_FAILED
    assert result.html.is_file() and result.markdown.is_file() and result.json.is_file()
    assert not result.diagnostics_ok
    ess = [
        row
        for fit in result.summary["diagnostics"]["fits"]
        for row in fit["rows"]
        if row["check"] == "ess_bulk"
    ]
    assert ess and all(row["value"] < 400 and row["status"] == "fail" for row in ess)


def test_summary_validates_and_marks_user_data_as_measured(run):
    _, error = run
    summary = json.loads(error.result.json.read_text(encoding="utf-8"))
    report.validate_summary(summary)
    assert summary["reconstructed"] is False and summary["warning"] is None
    # the three named priors only: the literature's is about breast-milk volume, and a
    # user CSV without a description is a continuous outcome of unknown meaning
    assert [p["prior"] for p in summary["bayes"]["priors"]] == [
        "skeptical",
        "neutral",
        "enthusiastic",
    ]
    # a user CSV is a continuous outcome: its MCID is half an SD of pre, with its source
    study, _ = run
    assert summary["bayes"]["mcid"] == pytest.approx(0.5 * np.std(study.table["pre"], ddof=1))
    assert "Norman" in summary["bayes"]["mcid_source"]
    markdown = error.result.markdown.read_text(encoding="utf-8")
    line = next(x for x in markdown.splitlines() if "MCID = " in x)
    assert "(source: half a standard deviation of pre" in line
    # where the priors come from; the paper-as-a-study update only for a reconstruction
    sources = summary["prior_sources"]
    assert sources["literature_fitted"] is False and sources["meta_update"] is None
    assert "breast-milk volume after oxytocin massage" in sources["literature_note"]


def exact_wilcoxon_p_by_convolution(change: np.ndarray) -> float:
    """Two-sided exact p of W+ with average ranks (ties).

    The null distribution of W+ is the convolution of n two-point laws {0, rank_i}
    with probability 1/2 each (ranks doubled to integers). scipy's exact method
    ignores ties, so it cannot serve.
    """
    nonzero = change[change != 0]
    doubled = np.rint(2 * stats.rankdata(np.abs(nonzero))).astype(int)
    pmf = np.array([1.0])
    for rank in doubled:
        step = np.zeros(rank + 1)
        step[0] = step[rank] = 0.5
        pmf = np.convolve(pmf, step)
    w_plus = int(doubled[nonzero > 0].sum())
    upper, lower = pmf[w_plus:].sum(), pmf[: w_plus + 1].sum()
    return float(min(1.0, 2 * min(upper, lower)))


def test_reproduction_matches_scipy_and_walsh_averages(run):
    study, error = run
    r = error.result.summary["reproduction"]
    # data recorded to 0.1 ml: -0.2 and 0.2 must tie, whatever the float rounding of post-pre
    change = np.round(study.change, 9)
    assert r["p_exact"] == pytest.approx(exact_wilcoxon_p_by_convolution(change), rel=1e-9)
    ttest = stats.ttest_rel(study.table["post"], study.table["pre"])
    assert r["t_test"]["p_value"] == pytest.approx(ttest.pvalue, rel=1e-9)
    walsh = [(change[i] + change[j]) / 2 for i in range(change.size) for j in range(i, change.size)]
    assert r["hodges_lehmann"]["estimate"] == pytest.approx(np.median(walsh))
    assert r["published_p_text"] is None  # a user's file without a description: nothing published


def test_bf10_matches_rouders_integral(run):
    study, error = run
    change = study.change
    n = change.size
    t = change.mean() / (change.std(ddof=1) / math.sqrt(n))
    nu, r = n - 1, math.sqrt(2) / 2

    def integrand(g):  # Rouder et al. (2009), eq. 1, with the Cauchy scale r
        return (
            (1 + n * g * r**2) ** -0.5
            * (1 + t**2 / ((1 + n * g * r**2) * nu)) ** (-(nu + 1) / 2)
            * (2 * math.pi) ** -0.5
            * g**-1.5
            * math.exp(-1 / (2 * g))
        )

    numerator = integrate.quad(integrand, 0, np.inf, limit=200)[0]
    bf10 = numerator / (1 + t**2 / nu) ** (-(nu + 1) / 2)
    assert error.result.summary["bayes"]["bf10"] == pytest.approx(bf10, rel=1e-4)


def test_exact_lomo_agrees_with_reliable_psis(run):
    _, error = run
    comparison = error.result.summary["comparison"]
    lomo = {row["label"]: row for row in comparison["lomo"]}["paired_change/normal"]
    psis = [p for p in comparison["psis"] if p["label"] == "paired_change/normal"][0]
    assert psis["reliable"]  # one observation per mother, no per-mother parameter
    assert lomo["elpd"] == pytest.approx(psis["elpd"], abs=1.0)
    assert lomo["weight"] == 1.0  # alone in its target


def test_skeptical_prior_pulls_the_effect_below_the_enthusiastic(run):
    _, error = run
    rows = {p["prior"]: p for p in error.result.summary["bayes"]["priors"]}
    assert rows["skeptical"]["median"] < rows["enthusiastic"]["median"]


def test_hostile_ids_are_escaped_in_html_and_neutralised_in_csv(run):
    _, error = run
    html = error.result.html.read_text(encoding="utf-8")
    assert HOSTILE_IDS[0] not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    text = (error.result.out_dir / "tables" / "participants.csv").read_text(encoding="utf-8")
    ids = [row["id"] for row in csv.DictReader(io.StringIO(text))]
    assert ids[:3] == [HOSTILE_IDS[0], "'" + HOSTILE_IDS[1], "'" + HOSTILE_IDS[2]]


def test_existing_report_is_not_overwritten(run, hostile_csv):
    study, error = run
    before = error.result.json.read_bytes()
    with pytest.raises(RunExistsError, match="--force"):
        run_reanalysis(study, error.result.out_dir, settings=TINY, sensitivity=False)
    assert error.result.json.read_bytes() == before
    code = main(
        ["reanalyze", "--data", str(hostile_csv), "--out", str(error.result.out_dir), "--fast"]
    )
    assert code == EXIT_USER_ERROR


def test_cli_report_rerenders_from_saved_results(run, capsys):
    _, error = run
    html_before = error.result.html.read_text(encoding="utf-8")
    error.result.html.unlink()
    assert main(["report", str(error.result.out_dir), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["report"] == str(error.result.html)
    assert error.result.html.read_text(encoding="utf-8") == html_before


def test_cli_report_on_a_missing_folder_is_one_line_on_stderr(tmp_path, capsys):
    code = main(["report", str(tmp_path / "nope")])
    captured = capsys.readouterr()
    assert code == EXIT_USER_ERROR
    assert captured.err.strip().startswith("error:") and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err


def test_fast_settings_still_compare_both_targets():
    from milkbayes.models.registry import predicts

    targets = {predicts(model) for model, _ in FAST.comparison}
    assert targets == {"pre_post", "change"}
    # the bivariate model (a sd per time) is ranked against the flagship in both sizes
    for settings in (FAST, FULL):
        pair_models = {m for m, _ in settings.comparison if predicts(m) == "pre_post"}
        assert {"prepost_hierarchical", "prepost_bivariate"} <= pair_models


def test_compare_candidates_is_seeded_and_reproduces_the_run(run):
    from milkbayes.reanalysis.pipeline import compare_candidates

    study, error = run
    section = compare_candidates(study, settings=TINY)
    again = {row["label"]: row for row in section["lomo"]}["paired_change/normal"]
    first = {row["label"]: row for row in error.result.summary["comparison"]["lomo"]}[
        "paired_change/normal"
    ]
    assert again["elpd"] == first["elpd"]  # same seed, same data: bit-identical refits
    assert section["reconstructed"] is False
    json.dumps(section, allow_nan=False)  # JSON-ready as `milkbayes compare --json` prints it


def test_reloo_refits_exactly_the_high_k_mothers_and_says_so(run):
    """With reloo, the elpd is PSIS where k is good; the exact run bounds its error."""
    from dataclasses import replace

    from milkbayes.reanalysis.pipeline import compare_candidates

    study, error = run
    section = compare_candidates(study, settings=replace(TINY, reloo=True))
    row = {r["label"]: r for r in section["lomo"]}["paired_change/normal"]
    psis = [
        p
        for p in section["psis"]
        if p["label"] == "paired_change/normal" and p["level"] == "mother"
    ][0]
    exact = {r["label"]: r for r in error.result.summary["comparison"]["lomo"]}[
        "paired_change/normal"
    ]
    assert row["n_refitted"] == psis["n_high_k"] == len(row["refitted_ids"])
    if psis["reliable"]:  # no refit: the elpd is the PSIS-LOO sum itself
        assert row["n_refitted"] == 0 and row["method"] == "psis+refits"
        assert row["elpd"] == pytest.approx(psis["elpd"], abs=1e-9)
        assert any("no refit was needed" in note for note in section["notes"])
    else:
        assert all(m in " ".join(section["notes"]) for m in row["refitted_ids"])
    assert row["elpd"] == pytest.approx(exact["elpd"], abs=1.0)
    assert section["settings"]["reloo"] is True


def test_force_never_replaces_a_folder_of_other_files(tmp_path, hostile_csv):
    (tmp_path / "thesis.tex").write_text("precious")
    study = load_input_study(hostile_csv)
    with pytest.raises(RunExistsError, match="not a milkbayes report"):
        run_reanalysis(study, tmp_path, force=True, settings=TINY, sensitivity=False)
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_background_comparison_gives_the_numbers_of_the_serial_run(run):
    """The comparison computed in a spawned worker process equals the serial one.

    Full runs compute it in the worker; number for number it is the one the run
    computed in-process: same code, same seeds.
    """
    from dataclasses import replace

    from milkbayes.reanalysis.pipeline import _BackgroundWork, _comparison_section

    study, error = run
    settings = replace(TINY, parallel_worker=True)
    mcid = error.result.summary["settings"]["mcid"]
    background = _BackgroundWork.start(
        study, settings, mcid, reference_likelihood="normal", sensitivity=False
    )
    if background is None:
        pytest.skip("one CPU: no background comparison")
    assert background.candidates == (("paired_change", "normal"),)
    comparison, _ = _comparison_section(study, settings, {}, mcid, lambda *a: None, background)
    section = comparison.to_dict()
    serial = error.result.summary["comparison"]
    timing = ("refit_seconds",)
    assert [{k: v for k, v in r.items() if k not in timing} for r in section["lomo"]] == [
        {k: v for k, v in r.items() if k not in timing} for r in serial["lomo"]
    ]
    assert section["pointwise"] == serial["pointwise"]


def test_background_comparison_is_terminated_on_close(run):
    """An interrupted run must not leave its worker process behind."""
    from dataclasses import replace

    from milkbayes.reanalysis.pipeline import _BackgroundWork

    study, _ = run
    background = _BackgroundWork.start(
        study,
        replace(TINY, parallel_worker=True),
        1.0,
        reference_likelihood="normal",
        sensitivity=True,
    )
    if background is None:
        pytest.skip("one CPU: no background comparison")
    processes = list(background._pool._processes.values())
    assert processes  # the worker was started at submission
    background.close()
    for process in processes:
        process.join(timeout=10)
        assert not process.is_alive()


def test_background_sensitivity_gives_the_highlights_of_the_serial_run(run):
    """The sensitivity highlights computed in the worker equal the serial ones.

    Number for number (timings aside) and with the same figures named, as computed
    in-process.
    """
    from dataclasses import replace

    from milkbayes.reanalysis.pipeline import _BackgroundWork, _sensitivity_section

    study, error = run
    mcid = error.result.summary["settings"]["mcid"]
    settings = replace(TINY, parallel_worker=True, comparison=())
    background = _BackgroundWork.start(
        study, settings, mcid, reference_likelihood="normal", sensitivity=True
    )
    if background is None:
        pytest.skip("one CPU: no background worker")
    try:
        assert background.candidates == ()
        items, figures = background.sensitivity_result()
    finally:
        background.close()
    serial_items, serial_figures = _sensitivity_section(study, mcid, fast=True)

    def without_timings(entries):
        return [
            {
                **item.to_dict(),
                "summary": {k: v for k, v in item.summary.items() if not k.endswith("_seconds")},
            }
            for item in entries
        ]

    assert without_timings(items) == without_timings(serial_items)
    assert items  # the highlights exist: the comparison is not vacuous
    assert sorted(figures) == sorted(serial_figures)


@pytest.mark.slow
def test_compare_computes_the_main_model_as_the_report_does():
    """`milkbayes compare` reuses the report's reference fit: the same LOMO numbers.

    Before, `compare` refitted the main model with the comparison's settings while the
    report reused its reference fit; Monte Carlo noise then flipped stacking weights of
    1 and 0 between the two commands.
    """
    from milkbayes.datasets import load_bundled
    from milkbayes.models.priors import default_mcid
    from milkbayes.reanalysis import pipeline
    from milkbayes.reanalysis.settings import MAIN_MODEL, REFERENCE_PRIOR

    study = load_bundled("volume_ml")
    settings = dataclasses.replace(
        TINY, comparison=((MAIN_MODEL, pipeline._main_likelihood()), ("paired_change", "normal"))
    )
    mcid = default_mcid(study)
    # the report's path: the reference fit of _fit_priors, reused by the comparison
    fits = {REFERENCE_PRIOR: pipeline._main_fit(study, settings, mcid, REFERENCE_PRIOR)}
    report_section, _ = pipeline._comparison_section(study, settings, fits, mcid, lambda *a: None)
    compared = pipeline.compare_candidates(study, settings=settings)
    by_label = {row["label"]: row for row in compared["lomo"]}
    for row in report_section.to_dict()["lomo"]:
        other = by_label[row["label"]]
        assert other["elpd"] == row["elpd"]
        assert other["weight"] == row["weight"]
        assert other["pseudo_bma_weight"] == row["pseudo_bma_weight"]


def test_compared_bivariate_model_gets_level_checks_in_the_report():
    """A compared model of the pair has its own SD-ratio/minimum checks; a change model none.

    The observed statistics are computed here from the table with numpy; the bivariate
    model has a sd per time, so it reproduces the bundled SD(post)/SD(pre) (~1.9).
    """
    from milkbayes.datasets import load_bundled
    from milkbayes.reanalysis.pipeline import _comparison_section

    study = load_bundled("volume_ml")
    settings = dataclasses.replace(
        SMALL_RUN, comparison=(("prepost_bivariate", "normal"), ("paired_change", "normal"))
    )
    checks: list = []
    section, _ = _comparison_section(
        study, settings, {}, 5.0, lambda *args: None, level_checks=checks
    )
    assert {c["model"] for c in checks} == {"prepost_bivariate/normal"}
    by_statistic = {c["statistic"]: c for c in checks}
    pre, post = study.table["pre"].to_numpy(float), study.table["post"].to_numpy(float)
    ratio = by_statistic["sd_ratio_post_pre"]
    assert ratio["observed"] == pytest.approx(np.std(post, ddof=1) / np.std(pre, ddof=1))
    assert ratio["observed"] > 1.5 and 0.025 < ratio["p_value"] < 0.975
    assert by_statistic["minimum"]["observed"] == pytest.approx(min(pre.min(), post.min()))
    targets = {row["label"]: row["target"] for row in section.lomo}
    assert targets == {"prepost_bivariate/normal": "pre_post", "paired_change/normal": "change"}


def test_default_run_reports_95_percent_credible_intervals(run):
    """Without --ci-prob every credible interval is the central 95 % and says so."""
    _, error = run
    summary = error.result.summary
    assert summary["ci_prob"] == 0.95 == summary["settings"]["ci_prob"]
    markdown = error.result.markdown.read_text(encoding="utf-8")
    assert "| prior | median | 95 % CrI |" in markdown and "80 %" not in markdown
    row = next(p for p in summary["bayes"]["priors"] if p["prior"] == "neutral")
    low, high = summary["bayes"]["freq_vs_bayes"][2]["bayesian_value"]
    assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((low, high))


def _without_clock(value):
    """A summary without what depends on the clock: timings, dates and seconds."""
    if isinstance(value, dict):
        return {
            k: _without_clock(v)
            for k, v in value.items()
            if k not in ("timings", "created_at") and not k.endswith("_seconds")
        }
    if isinstance(value, list):
        return [_without_clock(v) for v in value]
    return value


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_shared_work_gives_the_summary_of_the_serial_run(
    tiny_bundled_report, tmp_path, monkeypatch, start_method
):
    """A run that shares its work with a worker process writes the serial run's numbers.

    Reference: the session's serial tiny run of the bundled reconstruction (same
    settings, same seed). With the worker, the comparison candidate, the sensitivity
    highlights and the reconstruction ensemble run in whichever process takes them
    first; every value of summary.json (the clock's aside) must be the same, whether
    the worker was forked (after this process compiled and sampled: it inherits the
    compiled models) or spawned.
    """
    import multiprocessing
    import os
    import sys

    from _small_runs import TINY as SHARED_TINY
    from milkbayes.errors import DiagnosticsFailedError
    from milkbayes.reanalysis import pipeline

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU: no worker process")
    if start_method == "fork" and not sys.platform.startswith("linux"):
        pytest.skip("the worker is forked on Linux only")
    monkeypatch.setattr(
        pipeline, "_worker_context", lambda: multiprocessing.get_context(start_method)
    )
    helpers = []  # the headline's helper process (forked whatever the worker's start)
    fork_headline = pipeline._fork_headline
    monkeypatch.setattr(
        pipeline,
        "_fork_headline",
        lambda *args: helpers.append(fork_headline(*args)) or helpers[-1],
    )
    settings = dataclasses.replace(SHARED_TINY, reloo=False, parallel_worker=True)
    try:
        shared = run_reanalysis(None, tmp_path / "report", settings=settings)
    except DiagnosticsFailedError as failed:
        shared = failed.result
    assert shared.summary["sensitivity"] and shared.summary["ensemble"]  # not vacuous
    if sys.platform.startswith("linux"):
        assert [h.computed_by for h in helpers] == ["helper"]
    assert _without_clock(shared.summary) == _without_clock(tiny_bundled_report.summary)
    # the figures too, those drawn in the worker (chain plots, sensitivity) included
    figures = sorted(p.name for p in (shared.out_dir / "figures").glob("*.png"))
    assert {"rank.png", "trace.png", "sensitivity_prior_grid.png"} <= set(figures)
    for name in figures:
        drawn = (shared.out_dir / "figures" / name).read_bytes()
        assert drawn == (tiny_bundled_report.out_dir / "figures" / name).read_bytes(), name


def test_headline_helper_only_for_a_reconstruction_with_a_worker(monkeypatch):
    """No helper process where the headline is not computed or nothing runs beside it."""
    from _small_runs import TINY as SHARED_TINY
    from milkbayes.datasets import load_bundled
    from milkbayes.reanalysis import pipeline

    bundled = load_bundled()
    measured = dataclasses.replace(bundled, reconstructed=False)
    with_worker = dataclasses.replace(SHARED_TINY, parallel_worker=True)
    assert pipeline._fork_headline(measured, with_worker) is None
    assert (
        pipeline._fork_headline(bundled, dataclasses.replace(with_worker, parallel_worker=False))
        is None
    )
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert pipeline._fork_headline(bundled, with_worker) is None


WORKER_START_SCRIPT = """
import _thread, os, sys, threading, time
from concurrent.futures import ProcessPoolExecutor
from milkbayes.reanalysis import pipeline

def main():
    if sys.argv[1] == "python-thread":  # like the progress heartbeat: idle, Python
        stop = threading.Event()
        threading.Thread(target=stop.wait, daemon=True).start()
    elif sys.argv[1] == "native-thread":  # a thread threading does not know
        _thread.start_new_thread(time.sleep, (60,))
        time.sleep(0.2)
    context = pipeline._worker_context()
    print("buffered", end=" ")  # not flushed: a pipe is block-buffered
    with ProcessPoolExecutor(1, mp_context=context, initializer=pipeline._tie_worker_to_parent,
                             initargs=(os.getpid(),)) as pool:
        worker_modules = pool.submit(sorted_modules).result()
    print(context.get_start_method(), all(m in worker_modules for m in pipeline.WORKER_MODULES))

def sorted_modules():
    print("from the worker")  # the worker's stdout is /dev/null
    return sorted(sys.modules)

if __name__ == "__main__":
    main()
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the worker is forked on Linux only"
)
def test_worker_is_forked_only_without_native_threads_and_prints_nothing(tmp_path):
    """Fork unless a native thread runs; the parent's output once, the worker's nowhere.

    A fresh interpreter, alone or with an idle Python thread (the progress
    heartbeat of ``milkbayes reanalyze``), forks, and its worker has the modules
    the parent imported for it; with a thread ``threading`` does not know (as a
    native library starts them) it spawns, and its worker has imported only what
    unpickling its tasks needed. Either way the parent's unflushed output appears
    once (a forked worker has a copy of the buffer) and the worker's own nowhere.
    """
    import subprocess

    script = tmp_path / "start_worker.py"
    script.write_text(WORKER_START_SCRIPT)
    cases = (("none", "fork", True), ("python-thread", "fork", True))
    for threads, method, inherited in (*cases, ("native-thread", "spawn", False)):
        done = subprocess.run(
            [sys.executable, str(script), threads], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"buffered {method} {inherited}\n", threads


def test_work_before_a_fork_is_a_head_start_only(monkeypatch):
    """``_prepared_for_fork``: run before a fork only; its error is not raised there.

    A spawned worker gets no preparation (it would not inherit it); an error in it is
    left to the fit that redoes the work; a native thread it started makes the
    worker spawned after all, as ``_worker_context`` would have chosen.
    """
    import multiprocessing

    from milkbayes.reanalysis import pipeline

    fork, spawn = multiprocessing.get_context("fork"), multiprocessing.get_context("spawn")
    calls = []
    assert pipeline._prepared_for_fork(spawn, lambda: calls.append("spawn")) is spawn
    assert calls == []
    monkeypatch.setattr(pipeline, "_no_native_threads", lambda: True)
    assert pipeline._prepared_for_fork(fork, lambda: calls.append("fork")) is fork
    assert calls == ["fork"]

    def fails():
        raise ValueError("left to the fit")

    assert pipeline._prepared_for_fork(fork, fails) is fork
    monkeypatch.setattr(pipeline, "_no_native_threads", lambda: False)
    chosen = pipeline._prepared_for_fork(fork, lambda: None)
    assert chosen.get_start_method() == "spawn"


def test_main_process_runs_the_tasks_the_worker_has_not_started(run):
    """Work sharing: the main process takes the waiting candidates itself, same numbers.

    The worker starts with the first candidate; the second, asked for at once, is
    still waiting and runs in this process. Both equal a serial ``_candidate_cv``.
    """
    from milkbayes.reanalysis.pipeline import _BackgroundWork, _candidate_cv

    study, error = run
    mcid = error.result.summary["settings"]["mcid"]
    candidates = (("paired_change", "normal"), ("paired_change", "student_t"))
    settings = dataclasses.replace(TINY, parallel_worker=True, comparison=candidates)
    background = _BackgroundWork.start(
        study, settings, mcid, reference_likelihood="normal", sensitivity=False
    )
    if background is None:
        pytest.skip("one CPU: no worker process")
    try:
        shared = background.comparison_result()
        ran_here = set(background._local)
    finally:
        background.close()
    assert ("cv", candidates[1]) in ran_here and ("cv", candidates[0]) not in ran_here
    for candidate in candidates:
        lomo, psis_rows, reason, _ = _candidate_cv(*candidate, study, settings, mcid)
        got = shared[candidate]
        assert reason is None and got[2] is None
        assert got[0].elpd_i == lomo.elpd_i and got[0].elpd == lomo.elpd
        assert got[1] == psis_rows
