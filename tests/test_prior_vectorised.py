"""The batched prior predictive (engine.predictive._vectorised_prior) against PyMC's loop.

``pm.sample_prior_predictive`` calls its forward function once per draw. The batched
graph must give every free variable exactly PyMC's draws (same seeded generators,
consumed in the same order), and the deterministics and predictive values computed
from them (whose means the batched kernels round differently) to 1e-12, in PyMC's
layout.
"""

from __future__ import annotations

import numpy as np
import pytest

CASES = [
    ("paired_change", "normal"),
    ("paired_change", "student_t"),
    ("prepost_hierarchical", "normal"),
    ("prepost_bivariate", "normal"),  # a custom random variable: (pre, post) pairs
    ("signed_rank", None),  # an improper prior: only part of the model is drawn
]


def _pymcs(module, study, likelihood, draws, seed):
    """PyMC's own loop on a freshly built model, as prior_predictive ran it before."""
    import pymc as pm

    from milkbayes.engine.deterministics import FORWARD_MODE
    from milkbayes.engine.fit import resolve_likelihood
    from milkbayes.engine.predictive import _drawable, _quiet_pymc
    from milkbayes.models.priors import get_prior

    likelihood = resolve_likelihood(module, likelihood)
    prior = get_prior("neutral", study.outcome, module.NAME)
    model = module.build(module.inputs(study, likelihood), prior, likelihood)
    with _quiet_pymc():
        return pm.sample_prior_predictive(
            draws=draws,
            model=model,
            random_seed=seed,
            var_names=_drawable(model),
            compile_kwargs={"mode": FORWARD_MODE},
        ), model


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case[0]}-{case[1]}")
def test_the_batched_prior_predictive_draws_pymcs_values(case, monkeypatch):
    import pymc as pm

    from milkbayes.datasets import load_bundled
    from milkbayes.engine.predictive import prior_predictive
    from milkbayes.models.registry import load_model

    def looped(*args, **kwargs):
        raise AssertionError("PyMC's loop ran: the batched prior was not used")

    module, study = load_model(case[0]), load_bundled()
    with monkeypatch.context() as patch:
        patch.setattr(pm, "sample_prior_predictive", looped)
        ours = prior_predictive(module, study, likelihood=case[1], draws=300, seed=42)
    theirs, model = _pymcs(module, study, case[1], 300, 42)
    random = {rv.name for rv in model.free_RVs}
    assert set(ours.children) == set(theirs.children)
    for group in theirs.children:
        a, b = ours[group].to_dataset(), theirs[group].to_dataset()
        assert set(a.data_vars) == set(b.data_vars)
        for name in b.data_vars:
            assert a[name].dims == b[name].dims
            for coord in b[name].coords:
                np.testing.assert_array_equal(a[name][coord].values, b[name][coord].values)
            if group == "observed_data" or name in random:
                np.testing.assert_array_equal(a[name].values, b[name].values)
            else:  # computed from the draws (the predictive's mean too): rounding only
                np.testing.assert_allclose(a[name].values, b[name].values, rtol=1e-12, atol=1e-12)


def test_a_prior_that_cannot_be_batched_gets_pymcs_loop(monkeypatch):
    from milkbayes.datasets import load_bundled
    from milkbayes.engine import predictive
    from milkbayes.models.registry import load_model

    def refuse(*args):
        raise NotImplementedError("no batched form")

    monkeypatch.setattr(predictive, "_vectorised_prior", refuse)
    module, study = load_model("prepost_hierarchical"), load_bundled()
    ours = predictive.prior_predictive(module, study, draws=50, seed=3)
    theirs, _ = _pymcs(module, study, None, 50, 3)
    for group in theirs.children:
        a, b = ours[group].to_dataset(), theirs[group].to_dataset()
        for name in b.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values)


def test_a_batched_prior_refused_after_seeding_still_gives_pymcs_draws(monkeypatch):
    """A batched prior refused after the generators were seeded draws PyMC's values.

    As for ``two_arm``, whose batched graph would loop in Python: PyMC's loop then
    seeds the generators again and must draw exactly its own values.
    """
    from milkbayes.datasets import load_bundled
    from milkbayes.engine import log_density, predictive
    from milkbayes.models.registry import load_model

    monkeypatch.setattr(log_density, "_loops_in_python", lambda op: True)
    module, study = load_model("prepost_hierarchical"), load_bundled()
    ours = predictive.prior_predictive(module, study, draws=40, seed=9)
    theirs, _ = _pymcs(module, study, None, 40, 9)
    for group in theirs.children:
        a, b = ours[group].to_dataset(), theirs[group].to_dataset()
        for name in b.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values)
