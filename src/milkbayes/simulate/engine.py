"""Refitting a model to many simulated datasets, compiled once per worker process.

A worker of a simulation study (a local process or a Dask worker) takes a model's
compiled form from the engine's cache (:func:`milkbayes.engine.cache.compiled_model`,
the same cache :func:`milkbayes.engine.fit.fit` uses) and refits it to every new
dataset with ``compiled.with_data``; nothing is recompiled while shapes stay the same.

Examples
--------
>>> compilation_count() >= 0
True
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from milkbayes.engine import cache


def compilation_count() -> int:
    """Models compiled so far by this process (for checking compile-once behaviour)."""
    return cache.compilation_count()


@dataclass
class CompiledModel:
    """A cached compiled model with the prior values of a simulation study.

    Attributes
    ----------
    entry : milkbayes.engine.cache.CacheEntry
    prior_values : dict of str to numpy.ndarray
        The ``prior_*`` data of the study's prior set, passed to every refit (the
        compiled model may hold another fit's).
    effect : str
        The model's effect variable.
    target_accept : float
        The step-size adaptation target of :func:`milkbayes.engine.fit.fit` for this
        model, so that a calibration study checks the sampler as ``fit`` runs it.
    """

    entry: cache.CacheEntry
    prior_values: dict[str, np.ndarray]
    effect: str
    target_accept: float = 0.9

    @property
    def model(self) -> Any:
        """The PyMC model the compiled model was built from."""
        return self.entry.model

    @property
    def compiled(self) -> Any:
        """The nutpie compiled model."""
        return self.entry.compiled


def model_module(name: str):
    """The model ``name`` of :mod:`milkbayes.models` (ModelError when unknown)."""
    from milkbayes.models.registry import load_model

    return load_model(name)


@functools.lru_cache(maxsize=64)
def prior_set(name: str, outcome: Any, model: str) -> Any:
    """The named prior set, resolved once per process (it costs more than a refit)."""
    from milkbayes.models.priors import get_prior

    return get_prior(name, outcome, model)


def get_compiled(module: Any, inputs: Any, prior: Any, likelihood: str) -> CompiledModel:
    """The compiled model of ``module`` for inputs shaped like ``inputs``.

    Parameters
    ----------
    module : module
        A model of :mod:`milkbayes.models`.
    inputs : ModelInputs
        A template of the datasets to fit (their shapes and design).
    prior : PriorSet
    likelihood : str

    Returns
    -------
    CompiledModel
    """
    from milkbayes.engine.fit import resolve_target_accept

    entry, _, _ = cache.prepared_model(module, inputs, prior, likelihood)
    return CompiledModel(
        entry=entry,
        prior_values=cache.prior_data(prior),
        effect=module.EFFECT,
        target_accept=resolve_target_accept(module, None),
    )


def _with_data(bundle: CompiledModel, data: dict[str, np.ndarray]):
    from milkbayes.engine.sampling import with_data

    # nutpie's initial point reads the prior values from the PyMC model
    cache.set_model_data(bundle.entry, bundle.prior_values, {})
    return with_data(bundle.compiled, {**bundle.prior_values, **data})


def sample(
    bundle: CompiledModel,
    data: dict[str, np.ndarray],
    *,
    seed: int,
    draws: int,
    tune: int,
    chains: int,
):
    """Refit the compiled model to ``data``; returns the DataTree with the deterministics."""
    from milkbayes.engine.sampling import sample_uninterrupted

    tree = sample_uninterrupted(
        _with_data(bundle, data),
        draws=draws,
        tune=tune,
        chains=chains,
        cores=1,
        seed=int(seed),
        progress_bar=False,
        target_accept=bundle.target_accept,
    )
    tree["posterior"] = _deterministics(bundle).add_to(tree["posterior"].to_dataset())
    return tree


def _deterministics(bundle: CompiledModel) -> Any:
    """The model's deterministics (the compiled model stores the free variables only)."""
    from milkbayes.engine.deterministics import Deterministics

    entry = bundle.entry
    if entry.deterministics is None:
        entry.deterministics = Deterministics(entry.model)
    return entry.deterministics


def sample_scalars(
    bundle: CompiledModel,
    data: dict[str, np.ndarray],
    names,
    *,
    seed: int,
    draws: int,
    tune: int,
    chains: int,
) -> tuple[dict[str, np.ndarray], int]:
    """Refit and return the draws of scalar variables ``names`` and the divergences.

    Same sampler, seed and draws as :func:`sample`, but read from nutpie's raw
    Arrow trace instead of building a DataTree, which halves the cost of a small
    fit; simulation studies keep only summaries, so they never need the tree. The
    tests check that both paths give the same draws.

    Returns
    -------
    draws : dict of str to numpy.ndarray
        Shape ``(chains, draws)`` per variable, warm-up removed.
    divergences : int
        Divergent transitions after warm-up.

    Raises
    ------
    KeyboardInterrupt
        When a chain has fewer draws than asked (nutpie swallowed a Ctrl-C): a
        partial fit is never returned as a finished one.
    """
    import nutpie

    raw = nutpie.sample(
        _with_data(bundle, data),
        draws=draws,
        tune=tune,
        chains=chains,
        cores=1,
        seed=int(seed),
        progress_bar=False,
        return_raw_trace=True,
        save_warmup=False,
        target_accept=bundle.target_accept,
    )
    draw_batches, stat_batches = raw.get_arrow_trace()
    out = {name: np.empty((chains, draws)) for name in names}
    divergences = 0
    for batch, stats in zip(draw_batches, stat_batches, strict=True):
        chain = int(np.asarray(stats.column("chain"))[0])
        kept = ~np.asarray(stats.column("tuning"), dtype=bool)
        if int(kept.sum()) != draws:
            raise KeyboardInterrupt(
                f"sampling stopped early: chain {chain} has {int(kept.sum())} of {draws} draws"
            )
        values = _scalar_draws(bundle, batch, kept, names)
        for name in names:
            out[name][chain] = values[name]
        divergences += int(np.asarray(stats.column("diverging"), dtype=bool)[kept].sum())
    return out, divergences


def _column(batch, name: str, kept: np.ndarray, shape: tuple | None = None) -> np.ndarray:
    """The kept draws of one variable of nutpie's Arrow batch, shaped ``(draws, *shape)``.

    nutpie stores a vector or matrix variable as one flat list per draw.
    """
    column = batch.column(name)
    if "List" in str(column.type):
        values = np.asarray(column.to_pylist(), dtype=float)
    else:
        values = np.asarray(column)
    values = values[kept]
    return values if shape is None else values.reshape((values.shape[0], *shape))


def _scalar_draws(bundle: CompiledModel, batch, kept: np.ndarray, names) -> dict:
    """The draws of ``names``: free variables from the batch, deterministics computed.

    The compiled model stores the free variables only (see
    :mod:`milkbayes.engine.deterministics`); a deterministic such as a model's effect
    is computed here from all of them, for the kept draws at once.
    """
    stored = set(batch.schema.names)
    out = {name: _column(batch, name, kept) for name in names if name in stored}
    if len(out) == len(names):
        return out
    from milkbayes.engine.deterministics import Deterministics

    entry = bundle.entry
    if entry.deterministics is None:
        entry.deterministics = Deterministics(entry.model)
    shapes = getattr(bundle.compiled, "_shapes", {})
    free = {
        rv.name: _column(batch, rv.name, kept, shapes.get(rv.name)) for rv in entry.model.free_RVs
    }
    computed = entry.deterministics.compute(free)
    for name in names:
        if name not in out:
            out[name] = np.asarray(computed[name]).reshape(-1)
    return out
