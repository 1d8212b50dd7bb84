"""Per-process cache of compiled models: each worker compiles each model once.

A worker of a simulation study (a local process or a Dask worker) builds a model
from :mod:`milkbayes.models`, compiles it with nutpie once, and refits it to every
new dataset with ``compiled.with_data`` (shapes may change, nothing is recompiled).

Examples
--------
>>> compilation_count() >= 0
True
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

_CACHE: dict[tuple, Any] = {}
_COMPILATIONS = 0


def compilation_count() -> int:
    """Models compiled so far by this process (for checking compile-once behaviour)."""
    return _COMPILATIONS


@dataclass
class CompiledModel:
    """A built PyMC model and its nutpie compilation, reusable for every refit."""

    model: Any
    compiled: Any
    effect: str
    data_names: tuple[str, ...]


def model_module(name: str):
    """The module ``milkbayes.models.<name>`` (raises MilkbayesError when unknown)."""
    from milkbayes.errors import ModelError

    try:
        return importlib.import_module(f"milkbayes.models.{name}")
    except ModuleNotFoundError as error:
        raise ModelError(f"unknown model {name!r}") from error


def get_compiled(key: tuple, build) -> CompiledModel:
    """The compiled model cached under ``key``, built by ``build()`` on first use."""
    global _COMPILATIONS
    if key not in _CACHE:
        from milkbayes.engine.compile_cache import compile_pymc_model

        model, effect = build()
        compiled = compile_pymc_model(model)
        _COMPILATIONS += 1
        names = tuple(sorted(getattr(v, "name", "") for v in model.data_vars))
        _CACHE[key] = CompiledModel(model=model, compiled=compiled, effect=effect, data_names=names)
    return _CACHE[key]


def _with_data(bundle: CompiledModel, data: dict[str, np.ndarray]):
    # A pm.Data that no log-density term uses (e.g. a Student-t input under the
    # normal likelihood) is not in the compiled graph and cannot be set there.
    known = {var.name for var in bundle.compiled.shared_var_keys}
    return bundle.compiled.with_data(**{k: np.asarray(v) for k, v in data.items() if k in known})


def sample(
    bundle: CompiledModel,
    data: dict[str, np.ndarray],
    *,
    seed: int,
    draws: int,
    tune: int,
    chains: int,
):
    """Refit the compiled model to ``data``; returns the posterior DataTree."""
    from milkbayes.engine.fit import sample_uninterrupted

    compiled = _with_data(bundle, data)
    # nutpie's blocking sample() swallows Ctrl-C and returns the partial trace, which a
    # checkpoint would then keep as a finished fit
    return sample_uninterrupted(
        compiled, draws=draws, tune=tune, chains=chains, cores=1, seed=int(seed), progress_bar=False
    )


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
    """
    import nutpie

    compiled = _with_data(bundle, data)
    raw = nutpie.sample(
        compiled,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=1,
        seed=int(seed),
        progress_bar=False,
        return_raw_trace=True,
        save_warmup=False,
    )
    draw_batches, stat_batches = raw.get_arrow_trace()
    out = {name: np.empty((chains, draws)) for name in names}
    divergences = 0
    for batch, stats in zip(draw_batches, stat_batches):
        chain = int(np.asarray(stats.column("chain"))[0])
        kept = ~np.asarray(stats.column("tuning"), dtype=bool)
        if int(kept.sum()) != draws:
            # nutpie swallowed a Ctrl-C and returned the draws so far: never checkpoint
            # a partial fit as a finished one
            raise KeyboardInterrupt(
                f"sampling stopped early: chain {chain} has {int(kept.sum())} of {draws} draws"
            )
        for name in names:
            out[name][chain] = np.asarray(batch.column(name))[kept]
        divergences += int(np.asarray(stats.column("diverging"), dtype=bool)[kept].sum())
    return out, divergences
