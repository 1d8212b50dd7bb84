"""Session-scoped fixtures shared by the test modules.

Fits are small (2 chains x 300 draws) and reuse the compiled models of the process
(:mod:`milkbayes.engine.fit` caches them), so that many tests can share a few compilations.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the toy model module lives here

SMALL_FIT = {"draws": 300, "tune": 300, "chains": 2}
"""Sampler settings of the shared test fits."""


@pytest.fixture(scope="session")
def bundled_study():
    """The bundled reconstructed ``volume_ml`` study (24 mothers)."""
    from milkbayes.datasets import load_bundled

    return load_bundled("volume_ml")


@pytest.fixture(scope="session")
def small_study():
    """Eight mothers with hand-written pre/post volumes (not reconstructed)."""
    from milkbayes.data.study import study_from_frame

    frame = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(1, 9)],
            "pre": [5.0, 7.5, 10.0, 4.0, 12.0, 8.0, 6.5, 9.0],
            "post": [11.0, 9.0, 21.5, 4.5, 20.0, 15.0, 6.0, 18.0],
        }
    )
    return study_from_frame(frame, outcome={"kind": "volume", "unit": "ml"})


@pytest.fixture(scope="session")
def toy_model():
    """The conjugate toy model module (tests/_toy_model.py)."""
    import _toy_model

    return _toy_model


@pytest.fixture(scope="session")
def toy_prior(toy_model):
    """Normal(0, 20) prior on the toy model's mean change."""
    return toy_model.ToyPrior("toy", {"mu_loc": 0.0, "mu_scale": 20.0})


@pytest.fixture(scope="session")
def paired_fit(bundled_study):
    """``paired_change`` fitted to the bundled data (neutral prior, MCID 10 ml, seed 11)."""
    from milkbayes.engine.fit import fit

    return fit("paired_change", bundled_study, mcid=10.0, seed=11, **SMALL_FIT)


@pytest.fixture(scope="session")
def rng():
    """A seeded generator for synthetic posteriors."""
    return np.random.default_rng(20241)


@pytest.fixture(scope="session")
def tiny_bundled_report(tmp_path_factory):
    """One tiny reanalysis of the bundled reconstruction, with the sensitivity highlights.

    Shared by the modules that read the report of a reconstruction (the ensemble, the
    prior sources): one run instead of one per module. Tiny runs fail the convergence
    checks; the report is written first either way.
    """
    import dataclasses

    from _small_runs import TINY
    from milkbayes.errors import DiagnosticsFailedError
    from milkbayes.reanalysis.pipeline import run_reanalysis

    out = tmp_path_factory.mktemp("tiny_bundled") / "report"
    try:
        return run_reanalysis(None, out, settings=dataclasses.replace(TINY, reloo=False))
    except DiagnosticsFailedError as failed:
        return failed.result
