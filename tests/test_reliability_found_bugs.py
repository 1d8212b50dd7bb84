"""Bugs found by the reliability tests in modules still being written (issue 9).

Each test below fails today and names its owner module; it stays visible (not
xfail) until the owner fixes it, then it moves to ``test_reliability_input.py`` or
``test_reliability_runs.py``. Expected values are worked out independently: ranks
and p-values with :func:`scipy.stats.wilcoxon` on changes rescaled so that they
cannot overflow or underflow; exit statuses from :mod:`milkbayes.errors`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from milkbayes.cli import main
from milkbayes.errors import EXIT_DIAGNOSTICS_FAILED, EXIT_USER_ERROR, RunExistsError

ALLOWED_EXIT = {0, EXIT_USER_ERROR, EXIT_DIAGNOSTICS_FAILED}
ENTRY_POINT = Path(sys.executable).with_name("milkbayes")


def run_cli(capsys, argv):
    """``main(argv)`` in-process; an escaping exception is a user-visible traceback."""
    try:
        code = main(argv)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    except Exception as error:  # noqa: BLE001
        pytest.fail(f"traceback from `milkbayes {' '.join(argv)}`: "
                    f"{type(error).__name__}: {error}")
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    return lines[0]


def csv_of(tmp_path: Path, name: str, pre, post) -> Path:
    path = tmp_path / name
    path.write_text("id,pre,post\n" + "".join(f"p{i},{a!r},{b!r}\n" for i, (a, b) in
                                              enumerate(zip(pre, post))))
    return path


def check_wilcoxon_or_clear_error(capsys, path: Path, pre, post):
    """A correct signed-rank result, or exit 2 naming the file and the row."""
    code, out, err = run_cli(capsys, ["wilcoxon", "--data", str(path), "--json"])
    assert code in ALLOWED_EXIT and "Traceback" not in err
    if code == EXIT_USER_ERROR:
        assert str(path) in error_line(err) and "row" in error_line(err)
        return
    # post/2 - pre/2 (or a power-of-two rescaling) keeps order, signs and ties exactly
    changes = np.asarray(post) / 2 - np.asarray(pre) / 2
    if np.max(np.abs(changes)) < 1e-300:
        changes = np.asarray(post) * 2.0**1000 - np.asarray(pre) * 2.0**1000
    nonzero = changes[changes != 0]
    w_plus = scipy.stats.rankdata(np.abs(nonzero))[nonzero > 0].sum()
    expected = scipy.stats.wilcoxon(changes, method="exact", zero_method="wilcox")
    payload = json.loads(out)
    assert payload["n_zero"] == int(np.sum(changes == 0))
    assert payload["w_plus"] == pytest.approx(w_plus)
    assert payload["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)


# ----------------------------------------------------------------------------- frequentist
def test_overflowing_differences_are_not_snapped_to_zero(capsys, tmp_path):
    """frequentist (paired change snapping): with changes -2e308, 2e308, 1, 3 the small
    changes 1 and 3 are snapped to 0 relative to the huge ones (n_zero = 2, W+ = 1.5),
    silently; expected W+ = 1 + 2 + 3.5 = 6.5 with no zeros, or a clear refusal."""
    pre, post = [-1e308, 1e308, 1.0, 2.0], [1e308, -1e308, 2.0, 5.0]
    check_wilcoxon_or_clear_error(capsys, csv_of(tmp_path, "huge.csv", pre, post), pre, post)


def test_subnormal_values_do_not_crash_wilcoxon(capsys, tmp_path):
    """frequentist._snap: math.log10(0) 'math domain error' traceback when every change
    is subnormal (5e-324 etc.)."""
    pre, post = [5e-324, 0.0, 5e-324, 1e-320], [1e-323, 5e-324, 2e-323, 4e-320]
    check_wilcoxon_or_clear_error(capsys, csv_of(tmp_path, "tiny.csv", pre, post), pre, post)


def test_subnormal_values_do_not_crash_reproduce(capsys, tmp_path):
    """frequentist._snap via `milkbayes reproduce`: the same traceback."""
    path = csv_of(tmp_path, "tiny.csv", [5e-324, 0.0, 5e-324, 1e-320],
                  [1e-323, 5e-324, 2e-323, 4e-320])
    code, _, err = run_cli(capsys, ["reproduce", "--data", str(path), "--json"])
    assert code == 0 or str(path) in error_line(err)


def test_overflowing_differences_do_not_crash_reproduce(capsys, tmp_path):
    """frequentist (t-test / HL interval via scipy brentq): 'The function value at x=nan
    is NaN; solver cannot continue' traceback when post - pre overflows."""
    path = csv_of(tmp_path, "huge.csv", [-1e308, 1e308, 1.0, 2.0], [1e308, -1e308, 2.0, 5.0])
    code, out, err = run_cli(capsys, ["reproduce", "--data", str(path), "--json"])
    if code == 0:
        assert "NaN" not in out
    else:
        assert str(path) in error_line(err)


@pytest.fixture(scope="module")
def large_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("large") / "large.csv"
    rows = [f"p{i},{1 + i % 7}.5,{3 + i % 11}.25" for i in range(200_000)]
    path.write_text("id,pre,post\n" + "\n".join(rows) + "\n")
    return path


def _run_limited(argv, timeout=180.0):
    def cap_memory():  # a runaway allocation fails here instead of swapping the machine
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))

    return subprocess.run([str(ENTRY_POINT), *argv], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=cap_memory)


def test_large_file_asymptotic_wilcoxon_does_not_need_n_squared_memory(large_file):
    """frequentist (Hodges-Lehmann via all Walsh averages / greater_equal.outer):
    200 000 rows ask for a 200000 x 200000 array (37 GiB) -> MemoryError traceback.
    Expected: scipy's asymptotic p (HL by a sub-quadratic algorithm, or refused clearly)."""
    done = _run_limited(["wilcoxon", "--data", str(large_file), "--method", "asymptotic",
                         "--json"])
    assert "Traceback" not in done.stderr, done.stderr[-600:]
    assert done.returncode in ALLOWED_EXIT
    if done.returncode == 0:
        i = np.arange(200_000)
        change = (3 + i % 11 + 0.25) - (1 + i % 7 + 0.5)
        expected = scipy.stats.wilcoxon(change, method="asymptotic", correction=False)
        assert json.loads(done.stdout)["p_value"] == pytest.approx(expected.pvalue, abs=1e-12)


def test_large_file_reproduce_fails_clearly_or_works(large_file):
    """frequentist / `milkbayes reproduce`: the same 37 GiB MemoryError traceback."""
    done = _run_limited(["reproduce", "--data", str(large_file), "--json"])
    assert "Traceback" not in done.stderr, done.stderr[-600:]
    assert done.returncode in ALLOWED_EXIT


# ----------------------------------------------------------------------------- report re-render
def _minimal_summary() -> dict:
    from milkbayes.report import SCHEMA_VERSION

    return {"schema_version": SCHEMA_VERSION, "reconstructed": False, "generator": {},
            "data": {}, "reproduction": {}, "modifiers": {}, "comparison": {},
            "design_limits": [], "diagnostics": {"overall": "pass"},
            "bayes": {"priors": [{"prior": "neutral", "median": 1.0, "ci95_low": 0.0,
                                  "ci95_high": 2.0, "p_gt_0": 0.9, "p_gt_mcid": 0.5}]}}


@pytest.mark.parametrize("tamper", ["bayes is a list", "prior row is text",
                                    "diagnostics is a list", "wrong version"])
def test_tampered_summary_is_one_error_naming_the_file(tmp_path, capsys, tamper):
    """report.read_summary / validate_summary: a section of the wrong JSON type
    (e.g. "bayes": []) escapes as AttributeError (traceback); a summary that
    validate_summary accepts can still lack keys the template needs (jinja2
    UndefinedError traceback, e.g. generator.name); and the schema errors that are
    caught do not name the file ("error: summary schema_version '0.9' is not
    supported"). Expected: exit 2 with the summary's path in the one error line."""
    folder = tmp_path / "report"
    folder.mkdir()
    summary = _minimal_summary()
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


# ----------------------------------------------------------------------------- ordinary data
def test_reproduce_with_nearly_constant_changes(capsys, tmp_path):
    """frequentist.paired_t_test / _noncentrality_interval: 24 mothers who all gain
    10 ml give or take 0.002 ml (t ~ 1e4) make scipy's brentq meet a NaN noncentral-t
    cdf: 'The function value at x=117487.1 is NaN' traceback. Expected: a result (the
    interval of d_z may be reported as unavailable) or a clear refusal."""
    path = tmp_path / "constant.csv"
    path.write_text("id,pre,post\n" + "".join(f"m{i},{20 + i},{30 + i + 0.001 * (i % 3)}\n"
                                              for i in range(24)))
    code, out, err = run_cli(capsys, ["reproduce", "--data", str(path), "--json"])
    assert code in (0, EXIT_USER_ERROR) and "Traceback" not in err
    if code == 0:
        assert "NaN" not in out


NUMBER = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6).map(repr),
    st.integers(-5, 5).map(str), st.sampled_from(["0", "1", "1.5", "-0", "0.1", "0.2"]))


@given(rows=st.lists(st.tuples(NUMBER, NUMBER), min_size=2, max_size=9),
       argv=st.sampled_from([["reproduce"], ["wilcoxon", "--method", "exact"],
                             ["wilcoxon", "--method", "asymptotic", "--zero-method", "pratt"],
                             ["wilcoxon", "--method", "spss", "--zero-method", "zsplit"]]))
@example(rows=[("16909.0", "0.0"), ("16909.0", "1")], argv=["reproduce"])
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_frequentist_commands_on_ordinary_small_tables_never_crash(rows, argv):
    """Fuzzing `reproduce` and `wilcoxon` with 2-9 participants and values within
    +-1e6 finds the crash above (e.g. pre 16909 -> post 0 and 1: t = -33817)."""
    import contextlib
    import io
    import tempfile

    text = "id,pre,post\n" + "".join(f'p{i},"{a}","{b}"\n' for i, (a, b) in enumerate(rows))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.csv"
        path.write_text(text)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([argv[0], "--data", str(path), "--json", *argv[1:]])
            except SystemExit as done:
                code = done.code
    assert code in (0, EXIT_USER_ERROR), err.getvalue()[-400:]
    if code == 0:
        assert "NaN" not in out.getvalue()
