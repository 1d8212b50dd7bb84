"""Compiled models assembled from their record (milkbayes.engine.compile_cache, "Model records").

A model compiled once leaves a record (sizes, layout, the keys of its cached
callbacks); a later compile under the same key assembles the model from it without
PyTensor. Each check compares with something computed without the record: PyMC's own
log-density and gradient, the draws of the model compiled in full, and a fresh process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import numpy as np
import pytest

from _callbacks import callback_logp

CHILD = r"""
import json, sys
import numpy as np, nutpie, pymc as pm
from milkbayes.engine.compile_cache import compile_pymc_model

with pm.Model() as model:
    y = pm.Data("y", np.array([1.0, 2.5, 0.5, 3.0]))
    mu = pm.Normal("mu", 0, 10)
    sigma = pm.HalfNormal("sigma", 2)
    pm.Normal("obs", mu, sigma, observed=y)
compiled = compile_pymc_model(model, record_key=sys.argv[1])
tree = nutpie.sample(compiled, draws=50, tune=50, chains=1, seed=3, progress_bar=False)
print(json.dumps({"from_record": compiled.logp_func is None,
                  "mu": np.asarray(tree.posterior["mu"]).ravel().tolist()}))
"""


def _toy_model(y, prior_scale=10.0):
    import pymc as pm

    with pm.Model(coords={"obs_id": range(len(y))}) as model:
        data = pm.Data("y", np.asarray(y, dtype=float), dims="obs_id")
        scale = pm.Data("prior_scale", prior_scale)
        mu = pm.Normal("mu", 0, scale)
        sigma = pm.HalfNormal("sigma", 2)
        pm.Normal("obs", mu, sigma, observed=data, dims="obs_id")
    return model


@pytest.fixture
def record_key():
    """A key no earlier run used (its record is removed afterwards)."""
    from milkbayes.engine.compile_cache import _record_path

    key = f"test-{uuid.uuid4().hex}"
    yield key
    _record_path(key).unlink(missing_ok=True)


def test_a_recorded_model_is_assembled_without_pytensor_and_samples_alike(record_key):
    import nutpie

    from milkbayes.engine.compile_cache import compile_pymc_model, has_record

    y = [1.0, 2.5, 0.5, 3.0, 1.5]
    assert not has_record(record_key)
    full = compile_pymc_model(_toy_model(y), record_key=record_key)
    assert full.logp_func is not None  # compiled by PyTensor
    assert has_record(record_key)
    model = _toy_model(y)
    recorded = compile_pymc_model(model, record_key=record_key)
    assert recorded.logp_func is None  # assembled from the record
    assert recorded.shape_info[0] == full.shape_info[0]

    point = {"mu": 0.7, "sigma_log__": 0.1}
    flat = np.array([point[name] for name in recorded.shape_info[0][:2]])
    logp, gradient, status = callback_logp(recorded, flat)
    assert status == 0
    assert logp == pytest.approx(float(model.compile_logp()(point)), rel=1e-12)
    np.testing.assert_allclose(gradient, model.compile_dlogp()(point), rtol=1e-10)

    new_y = np.array([4.0, 5.0, 6.0, 7.0, 8.0])
    other = _toy_model(new_y, prior_scale=2.0)
    logp, gradient, status = callback_logp(recorded.with_data(y=new_y, prior_scale=2.0), flat)
    assert status == 0
    assert logp == pytest.approx(float(other.compile_logp()(point)), rel=1e-12)
    np.testing.assert_allclose(gradient, other.compile_dlogp()(point), rtol=1e-10)

    for a_model, b_model in (
        (full, recorded),
        (full.with_data(y=new_y), recorded.with_data(y=new_y)),
    ):
        a = nutpie.sample(a_model, draws=100, tune=100, chains=2, seed=5, progress_bar=False)
        b = nutpie.sample(b_model, draws=100, tune=100, chains=2, seed=5, progress_bar=False)
        for name in ("mu", "sigma"):
            np.testing.assert_array_equal(
                np.asarray(a.posterior[name]), np.asarray(b.posterior[name])
            )
        assert dict(a.posterior.sizes) == dict(b.posterior.sizes)


def test_a_model_that_does_not_match_its_record_is_compiled_in_full(record_key):
    from milkbayes.engine.compile_cache import compile_pymc_model

    compile_pymc_model(_toy_model([1.0, 2.0, 3.0]), record_key=record_key)
    # same key, another data shape (a key that failed to tell them apart)
    model = _toy_model([1.0, 2.0, 3.0, 4.0])
    compiled = compile_pymc_model(model, record_key=record_key)
    assert compiled.logp_func is not None
    point = {"mu": 0.2, "sigma_log__": -0.3}
    logp, _, status = callback_logp(compiled, np.array([0.2, -0.3]))
    assert status == 0
    assert logp == pytest.approx(float(model.compile_logp()(point)), rel=1e-12)


def test_an_altered_record_is_not_used(record_key):
    from milkbayes.engine.compile_cache import _record_path, compile_pymc_model

    compile_pymc_model(_toy_model([1.0, 2.0, 3.0]), record_key=record_key)
    path = _record_path(record_key)
    document = json.loads(path.read_text())
    document["payload"]["n_expanded"] += 1
    path.write_text(json.dumps(document))
    assert compile_pymc_model(_toy_model([1.0, 2.0]), record_key=record_key).logp_func is not None
    path.write_text("")  # a truncated record
    assert compile_pymc_model(_toy_model([1.0, 2.0]), record_key=record_key).logp_func is not None


def test_a_new_process_assembles_the_model_from_the_record_with_the_same_draws(record_key):
    runs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", CHILD, record_key],
            check=True,
            capture_output=True,
            text=True,
            env=dict(os.environ),
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert [run["from_record"] for run in runs] == [False, True]
    assert runs[0]["mu"] == runs[1]["mu"]


def test_the_record_key_changes_with_the_model_its_data_shapes_and_the_prior_names():
    from milkbayes.engine.cache import model_record_key
    from milkbayes.models import paired_change, signed_rank

    key = ("milkbayes.models.paired_change", "normal", (("change", (24,)),), ())
    base = model_record_key(paired_change, key, {"prior_delta_loc": 0})
    assert base is not None and len(base) == 64
    assert base == model_record_key(paired_change, key, {"prior_delta_loc": 5})  # values swap
    shape = ("milkbayes.models.paired_change", "normal", (("change", (25,)),), ())
    assert model_record_key(paired_change, shape, {"prior_delta_loc": 0}) != base
    assert model_record_key(paired_change, key, {"prior_delta": 0}) != base
    assert model_record_key(signed_rank, ("milkbayes.models.signed_rank", *key[1:]), {}) != base


def test_a_model_outside_milkbayes_has_no_record_key(tmp_path):
    import importlib.util

    from milkbayes.engine.cache import model_record_key

    path = tmp_path / "my_model.py"
    path.write_text("NAME = 'mine'\n")
    spec = importlib.util.spec_from_file_location("my_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert model_record_key(module, ("my_model",), {}) is None


def test_a_fit_from_the_record_equals_the_fit_compiled_in_full(monkeypatch):
    """In one process: forget the compiled model, so the next fit assembles it from its record."""
    from milkbayes.datasets import load_bundled
    from milkbayes.engine import cache, compile_cache
    from milkbayes.engine.fit import fit

    study = load_bundled()
    settings = {"draws": 100, "tune": 100, "chains": 2, "seed": 11, "posterior_predictive": False}
    cache.clear_cache()
    with monkeypatch.context() as patch:  # compiled in full (and recorded)
        patch.setattr(compile_cache, "_from_record", lambda *args: None)
        first = fit("paired_change", study, **settings)
    entry, _ = cache.compiled_model(first.model_module, first.inputs, first.prior, first.likelihood)
    assert entry.compiled.logp_func is not None
    cache.clear_cache()
    second = fit("paired_change", study, **settings)
    entry, _ = cache.compiled_model(first.model_module, first.inputs, first.prior, first.likelihood)
    assert entry.compiled.logp_func is None  # the record served
    for group in ("posterior", "log_likelihood"):
        a, b = first.tree[group].to_dataset(), second.tree[group].to_dataset()
        for name in a.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values)
