"""Tests of milkbayes.engine.fit: compile-once engine, summaries, run folders.

Independent references: the conjugate normal posterior in closed form (tests/_toy_model),
scipy's normal log-density for the log-likelihood, numpy quantiles for the summary,
hashlib for the provenance hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import types
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from milkbayes import RECONSTRUCTED_WARNING
from milkbayes.engine import cache, runs, sampling
from milkbayes.engine import fit as fitmod
from milkbayes.engine.fit import FitResult, fit
from milkbayes.engine.runs import load_run, save_run
from milkbayes.errors import MilkbayesError, ModelError, PriorError, RunExistsError

SMALL = {"draws": 300, "tune": 300, "chains": 2}


def _shifted(study, shift, ids_prefix=None):
    """The same mothers with every post value raised by ``shift`` (same shapes)."""
    from milkbayes.data.study import study_from_frame

    table = study.table[["id", "pre", "post"]].copy()
    table["post"] = table["post"] + shift
    if ids_prefix:
        table["id"] = [f"{ids_prefix}{i}" for i in range(len(table))]
    return study_from_frame(pd.DataFrame(table), outcome=study.outcome)


def _bit_identical(a: np.ndarray, b: np.ndarray) -> bool:
    """Same dtype, shape and bytes (NaN payloads included); object arrays by value."""
    if a.dtype == object or b.dtype == object:
        return a.shape == b.shape and a.tolist() == b.tolist()
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ----------------------------------------------------------------------------- engine
def test_posterior_matches_conjugate_closed_form(toy_model, toy_prior, small_study):
    result = fit(toy_model, small_study, prior=toy_prior, seed=3, draws=1000, tune=500, chains=2)
    mean, sd = toy_model.conjugate_posterior(result.inputs, toy_prior)
    draws = result.tree.posterior["effect"].values.ravel()
    mcse = sd / np.sqrt(500)  # conservative: ESS >= 500 of 2000 draws
    assert abs(draws.mean() - mean) < 4 * mcse
    assert abs(draws.std() / sd - 1) < 0.1
    # the 95 % interval against normal quantiles of the closed form
    low, high = stats.norm(mean, sd).ppf([0.025, 0.975])
    assert abs(result.summary["effect_ci95_low"] - low) < 0.15 * sd
    assert abs(result.summary["effect_ci95_high"] - high) < 0.15 * sd


def test_same_seed_gives_bit_identical_draws(toy_model, toy_prior, small_study):
    first = fit(toy_model, small_study, prior=toy_prior, seed=7, **SMALL)
    second = fit(toy_model, small_study, prior=toy_prior, seed=7, **SMALL)
    other = fit(toy_model, small_study, prior=toy_prior, seed=8, **SMALL)
    for group in ("posterior", "sample_stats", "posterior_predictive", "log_likelihood"):
        for name, var in first.tree[group].data_vars.items():
            assert _bit_identical(var.values, second.tree[group][name].values), (group, name)
    assert not np.array_equal(
        first.tree.posterior["effect"].values, other.tree.posterior["effect"].values
    )


def test_paired_change_same_seed_identical(paired_fit, bundled_study):
    again = fit("paired_change", bundled_study, mcid=10.0, seed=11, **SMALL)
    assert again.compile_seconds == 0.0  # served by the cache
    for name in ("effect", "sigma", "delta"):
        assert np.array_equal(
            paired_fit.tree.posterior[name].values, again.tree.posterior[name].values
        )
    assert again.summary == paired_fit.summary


@pytest.mark.parametrize("model_name", ["paired_change", "prepost_hierarchical"])
def test_a_fit_does_not_depend_on_what_the_process_fitted_before(model_name, bundled_study):
    """Same data, prior and seed give the same draws, whatever was compiled before.

    The compiled model may have been made for this fit or for an earlier one with
    another prior. nutpie starts each chain at the priors' support points (jittered);
    they must be this fit's priors. The flagship checks the copy compiled with its
    design data frozen.
    """
    settings = {
        "draws": 50,
        "tune": 60,
        "chains": 2,
        "seed": 3,
        "log_likelihood": False,
        "posterior_predictive": False,
    }
    kept = dict(cache._CACHE)  # other tests count on their compiled models
    try:
        cache.clear_cache()
        fit(model_name, bundled_study, prior="enthusiastic", **settings)
        after_another = fit(model_name, bundled_study, prior="skeptical", **settings)
        cache.clear_cache()
        alone = fit(model_name, bundled_study, prior="skeptical", **settings)
    finally:
        cache.clear_cache()
        cache._CACHE.update(kept)
    for name, values in alone.tree.posterior.data_vars.items():
        assert _bit_identical(values.values, after_another.tree.posterior[name].values), name


def test_sampler_time_is_part_of_the_sampling_step_and_draws_are_nutpies(paired_fit):
    """``sample_timed`` times the chains alone and keeps nutpie's draws.

    It splits nutpie's ``wait()``: the draws must be those of a plain blocking
    ``nutpie.sample`` with the same settings, and the sampler's seconds a part of the
    sampling step's.
    """
    import nutpie

    assert 0.0 < paired_fit.sampler_seconds <= paired_fit.sample_seconds
    entry = next(e for key, e in cache._CACHE.items() if key[0].endswith("paired_change"))
    settings = {
        "draws": 40,
        "tune": 40,
        "chains": 2,
        "cores": 1,
        "seed": 9,
        "progress_bar": False,
        "save_warmup": False,
    }
    timed, seconds = sampling.sample_timed(entry.compiled, **settings)
    plain = nutpie.sample(entry.compiled, **settings)
    assert seconds > 0
    for name, values in plain.posterior.data_vars.items():
        assert _bit_identical(values.values, timed.posterior[name].values), name


def test_sample_draws_are_the_trees_values_without_the_tree():
    """``sample_draws`` reads nutpie's raw trace: the same arrays nutpie's DataTree holds.

    Reference: a plain blocking ``nutpie.sample`` with the same settings (a vector
    variable with a named dimension, and a transformed scalar), bit for bit, and its
    count of divergent draws.
    """
    import nutpie
    import pymc as pm

    from milkbayes.engine.compile_cache import compile_pymc_model

    with pm.Model(coords={"mother": ["a", "b", "c"]}) as model:
        sd = pm.HalfNormal("sd", 1.0)
        z = pm.Normal("z", 0.0, 1.0, dims="mother")
        pm.Normal("y", z * sd, 1.0, observed=np.array([0.5, -1.0, 2.0]))
    compiled = compile_pymc_model(model)
    settings = {"draws": 30, "tune": 30, "chains": 2, "cores": 1, "seed": 4}
    values, n_divergent = sampling.sample_draws(
        compiled, ["sd", "z"], progress_bar=False, **settings
    )
    tree = nutpie.sample(compiled, progress_bar=False, save_warmup=False, **settings)
    for name in ("sd", "z"):
        expected = tree.posterior[name].transpose("chain", "draw", ...).values
        assert values[name].shape == expected.shape == ((2, 30) if name == "sd" else (2, 30, 3))
        assert _bit_identical(values[name], expected), name
    assert n_divergent == int(tree.sample_stats["diverging"].values.sum())
    with pytest.raises(MilkbayesError, match="no variable 'nope'"):
        sampling.sample_draws(compiled, ["nope"], progress_bar=False, **settings)


def test_sample_posterior_is_nutpies_posterior_without_the_rest():
    """``sample_posterior`` builds from the raw trace the posterior nutpie's tree holds.

    Reference: a plain blocking ``nutpie.sample`` with the same settings (a named
    vector dimension, an unnamed one, a transformed scalar whose unconstrained copy
    nutpie leaves out): the same variables in the same order, dimensions, coordinates
    and bytes; no other group.
    """
    import nutpie
    import pymc as pm

    from milkbayes.engine.compile_cache import compile_pymc_model

    with pm.Model(coords={"mother": ["a", "b", "c"]}) as model:
        sd = pm.HalfNormal("sd", 1.0)
        z = pm.Normal("z", 0.0, 1.0, dims="mother")
        w = pm.Normal("w", 0.0, 1.0, shape=2)
        pm.Normal("y", z * sd + w.sum(), 1.0, observed=np.array([0.5, -1.0, 2.0]))
    compiled = compile_pymc_model(model)
    settings = {"draws": 30, "tune": 30, "chains": 2, "seed": 4, "target_accept": 0.9}
    tree, seconds = sampling.sample_posterior(compiled, progress=False, **settings)
    expected = nutpie.sample(
        compiled, progress_bar=False, save_warmup=False, cores=2, **settings
    ).posterior.to_dataset()
    got = tree["posterior"].to_dataset()
    assert list(tree.children) == ["posterior"] and seconds > 0
    assert list(got.data_vars) == list(expected.data_vars)
    assert set(got.data_vars) == {"sd", "z", "w"}
    xr.testing.assert_identical(got.drop_attrs(), expected.drop_attrs())
    for name in expected.data_vars:
        assert _bit_identical(got[name].values, expected[name].values), name


@pytest.mark.parametrize("model", ["paired_change", "prepost_hierarchical"])
def test_posterior_only_fit_has_the_full_fits_posterior_and_summary(bundled_study, model):
    """``fit(..., posterior_only=True)``: the same draws, deterministics and summary.

    Reference: the same fit with nutpie's whole tree (log-likelihood and predictive
    off, as the sensitivity refits run it), compared group for group and value for
    value.
    """
    settings = {"draws": 60, "tune": 60, "chains": 2, "seed": 5, "mcid": 6.0}
    off = {"log_likelihood": False, "posterior_predictive": False}
    full = fit(model, bundled_study, **settings, **off)
    lean = fit(model, bundled_study, **settings, **off, posterior_only=True)
    assert list(lean.tree.children) == ["posterior"]
    assert "sample_stats" in full.tree.children
    got, expected = lean.tree["posterior"].to_dataset(), full.tree["posterior"].to_dataset()
    xr.testing.assert_identical(got.drop_attrs(), expected.drop_attrs())
    for name in expected.data_vars:
        assert _bit_identical(got[name].values, expected[name].values), name
    assert lean.summary == full.summary
    assert lean.tree.attrs == full.tree.attrs
    with pytest.raises(MilkbayesError, match="posterior_only"):
        fit(model, bundled_study, **settings, posterior_only=True)


def test_deterministics_skip_the_per_draw_copy_of_their_views(bundled_study):
    """The deterministics' function copies each view whole, not draw by draw; same bits.

    A deterministic used inside another (the flagship's ``u_*`` inside
    ``effect_*``) is a view there, which vectorised is a per-draw Python loop.
    Reference: the function compiled from the graph with those views kept, bit for
    bit on 2 x 200 draws (the later reductions depend on the memory layout, which
    the whole-array copy keeps), and no per-draw view left in the graph.
    """
    import pytensor
    import pytensor.tensor as pt
    from pytensor.graph.replace import vectorize_graph

    from milkbayes.engine.deterministics import FORWARD_MODE, Deterministics

    result = fit(
        "prepost_hierarchical",
        bundled_study,
        draws=200,
        tune=100,
        chains=2,
        seed=6,
        log_likelihood=False,
        posterior_predictive=False,
    )
    module = fitmod.load_model("prepost_hierarchical")
    entry, _, _ = cache.prepared_model(module, result.inputs, result.prior, result.likelihood)
    model = entry.model
    deterministics = Deterministics(model)
    assert not [
        node
        for node in deterministics._fn.maker.fgraph.toposort()
        if "Blockwise" in type(node.op).__name__
    ]
    batched = {
        rv: pt.tensor(name=rv.name, dtype=rv.dtype, shape=(None,) * (rv.ndim + 1))
        for rv in model.free_RVs
    }
    with_views = pytensor.function(
        list(batched.values()),
        vectorize_graph(list(model.deterministics), replace=batched),
        mode=FORWARD_MODE,
        on_unused_input="ignore",
    )
    posterior = result.tree["posterior"]
    draws = {
        rv.name: np.asarray(posterior[rv.name].values).reshape((-1, *posterior[rv.name].shape[2:]))
        for rv in model.free_RVs
    }
    expected = with_views(*(draws[rv.name] for rv in model.free_RVs))
    got = deterministics.compute(draws)
    assert {"u_occupation", "effect_occupation"} <= set(got)
    for name, values in zip(deterministics.names, expected, strict=True):
        assert _bit_identical(got[name], np.asarray(values)), name


def test_prepare_model_fills_the_cache_entry_the_fit_then_uses(bundled_study):
    """``prepare_model`` then ``fit`` with the same arguments: no second compilation.

    Reference: the process's count of compiled models (cache misses), which the fit
    leaves unchanged, and its ``compile_seconds`` of 0 (the cache served), with 12
    mothers (a data shape of a cache entry of its own).
    """
    study = bundled_study.subset(list(bundled_study.ids)[:12])
    before = cache.compilation_count()
    entry = fitmod.prepare_model("paired_change", study, prior="skeptical")
    prepared = cache.compilation_count()
    assert prepared == before + 1  # a new shape: compiled (from its record) here
    result = fit("paired_change", study, prior="skeptical", draws=20, tune=20, chains=1, seed=2)
    assert cache.compilation_count() == prepared
    assert result.compile_seconds == 0.0
    assert entry.compiled is not None


def test_prepare_model_ready_only_leaves_a_model_to_compile_alone(bundled_study, monkeypatch):
    """``ready_only``: no compilation for a model neither cached nor recorded.

    Reference: the process's count of compiled models. With no record on disk
    (``has_record`` answering False) nothing is compiled and None returned; with one,
    the model is loaded; once in the process's cache, it is returned from there
    whatever the disk holds. 13 mothers: a data shape no other test uses.
    """
    from milkbayes.engine import compile_cache

    study = bundled_study.subset(list(bundled_study.ids)[:13])
    monkeypatch.setattr(compile_cache, "has_record", lambda key: False)
    before = cache.compilation_count()
    assert fitmod.prepare_model("paired_change", study, prior="skeptical", ready_only=True) is None
    assert cache.compilation_count() == before
    monkeypatch.setattr(compile_cache, "has_record", lambda key: True)
    entry = fitmod.prepare_model("paired_change", study, prior="skeptical", ready_only=True)
    assert entry is not None and cache.compilation_count() == before + 1
    monkeypatch.setattr(compile_cache, "has_record", lambda key: False)
    again = fitmod.prepare_model("paired_change", study, prior="skeptical", ready_only=True)
    assert again is entry and cache.compilation_count() == before + 1


def test_diagnostics_are_computed_on_first_access_and_kept(paired_fit):
    """``FitResult.diagnostics`` is the convergence report of the fit's tree, computed once."""
    from milkbayes.diagnostics import convergence_report

    assert "diagnostics" not in FitResult.__dataclass_fields__
    first = paired_fit.diagnostics
    assert first is paired_fit.diagnostics
    assert first.rows == convergence_report(paired_fit.tree).rows


def test_sample_timed_falls_back_to_wait_under_another_nutpie(monkeypatch):
    """Under another nutpie release the whole ``wait()`` is timed.

    Without nutpie 0.16's internals its trace is returned, rather than an
    AttributeError.
    """
    import nutpie

    class OtherNutpiesSampler:  # a public wait() and cancel() only
        def wait(self):
            return "the trace"

        def cancel(self):
            raise AssertionError("not cancelled when all went well")

    monkeypatch.setattr(nutpie, "sample", lambda compiled, **settings: OtherNutpiesSampler())
    tree, seconds = sampling.sample_timed(object(), draws=1)
    assert tree == "the trace" and seconds >= 0.0


def test_refit_reuses_compiled_model_and_recompiles_on_new_shape(toy_model, toy_prior, small_study):
    fit(toy_model, small_study, prior=toy_prior, seed=1, **SMALL)
    size = cache.cache_size()
    refit = fit(toy_model, _shifted(small_study, 3.0), prior=toy_prior, seed=1, **SMALL)
    assert refit.compile_seconds == 0.0 and cache.cache_size() == size
    fewer = small_study.subset(small_study.ids[:6])
    smaller = fit(toy_model, fewer, prior=toy_prior, seed=1, **SMALL)
    assert smaller.compile_seconds > 0 and cache.cache_size() == size + 1
    assert smaller.tree.posterior_predictive["change_obs"].sizes["mother"] == 6
    mean, sd = toy_model.conjugate_posterior(smaller.inputs, toy_prior)
    assert abs(smaller.tree.posterior["effect"].values.mean() - mean) < 4 * sd / np.sqrt(150)


def test_target_accept_reaches_nutpie(toy_model, toy_prior, small_study):
    """The mean acceptance statistic of the kept draws sits near the target.

    Dual averaging tunes the step size to that end (Hoffman & Gelman 2014, section 3.2).
    """
    means = {}
    for target in (0.6, 0.95):
        result = fit(
            toy_model,
            small_study,
            prior=toy_prior,
            seed=1,
            target_accept=target,
            draws=1000,
            tune=1000,
            chains=2,
        )
        assert result.settings.target_accept == target
        means[target] = float(result.tree.sample_stats["mean_tree_accept"].values.mean())
        assert abs(means[target] - target) < 0.1, means
    assert means[0.95] > means[0.6]


def test_default_target_accept_and_bad_values(toy_model, toy_prior, small_study):
    result = fit(toy_model, small_study, prior=toy_prior, seed=1, **SMALL)
    assert result.settings.target_accept == fitmod.DEFAULT_TARGET_ACCEPT
    for bad in (0.0, 1.0, 1.5, True):
        with pytest.raises(MilkbayesError, match="target_accept"):
            fit(toy_model, small_study, prior=toy_prior, target_accept=bad, **SMALL)


def test_new_prior_values_reach_the_compiled_model(toy_model, small_study):
    # a very tight prior at 100 must pull the posterior there: proves with_data on priors
    tight = toy_model.ToyPrior("tight", {"mu_loc": 100.0, "mu_scale": 0.01})
    result = fit(toy_model, small_study, prior=tight, seed=2, **SMALL)
    mean, sd = toy_model.conjugate_posterior(result.inputs, tight)
    assert mean == pytest.approx(100.0, abs=0.01)
    assert abs(result.tree.posterior["effect"].values.mean() - mean) < 5 * sd


def test_log_likelihood_is_on_the_data_fitted_not_stale(paired_fit, bundled_study):
    """Fit A (bundled), then B (changes + 25 ml, same shapes: cache hit)."""
    study_b = _shifted(bundled_study, 25.0, ids_prefix="B")
    result = fit("paired_change", study_b, seed=5, **SMALL)
    assert result.compile_seconds == 0.0
    loglik = result.tree.log_likelihood["change_obs"]
    posterior = result.tree.posterior
    change_b = study_b.change
    for chain, draw in [(0, 0), (1, 17), (0, 299)]:
        mu = float(posterior["effect"].values[chain, draw])
        sigma = float(posterior["sigma"].values[chain, draw])
        expected = stats.norm.logpdf(change_b, mu, sigma)
        np.testing.assert_allclose(loglik.values[chain, draw], expected, rtol=1e-10)
    np.testing.assert_array_equal(result.tree.observed_data["change_obs"].values, change_b)
    # labels follow the data fitted, not the compiled model's first data
    assert list(loglik["mother"].values) == list(study_b.ids)
    assert abs(result.summary["effect_median"] - (paired_fit.summary["effect_median"] + 25)) < 5


def test_posterior_predictive_follows_the_fitted_data(paired_fit, bundled_study):
    study_b = _shifted(bundled_study, 40.0)
    result = fit("paired_change", study_b, seed=6, **SMALL)
    predicted = result.tree.posterior_predictive["change_obs"].values
    # replicated mean changes sit around B's mean change, 40 ml above A's
    assert abs(predicted.mean() - study_b.change.mean()) < 3.0
    assert predicted.shape == (2, 300, bundled_study.n)


def test_summary_values_from_the_draws(paired_fit):
    draws = paired_fit.tree.posterior["effect"].values.ravel()
    summary = paired_fit.summary
    assert summary["effect_median"] == pytest.approx(np.median(draws), rel=1e-12)
    low, high = np.quantile(draws, [0.025, 0.975])
    assert summary["effect_ci95_low"] == pytest.approx(low, rel=1e-9)
    assert summary["effect_ci95_high"] == pytest.approx(high, rel=1e-9)
    assert summary["p_effect_gt_0"] == pytest.approx(np.mean(draws > 0))
    assert summary["mcid"] == 10.0
    assert summary["p_effect_gt_mcid"] == pytest.approx(np.mean(draws > 10.0))
    assert summary["bf10_jzs"] > 1  # from the model's extra_summary


def test_without_mcid_the_summary_says_so(toy_model, toy_prior, small_study):
    result = fit(toy_model, small_study, prior=toy_prior, seed=1, **SMALL)
    assert result.summary["mcid"] is None
    assert "p_effect_gt_mcid" not in result.summary
    assert all(not (isinstance(v, float) and np.isnan(v)) for v in result.summary.values())


def test_tree_attrs_carry_prior_and_reconstruction(paired_fit):
    attrs = paired_fit.tree.attrs
    assert attrs["milkbayes_model"] == "paired_change"
    assert attrs["milkbayes_prior"] == "neutral"
    assert attrs["milkbayes_seed"] == 11
    assert attrs["milkbayes_reconstructed"] == 1
    assert attrs["milkbayes_warning"] == RECONSTRUCTED_WARNING
    for name, value in paired_fit.prior.values.items():
        assert attrs[f"milkbayes_prior_{name}"] == value


# ----------------------------------------------------------------------------- bad input
def test_unknown_model_lists_the_available_ones(small_study):
    with pytest.raises(ModelError, match="available: .*paired_change"):
        fit("no_such_model", small_study)
    with pytest.raises(ModelError, match="unknown model"):
        fit("../fit", small_study)


def test_unknown_likelihood(small_study):
    with pytest.raises(ModelError, match="no likelihood 'gamma'"):
        fit("paired_change", small_study, likelihood="gamma")


@pytest.mark.parametrize(
    "setting",
    [{"draws": 0}, {"chains": 0}, {"tune": 0}, {"seed": -3}, {"draws": 2.5}, {"draws": True}],
)
def test_bad_sampler_settings(setting, small_study):
    with pytest.raises(MilkbayesError, match=next(iter(setting))):
        fit("paired_change", small_study, **setting)


def test_nan_mcid_is_refused(toy_model, toy_prior, small_study):
    with pytest.raises(MilkbayesError, match="MCID"):
        fit(toy_model, small_study, prior=toy_prior, mcid=float("nan"))


def test_same_shapes_of_another_outcome_kind_get_their_own_compiled_model(bundled_study):
    """A continuous study of the bundled study's shape does not reuse the volume graph.

    The named prior sets of volumes and of continuous outcomes have different
    hyperparameters (volumes add the log-normal ones), each a pm.Data of the graph, so
    a graph compiled for one kind would refuse the other's prior set.
    """
    from milkbayes.data.study import Outcome, study_from_frame

    tiny = {"draws": 50, "tune": 50, "chains": 1}
    volume = fit("prepost_hierarchical", bundled_study, seed=1, **tiny)
    continuous = study_from_frame(bundled_study.table, outcome=Outcome("continuous"))
    result = fit("prepost_hierarchical", continuous, seed=1, **tiny)
    assert set(volume.prior.values) != set(result.prior.values)
    assert result.summary["effect_median"] == pytest.approx(
        float(np.median(result.tree["posterior"]["effect"]))
    )


def test_prior_with_unknown_or_missing_value(toy_model, toy_prior, small_study):
    fit(toy_model, small_study, prior=toy_prior, seed=1, **SMALL)  # compiled: cache hit next
    extra = toy_model.ToyPrior("typo", {"mu_loc": 0.0, "mu_scale": 1.0, "mu_scael": 2.0})
    with pytest.raises(PriorError, match="no hyperparameter mu_scael"):
        fit(toy_model, small_study, prior=extra, **SMALL)
    missing = toy_model.ToyPrior("short", {"mu_loc": 0.0})
    with pytest.raises(PriorError, match="lacks mu_scale"):
        fit(toy_model, small_study, prior=missing, **SMALL)


def test_data_not_supplied_by_inputs_is_refused(toy_model, toy_prior, small_study):
    """A pm.Data that inputs() does not refresh would keep the first fit's values."""
    sneaky = types.ModuleType("sneaky_toy")
    sneaky.__dict__.update(
        {
            k: getattr(toy_model, k)
            for k in ("NAME", "LIKELIHOODS", "EFFECT", "build", "extra_summary")
        }
    )

    def inputs(study, likelihood="normal"):
        full = toy_model.inputs(study, likelihood)
        data = {k: v for k, v in full.data.items() if k != "noise_sd"}
        build_inputs = toy_model.ToyInputs(data=data, coords=full.coords)
        return build_inputs

    def build(inputs, prior, likelihood="normal"):
        data = {**inputs.data, "noise_sd": np.asarray(4.0)}
        return toy_model.build(toy_model.ToyInputs(data, inputs.coords), prior, likelihood)

    sneaky.inputs, sneaky.build = inputs, build
    with pytest.raises(ModelError, match="stale"):
        fit(sneaky, small_study, prior=toy_prior, **SMALL)


# ----------------------------------------------------------------------------- run folders
def test_save_run_writes_a_folder_that_reopens(paired_fit, tmp_path):
    folder = save_run(paired_fit, tmp_path / "run", command_line=["milkbayes", "fit"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(runs.RUN_FILES)
    import arviz as az

    tree = az.from_netcdf(folder / "posterior.nc")
    np.testing.assert_array_equal(
        tree.posterior["effect"].values, paired_fit.tree.posterior["effect"].values
    )
    opened = xr.open_datatree(folder / "posterior.nc", engine="h5netcdf")
    assert {
        "posterior",
        "sample_stats",
        "log_likelihood",
        "posterior_predictive",
        "observed_data",
    } <= set(opened.children)
    assert opened.sample_stats["divergence_message"].dtype.kind == "U"
    opened.close()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["effect_median"] == paired_fit.summary["effect_median"]
    assert summary["reconstructed"] is True and summary["warning"] == RECONSTRUCTED_WARNING
    diagnostics = json.loads((folder / "diagnostics.json").read_text())
    assert diagnostics["status"] == paired_fit.diagnostics.status


def test_provenance_records_hashes_versions_and_settings(paired_fit, bundled_study, tmp_path):
    folder = save_run(paired_fit, tmp_path / "run", command_line=["milkbayes", "fit", "x"])
    record = json.loads((folder / "provenance.json").read_text())
    from milkbayes.datasets import bundled_path
    from milkbayes.models import paired_change

    assert (
        record["data"]["sha256"]
        == hashlib.sha256(bundled_path("volume_ml").read_bytes()).hexdigest()
    )
    assert (
        record["model_script_sha256"]
        == hashlib.sha256(open(paired_change.__file__, "rb").read()).hexdigest()
    )
    assert record["seed"] == 11 and record["sampler"]["draws"] == 300
    assert record["command_line"] == ["milkbayes", "fit", "x"]
    assert record["prior"]["values"] == paired_fit.prior.values
    import pymc

    assert record["packages"]["pymc"] == pymc.__version__
    assert record["reconstructed"] is True
    assert record["created_utc"].endswith("+00:00")


def test_run_is_never_overwritten_without_force(
    paired_fit, toy_model, toy_prior, small_study, tmp_path
):
    target = save_run(paired_fit, tmp_path / "run")
    before = (target / "summary.json").read_bytes()
    with pytest.raises(RunExistsError, match="--force"):
        save_run(paired_fit, target)
    assert (target / "summary.json").read_bytes() == before
    other = fit(toy_model, small_study, prior=toy_prior, seed=1, **SMALL)
    save_run(other, target, force=True)
    assert json.loads((target / "summary.json").read_text())["model"] == "toy_normal"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temp or old folders


def test_interrupted_write_leaves_nothing(paired_fit, tmp_path, monkeypatch):
    real = runs.atomic_write_text
    calls = []

    def interrupt_on_second(path, text):
        calls.append(path.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(path, text)

    monkeypatch.setattr(runs, "atomic_write_text", interrupt_on_second)
    with pytest.raises(KeyboardInterrupt):
        save_run(paired_fit, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_sigterm_during_write_cleans_up(paired_fit, tmp_path, monkeypatch):
    real = runs.atomic_write_text

    def terminated(path, text):
        real(path, text)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(runs, "atomic_write_text", terminated)
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        save_run(paired_fit, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is handler  # restored


def test_forced_write_interrupted_keeps_the_old_run(paired_fit, tmp_path, monkeypatch):
    target = save_run(paired_fit, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def broken(path, text):
        raise RuntimeError("disk full")

    monkeypatch.setattr(runs, "atomic_write_text", broken)
    with pytest.raises(RuntimeError):
        save_run(paired_fit, target, force=True)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_output_names_cannot_escape(tmp_path):
    assert runs.safe_run_name("../../x/../y") == "x_.._y"
    assert "/" not in runs.safe_run_name("a/b\\c")
    with pytest.raises(MilkbayesError, match="outside"):
        runs._inside(tmp_path, "../evil.json")


def test_load_run_errors(tmp_path):
    with pytest.raises(MilkbayesError, match="no such run folder"):
        load_run(tmp_path / "absent")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "summary.json").write_text("{}")
    with pytest.raises(MilkbayesError, match="missing posterior.nc"):
        load_run(tmp_path / "half")


def test_load_run_round_trip(paired_fit, tmp_path):
    saved = load_run(save_run(paired_fit, tmp_path / "run"))
    np.testing.assert_array_equal(
        saved.tree.posterior["sigma"].values, paired_fit.tree.posterior["sigma"].values
    )
    assert saved.provenance["model"] == "paired_change"
    assert saved.summary["p_effect_gt_mcid"] == paired_fit.summary["p_effect_gt_mcid"]


def test_run_json_follows_the_jsonio_policy(paired_fit, tmp_path):
    """NaN is written as null and infinity as "inf" (milkbayes.jsonio), not refused."""
    extra = {"bf10": float("inf"), "not_computed": float("nan")}
    result = replace(paired_fit, summary={**paired_fit.summary, **extra})
    summary = json.loads((save_run(result, tmp_path / "run") / "summary.json").read_text())
    assert summary["bf10"] == "inf" and summary["not_computed"] is None


def test_fit_result_is_frozen(paired_fit):
    assert isinstance(paired_fit, FitResult)
    with pytest.raises(AttributeError):
        paired_fit.seed = 3  # type: ignore[misc]
    assert replace(paired_fit, seed=3).seed == 3


def test_a_full_disk_while_the_posterior_is_written_is_a_clear_error(
    paired_fit, tmp_path, monkeypatch
):
    """ENOSPC while posterior.nc reaches the disk: OutputError naming the file, nothing left.

    The NetCDF file is built in memory first, so the disk write is a plain write that
    can fail cleanly (h5py writing straight to a full disk can crash the process).
    """
    import errno

    from milkbayes import storage
    from milkbayes.errors import OutputError

    real_fsync = os.fsync

    def full_disk(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp") and "posterior.nc" in (
            os.readlink(f"/proc/self/fd/{fd}")
        ):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(storage.os, "fsync", full_disk)
    with pytest.raises(OutputError, match=r"posterior\.nc: the disk is full"):
        save_run(paired_fit, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- ArviZ
def test_saved_run_works_with_arviz_prior_tools(paired_fit, tmp_path):
    """The saved tree has what az.psense_summary and az.plot_prior_posterior read.

    Independent values: the log prior of delta at every posterior draw is scipy's
    Cauchy log-density; the constant data hold the prior values of the set.
    """
    import arviz as az

    tree = load_run(save_run(paired_fit, tmp_path / "run")).tree
    assert {"prior", "prior_predictive", "log_prior", "log_likelihood", "constant_data"} <= set(
        tree.children
    )
    values = paired_fit.prior.values
    delta = tree.posterior["delta"].values
    expected = stats.cauchy(values["delta_loc"], values["delta_scale"]).logpdf(delta)
    np.testing.assert_allclose(tree.log_prior["delta"].values, expected, rtol=1e-6)
    constant = tree["constant_data"]
    assert float(constant["prior_delta_scale"]) == values["delta_scale"]
    assert float(constant["y_scale"]) == 1.0
    np.testing.assert_array_equal(constant["change"].values, paired_fit.study.change)
    assert tree.prior["delta"].sizes["draw"] == 1000
    table = az.psense_summary(tree)
    assert {"delta", "sigma"} <= set(table.index)
    assert np.all(np.isfinite(table[["prior", "likelihood"]].to_numpy(float)))
    collection = az.plot_prior_posterior(tree, var_names=["delta"])
    assert type(collection).__name__ == "PlotCollection"


def test_saved_long_format_run_labels_its_observations(bundled_study, tmp_path):
    """Observations of the flagship carry the mother's id and the time, as study.long()."""
    result = fit("prepost_hierarchical", bundled_study, draws=100, tune=100, chains=2, seed=2)
    tree = load_run(save_run(result, tmp_path / "run")).tree
    long = bundled_study.long()
    for group in ("observed_data", "posterior_predictive", "log_likelihood", "prior_predictive"):
        node = tree[group]
        np.testing.assert_array_equal(node["mother"].values, long["id"].to_numpy(str))
        np.testing.assert_array_equal(
            node["time"].values, np.where(long["time"] == 1, "post", "pre")
        )
    assert "prior_effect_sigma" in tree["constant_data"]


@pytest.mark.parametrize("ci_prob", [0.95, 0.8])
def test_equal_tailed_interval_is_the_one_of_arviz_summary(paired_fit, ci_prob):
    """The summary's interval: the ``eti`` columns of ``arviz.summary``, to the last bit."""
    import arviz as az

    effect = paired_fit.summary["effect_variable"]
    table = az.summary(
        paired_fit.tree,
        var_names=[effect],
        kind="stats",
        ci_prob=ci_prob,
        ci_kind="eti",
        round_to="none",
    )
    level = f"{ci_prob * 100:g}"
    expected = (table.loc[effect, f"eti{level}_lb"], table.loc[effect, f"eti{level}_ub"])
    assert fitmod._equal_tailed(paired_fit.tree, effect, ci_prob) == tuple(map(float, expected))


def _same_run_groups(serial: xr.DataTree, overlapped: xr.DataTree) -> None:
    """Every group, variable, coordinate and attribute equal; values bit for bit.

    Only the ``created_at`` stamp ArviZ puts on each group may differ.
    """
    assert sorted(serial.groups) == sorted(overlapped.groups)
    for group in serial.groups:
        ours, theirs = overlapped[group].to_dataset(), serial[group].to_dataset()
        assert sorted(ours.variables) == sorted(theirs.variables), group
        for name, variable in theirs.variables.items():
            assert variable.dims == ours[name].dims, (group, name)
            assert variable.attrs == ours[name].attrs, (group, name)
            assert _bit_identical(variable.values, ours[name].values), (group, name)
        stamp = {"created_at"}
        assert {k: v for k, v in ours.attrs.items() if k not in stamp} == {
            k: v for k, v in theirs.attrs.items() if k not in stamp
        }, group


@pytest.mark.parametrize("model_name", ["paired_change", "prepost_hierarchical"])
def test_run_folder_work_while_sampling_gives_the_serial_run(
    model_name, bundled_study, monkeypatch
):
    """``fit(..., run_folder=True)`` prepares the run folder while the chains run.

    Here without the helper process (as where it cannot be forked): this process
    draws the prior too. Reference: the serial path (``run_folder=False``: everything
    after the chains, the prior groups and the log-prior drawn by :func:`arviz_tree`
    itself). The saved tree, the summary and the diagnostics must be the same, bit
    for bit.
    """
    monkeypatch.setattr(fitmod.RunWriter, "start", staticmethod(lambda *functions: None))
    settings = {"draws": 100, "tune": 100, "chains": 2, "seed": 11}
    serial = fit(model_name, bundled_study, **settings)
    overlapped = fit(model_name, bundled_study, run_folder=True, **settings)
    assert serial.run_parts is None
    parts = overlapped.run_parts
    assert parts.writer is None
    assert parts.prior_tree is not None and parts.log_prior is not None
    assert parts.prior_draws == fitmod.RUN_PRIOR_DRAWS
    assert overlapped.summary == serial.summary
    assert overlapped.diagnostics.to_dict() == serial.diagnostics.to_dict()
    _same_run_groups(fitmod.arviz_tree(serial), fitmod.arviz_tree(overlapped))
    # a run folder asking another number of prior draws does not take the prepared ones
    assert fitmod.arviz_tree(overlapped, prior_draws=7)["prior"].sizes["draw"] == 7


def _saved_groups(folder) -> tuple[xr.DataTree, dict, dict]:
    saved = load_run(folder)
    return saved.tree, saved.summary, saved.diagnostics


def _same_saved_runs(serial: xr.DataTree, ours: xr.DataTree) -> None:
    """Two trees read back from run folders: equal but for ArviZ's ``created_at``.

    The same groups in the same order, the same variables (dims, dtype, attributes,
    bytes) and group attributes (NetCDF gives them back as arrays: compared element
    by element).
    """
    assert list(ours.groups) == list(serial.groups)
    for group in serial.groups:
        mine, theirs = ours[group].to_dataset(), serial[group].to_dataset()
        assert list(mine.variables) == list(theirs.variables), group
        for name, variable in theirs.variables.items():
            assert variable.dims == mine[name].dims and variable.dtype == mine[name].dtype
            assert variable.attrs == mine[name].attrs, (group, name)
            assert _bit_identical(variable.values, mine[name].values), (group, name)
        keys = sorted(set(theirs.attrs) - {"created_at"})
        assert sorted(set(mine.attrs) - {"created_at"}) == keys, group
        for key in keys:
            assert np.array_equal(np.asarray(mine.attrs[key]), np.asarray(theirs.attrs[key]))


def _spy_on_the_helper(monkeypatch) -> dict:
    """Record what the helper process handed back (bytes or None) and its process id."""
    from milkbayes.engine.run_writer import RunWriter

    seen: dict = {}
    receive = RunWriter.receive

    def spied(self):
        seen["pid"] = self.pid
        seen["bytes"] = receive(self)
        return seen["bytes"]

    monkeypatch.setattr(RunWriter, "receive", spied)
    return seen


def _reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the helper process is forked")
@pytest.mark.parametrize("model_name", ["paired_change", "prepost_hierarchical"])
def test_run_folder_built_by_the_helper_process_is_the_serial_one(
    model_name, bundled_study, tmp_path, monkeypatch
):
    """The helper process draws the prior and encodes the NetCDF file of ``save_run``.

    Reference: the serial path, everything in this process (``run_folder=False``).
    Read back, both folders hold the same groups, variables, coordinates, attributes
    and values bit for bit (but ArviZ's ``created_at``), the same summary and
    diagnostics; the helper's bytes were used, and it is gone afterwards.
    """
    settings = {"draws": 100, "tune": 100, "chains": 2, "seed": 11}
    serial = fit(model_name, bundled_study, **settings)
    helped = fit(model_name, bundled_study, run_folder=True, **settings)
    assert helped.run_parts.writer is not None and helped.run_parts.prior_tree is None
    seen = _spy_on_the_helper(monkeypatch)
    ours = _saved_groups(save_run(helped, tmp_path / "helped"))
    theirs = _saved_groups(save_run(serial, tmp_path / "serial"))
    assert seen["bytes"] is not None and len(seen["bytes"]) > 0
    assert _reaped(seen["pid"]) and helped.run_parts.writer is None
    _same_saved_runs(theirs[0], ours[0])
    assert ours[1:] == theirs[1:]


def _broken_writer_import():
    raise RuntimeError("no writer in the helper")


def _hanging_writer_import():
    import time

    time.sleep(120)  # far beyond the patience the test sets


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the helper process is forked")
@pytest.mark.parametrize(
    "helper_trouble", [_broken_writer_import, _hanging_writer_import], ids=["fails", "hangs"]
)
def test_a_helper_that_fails_or_hangs_leaves_the_file_to_this_process(
    helper_trouble, bundled_study, tmp_path, monkeypatch
):
    """The helper fails, or does not answer, in its writer's imports.

    ``save_run`` builds the same run folder in this process and the helper is gone. A
    helper that hangs is ended after ``HELPER_PATIENCE_SECONDS`` (1 s here): without
    that patience it would answer after its sleep with bytes, and the spy would see them.
    """
    from milkbayes.engine import run_writer

    settings = {"draws": 100, "tune": 100, "chains": 2, "seed": 3}
    serial = fit("paired_change", bundled_study, **settings)
    monkeypatch.setattr(runs, "import_writer", helper_trouble)  # forked: the helper has it too
    helped = fit("paired_change", bundled_study, run_folder=True, **settings)
    monkeypatch.setattr(run_writer, "HELPER_PATIENCE_SECONDS", 1.0)
    seen = _spy_on_the_helper(monkeypatch)
    ours = _saved_groups(save_run(helped, tmp_path / "helped"))
    assert seen["bytes"] is None and _reaped(seen["pid"])
    theirs = _saved_groups(save_run(serial, tmp_path / "serial"))
    _same_saved_runs(theirs[0], ours[0])
    assert ours[1:] == theirs[1:]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the helper process is forked")
def test_an_interrupted_save_ends_the_helper_and_leaves_no_folder(
    bundled_study, tmp_path, monkeypatch
):
    """Ctrl-C while the helper encodes: no run folder, no staged folder, no helper left."""
    helped = fit(
        "paired_change", bundled_study, run_folder=True, draws=100, tune=100, chains=2, seed=3
    )
    pid = helped.run_parts.writer.pid

    def interrupted(result, command_line):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "_documents", interrupted)  # after the tree was sent
    with pytest.raises(KeyboardInterrupt):
        save_run(helped, tmp_path / "run")
    assert _reaped(pid)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the helper process is forked")
def test_a_fit_that_fails_ends_its_helper(bundled_study, monkeypatch):
    """An error after the fork (here: the sampler) reaches the caller; no helper is left."""
    from milkbayes.engine.run_writer import RunWriter

    started = []
    start = RunWriter.start

    def recorded(*functions):
        writer = start(*functions)
        started.append(writer.pid)
        return writer

    def failing(*args, **kwargs):
        raise RuntimeError("the sampler broke")

    monkeypatch.setattr(RunWriter, "start", staticmethod(recorded))
    monkeypatch.setattr(fitmod, "sample_complete", failing)
    with pytest.raises(RuntimeError, match="sampler broke"):
        fit("paired_change", bundled_study, run_folder=True, draws=50, tune=50, chains=1)
    assert len(started) == 1 and _reaped(started[0])


class _FakeChains:
    """nutpie 0.16's sampler handle: ``is_finished`` raises TimeoutError until the end."""

    def __init__(self, log):
        self.log, self.checks = log, 0

    def is_finished(self):
        self.checks += 1
        if self.checks < 2:
            raise TimeoutError("Timeout while waiting for sampler to finish")
        return True

    def wait(self, timeout):
        self.log.append("wait")

    def take_results(self):
        return "results"


class _FakeSampler:
    def __init__(self, log):
        self.log = log
        self._sampler = _FakeChains(log)

    def _extract(self, results):
        return f"tree of {results}"

    def cancel(self):
        self.log.append("cancel")


def test_work_while_sampling_runs_before_the_wait_and_an_interrupt_cancels(monkeypatch):
    """The work runs after the sampler started and before the wait, in order.

    Its seconds end at the first check that saw the chains finished (the second of
    three here), not at the end of the work; Ctrl-C in the work cancels the sampler
    and reaches the caller, as it does in the wait.
    """
    import time

    import nutpie

    log: list[str] = []
    monkeypatch.setattr(nutpie, "sample", lambda compiled, **settings: _FakeSampler(log))

    def step(name, seconds=0.0):
        def run():
            log.append(name)
            time.sleep(seconds)

        return run

    tree, seconds = sampling.sample_timed(
        object(), while_sampling=[step("a"), step("b"), step("c", 0.3)], draws=1
    )
    assert tree == "tree of results" and log == ["a", "b", "c", "wait"]
    assert 0.0 <= seconds < 0.3

    def interrupted():
        raise KeyboardInterrupt

    log.clear()
    with pytest.raises(KeyboardInterrupt):
        sampling.sample_timed(object(), while_sampling=[step("a"), interrupted], draws=1)
    assert log == ["a", "cancel"]
