"""The cross-process cache of nutpie's callbacks (milkbayes.engine.compile_cache).

Each check compares with something computed independently of the cache: PyMC's own
log-density and gradient, nutpie's own compilation, and numba's count of cache hits
in fresh processes.
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
import ctypes, json, sys
import numpy as np, pymc as pm
from pymc.model.transform.optimization import freeze_dims_and_data
from milkbayes.engine.compile_cache import compile_pymc_model

shift = float(sys.argv[1])
with pm.Model() as model:
    y = pm.Data("y", np.array([1.0, 2.5, 0.5, 3.0]))
    design = pm.Data("design", np.array([0.0, 1.0, 0.0, 1.0]) * shift)
    mu = pm.Normal("mu", 0, 10)
    sigma = pm.HalfNormal("sigma", 2)
    pm.Normal("obs", mu + design, sigma, observed=y)
frozen = freeze_dims_and_data(model, data=["design"])
compiled = compile_pymc_model(frozen)
values = {"mu": 0.3, "sigma_log__": -0.2}
# in the order of the compiled vector (freezing may reorder the free variables)
point = np.array([values[name] for name in compiled.shape_info[0][:2]])
gradient, logp = np.zeros(2), np.zeros(1)
double = ctypes.POINTER(ctypes.c_double)
status = compiled.compiled_logp_func.ctypes(
    2, point.ctypes.data_as(double), gradient.ctypes.data_as(double),
    logp.ctypes.data_as(double), compiled.user_data.ctypes.data)
expected = model.compile_logp()(values)
print(json.dumps({"logp_hits": compiled.compiled_logp_func._cache_hits,
                  "expand_hits": compiled.compiled_expand_func._cache_hits,
                  "status": status, "logp": float(logp[0]), "expected": float(expected)}))
"""


def _toy_model(y):
    import pymc as pm

    with pm.Model() as model:
        data = pm.Data("y", np.asarray(y, dtype=float))
        prior_scale = pm.Data("prior_scale", 10.0)
        mu = pm.Normal("mu", 0, prior_scale)
        sigma = pm.HalfNormal("sigma", 2)
        pm.Normal("obs", mu, sigma, observed=data)
    return model


@pytest.fixture(scope="module")
def toy():
    from milkbayes.engine.compile_cache import compile_pymc_model

    model = _toy_model([1.0, 2.5, 0.5, 3.0, 1.5])
    return model, compile_pymc_model(model)


def test_callback_equals_pymc_logp_and_gradient_after_with_data(toy):
    model, compiled = toy
    point = {"mu": 0.7, "sigma_log__": 0.1}
    flat = np.array([point["mu"], point["sigma_log__"]])
    logp, gradient, status = callback_logp(compiled, flat)
    assert status == 0
    assert logp == pytest.approx(float(model.compile_logp()(point)), rel=1e-12)
    np.testing.assert_allclose(gradient, model.compile_dlogp()(point), rtol=1e-10)

    new_y = np.array([4.0, 5.0, 6.0, 7.0, 8.0])
    refreshed = compiled.with_data(y=new_y, prior_scale=2.0)
    other = _toy_model(new_y)
    with other:
        import pymc as pm

        pm.set_data({"prior_scale": 2.0})
    logp, gradient, status = callback_logp(refreshed, flat)
    assert status == 0
    assert logp == pytest.approx(float(other.compile_logp()(point)), rel=1e-12)
    np.testing.assert_allclose(gradient, other.compile_dlogp()(point), rtol=1e-10)


def test_sampling_is_bit_identical_to_nutpies_own_compilation(toy):
    """Same draws as nutpie's own compilation under the same numba flags (fastmath off)."""
    import nutpie
    from pytensor import config

    model, compiled = toy
    with config.change_flags(numba__fastmath=False):
        theirs = nutpie.compile_pymc_model(model)
    new_y = np.array([0.1, -0.4, 0.9, 0.2, 0.3])
    for ours, reference in (
        (compiled, theirs),
        (compiled.with_data(y=new_y), theirs.with_data(y=new_y)),
    ):
        a = nutpie.sample(ours, draws=100, tune=100, chains=2, seed=5, progress_bar=False)
        b = nutpie.sample(reference, draws=100, tune=100, chains=2, seed=5, progress_bar=False)
        for name in ("mu", "sigma"):
            np.testing.assert_array_equal(
                np.asarray(a.posterior[name]), np.asarray(b.posterior[name])
            )


def _ranked_model(y, group, scale, offsets):
    """A model whose shared data have every rank and kind the extraction reads.

    0-d, 1-d and 2-d floats, and a 1-d integer index.
    """
    import pymc as pm

    with pm.Model() as model:
        y_data = pm.Data("y", np.asarray(y, dtype=float))
        group_idx = pm.Data("group_idx", np.asarray(group, dtype="int64"))
        prior_scale = pm.Data("prior_scale", float(scale))
        offset_table = pm.Data("offset_table", np.asarray(offsets, dtype=float))
        mu = pm.Normal("mu", 0, prior_scale, shape=offset_table.shape[0])
        sigma = pm.HalfNormal("sigma", 2)
        centre = mu[group_idx] + offset_table.sum(axis=1)[group_idx]
        pm.Normal("obs", centre, sigma, observed=y_data)
    return model


def test_extraction_passes_every_rank_and_dtype_and_follows_with_data_shapes():
    """The generated extraction reads each shared value at its current address and shape.

    The callback equals PyMC's log density and gradient, before and after
    ``with_data`` changes the lengths, and equals nutpie's own compilation bit for bit.
    """
    import nutpie
    from pytensor import config

    from milkbayes.engine.compile_cache import compile_pymc_model

    offsets = [[0.5, -0.2], [1.0, 0.3]]
    model = _ranked_model([1.0, 2.5, 0.5, 3.0], [0, 1, 1, 0], 3.0, offsets)
    compiled = compile_pymc_model(model)
    with config.change_flags(numba__fastmath=False):
        theirs = nutpie.compile_pymc_model(model)
    point = {"mu": np.array([0.4, -0.3]), "sigma_log__": np.array(0.2)}
    flat = np.array([0.4, -0.3, 0.2])
    logp, gradient, status = callback_logp(compiled, flat)
    assert status == 0
    assert logp == pytest.approx(float(model.compile_logp()(point)), rel=1e-12)
    np.testing.assert_allclose(gradient, model.compile_dlogp()(point), rtol=1e-10)
    their_logp, their_gradient, _ = callback_logp(theirs, flat)
    assert logp == their_logp
    np.testing.assert_array_equal(gradient, their_gradient)

    # other lengths of the data (same ranks), other values of the 0-d and 2-d ones
    y, group = [2.0, -1.0, 0.5, 1.5, 4.0, 0.0], [1, 1, 0, 1, 0, 0]
    other_offsets = [[0.1, 0.2], [-0.7, 0.9]]
    values = {"y": y, "group_idx": group, "prior_scale": 0.5, "offset_table": other_offsets}
    refreshed = compiled.with_data(**values)
    other = _ranked_model(y, group, 0.5, other_offsets)
    logp, gradient, status = callback_logp(refreshed, flat)
    assert status == 0
    assert logp == pytest.approx(float(other.compile_logp()(point)), rel=1e-12)
    np.testing.assert_allclose(gradient, other.compile_dlogp()(point), rtol=1e-10)
    their_logp, their_gradient, _ = callback_logp(theirs.with_data(**values), flat)
    assert logp == their_logp
    np.testing.assert_array_equal(gradient, their_gradient)


def test_a_new_process_loads_the_callbacks_and_a_changed_constant_does_not(tmp_path):
    # A shift no earlier run used: the first process cannot find its entries, the second
    # must, and a third with another frozen constant must not reuse them.
    shift = 1.0 + (uuid.uuid4().int % 10**6) / 10**6
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    runs = []
    for value in (shift, shift, shift + 1.0):
        done = subprocess.run(
            [sys.executable, str(script), repr(value)],
            check=True,
            capture_output=True,
            text=True,
            env=dict(os.environ),
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert [run["logp_hits"] for run in runs] == [0, 1, 0]
    # the expand callback maps a draw to the stored values: the constant is not in it,
    # so every process after the first of any test run reuses one entry
    assert runs[1]["expand_hits"] == runs[2]["expand_hits"] == 1
    for run in runs:
        assert run["status"] == 0
        assert run["logp"] == pytest.approx(run["expected"], rel=1e-12)
    assert runs[2]["logp"] != pytest.approx(runs[0]["logp"], rel=1e-6)


def test_another_nutpie_series_gets_nutpies_own_uncached_compilation(toy, monkeypatch):
    """Under another nutpie release the model goes to nutpie's own compilation.

    The rebuild follows nutpie 0.16's internals; it must not guess at others.
    """
    import nutpie

    from milkbayes.engine.compile_cache import compile_pymc_model

    model, ours = toy
    assert ours.compiled_logp_func.__wrapped__.__name__ == "logp_callback"
    monkeypatch.setattr(nutpie, "__version__", "0.17.0")
    theirs = compile_pymc_model(model)
    assert theirs.compiled_logp_func.__wrapped__.__name__ == "logp_numba"  # nutpie's own
