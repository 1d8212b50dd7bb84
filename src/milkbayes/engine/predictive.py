"""The prior predictive and the posterior predictive of a model.

Both are PyMC's forward samplers (``pm.sample_prior_predictive``,
``pm.sample_posterior_predictive``) run on the study's own design, with the model's
functions compiled in :data:`~milkbayes.engine.deterministics.FORWARD_MODE`.

Examples
--------
>>> from milkbayes.datasets import load_bundled
>>> tree = prior_predictive("paired_change", load_bundled(), draws=50, seed=1)
>>> tree["prior_predictive"]["change_obs"].shape
(1, 50, 24)
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from milkbayes.engine.cache import check_data_names, prior_data
from milkbayes.engine.deterministics import FORWARD_MODE
from milkbayes.engine.sampling import interrupts_reraised
from milkbayes.errors import MilkbayesError
from milkbayes.models.registry import load_model

if TYPE_CHECKING:  # pragma: no cover - typing only
    import xarray as xr


@contextlib.contextmanager
def _quiet_pymc() -> Iterator[None]:
    """Silence PyMC's "Sampling: [...]" line and its warnings within the block.

    The warnings concern the likelihood weights' potentials (exactly 0 when every
    weight is 1) and the missing ``constant_data`` group (the data come from
    ``pm.set_data``).
    """
    pymc_logger = logging.getLogger("pymc")
    level = pymc_logger.level
    pymc_logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        pymc_logger.setLevel(level)


def _improper_free_rvs(model: Any) -> set:
    """The free variables with an improper (flat) prior, which cannot be drawn."""
    from pymc.distributions.continuous import FlatRV, HalfFlatRV

    return {rv for rv in model.free_RVs if isinstance(rv.owner.op, (FlatRV, HalfFlatRV))}


def _drawable(model: Any) -> list[str] | None:
    """The variables a prior predictive can draw: all (None) unless some are improper.

    With an improper free variable (``signed_rank``'s latent gaps), only the free
    variables that do not depend on one are drawn, and no predictive of the data.
    """
    from pytensor.graph.traversal import ancestors

    improper = _improper_free_rvs(model)
    if not improper:
        return None
    return [
        rv.name
        for rv in model.free_RVs
        if rv not in improper and not improper & set(ancestors([rv]))
    ]


def prior_predictive(
    model_name: str | ModuleType,
    study: Any,
    *,
    prior: Any = "neutral",
    likelihood: str | None = None,
    draws: int = 1000,
    seed: int | None = None,
    inputs: Any = None,
) -> xr.DataTree:
    """Prior predictive draws on the study's own design (``pm.sample_prior_predictive``).

    The model is built afresh (nothing is compiled for the sampler), so no cached data
    can leak in.

    Parameters
    ----------
    model_name : str or module
        A model of :mod:`milkbayes.models`, or a module following its contract.
    study : milkbayes.data.study.Study
    prior : str, path or PriorSet
        As for :func:`milkbayes.engine.fit.fit`.
    likelihood : str, optional
        One of the model's ``LIKELIHOODS``; its first by default.
    draws : int
        Number of prior draws.
    seed : int, optional
        Default :data:`milkbayes.engine.fit.DEFAULT_SEED`.
    inputs : ModelInputs, optional
        Arrays to use instead of ``model.inputs(study, likelihood)``.

    Returns
    -------
    xarray.DataTree
        Groups ``prior``, ``prior_predictive`` and ``observed_data``, ready for
        :func:`milkbayes.diagnostics.predictive_checks_of`. For a model with an
        improper prior (``signed_rank``'s latent values) only the free variables
        that do not depend on it are drawn, in ``prior``.

    Raises
    ------
    MilkbayesError
        For ``draws`` below 1, an unknown model, likelihood or prior.
    """
    import pymc as pm

    from milkbayes.engine.fit import (
        DEFAULT_SEED,
        resolve_likelihood,
        resolve_prior,
        tree_attrs,
    )

    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise MilkbayesError(f"draws must be an integer >= 1, not {draws!r}")
    seed = DEFAULT_SEED if seed is None else seed
    module = load_model(model_name)
    likelihood = resolve_likelihood(module, likelihood)
    prior_set = resolve_prior(prior, study, module.NAME)
    if inputs is None:
        inputs = module.inputs(study, likelihood)
    model = module.build(inputs, prior_set, likelihood)
    check_data_names(model, module, inputs.data, prior_data(prior_set))
    with _quiet_pymc():
        try:
            tree = _vectorised_prior(model, draws, seed, _drawable(model))
        except KeyboardInterrupt:
            raise
        except Exception:  # noqa: BLE001 - PyMC's own loop draws the same values
            tree = pm.sample_prior_predictive(
                draws=draws,
                model=model,
                random_seed=seed,
                var_names=_drawable(model),
                compile_kwargs={"mode": FORWARD_MODE},
            )
    tree.attrs.update(tree_attrs(module, likelihood, prior_set, seed, study))
    return tree


def _vectorised_prior(model: Any, draws: int, seed: int, var_names: list[str] | None) -> Any:
    """``pm.sample_prior_predictive``'s draws, all in one call of a batched graph.

    PyMC calls its forward function once per draw. Here each random variable with no
    random ancestor is given a leading axis of ``draws``
    (``pymc.distributions.shape_utils.change_dist_size``) and the rest of the graph
    is batched over it (:func:`pytensor.graph.replace.vectorize_graph`), keeping every
    variable's own generator. The generators are seeded by compiling PyMC's own
    forward function (``compile_forward_sampling_function``, as
    ``sample_prior_predictive`` seeds them), and each draws its values in the order
    PyMC's loop draws them (draw by draw, then element by element), so every free
    variable gets PyMC's values exactly; the deterministics, and the predictive draws
    whose means they enter, agree to rounding (NumPy's batched kernels round some
    sums differently; ``tests/test_prior_vectorised.py``). About four times faster
    than the loop for the flagship's 1,000 draws.
    """
    import pymc as pm
    import pytensor
    from pymc.distributions.shape_utils import change_dist_size
    from pymc.sampling.forward import compile_forward_sampling_function
    from pymc.util import _get_seeds_per_chain, get_default_varnames
    from pytensor.graph.replace import vectorize_graph
    from pytensor.graph.traversal import ancestors

    from milkbayes.engine.log_density import _loops_in_python

    wanted = (
        {var.name for var in model.basic_RVs + model.deterministics}
        if var_names is None
        else set(var_names)
    )
    names = sorted(get_default_varnames(wanted, include_transformed=False))
    outputs = [model[name] for name in names]
    (random_seed,) = _get_seeds_per_chain(seed, 1)
    compile_forward_sampling_function(  # seeds the model's generators as PyMC does
        outputs,
        vars_in_trace=[],
        basic_rvs=model.basic_RVs,
        random_seed=random_seed,
        model=model,
        mode=FORWARD_MODE,
        allow_input_downcast=True,
        accept_inplace=True,
    )
    basic = set(model.basic_RVs)

    def batched_root(rv: Any) -> Any:
        node = change_dist_size(rv, (draws,), expand=True).owner
        # change_dist_size gives the variable a new generator: put its own back
        return node.op.make_node(rv.owner.inputs[0], *node.inputs[1:]).default_output()

    roots = {
        rv: batched_root(rv)
        for rv in model.basic_RVs
        if not basic & set(ancestors(rv.owner.inputs))
    }
    function = pytensor.function([], vectorize_graph(outputs, replace=roots), mode=FORWARD_MODE)
    if any(_loops_in_python(node.op) for node in function.maker.fgraph.apply_nodes):
        raise ValueError("the batched prior would loop over the draws in Python")
    values = function()
    prior = {}
    for name, value in zip(names, values, strict=True):
        value = np.asarray(value)
        if value.shape[:1] != (draws,):
            raise ValueError(f"the batched draws of {name} do not have {draws} rows")
        prior[name] = value
    return pm.to_inference_data(prior=prior, model=model)


def add_posterior_predictive(tree: xr.DataTree, model: Any, seed: int) -> xr.DataTree:
    """``tree`` with ``posterior_predictive`` and ``observed_data`` groups added.

    The draws are those of ``pm.sample_posterior_predictive(tree, random_seed=seed)``,
    computed for every posterior draw at once (:func:`_vectorised_predictive`) instead
    of PyMC's loop of one call per draw, which takes about ten times longer (1.4 s
    against 0.14 s for the flagship's 4,000 draws). Both consume the seeded generator
    in the same order (draw by draw, observation by observation), so the values are
    the same; `tests/test_fit.py` checks it against PyMC's loop. A graph that PyMC
    cannot vectorise falls back to the loop.

    Parameters
    ----------
    tree : xarray.DataTree
        With a ``posterior`` group of ``model``'s free variables.
    model : pymc.Model
        Holding the data of the fit (``pm.set_data`` done).
    seed : int

    Returns
    -------
    xarray.DataTree

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C or SIGTERM during the draws: PyMC catches the interrupt and returns
        a partly filled buffer, which must not be taken for predictive draws.
    """
    try:
        predictive = _vectorised_predictive(tree, model, seed)
    except KeyboardInterrupt:
        raise
    except Exception:  # noqa: BLE001 - PyMC's own loop computes the same draws
        predictive = _looped_predictive(tree, model, seed)
    for group in ("posterior_predictive", "observed_data"):
        if group in predictive.children:
            tree[group] = predictive[group].to_dataset()
    return tree


def _looped_predictive(tree: xr.DataTree, model: Any, seed: int, posterior=None) -> Any:
    """PyMC's ``sample_posterior_predictive``: one call of the forward function per draw."""
    import pymc as pm

    with _quiet_pymc(), interrupts_reraised():
        return pm.sample_posterior_predictive(
            tree if posterior is None else posterior,
            model=model,
            progressbar=False,
            random_seed=seed,
            var_names=[var.name for var in model.observed_RVs],
            compile_kwargs={"mode": FORWARD_MODE},
        )


def _vectorised_predictive(tree: xr.DataTree, model: Any, seed: int) -> Any:
    """The predictive draws of every posterior draw in one call of a batched graph.

    PyMC's :func:`pymc.sampling.forward.vectorize_over_posterior` replaces the free
    variables by their draws (a leading ``(chain, draw)`` batch) and batches the
    observed variables' distributions; the function is seeded as PyMC seeds its own
    loop. The groups' layout (dimensions, coordinates, attributes, ``observed_data``)
    is taken from PyMC's own result for the first draw, so that it is PyMC's.
    """
    import pymc as pm
    import xarray as xr
    from pymc.sampling.forward import vectorize_over_posterior

    posterior = tree["posterior"].to_dataset()
    observed = list(model.observed_RVs)
    with _quiet_pymc():
        batched = vectorize_over_posterior(
            observed, posterior, list(model.free_RVs), allow_rvs_in_graph=True
        )
        function = pm.pytensorf.compile(
            inputs=[], outputs=batched, random_seed=seed, mode=FORWARD_MODE
        )
    values = function()
    layout = _looped_predictive(tree, model, seed, posterior=posterior.isel(chain=[0], draw=[0]))
    template = layout["posterior_predictive"].to_dataset()
    data = {}
    for variable, value in zip(observed, values, strict=True):
        dims = template[variable.name].dims
        if value.shape[:2] != (posterior.sizes["chain"], posterior.sizes["draw"]):
            raise ValueError("the batched draws do not have the posterior's shape")
        data[variable.name] = (dims, np.asarray(value))
    coords = {
        name: template.coords[name] for name in template.coords if name not in ("chain", "draw")
    }
    coords |= {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
    group = xr.Dataset(data, coords=coords, attrs=template.attrs)
    layout["posterior_predictive"] = group
    return layout
