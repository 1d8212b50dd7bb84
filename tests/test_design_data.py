"""Design data of the flagship, and the ensemble's copy that reads its covariates as data.

The flagship compiles every design array in as constants (``DESIGN_DATA``). The
assumption ensemble's reconstructions each arrange the covariates differently, so the
ensemble fits a copy that freezes only the long layout
(:func:`milkbayes.sensitivity.ensemble.lean_model`): one compilation for all its
members. Each check compares with something computed without that compiled model:
PyMC's own log-density of a model built afresh for the other covariates, and the draws
of the model with every design array frozen.
"""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest

from _callbacks import callback_logp

FULL_DESIGN = ("mother_idx", "time", "x_*", "idx_*", "share_*")
"""Every design array of the flagship, as it freezes them."""


def _other_covariates(study):
    """The study with its covariates given to other mothers (a rotation by 5 rows)."""
    table = study.table.copy()
    covariates = [c for c in table.columns if c not in ("id", "pre", "post", "group")]
    for column in covariates:
        table[column] = np.roll(table[column].to_numpy(), 5)
        table[column] = table[column].astype(study.table[column].dtype)
    return dataclasses.replace(study, table=table)


def _copy_with_design(module, design):
    copy = types.ModuleType(module.__name__, module.__doc__)
    copy.__dict__.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
    copy.__file__ = module.__file__
    copy.DESIGN_DATA = design
    return copy


def test_ensemble_members_with_other_covariates_refit_one_compiled_model():
    from milkbayes.datasets import load_bundled
    from milkbayes.engine import cache
    from milkbayes.engine.fit import resolve_prior
    from milkbayes.engine.sampling import with_data
    from milkbayes.models.registry import load_model
    from milkbayes.sensitivity.ensemble import lean_model

    study = load_bundled()
    member = _other_covariates(study)
    flagship = load_model("prepost_hierarchical")
    lean = lean_model("prepost_hierarchical")
    prior = resolve_prior("neutral", study, flagship.NAME)
    main_inputs = flagship.inputs(study, "normal")
    member_inputs = lean.inputs(member, "normal")
    # the member's design differs, and not in its layout
    assert not np.array_equal(
        main_inputs.data["idx_occupation"], member_inputs.data["idx_occupation"]
    )
    np.testing.assert_array_equal(main_inputs.data["mother_idx"], member_inputs.data["mother_idx"])

    assert flagship.DESIGN_DATA == FULL_DESIGN
    first_entry, _ = cache.compiled_model(lean, lean.inputs(study, "normal"), prior, "normal")
    count = cache.compilation_count()
    entry, values, seconds = cache.prepared_model(lean, member_inputs, prior, "normal")
    assert entry is first_entry and seconds == 0.0
    assert cache.compilation_count() == count

    # the compiled model, fed the member's values, is PyMC's model of the member
    compiled = with_data(entry.compiled, values)
    names = compiled.shape_info[0]
    rng = np.random.default_rng(11)
    own = load_model("prepost_hierarchical").build(member_inputs, prior, "normal")
    other = load_model("prepost_hierarchical").build(main_inputs, prior, "normal")
    free = [own.rvs_to_values[rv].name for rv in own.free_RVs]
    point = {name: rng.normal(0.0, 0.5, size=own.initial_point()[name].shape) for name in free}
    flat = np.concatenate([np.ravel(point[name]) for name in names[: len(free)]])
    logp, gradient, status = callback_logp(compiled, flat)
    assert status == 0
    expected = float(own.compile_logp()(point))
    assert logp == pytest.approx(expected, rel=1e-12)
    values_by_name = {value.name: value for value in own.value_vars}
    order = [own.values_to_rvs[values_by_name[name]] for name in names[: len(free)]]
    expected_gradient = own.compile_dlogp(vars=order)(point)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-10, atol=1e-12)
    # and not the main data's: stale covariates would give this one
    assert abs(float(other.compile_logp()(point)) - expected) > 1e-6


@pytest.mark.slow
def test_the_ensembles_draws_equal_those_of_the_model_with_every_design_array_frozen():
    from milkbayes.datasets import load_bundled
    from milkbayes.engine.fit import fit
    from milkbayes.models.registry import load_model
    from milkbayes.sensitivity.ensemble import lean_model

    study = load_bundled()
    flagship = load_model("prepost_hierarchical")
    lean = lean_model("prepost_hierarchical")
    frozen = _copy_with_design(flagship, FULL_DESIGN)
    assert lean.DESIGN_DATA == ("mother_idx", "time")
    runs = [
        fit(
            module,
            study,
            likelihood="normal",
            draws=150,
            tune=150,
            chains=2,
            seed=7,
            posterior_predictive=False,
        )
        for module in (lean, frozen)
    ]
    for name, values in runs[0].tree["posterior"].data_vars.items():
        np.testing.assert_array_equal(values.values, runs[1].tree["posterior"][name].values)
    # the pointwise log-likelihood the comparison reads, too
    for name, values in runs[0].tree["log_likelihood"].data_vars.items():
        np.testing.assert_array_equal(values.values, runs[1].tree["log_likelihood"][name].values)
