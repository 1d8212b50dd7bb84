"""The frequentist commands do not import the Bayesian stack.

A user who runs ``milkbayes wilcoxon`` waits for every module the command imports:
PyMC, PyTensor, nutpie, ArviZ and matplotlib together take seconds to import, the
test itself milliseconds. Each command runs in a fresh interpreter (this test
process has imported them already) and reports which of those modules it loaded.
Not a timing test: the latency itself is measured by ``benchmarks/bench_cli_latency.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BUNDLED_CSV = Path(__file__).resolve().parents[1] / "src/milkbayes/datasets/volume_ml.csv"

BAYESIAN_STACK = ("pymc", "pytensor", "nutpie", "numba", "arviz", "matplotlib", "xarray")

PROBE = """
{preamble}
import contextlib, io, json, sys
from milkbayes.cli import main
err = io.StringIO()
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
    status = main(json.loads(sys.argv[1]))
print(json.dumps({"status": status, "modules": sorted(sys.modules), "stderr": err.getvalue()}))
"""


def probe(argv: list[str], preamble: str = "") -> dict:
    """``milkbayes ARGV`` in a new interpreter: its exit status, modules and stderr."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.replace("{preamble}", preamble), json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def loaded_modules(argv: list[str], preamble: str = "") -> tuple[int, set[str]]:
    """Exit status of ``milkbayes ARGV`` in a new interpreter, and the modules it imported."""
    report = probe(argv, preamble)
    return report["status"], set(report["modules"])


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


@pytest.mark.parametrize(
    "argv",
    [
        ["wilcoxon", "--data", str(BUNDLED_CSV)],
        ["wilcoxon", "--data", str(BUNDLED_CSV), "--method", "spss", "--json"],
        ["reproduce"],
        ["data", "describe"],
    ],
    ids=["wilcoxon", "wilcoxon-spss-json", "reproduce", "data-describe"],
)
def test_frequentist_commands_leave_the_bayesian_stack_unimported(argv):
    status, modules = loaded_modules(argv)
    assert status == 0
    assert top_level(modules).isdisjoint(BAYESIAN_STACK), sorted(
        top_level(modules) & set(BAYESIAN_STACK)
    )


def test_the_exact_wilcoxon_test_imports_no_scipy_stats():
    # scipy.stats alone takes longer to import than the rest of the command; the
    # exact test (the default) computes its p from the enumerated null distribution
    status, modules = loaded_modules(["wilcoxon", "--data", str(BUNDLED_CSV)])
    assert status == 0
    assert "scipy.stats" not in modules
    assert "milkbayes.frequentist.wilcoxon" in modules  # the probe did run the test


def test_the_probe_sees_an_import_when_there_is_one():
    # the checks above could pass by never seeing anything: a module imported before
    # the command must show up
    status, modules = loaded_modules(["wilcoxon", "--data", str(BUNDLED_CSV)], "import xarray")
    assert status == 0
    assert "xarray" in top_level(modules) & set(BAYESIAN_STACK)


SAMPLER_STACK = ("pymc", "pytensor", "nutpie", "numba", "arviz")


def test_fit_reports_a_bad_data_file_before_importing_the_sampler(tmp_path):
    # importing nutpie and PyMC takes seconds: a malformed file must not wait for them
    rows = BUNDLED_CSV.read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    cells = rows[4].split(",")  # data row 4 is line 5 of the file, counting the header
    cells[header.index("post")] = "12;5"
    rows[4] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(rows) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    report = probe(["fit", "paired_change", "--data", str(bad), "--out", str(run)])
    assert report["status"] == 2
    assert top_level(set(report["modules"])).isdisjoint(SAMPLER_STACK), sorted(
        top_level(set(report["modules"])) & set(SAMPLER_STACK)
    )
    message = report["stderr"]
    assert str(bad) in message and "row 5" in message and '"post"' in message, message
    assert "Traceback" not in message
    assert not run.exists()


def test_fit_refuses_a_run_folder_before_importing_the_sampler(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "thesis.docx").write_text("mine", encoding="utf-8")
    report = probe(["fit", "paired_change", "--out", str(taken), "--force"])
    assert report["status"] == 2
    assert top_level(set(report["modules"])).isdisjoint(SAMPLER_STACK)
    assert "taken" in report["stderr"] and "Traceback" not in report["stderr"]
    assert (taken / "thesis.docx").read_text(encoding="utf-8") == "mine"
