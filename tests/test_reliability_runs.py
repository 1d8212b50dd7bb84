"""Reliability of runs: interruption, concurrency, failing models, determinism, safety.

Interruptions are real signals sent to real ``milkbayes`` processes once they have
started work: ``fit`` once nutpie has started sampling (a wrapper around the console
entry point prints a marker when ``nutpie.sample`` is called), ``reanalyze`` once its
temporary report folder exists, ``simulate`` once its checkpoint holds results.
After each: nothing partial is left, earlier results (hashed before) are intact,
and a rerun works; an interrupted simulation resumes to the same numbers as an
uninterrupted one.

Sampler settings are tiny (2 chains x 30 draws), so the fits also serve as the
"failing model": 60 draws cannot reach the ESS >= 400 threshold, which must be
reported in the CLI output, the JSON and the run folder, and make ``--strict``
exit 3. The cases table is ``tests/README.md``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from milkbayes.cli import main
from milkbayes.errors import (
    EXIT_DIAGNOSTICS_FAILED,
    EXIT_USER_ERROR,
    MilkbayesError,
    RunExistsError,
)

SRC = Path(__file__).parents[1] / "src" / "milkbayes"
ENTRY_POINT = Path(sys.executable).with_name("milkbayes")
TINY_FIT = ["--draws", "30", "--tune", "30", "--chains", "2"]
INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C

# The console entry point, with a marker on stderr when sampling starts.
MARKED_MAIN = r"""
import sys, nutpie
_sample = nutpie.sample
def marked(*args, **kwargs):
    print("SAMPLING-STARTED", file=sys.stderr, flush=True)
    return _sample(*args, **kwargs)
nutpie.sample = marked
from milkbayes.cli import main
sys.exit(main(sys.argv[1:]))
"""


# ----------------------------------------------------------------------------- helpers
def tree_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (relative path -> digest)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def earlier_results(root: Path) -> Path:
    """A folder of earlier results beside the new run's folder."""
    earlier = root / "earlier_run"
    earlier.mkdir(parents=True)
    (earlier / "posterior.nc").write_bytes(os.urandom(4096))
    (earlier / "summary.json").write_text(json.dumps({"effect_median": 9.5}))
    return earlier


def leftovers(root: Path, keep: set[str]) -> list[str]:
    """Anything under ``root`` (hidden temporaries included) but the ``keep`` names."""
    return sorted(p.name for p in root.iterdir() if p.name not in keep)


def _interruptible() -> None:
    """Give the child the default SIGINT disposition, as a terminal would.

    A shell without job control starts background commands with SIGINT ignored, and
    an ignored signal stays ignored across exec: Python would then install no
    KeyboardInterrupt handler, and a test that sends Ctrl-C would see the command
    run to the end. Tests of Ctrl-C must not depend on how the suite was launched.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(argv: list[str], cwd: Path, marked: bool = False) -> subprocess.Popen:
    command = [sys.executable, "-c", MARKED_MAIN, *argv] if marked else [str(ENTRY_POINT), *argv]
    return subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,
    )


def wait_for_marker(process: subprocess.Popen, marker: str, timeout: float) -> list[str]:
    """Read stderr lines until ``marker``; return what was read."""
    seen, deadline = [], time.monotonic() + timeout
    for line in process.stderr:
        seen.append(line)
        if marker in line or time.monotonic() > deadline:
            break
    assert any(marker in line for line in seen), "".join(seen)[-2000:]
    return seen


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def datasets_equal(a: Path, b: Path) -> None:
    """Every group and variable of two NetCDF run files holds identical arrays."""
    import xarray as xr

    left = xr.open_datatree(a, engine="h5netcdf").load()
    right = xr.open_datatree(b, engine="h5netcdf").load()
    assert sorted(left.groups) == sorted(right.groups)
    compared = 0
    for group in left.groups:
        lds, rds = left[group].to_dataset(), right[group].to_dataset()
        assert sorted(lds.data_vars) == sorted(rds.data_vars), group
        for name in lds.data_vars:
            np.testing.assert_array_equal(
                lds[name].values, rds[name].values, err_msg=f"{group}/{name}"
            )
            compared += 1
    assert compared > 0


def drop_run_specific(payload: dict) -> dict:
    """A fit JSON without what legitimately differs between two runs (folder, timing)."""
    return {k: v for k, v in payload.items() if k not in ("run_dir", "timings", "sampler")}


# ----------------------------------------------------------------------------- fit runs
@pytest.fixture(scope="module")
def fit_runs(tmp_path_factory):
    """Runs of `fit` that are killed, rerun and racing, beside earlier results.

    Phase 1: SIGTERM a `fit` while it samples (SIGINT is
    test_ctrl_c_while_fit_samples_says_interrupted). Phase 2, all at once: a rerun
    into the interrupted folder, a second run with the same seed, and two runs with
    different seeds into one shared folder.
    """
    root = tmp_path_factory.mktemp("fits")
    earlier = earlier_results(root)
    before = tree_hashes(earlier)
    process = start(
        [
            "fit",
            "paired_change",
            "--draws",
            "1000000",
            "--tune",
            "200",
            "--chains",
            "1",
            "--out",
            str(root / "killed"),
            "--json",
        ],
        root,
        marked=True,
    )
    wait_for_marker(process, "SAMPLING-STARTED", timeout=300)
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    interrupted = finish(process)
    after_interrupt = {
        "earlier": tree_hashes(earlier) == before,
        "leftovers": leftovers(root, {"earlier_run"}),
    }

    def fit(out: str, seed: int) -> list[str]:
        return [
            "fit",
            "paired_change",
            *TINY_FIT,
            "--seed",
            str(seed),
            "--strict",
            "--json",
            "--out",
            str(root / out),
        ]

    runs = {
        "rerun": start(fit("killed", 7), root),
        "twin": start(fit("twin", 7), root),
        "shared_7": start(fit("shared", 7), root),
        "shared_8": start(fit("shared", 8), root),
    }
    finished = {name: finish(process) for name, process in runs.items()}
    return {
        "root": root,
        "earlier": earlier,
        "earlier_hashes": before,
        "interrupted": interrupted,
        "after_interrupt": after_interrupt,
        "runs": finished,
    }


def test_sigterm_to_fit_while_sampling_leaves_nothing_and_no_traceback(fit_runs):
    code, out, err = fit_runs["interrupted"]
    assert code != 0, "an interrupted fit must not report success"
    assert "Traceback" not in err and out == ""
    assert fit_runs["after_interrupt"]["leftovers"] == []  # no run, no .tmp- folder


def test_interrupted_fits_leave_earlier_results_intact(fit_runs):
    assert fit_runs["after_interrupt"]["earlier"]
    assert tree_hashes(fit_runs["earlier"]) == fit_runs["earlier_hashes"]


def test_rerun_after_interruption_works(fit_runs):
    code, out, err = fit_runs["runs"]["rerun"]
    assert code == EXIT_DIAGNOSTICS_FAILED and "Traceback" not in err  # --strict, 60 draws
    assert Path(json.loads(out)["run_dir"]).resolve() == (fit_runs["root"] / "killed").resolve()
    assert sorted(p.name for p in (fit_runs["root"] / "killed").iterdir()) == [
        "diagnostics.json",
        "posterior.nc",
        "provenance.json",
        "summary.json",
    ]


def test_same_seed_gives_identical_netcdf_and_json_across_processes(fit_runs):
    root = fit_runs["root"]
    datasets_equal(root / "killed" / "posterior.nc", root / "twin" / "posterior.nc")
    first, second = (json.loads(fit_runs["runs"][k][1]) for k in ("rerun", "twin"))
    assert drop_run_specific(first) == drop_run_specific(second)
    for name in ("summary.json", "diagnostics.json"):
        assert json.loads((root / "killed" / name).read_text()) == json.loads(
            (root / "twin" / name).read_text()
        )


def test_two_runs_into_one_folder_one_refuses_and_nothing_is_mixed(fit_runs):
    root = fit_runs["root"]
    results = {seed: fit_runs["runs"][f"shared_{seed}"] for seed in (7, 8)}
    for code, _, err in results.values():
        assert "Traceback" not in err and code in (0, EXIT_USER_ERROR, EXIT_DIAGNOSTICS_FAILED)
    winners = [seed for seed, (code, _, _) in results.items() if code != EXIT_USER_ERROR]
    if len(winners) == 1:  # the second refused clearly
        loser = ({7, 8} - set(winners)).pop()
        # refused before sampling, or when its rename found the winner's run in place
        assert re.search("already holds (a run|files)|another run meanwhile", results[loser][2])
    else:  # both succeeded: then into separate folders
        folders = {json.loads(results[s][1])["run_dir"] for s in winners}
        assert len(folders) == 2
    shared = root / "shared"
    provenance = json.loads((shared / "provenance.json").read_text())
    assert provenance["seed"] in winners
    # no mixing: the saved summary is the saved posterior's, and the winner's own
    import xarray as xr

    tree = xr.open_datatree(shared / "posterior.nc", engine="h5netcdf").load()
    summary = json.loads((shared / "summary.json").read_text())
    effect = tree["posterior"].to_dataset()[summary["effect_variable"]].values
    assert summary["effect_median"] == pytest.approx(float(np.median(effect)), rel=1e-12)
    if provenance["seed"] == 7:
        datasets_equal(shared / "posterior.nc", root / "twin" / "posterior.nc")


def test_failing_diagnostics_are_reported_everywhere_and_strict_exits_3(fit_runs):
    code, out, err = fit_runs["runs"]["twin"]
    assert code == EXIT_DIAGNOSTICS_FAILED
    assert "DIAGNOSTICS FAILED" in err and "ESS" in err  # CLI output (stderr)
    payload = json.loads(out)  # JSON
    assert payload["diagnostics"]["ok"] is False and payload["diagnostics"]["status"] == "fail"
    assert payload["diagnostics"]["failures"]
    saved = json.loads((fit_runs["root"] / "twin" / "diagnostics.json").read_text())
    assert json.dumps(saved).count('"fail"') >= 1  # run folder
    # 2 chains x 30 draws cannot reach the ESS >= 400 threshold: the failure is real
    assert any("ess" in check.lower() for check in payload["diagnostics"]["failures"])


def test_diagnose_reports_the_failure_again_and_strict_exits_3(fit_runs, capsys):
    run_dir = fit_runs["root"] / "twin"
    try:
        code = main(["diagnose", str(run_dir), "--strict", "--json"])
    except SystemExit as done:
        code = done.code
    out, err = capsys.readouterr()
    assert code == EXIT_DIAGNOSTICS_FAILED and "DIAGNOSTICS FAILED" in err
    assert json.loads(out)["status"] == "fail"


def test_ctrl_c_while_fit_samples_says_interrupted(tmp_path):
    """SIGINT while nutpie samples: exit 130, "interrupted", no run folder.

    nutpie catches KeyboardInterrupt and *returns* the trace drawn so far: with one
    chain a truncated posterior that looks complete, with two a NaN-padded one.
    Neither may be saved as a run.
    """
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            MARKED_MAIN,
            "fit",
            "paired_change",
            "--draws",
            "1000000",
            "--tune",
            "200",
            "--chains",
            "1",
            "--out",
            str(tmp_path / "run"),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,
    )
    for line in process.stderr:
        if "SAMPLING-STARTED" in line:
            break
    else:
        pytest.fail("the fit ended before nutpie started sampling")
    time.sleep(2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=240)
    assert "not finite" not in err
    assert process.returncode == INTERRUPTED and "interrupted" in err
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_exits_130_not_0(capsys, monkeypatch):
    """Ctrl-C anywhere in a command exits 130 with "interrupted".

    typer turns KeyboardInterrupt into Exit(130) and, with standalone_mode=False,
    *returns* 130, so cli.main must pass that status on rather than exit 0.
    """
    from milkbayes.cli.data_options import DataOptions

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(DataOptions, "load", interrupted)
    code, _, err = run_cli(capsys, ["reanalyze", "--fast", "--out", "unused"])
    assert code == INTERRUPTED and "interrupted" in err


# ----------------------------------------------------------------------------- reanalyze
def interrupt_reanalyze(root: Path, sig: int) -> tuple[int, str, str]:
    process = start(["reanalyze", "--fast", "--out", "report"], root)
    wait_until(
        lambda: any(p.name.startswith(".report.partial") for p in root.iterdir()),
        timeout=300,
        what="the temporary report folder",
    )
    time.sleep(3)
    process.send_signal(sig)
    return finish(process, timeout=180)


def test_sigint_to_reanalyze_leaves_nothing_then_a_rerun_reports_non_convergence(tmp_path):
    """Ctrl-C leaves nothing partial; a non-converged rerun says so in its report.

    Ctrl-C once the temporary report folder exists: nothing partial, earlier results
    intact. Then a rerun into the same folder with 2 chains x 20 draws (forced
    non-convergence) writes a report whose JSON and HTML say the diagnostics failed.
    """
    from dataclasses import replace

    from milkbayes.reanalysis.pipeline import FAST, run_reanalysis

    earlier = earlier_results(tmp_path)
    before = tree_hashes(earlier)
    code, out, err = interrupt_reanalyze(tmp_path, signal.SIGINT)
    assert "Traceback" not in err
    assert leftovers(tmp_path, {"earlier_run"}) == []
    assert tree_hashes(earlier) == before

    tiny = replace(
        FAST,
        draws=20,
        tune=20,
        chains=2,
        lomo_draws=20,
        lomo_tune=20,
        comparison=(("paired_change", "normal"),),
    )
    result = run_reanalysis(None, tmp_path / "report", settings=tiny, sensitivity=False)
    saved = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert result.diagnostics_ok is False and saved["diagnostics"]["overall"] == "fail"
    assert saved["diagnostics"]["failing"]
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "Convergence diagnostics FAILED" in html
    assert leftovers(tmp_path, {"earlier_run", "report"}) == []
    assert tree_hashes(earlier) == before


def test_sigterm_to_reanalyze_leaves_no_partial_folder(tmp_path):
    """`kill` once the temporary report folder exists: it is removed, earlier results intact.

    No '.report.partial-*' folder may survive SIGTERM.
    """
    earlier = earlier_results(tmp_path)
    before = tree_hashes(earlier)
    code, out, err = interrupt_reanalyze(tmp_path, signal.SIGTERM)
    assert code != 0 and "Traceback" not in err
    assert leftovers(tmp_path, {"earlier_run"}) == []
    assert tree_hashes(earlier) == before


def test_reanalyze_strict_exit_status_reaches_the_shell(capsys, monkeypatch, tmp_path):
    """`reanalyze --strict` with failing diagnostics exits 3, and the shell sees it.

    The status must survive cli.main, which is what the shell calls.
    """
    import milkbayes.reanalysis.pipeline as reanalyze

    summary = {
        "reconstructed": True,
        "warning": "w",
        "diagnostics": {"overall": "fail"},
        "bayes": {
            "unit": "ml",
            "effect_median": 1.0,
            "priors": [{"prior": "neutral", "median": 1.0, "ci95_low": 0.0, "ci95_high": 2.0}],
        },
    }
    fake = SimpleNamespace(
        summary=summary,
        html=tmp_path / "report.html",
        markdown=tmp_path / "report.md",
        json=tmp_path / "summary.json",
        timings={},
        diagnostics_ok=False,
    )

    def failing(*args, **kwargs):
        raise reanalyze.DiagnosticsFailedError("convergence diagnostics failed", fake)

    monkeypatch.setattr(reanalyze, "run_reanalysis", failing)
    code, _, err = run_cli(
        capsys, ["reanalyze", "--fast", "--strict", "--out", str(tmp_path / "r")]
    )
    assert code == EXIT_DIAGNOSTICS_FAILED and "diagnostics failed" in err


def test_report_appearing_meanwhile_is_not_replaced_without_force(tmp_path):
    """Two `reanalyze --out same` at once: the report that lands first is kept.

    When the other run's report lands while this one works, it is kept
    (RunExistsError), not silently replaced without --force.
    """
    from milkbayes.report.render import is_report_folder
    from milkbayes.storage import staged_folder

    target = tmp_path / "report"
    with pytest.raises(RunExistsError):
        with staged_folder(target, force=False, is_replaceable=is_report_folder) as stage:
            (stage / "report.html").write_text("second run")
            target.mkdir()
            (target / "report.html").write_text("first run")
    assert (target / "report.html").read_text() == "first run"


def test_run_landing_between_check_and_rename_is_refused_cleanly(
    tmp_path, monkeypatch, toy_model, toy_prior, small_study
):
    """Another run landing between save_run's check and its rename is refused cleanly.

    Two `fit --out same` at once: RunExistsError, the other run intact, and no
    temporary folder left (os.rename's ENOTEMPTY must not escape as a traceback).
    """
    from milkbayes.engine import fit as fitmod
    from milkbayes.engine import runs

    result = fitmod.fit(
        toy_model, small_study, prior=toy_prior, seed=1, draws=50, tune=50, chains=1
    )
    target = tmp_path / "run"
    real_rename = os.rename

    def other_run_lands_first(src, dst):
        if Path(dst) == target.absolute() and not target.exists():
            target.mkdir()
            (target / "summary.json").write_text("the other run")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", other_run_lands_first)
    with pytest.raises(RunExistsError):
        runs.save_run(result, target)
    assert (target / "summary.json").read_text() == "the other run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# ----------------------------------------------------------------------------- simulate
SIM = [
    "simulate",
    "power",
    "--sims",
    "40000",
    "--effect",
    "1.0",
    "--seed",
    "5",
    "--workers",
    "1",
    "--json",
]


def sim_result(stdout: str) -> dict:
    payload = json.loads(stdout)
    result = dict(payload["result"])
    result.pop("run")
    return result


@pytest.fixture(scope="module")
def uninterrupted_simulation(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim")
    done = subprocess.run(
        [str(ENTRY_POINT), *SIM], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-800:]
    return sim_result(done.stdout)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_interrupted_simulation_resumes_to_identical_results(
    tmp_path, sig, uninterrupted_simulation
):
    checkpoint = tmp_path / "study.jsonl"
    earlier = earlier_results(tmp_path)
    before = tree_hashes(earlier)
    process = start([*SIM, "--checkpoint", str(checkpoint)], tmp_path)

    def lines() -> int:
        return len(checkpoint.read_bytes().splitlines()) if checkpoint.exists() else 0

    wait_until(lambda: lines() >= 4, timeout=300, what="three checkpointed tasks")
    process.send_signal(sig)
    code, out, err = finish(process)
    # no result is claimed (the exit status of Ctrl-C is checked by
    # test_ctrl_c_exits_130_not_0)
    assert out == "" and "Traceback" not in err
    assert sig == signal.SIGINT or code != 0
    done_before_resume = lines() - 1
    assert 3 <= done_before_resume < 40  # interrupted mid-study, not at the end
    assert tree_hashes(earlier) == before
    assert leftovers(tmp_path, {"earlier_run", "study.jsonl"}) == []
    resumed = subprocess.run(
        [str(ENTRY_POINT), *SIM, "--checkpoint", str(checkpoint)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-800:]
    assert json.loads(resumed.stdout)["result"]["run"]["resumed"] >= done_before_resume
    assert sim_result(resumed.stdout) == uninterrupted_simulation


def test_simulation_gives_the_same_numbers_inline_and_on_processes(capsys):
    argv = ["simulate", "power", "--sims", "4000", "--effect", "1.0", "--seed", "9", "--json"]
    results = []
    for workers in ("1", "2"):
        assert main([*argv, "--workers", workers]) == 0
        results.append(sim_result(capsys.readouterr().out))
    assert results[0] == results[1]


# ----------------------------------------------------------------------------- safety
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}
UNSAFE_ATTRIBUTES = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("pickle", "Unpickler"),
    ("cPickle", "load"),
    ("dill", "load"),
    ("dill", "loads"),
    ("marshal", "load"),
    ("marshal", "loads"),
    ("shelve", "open"),
    ("joblib", "load"),
    ("pd", "read_pickle"),
    ("pandas", "read_pickle"),
    ("os", "system"),
    ("os", "popen"),
}
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "marshal", "shelve", "cloudpickle"}


def unsafe_uses(source: str) -> list[str]:
    """Calls that could run code from a user's file, found in one module's AST."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module in UNSAFE_MODULES:
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in UNSAFE_CALLS:
                found.append(f"{func.id}()")
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                pair = (func.value.id, func.attr)
                if pair in UNSAFE_ATTRIBUTES:
                    found.append(".".join(pair) + "()")
                if pair in (("yaml", "load"), ("yaml", "load_all")) and not any(
                    "Safe" in ast.unparse(arg) for arg in [*node.args, *node.keywords]
                ):
                    found.append(f"{'.'.join(pair)}() without SafeLoader")
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "load"
                and any(
                    k.arg == "allow_pickle" and ast.unparse(k.value) != "False"
                    for k in node.keywords
                )
            ):
                found.append("load(allow_pickle=...)")
            if any(k.arg == "shell" and ast.unparse(k.value) != "False" for k in node.keywords):
                found.append("subprocess(shell=True)")
    return found


def test_the_scanner_finds_what_it_looks_for():
    sample = (
        "import pickle\nfrom marshal import loads\neval(x)\nexec(y)\npickle.load(f)\n"
        "yaml.load(s)\nnp.load(p, allow_pickle=True)\nsubprocess.run(c, shell=True)\n"
    )
    assert len(unsafe_uses(sample)) == 8
    assert (
        unsafe_uses("yaml.load(s, Loader=yaml.SafeLoader)\nnp.load(p)\nast.literal_eval(s)") == []
    )


def test_source_never_unpickles_or_evaluates_anything():
    modules = sorted(SRC.rglob("*.py"))
    assert len(modules) > 20
    found = {str(m.relative_to(SRC)): unsafe_uses(m.read_text(encoding="utf-8")) for m in modules}
    assert {k: v for k, v in found.items() if v} == {}


def test_a_pickle_given_as_prior_file_is_refused_and_never_run(tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    prior = tmp_path / "prior.toml"
    prior.write_bytes(pickle.dumps(Payload()))
    code = main(
        ["fit", "paired_change", "--prior", str(prior), *TINY_FIT, "--out", str(tmp_path / "run")]
    )
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR and str(prior) in err and "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "run").exists()


VALID_PRIOR = (
    'model = "paired_change"\nkind = "volume"\nbase = "neutral"\n[values]\ndelta_scale = 0.5\n'
)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("model = \n", "not valid TOML"),
        (VALID_PRIOR + "extra = 1\n", "values.extra"),
        (VALID_PRIOR.replace("delta_scale = 0.5", "delta_scale = -1.0"), "must be > 0"),
        (
            VALID_PRIOR.replace("delta_scale = 0.5", "delta_scale = \"__import__('os')\""),
            "must be a number",
        ),
        (VALID_PRIOR.replace("delta_scale = 0.5", "delta_scale = nan"), "finite"),
        (VALID_PRIOR.replace('model = "paired_change"', 'model = "signed_rank"'), '"model"'),
        (VALID_PRIOR.replace('kind = "volume"', 'kind = "score"'), '"kind"'),
        ("code = 'import os'\n" + VALID_PRIOR, 'unknown key "code"'),
        (VALID_PRIOR.replace('base = "neutral"', 'base = "../../etc/passwd"'), '"base"'),
    ],
)
def test_bad_prior_files_are_clear_errors_through_the_cli(tmp_path, capsys, text, says):
    prior = tmp_path / "prior.toml"
    prior.write_text(text)
    code = main(
        ["fit", "paired_change", "--prior", str(prior), *TINY_FIT, "--out", str(tmp_path / "run")]
    )
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: ") and str(prior) in line and says in line
    assert not (tmp_path / "run").exists()


def test_prior_named_with_a_path_cannot_move_the_default_run_folder(tmp_path, capsys, monkeypatch):
    """A prior set named "../../x" (its TOML `name`) cannot steer the run folder.

    The default run folder stays in ./runs; it is checked where save_run would write
    it.
    """
    import milkbayes.engine.fit as fit_module
    import milkbayes.engine.runs as runs_module

    prior = tmp_path / "evil.toml"
    prior.write_text('name = "../../../../tmp/evil/run"\n' + VALID_PRIOR)
    chosen = []

    def fake_fit(*args, **kwargs):
        return object()

    def record(result, out_dir, **kwargs):
        chosen.append(Path(out_dir))
        raise MilkbayesError("stopped by the test before writing")

    monkeypatch.setattr(fit_module, "fit", fake_fit)
    monkeypatch.setattr(runs_module, "save_run", record)
    monkeypatch.chdir(tmp_path)
    code = main(["fit", "paired_change", "--prior", str(prior), *TINY_FIT])
    capsys.readouterr()
    assert code == EXIT_USER_ERROR and len(chosen) == 1
    target = (tmp_path / chosen[0]).resolve()
    assert target.parent == (tmp_path / "runs").resolve()


@given(text=st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_run_names_from_user_text_stay_one_plain_folder_name(text):
    from milkbayes.engine.runs import safe_run_name

    name = safe_run_name(text)
    assert name and "/" not in name and "\\" not in name and "\x00" not in name
    assert name not in (".", "..") and not name.startswith(".")
    assert (Path("/base") / name).resolve().parent == Path("/base")


def test_save_run_refuses_file_names_that_leave_the_folder(tmp_path):
    from milkbayes.engine.runs import _inside

    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("../escape.json", "/etc/passwd", "sub/../../x"):
        with pytest.raises(MilkbayesError):
            _inside(folder, name)
    assert _inside(folder, "posterior.nc") == (folder / "posterior.nc").resolve()


# ----------------------------------------------------------------------------- tampered files
def run_cli(capsys, argv):
    """``main(argv)`` in-process: (status, stdout, stderr); an escaping exception fails."""
    try:
        code = main(argv)
    except SystemExit as done:
        code = done.code
    except Exception as error:  # noqa: BLE001 - a traceback is what we look for
        pytest.fail(f"traceback from `milkbayes {' '.join(argv)}`: {type(error).__name__}: {error}")
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    """The one ``error: ...`` line of stderr (there must be exactly one)."""
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    return lines[0]


@pytest.mark.parametrize("broken", ["posterior.nc", "summary.json", "provenance.json"])
def test_diagnose_on_a_corrupted_run_folder_names_the_file(tmp_path, capsys, broken):
    """A run folder whose files were cut short or overwritten with garbage."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in ("posterior.nc", "summary.json", "diagnostics.json", "provenance.json"):
        (run_dir / name).write_bytes(b"\x89HDF\r\n" if name.endswith(".nc") else b"{}")
    if broken != "posterior.nc":  # only this one is broken: make the NetCDF valid
        import xarray as xr

        xr.DataTree(xr.Dataset({"x": ("draw", np.arange(3.0))})).to_netcdf(
            run_dir / "posterior.nc", engine="h5netcdf"
        )
        (run_dir / broken).write_bytes(b'{"cut short": ')
    code, out, err = run_cli(capsys, ["diagnose", str(run_dir), "--json"])
    assert code == EXIT_USER_ERROR and out == ""
    assert err.startswith("error: ") and str(run_dir / broken) in err


def test_diagnose_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    code, _, err = run_cli(capsys, ["diagnose", str(tmp_path)])
    assert code == EXIT_USER_ERROR and "not a milkbayes run folder" in err


def minimal_summary() -> dict:
    from milkbayes.report.render import SCHEMA_VERSION

    return {
        "schema_version": SCHEMA_VERSION,
        "ci_prob": 0.95,
        "reconstructed": False,
        "generator": {},
        "data": {},
        "reproduction": {},
        "modifiers": {},
        "comparison": {},
        "design_limits": [],
        "diagnostics": {"overall": "pass"},
        "bayes": {
            "priors": [
                {
                    "prior": "neutral",
                    "median": 1.0,
                    "ci95_low": 0.0,
                    "ci95_high": 2.0,
                    "p_gt_0": 0.9,
                    "p_gt_mcid": 0.5,
                }
            ]
        },
    }


@pytest.mark.parametrize("tamper", ["not json", "wrong version", "reconstructed unflagged"])
def test_report_rerender_of_a_tampered_summary_is_refused(tmp_path, capsys, tamper):
    folder = tmp_path / "report"
    folder.mkdir()
    summary = minimal_summary()
    if tamper == "not json":
        (folder / "summary.json").write_text('{"schema_version": "1.0", ')
    else:
        if tamper == "wrong version":
            summary["schema_version"] = "0.9"
        else:
            summary["reconstructed"] = True  # without its warning
        (folder / "summary.json").write_text(json.dumps(summary))
    code, out, err = run_cli(capsys, ["report", str(folder)])
    assert code == EXIT_USER_ERROR and out == "" and err.startswith("error: ")
    assert sorted(p.name for p in folder.iterdir()) == ["summary.json"]  # nothing rendered


@pytest.mark.parametrize(
    "tamper", ["bayes is a list", "prior row is text", "diagnostics is a list", "wrong version"]
)
def test_tampered_summary_is_one_error_naming_the_file(tmp_path, capsys, tamper):
    """A summary.json with a section of the wrong type, or of another version: exit 2.

    The one error line names the summary's path; "bayes": [] must not escape as an
    AttributeError.
    """
    folder = tmp_path / "report"
    folder.mkdir()
    summary = minimal_summary()
    if tamper == "bayes is a list":
        summary["bayes"] = []
    elif tamper == "prior row is text":
        summary["bayes"]["priors"] = ["neutral"]
    elif tamper == "diagnostics is a list":
        summary["diagnostics"] = ["overall"]
    else:
        summary["schema_version"] = "0.9"
    (folder / "summary.json").write_text(json.dumps(summary))
    code, out, err = run_cli(capsys, ["report", str(folder)])
    assert code == EXIT_USER_ERROR and out == ""
    assert str(folder / "summary.json") in error_line(err)


def test_summary_lacking_a_field_the_report_needs_names_its_json_path(tmp_path, capsys):
    """A summary lacking a field the template prints: exit 2, nothing rendered.

    The structure passes but generator.name is missing: the error names the file and
    the JSON path, rather than a jinja2 UndefinedError while rendering.
    """
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps(minimal_summary()))
    code, out, err = run_cli(capsys, ["report", str(folder)])
    assert code == EXIT_USER_ERROR and out == ""
    assert str(folder / "summary.json") in error_line(err)
    assert "'generator.name' is missing" in error_line(err)
    assert sorted(p.name for p in folder.iterdir()) == ["summary.json"]


def small_power(*extra: str) -> list[str]:
    return [
        "simulate",
        "power",
        "--sims",
        "3000",
        "--effect",
        "1.0",
        "--seed",
        "4",
        "--workers",
        "1",
        "--json",
        *extra,
    ]


def test_checkpoint_of_another_study_is_refused_not_mixed(tmp_path, capsys):
    checkpoint = tmp_path / "study.jsonl"
    assert run_cli(capsys, small_power("--checkpoint", str(checkpoint)))[0] == 0
    before = checkpoint.read_bytes()
    code, out, err = run_cli(
        capsys,
        [
            "simulate",
            "power",
            "--sims",
            "3000",
            "--effect",
            "2.0",
            "--seed",
            "4",
            "--workers",
            "1",
            "--json",
            "--checkpoint",
            str(checkpoint),
        ],
    )
    assert code == EXIT_USER_ERROR and out == "" and str(checkpoint) in err
    assert "row 1" in err and checkpoint.read_bytes() == before


def test_checkpoint_cut_mid_line_resumes_to_identical_results(tmp_path, capsys):
    """A crash during an append leaves half a line: it is dropped and re-run."""
    code, out, _ = run_cli(capsys, small_power())
    assert code == 0
    reference = sim_result(out)
    checkpoint = tmp_path / "study.jsonl"
    assert run_cli(capsys, small_power("--checkpoint", str(checkpoint)))[0] == 0
    lines = checkpoint.read_bytes().splitlines(keepends=True)
    assert len(lines) > 3
    cut = b"".join(lines[:3]) + lines[3][: len(lines[3]) // 2]
    checkpoint.write_bytes(cut)
    code, out, _ = run_cli(capsys, small_power("--checkpoint", str(checkpoint)))
    assert code == 0 and sim_result(out) == reference
    assert json.loads(out)["result"]["run"]["resumed"] == 2


def test_garbage_line_inside_a_checkpoint_names_its_row(tmp_path, capsys):
    checkpoint = tmp_path / "study.jsonl"
    assert run_cli(capsys, small_power("--checkpoint", str(checkpoint)))[0] == 0
    lines = checkpoint.read_text().splitlines(keepends=True)
    lines[2] = "this is not json\n"
    checkpoint.write_text("".join(lines))
    code, out, err = run_cli(capsys, small_power("--checkpoint", str(checkpoint)))
    assert code == EXIT_USER_ERROR and out == "" and "row 3" in err and str(checkpoint) in err


def _cmdline(pid: int) -> bytes:
    """The command line of ``pid`` (empty once it has exited)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(
    not Path("/proc").is_dir() or (os.cpu_count() or 1) < 2,
    reason="needs /proc and two cores (the background worker runs on two or more)",
)
def test_sigkill_of_reanalyze_leaves_no_worker_holding_the_pipe(tmp_path):
    """SIGKILL a full `reanalyze` once its worker runs: the pipe closes, the worker dies.

    A pipeline such as `milkbayes reanalyze | tee log` must not hang on an orphaned
    worker that inherited the caller's stdout and stderr. The run forks two
    children with its own command line, the headline's helper first, then the
    background worker: the kill comes once both have been seen, and neither may
    survive it.
    """
    import threading

    process = subprocess.Popen(
        [str(ENTRY_POINT), "reanalyze", "--out", str(tmp_path / "report")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2:
        # a spawned worker runs multiprocessing's entry point; a forked one has the
        # command line of its parent (the resource tracker, a child too, is left out),
        # read here: it is empty while the command is being exec'd
        own = _cmdline(process.pid)
        workers += [
            pid
            for pid in _children(process.pid)
            if pid not in workers
            and (
                (own and _cmdline(pid) == own)
                or (
                    b"multiprocessing" in _cmdline(pid) and b"resource_tracker" not in _cmdline(pid)
                )
            )
        ]
        time.sleep(0.1)
    if len(workers) < 2:
        process.kill()
        process.communicate()
        pytest.fail("the background worker never started")
    time.sleep(1.0)  # let the worker get going
    process.kill()
    closed = threading.Event()

    def drain() -> None:
        process.stdout.read()
        process.stderr.read()
        closed.set()

    threading.Thread(target=drain, daemon=True).start()
    assert closed.wait(timeout=20), "the killed run's stdout/stderr stayed open"
    process.wait(timeout=10)
    alive_until = time.monotonic() + 10
    while time.monotonic() < alive_until and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.2)
    survivors = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"worker(s) {survivors} outlived the killed run"
