"""The four notebooks: jupytext sources that are parameterised, use the public API, and run.

The source of each notebook is its percent-format script ``notebooks/NN_name.py``;
the tests read it with jupytext in memory, so no .ipynb is needed. Execution uses
papermill with ``FAST = True`` (tiny samplers and grids) in a fresh kernel of this
interpreter (jupyter_client replaces the kernelspec's ``python`` by
``sys.executable``; the kernel inherits ``PYTHONPATH``), in a temporary folder so
that nothing is written to the tree. Notebook 2's hierarchical model takes about a
minute to compile, so the default run sets ``FLAGSHIP = False`` and the full run is
marked slow.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

import jupytext
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
    return jupytext.read(NOTEBOOKS / f"{name}.py")


def _code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_the_sources_are_the_four_notebooks():
    assert tuple(path.stem for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_notebook_source_has_a_tagged_parameters_cell(name):
    nb = _read(name)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    first = _code_cells(nb)[0]
    assert first.metadata.get("tags") == ["parameters"]
    for parameter in ("DATA = None", "PRIOR = ", "MCID = None", "FAST = False"):
        assert parameter in first.source, parameter
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.parametrize("name", NAMES)
def test_jupyter_saves_the_source_unchanged(name):
    """Writing the notebook back with the folder's jupytext settings gives the same file.

    This is what Jupyter does on save, so opening and saving a notebook without
    editing it leaves no diff, and the "parameters" tag survives the round trip.
    """
    config = tomllib.loads((NOTEBOOKS / "jupytext.toml").read_text())
    assert config["formats"] == "ipynb,py:percent"
    nb = _read(name)
    nb.metadata["jupytext"] = {
        key: config[key] for key in ("notebook_metadata_filter", "cell_metadata_filter")
    }
    path = NOTEBOOKS / f"{name}.py"
    assert jupytext.writes(nb, fmt="py:percent") == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_uses_only_the_public_api(name):
    source = "\n".join(cell.source for cell in _code_cells(_read(name)))
    private_import = re.compile(r"from milkbayes[\w.]* import [^\n]*\b_\w+|milkbayes(\.\w+)*\._\w+")
    assert not private_import.search(source), private_import.search(source)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_checks_its_mcid_and_warns_about_reconstructed_data(name):
    """The loading cell (right after the parameters) validates MCID and prints the warning."""
    load = _code_cells(_read(name))[1].source
    assert "MCID = resolve_mcid(study, MCID)" in load
    assert "if study.reconstructed:\n    print(milkbayes.RECONSTRUCTED_WARNING)" in load


def _execute(name: str, tmp_path: Path, **parameters) -> nbformat.NotebookNode:
    import papermill

    output = tmp_path / f"{name}.out.ipynb"
    papermill.execute_notebook(
        _read(name),
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


@pytest.mark.parametrize("mcid", [-5, math.nan])
def test_a_negative_or_nan_mcid_stops_the_notebook_with_its_reason(tmp_path, mcid):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError) as raised:
        _execute("01_reproduce_the_paper", tmp_path, MCID=mcid)
    assert raised.value.ename == "MilkbayesError"
    assert f"MCID = {mcid!r} is not allowed" in raised.value.evalue
    assert "finite number >= 0 in the outcome's units (ml)" in raised.value.evalue
    # it stops in the loading cell: no analysis ran on the bad value
    executed = nbformat.read(tmp_path / "01_reproduce_the_paper.out.ipynb", as_version=4)
    ran = [cell for cell in _code_cells(executed) if cell.execution_count is not None]
    assert "MCID = resolve_mcid(study, MCID)" in ran[-1].source


def test_notebook_01_reproduces_the_spss_output(tmp_path):
    text = _text(_execute("01_reproduce_the_paper", tmp_path))
    assert "RECONSTRUCTED DATA" in text
    assert "Asymp. Sig. (2-tailed)           .000" in text
    assert "T <= 28 of 300" in text


def test_notebook_01_takes_an_mcid_parameter(tmp_path):
    text = _text(_execute("01_reproduce_the_paper", tmp_path, MCID=5))
    assert "MCID = 5 ml" in text


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
    assert "RECONSTRUCTED DATA" in text


def test_notebook_04_runs(tmp_path):
    text = _text(_execute("04_teaching_effect_estimation", tmp_path))
    assert "p < .0005 needs W+ >= 272" in text
    assert "two arms, difference in changes" in text
    assert "RECONSTRUCTED DATA" in text
