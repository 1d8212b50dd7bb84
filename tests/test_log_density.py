"""The batched log-likelihood and log-prior (milkbayes.engine.log_density) against PyMC's own.

PyMC's ``compute_log_likelihood`` and ``compute_log_prior`` call the compiled
log-density once per draw; the batched function must give their values (to rounding:
NumPy's kernels against numba's), with the same dimensions and coordinates.
"""

from __future__ import annotations

import numpy as np
import pytest

CASES = [
    ("paired_change", "normal"),
    ("paired_change", "student_t"),
    ("prepost_hierarchical", "normal"),
    ("prepost_bivariate", "normal"),  # one value per mother, of her (pre, post) pair
    ("signed_rank", None),  # its likelihood's batched form loops: PyMC's loop serves
]


@pytest.fixture(scope="module")
def fits():
    from milkbayes.datasets import load_bundled
    from milkbayes.engine.fit import fit

    study = load_bundled()
    return {
        case: fit(
            case[0],
            study,
            likelihood=case[1],
            draws=60,
            tune=60,
            chains=2,
            seed=7,
            log_likelihood=False,
            posterior_predictive=False,
        )
        for case in CASES
    }


def _model(result):
    from milkbayes.engine.cache import prepared_model

    entry, _, _ = prepared_model(
        result.model_module, result.inputs, result.prior, result.likelihood
    )
    return entry.model


def _assert_same(ours, theirs):
    assert set(ours.data_vars) == set(theirs.data_vars)
    for name in theirs.data_vars:
        a, b = ours[name], theirs[name]
        assert a.dims == b.dims
        for coord in b.coords:
            np.testing.assert_array_equal(a[coord].values, b[coord].values)
        np.testing.assert_allclose(a.values, b.values, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case[0]}-{case[1]}")
@pytest.mark.parametrize("kind", ["likelihood", "prior"])
def test_batched_log_density_equals_pymcs(fits, case, kind):
    import pymc as pm

    from milkbayes.engine.log_density import log_density

    result = fits[case]
    model = _model(result)
    compute = pm.compute_log_likelihood if kind == "likelihood" else pm.stats.compute_log_prior
    theirs = compute(result.tree, model=model, progressbar=False, extend_inferencedata=False)
    _assert_same(log_density(result.tree, model, kind), theirs)


def test_the_bivariate_log_likelihood_is_batched(fits):
    """Its likelihood is written elementwise, so one batched call serves every draw."""
    from milkbayes.engine.log_density import prepare_log_density

    model = _model(fits[("prepost_bivariate", "normal")])
    assert prepare_log_density(model, "likelihood") is not None


def test_the_fit_and_the_saved_tree_carry_pymcs_values(fits):
    """Through the engine: ``fit`` adds the log-likelihood, ``arviz_tree`` the log-prior."""
    import pymc as pm

    from milkbayes.engine.fit import arviz_tree

    result = fits[("paired_change", "normal")]
    model = _model(result)
    tree = arviz_tree(result, prior_draws=20)
    _assert_same(
        tree["log_likelihood"].to_dataset(),
        pm.compute_log_likelihood(
            result.tree, model=model, progressbar=False, extend_inferencedata=False
        ),
    )
    _assert_same(
        tree["log_prior"].to_dataset(),
        pm.stats.compute_log_prior(
            result.tree, model=model, progressbar=False, extend_inferencedata=False
        ),
    )


def test_a_graph_that_cannot_be_batched_gets_pymcs_loop(fits, monkeypatch):
    import pymc as pm

    from milkbayes.engine import log_density as module

    def refuse(*args):
        raise NotImplementedError("no batched form")

    monkeypatch.setattr(module, "LogDensityFunction", refuse)
    result = fits[("paired_change", "normal")]
    model = _model(result)
    theirs = pm.compute_log_likelihood(
        result.tree, model=model, progressbar=False, extend_inferencedata=False
    )
    ours = module.log_density(result.tree, model, "likelihood")
    for name in theirs.data_vars:
        np.testing.assert_array_equal(ours[name].values, theirs[name].values)


def test_a_term_without_free_variables_covers_every_draw():
    """A log-density that no free variable enters is the same for every draw."""
    import pymc as pm
    import xarray as xr
    from scipy import stats

    from milkbayes.engine.log_density import log_density

    with pm.Model() as model:
        mu = pm.Normal("mu")
        pm.Normal("y", mu, 1.0, observed=[0.0, 2.0])
        pm.Normal("z", 0.0, 1.0, observed=[1.0, -1.0, 0.5])
    posterior = xr.Dataset({"mu": (("chain", "draw"), [[0.0, 1.0, 2.0]])})
    tree = xr.DataTree.from_dict({"posterior": posterior})
    out = log_density(tree, model, "likelihood")
    assert out["z"].shape == (1, 3, 3)
    np.testing.assert_allclose(out["z"].values[0, 2], stats.norm.logpdf([1.0, -1.0, 0.5]))
    np.testing.assert_allclose(out["y"].values[0, 1], stats.norm.logpdf([0.0, 2.0], 1.0))


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case[0]}-{case[1]}")
@pytest.mark.parametrize("kind", ["likelihood", "prior"])
def test_a_function_prepared_before_the_draws_gives_pymcs_values(fits, case, kind):
    """``prepare_log_density`` compiles without draws; called later it gives PyMC's values.

    For a graph that cannot be batched (signed_rank's likelihood) it prepares nothing
    and :func:`log_density` runs PyMC's loop.
    """
    import pymc as pm

    from milkbayes.engine.log_density import LogDensityFunction, log_density, prepare_log_density

    result = fits[case]
    model = _model(result)
    prepared = prepare_log_density(model, kind)
    if case == ("signed_rank", None) and kind == "likelihood":
        assert prepared is None
    else:
        assert isinstance(prepared, LogDensityFunction)
    compute = pm.compute_log_likelihood if kind == "likelihood" else pm.stats.compute_log_prior
    theirs = compute(result.tree, model=model, progressbar=False, extend_inferencedata=False)
    _assert_same(log_density(result.tree, model, kind, prepared=prepared), theirs)


@pytest.mark.parametrize("case", CASES[:3], ids=lambda case: f"{case[0]}-{case[1]}")
def test_one_function_of_both_kinds_gives_each_kinds_values(fits, case):
    """Likelihood and prior compiled together: PyMC's values, and each kind's own bit for bit."""
    import pymc as pm

    from milkbayes.engine.log_density import prepare_log_density

    result = fits[case]
    model = _model(result)
    groups = prepare_log_density(model, ("likelihood", "prior")).groups(result.tree)
    assert sorted(groups) == ["likelihood", "prior"]
    for kind, compute in (
        ("likelihood", pm.compute_log_likelihood),
        ("prior", pm.stats.compute_log_prior),
    ):
        theirs = compute(result.tree, model=model, progressbar=False, extend_inferencedata=False)
        _assert_same(groups[kind], theirs)
        alone = prepare_log_density(model, kind)(result.tree)
        for name in alone.data_vars:
            assert groups[kind][name].values.tobytes() == alone[name].values.tobytes(), name
