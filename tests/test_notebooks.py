"""The four notebooks: stored clean, parameterised, public API only, and they run.

Execution uses papermill with ``FAST = True`` (tiny samplers and grids) in a fresh
kernel of this interpreter (jupyter_client replaces the kernelspec's ``python`` by
``sys.executable``), in a temporary folder so that nothing is written to the tree.
Notebook 2's hierarchical model takes about a minute to compile, so the default run
sets ``FLAGSHIP = False`` and the full run is marked slow.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = (
    "01_reproduce_the_paper",
    "02_bayesian_reanalysis",
    "03_sensitivity_analysis",
    "04_teaching_effect_estimation",
)


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stored_clean_with_a_parameters_cell(name):
    nb = _read(name)
    nbformat.validate(nb)
    for cell in _code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    first = _code_cells(nb)[0]
    assert "parameters" in first.metadata.get("tags", [])
    for parameter in ("DATA = None", "PRIOR = ", "MCID = ", "FAST = False"):
        assert parameter in first.source, parameter
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_uses_only_the_public_api(name):
    source = "\n".join(cell.source for cell in _code_cells(_read(name)))
    private_import = re.compile(r"from milkbayes[\w.]* import [^\n]*\b_\w+|milkbayes(\.\w+)*\._\w+")
    assert not private_import.search(source), private_import.search(source)


def test_notebooks_are_what_the_build_script_writes(tmp_path, monkeypatch):
    """The committed files and notebooks/_build.py must not drift apart."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_nb_build", NOTEBOOKS / "_build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    monkeypatch.setattr(build, "HERE", tmp_path)
    build.main()
    for name in NAMES:
        assert (tmp_path / f"{name}.ipynb").read_text() == (
            NOTEBOOKS / f"{name}.ipynb"
        ).read_text(), name


def _execute(name: str, tmp_path: Path, **parameters) -> nbformat.NotebookNode:
    import papermill

    output = tmp_path / f"{name}.out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(output),
        parameters={"FAST": True, **parameters},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
        log_output=False,
    )
    return nbformat.read(output, as_version=4)


def _text(nb) -> str:
    pieces = []
    for cell in _code_cells(nb):
        for output in cell.outputs:
            if output.output_type == "stream":
                pieces.append(output.text)
            elif "data" in output:
                pieces.append(output.data.get("text/plain", ""))
    return "\n".join(pieces)


def test_notebook_01_reproduces_the_spss_output(tmp_path):
    text = _text(_execute("01_reproduce_the_paper", tmp_path))
    assert "RECONSTRUCTED DATA" in text
    assert "Asymp. Sig. (2-tailed)           .000" in text
    assert "T <= 28 of 300" in text


def test_notebook_02_runs_the_three_priors(tmp_path):
    text = _text(_execute("02_bayesian_reanalysis", tmp_path, FLAGSHIP=False))
    for prior in ("skeptical", "neutral", "enthusiastic"):
        assert prior in text
    assert "RECONSTRUCTED DATA" in text


@pytest.mark.slow
def test_notebook_02_with_the_flagship_model(tmp_path):
    text = _text(_execute("02_bayesian_reanalysis", tmp_path, FLAGSHIP=True))
    assert "convergence:" in text


def _images(nb) -> int:
    return sum(
        "image/png" in output.get("data", {}) for cell in _code_cells(nb) for output in cell.outputs
    )


def test_notebook_03_runs_every_sensitivity_analysis(tmp_path):
    nb = _execute("03_sensitivity_analysis", tmp_path)
    text = _text(nb)
    # each analysis shows its figure as an image (grid, likelihood, influence,
    # ensemble, published p, bias), not as "<Figure ...>" text
    assert _images(nb) >= 6
    assert "settings refitted" in text
    assert "tipping_point_p_effect_gt_0" in text


def test_notebook_04_runs(tmp_path):
    text = _text(_execute("04_teaching_effect_estimation", tmp_path))
    assert "p < .0005 needs W+ >= 272" in text
    assert "two arms, difference in changes" in text
