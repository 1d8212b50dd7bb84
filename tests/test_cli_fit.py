"""Tests of ``milkbayes fit`` and ``milkbayes diagnose``.

In-process through :func:`milkbayes.cli.main` (so the compiled models of the session
are reused), plus the installed entry point. The JSON numbers are checked against the
draws saved in the run folder, re-read with ArviZ.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import arviz as az
import numpy as np
import pytest

from milkbayes import RECONSTRUCTED_WARNING
from milkbayes.cli import main
from milkbayes.errors import EXIT_DIAGNOSTICS_FAILED, EXIT_USER_ERROR

FAST = ["--draws", "200", "--tune", "200", "--chains", "2", "--seed", "3"]
TINY = ["--draws", "40", "--tune", "40", "--chains", "2", "--seed", "3"]
"""TINY: 80 draws in all, so ESS < 400 must fail the table."""

MILKBAYES = Path(sys.executable).with_name("milkbayes")


def _run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as done:  # --strict exits with its own status
        code = done.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory, bundled_study, paired_fit):
    """A run folder written by `milkbayes fit paired_change --mcid 10 --json`."""
    # capsys is function-scoped, so a module fixture captures by hand
    folder = tmp_path_factory.mktemp("cli") / "run"
    from contextlib import redirect_stderr, redirect_stdout
    from io import StringIO

    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["fit", "paired_change", *FAST, "--mcid", "10", "--json", "--out", str(folder)])
    return code, out.getvalue(), err.getvalue(), folder


def test_fit_json_keys_and_values_match_saved_draws(saved_run):
    code, out, err, folder = saved_run
    assert code == 0, err
    payload = json.loads(out)  # stdout is exactly one JSON object
    for key in (
        "effect_median",
        "effect_ci95_low",
        "effect_ci95_high",
        "p_effect_gt_0",
        "p_effect_gt_mcid",
        "bf10_jzs",
    ):
        assert isinstance(payload[key], float), key
    draws = az.from_netcdf(folder / "posterior.nc").posterior["effect"].values.ravel()
    assert payload["effect_median"] == pytest.approx(np.median(draws), rel=1e-12)
    assert payload["effect_ci95_low"] == pytest.approx(np.quantile(draws, 0.025), rel=1e-9)
    assert payload["effect_ci95_high"] == pytest.approx(np.quantile(draws, 0.975), rel=1e-9)
    assert payload["p_effect_gt_mcid"] == pytest.approx(np.mean(draws > 10.0))
    assert payload["mcid"] == 10.0
    # an explicit --mcid is the user's; the default beside it is the literature's
    assert payload["mcid_source"] == "given by the user (default 6.3 ml)"
    assert payload["default_mcid"] == pytest.approx(0.5 * 12.6)  # half the SD of a feed
    assert "Kent et al. 2006" in payload["default_mcid_source"]
    assert payload["run_dir"] == str(folder.absolute())
    assert payload["reconstructed"] is True and payload["warning"] == RECONSTRUCTED_WARNING
    assert payload["diagnostics"]["status"] in ("pass", "warn", "fail")
    assert RECONSTRUCTED_WARNING in err  # the banner goes to stderr


def test_fit_refuses_to_overwrite_then_force(saved_run, capsys):
    _, _, _, folder = saved_run
    before = (folder / "summary.json").read_bytes()
    code, out, err = _run(capsys, "fit", "paired_change", *FAST, "--out", str(folder))
    assert code == EXIT_USER_ERROR
    assert err.strip().startswith("error:") and "--force" in err
    assert "Traceback" not in err and out == ""
    assert (folder / "summary.json").read_bytes() == before


def test_fit_without_mcid_says_null(tmp_path, capsys):
    code, out, err = _run(
        capsys, "fit", "paired_change", *FAST, "--json", "--out", str(tmp_path / "r")
    )
    assert code == 0, err
    payload = json.loads(out)
    assert payload["mcid"] is None and payload["p_effect_gt_mcid"] is None
    assert payload["mcid_source"] is None
    assert payload["default_mcid"] == pytest.approx(0.5 * 12.6)


def test_force_replaces_a_run(tmp_path, capsys):
    folder = tmp_path / "r"
    assert _run(capsys, "fit", "paired_change", *FAST, "--out", str(folder))[0] == 0
    code, _, err = _run(
        capsys,
        "fit",
        "paired_change",
        *FAST,
        "--seed",
        "4",
        "--force",
        "--json",
        "--out",
        str(folder),
    )
    assert code == 0, err
    record = json.loads((folder / "provenance.json").read_text())
    assert record["seed"] == 4
    assert record["command_line"]["params"]["seed"] == 4
    assert record["command_line"]["params"]["force"] is True
    assert record["command_line"]["command"].endswith("fit")


def test_default_out_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, "fit", "paired_change", *FAST, "--prior", "skeptical")
    assert code == 0, err
    folder = tmp_path / "runs" / "paired_change_normal_skeptical_seed3"
    assert (folder / "posterior.nc").is_file()
    assert "P(effect > 0)" in out and "rhat" in out
    # paired t = 7.35 on 23 df: the posterior tail below 0 is about 1e-7, far below what
    # the draws resolve, so the table says "> 0.999" as the report does, not "1.000"
    assert "> 0.999" in next(x for x in out.splitlines() if "P(effect > 0)" in x)
    # the MCID the sceptical prior is calibrated on, with its source, on one line
    line = next(x for x in out.splitlines() if "MCID = " in x)
    assert "MCID = 6.3 ml (source: half an SD of one feed" in line


def test_failing_diagnostics_are_loud_and_strict_exits(tmp_path, capsys):
    code, out, err = _run(
        capsys, "fit", "paired_change", *TINY, "--json", "--out", str(tmp_path / "lax")
    )
    assert code == 0
    assert "DIAGNOSTICS FAILED" in err and "ess_bulk" in json.loads(out)["diagnostics"]["failures"]
    remedies = json.loads(out)["diagnostics"]["remedies"]
    assert any(r.startswith("min bulk ESS") and "--draws" in r for r in remedies)
    assert "what to do: " in err
    code, out, err = _run(
        capsys,
        "fit",
        "paired_change",
        *TINY,
        "--json",
        "--strict",
        "--out",
        str(tmp_path / "strict"),
    )
    assert code == EXIT_DIAGNOSTICS_FAILED
    assert json.loads(out)["diagnostics"]["ok"] is False
    assert (tmp_path / "strict" / "posterior.nc").is_file()  # the run is still saved
    code, out, err = _run(capsys, "diagnose", str(tmp_path / "strict"), "--strict")
    assert code == EXIT_DIAGNOSTICS_FAILED and "DIAGNOSTICS FAILED" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fit", "no_such_model"], "unknown model"),
        (["fit", "paired_change", "--likelihood", "gamma"], "no likelihood 'gamma'"),
        (["fit", "paired_change", "--draws", "0"], "draws must be"),
        (["fit", "paired_change", "--prior", "gullible"], "gullible"),
        (["fit", "paired_change", "--data", "/nonexistent/study.csv"], "study.csv"),
        (["diagnose", "/nonexistent/run"], "no such run folder"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message, capsys, tmp_path):
    code, out, err = (
        _run(capsys, *argv, "--out", str(tmp_path / "x"))
        if argv[0] == "fit"
        else _run(capsys, *argv)
    )
    assert code == EXIT_USER_ERROR
    assert err.startswith("error:") and message in err and "Traceback" not in err
    assert out == ""
    assert not (tmp_path / "x").exists()


def test_diagnose_json_recomputes_the_saved_table(saved_run, capsys):
    _, _, _, folder = saved_run
    code, out, err = _run(capsys, "diagnose", str(folder), "--json")
    payload = json.loads(out)
    saved = json.loads((folder / "diagnostics.json").read_text())
    assert payload["status"] == saved["status"]
    assert [r["value"] for r in payload["rows"]] == [r["value"] for r in saved["rows"]]
    assert [c["statistic"] for c in payload["predictive_checks"]] == [
        "mean_change",
        "share_positive",
    ]
    assert payload["loo_pit"]["variable"] == "change_obs"
    assert payload["reconstructed"] is True
    assert code == 0  # without --strict, a failing table does not change the status


def test_entry_point_diagnose(saved_run):
    _, _, _, folder = saved_run
    done = subprocess.run(
        [str(MILKBAYES), "diagnose", str(folder), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model"] == "paired_change"
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_entry_point_fit(tmp_path):
    done = subprocess.run(
        [str(MILKBAYES), "fit", "paired_change", *FAST, "--json", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["bf10_jzs"] > 1 and "Traceback" not in done.stderr
    assert payload["run_dir"] == str((tmp_path / "r").absolute())


def test_help_lists_the_options(capsys):
    code, out, _ = _run(capsys, "fit", "--help")
    assert code == 0
    for option in (
        "--data",
        "--prior",
        "--likelihood",
        "--mcid",
        "--draws",
        "--tune",
        "--chains",
        "--seed",
        "--out",
        "--force",
        "--strict",
        "--json",
    ):
        assert option in out, option


@pytest.mark.slow
def test_signed_rank_json_has_log_bf10(tmp_path, capsys):
    code, out, err = _run(
        capsys, "fit", "signed_rank", *FAST, "--json", "--out", str(tmp_path / "sr")
    )
    assert code == 0, err
    payload = json.loads(out)
    saved = json.loads((tmp_path / "sr" / "summary.json").read_text())
    assert isinstance(payload["log_bf10"], float) and payload["log_bf10"] == saved["log_bf10"]
    for key in ("effect_median", "effect_ci95_low", "effect_ci95_high", "p_effect_gt_0"):
        assert isinstance(payload[key], float)


def _never_sample(monkeypatch):
    """Make any call of the engine's fit() fail the test: refusals come before sampling."""

    def sampled(*args, **kwargs):
        raise AssertionError("fit() ran although the output folder was refused")

    monkeypatch.setattr("milkbayes.engine.fit.fit", sampled)


def test_force_never_replaces_a_folder_holding_other_files(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.docx").write_text("three years of work")
    _never_sample(monkeypatch)
    code, out, err = _run(capsys, "fit", "paired_change", *TINY, "--force", "--out", str(folder))
    assert code == EXIT_USER_ERROR
    assert "not a milkbayes run" in err and "Traceback" not in err and out == ""
    assert (folder / "chapter1.docx").read_text() == "three years of work"
    assert sorted(p.name for p in folder.iterdir()) == ["chapter1.docx"]


def test_force_never_replaces_the_current_folder(tmp_path, capsys, monkeypatch):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "sub").mkdir()
    _never_sample(monkeypatch)
    for where, out_dir in ((tmp_path, "."), (tmp_path / "sub", "..")):
        monkeypatch.chdir(where)
        code, _, err = _run(capsys, "fit", "paired_change", *TINY, "--force", "--out", out_dir)
        assert code == EXIT_USER_ERROR and "current folder" in err, err
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "sub"]


def test_out_below_a_file_fails_before_sampling(tmp_path, capsys, monkeypatch):
    (tmp_path / "some_file").write_text("x")
    _never_sample(monkeypatch)
    code, out, err = _run(
        capsys, "fit", "paired_change", *TINY, "--out", str(tmp_path / "some_file" / "sub")
    )
    assert code == EXIT_USER_ERROR and out == ""
    assert err.strip().splitlines()[-1].startswith("error:") and "some_file" in err
    assert "not a folder" in err and "Traceback" not in err
    assert (tmp_path / "some_file").read_text() == "x"


def test_force_replaces_only_an_earlier_run(tmp_path, capsys):
    """An earlier run folder (RUN_FILES and nothing else) is what --force replaces."""
    from milkbayes.engine.runs import RUN_FILES

    folder = tmp_path / "r"
    assert _run(capsys, "fit", "paired_change", *TINY, "--out", str(folder))[0] == 0
    assert sorted(p.name for p in folder.iterdir()) == sorted(RUN_FILES)
    code, _, err = _run(
        capsys, "fit", "paired_change", *TINY, "--seed", "5", "--force", "--out", str(folder)
    )
    assert code == 0, err
    assert json.loads((folder / "provenance.json").read_text())["seed"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no temporary or old folder


def test_fit_runs_without_full_collections_and_restores_the_collector(
    tmp_path, capsys, monkeypatch
):
    """While ``fit`` runs, Python's third collector threshold is raised; after, restored."""
    import gc

    from milkbayes.cli.fit_commands import FIT_GC_FULL_THRESHOLD

    seen = []

    def fit_seeing_the_collector(*args, **kwargs):
        seen.append(gc.get_threshold())
        raise MilkbayesError("stop here")

    from milkbayes.errors import MilkbayesError

    monkeypatch.setattr("milkbayes.engine.fit.fit", fit_seeing_the_collector)
    before = gc.get_threshold()
    code, out, err = _run(capsys, "fit", "paired_change", "--out", str(tmp_path / "r"))
    assert code == EXIT_USER_ERROR and "stop here" in err
    assert seen == [(before[0], before[1], FIT_GC_FULL_THRESHOLD)]
    assert gc.get_threshold() == before


FREEZE_PROBE = """
import atexit, gc, sys
before = gc.get_freeze_count()  # the interpreter may start with a few frozen objects
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > before))
import milkbayes.cli.fit_commands as commands
import milkbayes.engine.fit as engine
from milkbayes.errors import MilkbayesError

def stop(*args, **kwargs):
    raise MilkbayesError("stopped before sampling")

commands._import_sampler = lambda: None
engine.fit = stop
from milkbayes.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("argv", "frozen"),
    [(["fit", "paired_change"], True), (["wilcoxon"], False)],
    ids=["fit", "wilcoxon"],
)
def test_fit_freezes_the_heap_at_exit(argv, frozen, tmp_path):
    """``fit`` lets the interpreter skip its final full collection (``gc.freeze`` at exit).

    A handler registered before the command runs after the command's own (atexit
    runs them last in, first out) and sees the frozen heap; a command that does not
    freeze it (``wilcoxon``) shows that the probe can tell.
    """
    import subprocess
    import sys

    out = ["--out", str(tmp_path / "run")] if argv[0] == "fit" else []
    done = subprocess.run(
        [sys.executable, "-c", FREEZE_PROBE, *argv, *out],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"frozen at exit: {frozen}" in done.stdout, (done.stdout, done.stderr[-2000:])
