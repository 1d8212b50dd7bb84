"""Bugs found by the reliability tests in modules still being written (issue 9).

Each test below fails today and names its owner module; it stays visible (not
xfail) until the owner fixes it, then it moves to ``test_reliability_input.py`` or
``test_reliability_runs.py``. Expected values are worked out independently: ranks
and p-values with :func:`scipy.stats.wilcoxon` on changes rescaled so that they
cannot overflow or underflow; exit statuses from :mod:`milkbayes.errors`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

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
