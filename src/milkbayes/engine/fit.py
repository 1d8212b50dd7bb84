r"""The compile-once fitting engine: fit a model, summarise it, save it as a run folder.

Each model script of :mod:`milkbayes.models` is compiled once per process for nutpie
(:func:`milkbayes.engine.compile_cache.compile_pymc_model`); later fits swap data and prior
values into the compiled model with ``compiled.with_data(...)`` and sample again
(about 0.1 s for the small models instead of several seconds of compilation). The
PyMC model kept beside the compiled one gets the same values through ``pm.set_data``
before sampling (nutpie's initial point reads them) and so before the log-likelihood
and the posterior predictive are computed, which always describe the data actually
fitted.

Notes
-----
**Cache key.** ``(model name, likelihood, structural signature)``, where the signature
lists every data array's name and shape and every coordinate's name and length. The
compiled model fixes the shapes of parameters, and the coordinates
that label them, so any change of shape recompiles (a conservative choice: refits that
hold out a mother use ``mother_weight`` and keep their shapes). Coordinate *labels*
(participant ids) are re-attached after each fit from the current inputs.

**Across processes.** PyTensor caches the numba code of each operation in its
compile directory (``config.numba__cache``, on by default), and
:mod:`milkbayes.engine.compile_cache` caches nutpie's C callbacks there too (nutpie's own
cannot be cached), so a new process that meets a model already compiled on this
machine spends about 1.4 s instead of 7 s on the flagship (the rest is PyMC's graph
rewriting). Pickling a compiled model is not an alternative: it would pickle the
user's data with it.

**Design data.** A model may list data that describe the design rather than the
outcomes (``DESIGN_DATA``: indices, covariate codings); they are compiled in as
constants (``freeze_dims_and_data``) and their values join the cache key, so a fit
with another design compiles anew while outcomes, weights and prior values are still
swapped by ``with_data``.

**What nutpie computes.** nutpie stores only the free variables of each draw, and
no warm-up draws. The model's deterministics (subgroup effects, each mother's effect,
...) are computed afterwards, for all draws at once, by one vectorised function
(:class:`Deterministics`): computed inside the sampler they cost every draw a call
and made the compiled callback larger (on the flagship, timed in one process: 9.5 s
to compile instead of 12-14 s, and about 8 % less sampling time).

**Summary.** With :math:`\theta^{(s)}` the posterior draws of the model's ``EFFECT``:
the median, the equal-tailed 95 % interval (quantiles 0.025 and 0.975, from
``arviz.summary(..., ci_kind="eti", ci_prob=0.95)``), :math:`P(\theta > 0) \approx
S^{-1}\sum_s 1[\theta^{(s)} > 0]` and, when an MCID :math:`m` is given,
:math:`P(\theta > m)`.

Examples
--------
>>> from milkbayes.engine.fit import cache_key
>>> import numpy as np
>>> cache_key("paired_change", "normal", {"change": np.zeros(3)}, {"mother": ["a", "b", "c"]})
('paired_change', 'normal', (('change', (3,)),), (('mother', 3),))
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import inspect
import json
import os
import platform
import re
import shutil
import signal
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from milkbayes import RECONSTRUCTED_WARNING
from milkbayes.errors import MilkbayesError, ModelError, PriorError, RunExistsError
from milkbayes.models.registry import load_model

if TYPE_CHECKING:  # pragma: no cover - typing only
    import xarray as xr

    from milkbayes.diagnostics import ConvergenceReport

DEFAULT_SEED = 20241
"""The seed used when none is given (the contract in ``docs/architecture.md``)."""

DEFAULT_TARGET_ACCEPT = 0.9
"""nutpie's step-size adaptation target unless the model sets ``TARGET_ACCEPT``.

nutpie's own default, 0.8, left 1 divergence (``signed_rank``) and 2
(``prepost_hierarchical``) in 4 x 1000 draws on the bundled data at the default seed;
0.9 left none, for 10-15 % more sampling time.
"""

RUN_FILES = ("posterior.nc", "summary.json", "diagnostics.json", "provenance.json")
"""The files of a run folder, in the order they are written."""

PREDICTIVE_MODE = "FAST_COMPILE"
"""PyTensor mode of the posterior predictive function, compiled anew on every fit.

PyMC compiles that function on each call; with the default (numba) mode this took
2-6 s per refit of ``signed_rank`` on 2 busy cores, against 0.6-1.2 s for
``FAST_COMPILE`` (a Python VM, no machine-code compilation), with identical draws.
"""

PROVENANCE_PACKAGES = (
    "milkbayes",
    "pymc",
    "pytensor",
    "nutpie",
    "numba",
    "arviz",
    "arviz-base",
    "arviz-stats",
    "numpy",
    "scipy",
    "pandas",
    "xarray",
    "h5netcdf",
    "h5py",
)
"""Packages whose versions every run records."""


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SamplerSettings:
    """What nutpie was asked to do."""

    draws: int
    tune: int
    chains: int
    seed: int
    target_accept: float = DEFAULT_TARGET_ACCEPT

    def as_dict(self) -> dict[str, int | float]:
        """JSON-ready form."""
        return {
            "draws": self.draws,
            "tune": self.tune,
            "chains": self.chains,
            "seed": self.seed,
            "target_accept": self.target_accept,
        }


@dataclass(frozen=True)
class FitResult:
    """One fitted model.

    Attributes
    ----------
    tree : xarray.DataTree
        ``posterior``, ``sample_stats``, ``log_likelihood``,
        ``posterior_predictive``, ``observed_data``; the prior name and values, model,
        likelihood, seed and reconstructed flag are in ``tree.attrs``.
    summary : dict
        Effect median and 95 % interval, P(effect > 0), P(effect > MCID) when an MCID
        was given (``"mcid": None`` otherwise) and the model's ``extra_summary``.
    diagnostics : milkbayes.diagnostics.ConvergenceReport
    model_name, likelihood : str
    prior : milkbayes.models.priors.PriorSet
    seed : int
    study : milkbayes.data.study.Study
    settings : SamplerSettings
    inputs : ModelInputs
        The arrays actually fitted.
    compile_seconds, sample_seconds : float
        Compilation time (0 when the cache served) and the wall time of the refit's
        sampling step: swapping the data in, running the sampler, and packaging its
        draws into ``tree``.
    sampler_seconds : float
        The part of ``sample_seconds`` the sampler ran (warm-up and draws of all
        chains), without the packaging of the draws: the measure PyMC records as its
        own ``sampling_time``, which benchmarks compare with.
    """

    tree: xr.DataTree
    summary: dict
    diagnostics: ConvergenceReport
    model_name: str
    likelihood: str
    prior: Any
    seed: int
    study: Any
    settings: SamplerSettings
    inputs: Any
    compile_seconds: float = 0.0
    sample_seconds: float = 0.0
    model_script_sha256: str = ""
    sampler_seconds: float = 0.0

    @property
    def reconstructed(self) -> bool:
        """True when the fitted data are a reconstruction, not measurements."""
        return bool(getattr(self.study, "reconstructed", False))


@dataclass
class _CacheEntry:
    compiled: Any  # nutpie CompiledPyMCModel, with the data of its first fit
    model: Any  # the pm.Model it was compiled from (pm.set_data target)
    data_names: frozenset = field(default_factory=frozenset)
    deterministics: Any = None  # Deterministics of model, built on first use
    # the model nutpie compiled: ``model`` itself, or its copy with the design data
    # frozen, whose own pm.Data feed nutpie's initial-point function
    sampled: Any = None


class Deterministics:
    """A model's deterministics as one function of the free variables' draws.

    The graph of every ``pm.Deterministic`` is written in terms of the free random
    variables (on their constrained scale, as nutpie stores them) and the model's
    ``pm.Data``; each free variable is replaced by a tensor with a leading batch axis
    (:func:`pytensor.graph.replace.vectorize_graph`) and the result compiled once in
    ``FAST_COMPILE`` mode (NumPy kernels: no machine-code compilation, and a single
    call covers all draws). Data enter with the values the PyMC model holds when the
    function is called, so call ``pm.set_data`` first.

    ``pm.compute_deterministics`` gives the same values but loops over draws in
    Python (about 1.1 s for the flagship's 4,000 draws, against a few milliseconds).

    Parameters
    ----------
    model : pm.Model

    Examples
    --------
    >>> import numpy as np, pymc as pm, xarray as xr
    >>> with pm.Model() as m:
    ...     sigma = pm.HalfNormal("sigma")
    ...     _ = pm.Deterministic("variance", sigma**2)
    >>> posterior = xr.Dataset({"sigma": (("chain", "draw"), [[1.0, 2.0], [3.0, 0.5]])})
    >>> Deterministics(m).add_to(posterior)["variance"].values.tolist()
    [[1.0, 4.0], [9.0, 0.25]]
    """

    def __init__(self, model: Any):
        import pytensor
        import pytensor.tensor as pt
        from pytensor.graph.replace import vectorize_graph

        self.names = tuple(var.name for var in model.deterministics)
        self.dims = {name: tuple(model.named_vars_to_dims.get(name) or ()) for name in self.names}
        self.inputs = tuple(rv.name for rv in model.free_RVs)
        self._fn = None
        if not self.names:
            return
        batched = {
            rv: pt.tensor(name=f"{rv.name}_draws", dtype=rv.dtype, shape=(None,) * (rv.ndim + 1))
            for rv in model.free_RVs
        }
        outputs = vectorize_graph(list(model.deterministics), replace=batched)
        self._fn = pytensor.function(
            list(batched.values()), outputs, mode=PREDICTIVE_MODE, on_unused_input="ignore"
        )

    def add_to(self, posterior: xr.Dataset) -> xr.Dataset:
        """``posterior`` (dims ``chain``, ``draw``, ...) with the deterministics added."""
        if self._fn is None:
            return posterior
        chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
        args = []
        for name in self.inputs:
            values = np.asarray(posterior[name].transpose("chain", "draw", ...).values)
            args.append(values.reshape((chains * draws,) + values.shape[2:]))
        results = self._fn(*args)
        new = {}
        for name, values in zip(self.names, results, strict=True):
            values = np.asarray(values).reshape((chains, draws) + np.shape(values)[1:])
            dims = self.dims[name] or tuple(f"{name}_dim_{k}" for k in range(values.ndim - 2))
            new[name] = (("chain", "draw", *dims), values)
        return posterior.assign(new)


_CACHE: dict[tuple, _CacheEntry] = {}
_CACHE_LOCK = threading.Lock()


# ----------------------------------------------------------------------------- models
def resolve_likelihood(module: ModuleType, likelihood: str | None) -> str:
    """``likelihood``, or the model's default; ModelError if the model lacks it."""
    if likelihood is None:
        return module.LIKELIHOODS[0]
    if likelihood not in module.LIKELIHOODS:
        raise ModelError(
            f"model {module.NAME} has no likelihood {likelihood!r}; "
            f"allowed: {', '.join(module.LIKELIHOODS)}"
        )
    return likelihood


def resolve_target_accept(module: ModuleType, target_accept: float | None) -> float:
    """``target_accept``, else the model's ``TARGET_ACCEPT``, else the engine default.

    Examples
    --------
    >>> import types
    >>> resolve_target_accept(types.ModuleType("m"), None)
    0.9
    >>> resolve_target_accept(types.ModuleType("m"), 1.0)
    Traceback (most recent call last):
    ...
    milkbayes.errors.MilkbayesError: target_accept must lie strictly between 0 and 1, not 1.0
    """
    value = (
        target_accept
        if target_accept is not None
        else getattr(module, "TARGET_ACCEPT", DEFAULT_TARGET_ACCEPT)
    )
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0.0 < float(value) < 1.0
    ):
        raise MilkbayesError(f"target_accept must lie strictly between 0 and 1, not {value!r}")
    return float(value)


def resolve_prior(prior: Any, study: Any, model_name: str) -> Any:
    """A prior set from its name or TOML path (via :func:`milkbayes.models.priors.get_prior`).

    Anything with ``name`` and ``values`` attributes is used as it is.
    """
    if hasattr(prior, "values") and hasattr(prior, "name"):
        return prior
    from milkbayes.models.priors import get_prior

    return get_prior(prior, study.outcome, model_name)


def model_script_sha256(module: ModuleType) -> str:
    """SHA-256 of the model script's bytes (what provenance records)."""
    path = inspect.getsourcefile(module)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else ""


# ----------------------------------------------------------------------------- cache
def cache_key(model_name: str, likelihood: str, data: dict, coords: dict) -> tuple:
    """The key of the compiled-model cache: name, likelihood and structural signature.

    The signature lists each data array's name and shape and each coordinate's name and
    length (see the module Notes for why shapes, not only names, are part of it).
    """
    shapes = tuple(sorted((name, tuple(np.shape(value))) for name, value in data.items()))
    lengths = tuple(sorted((name, len(values)) for name, values in coords.items()))
    return (model_name, likelihood, shapes, lengths)


def clear_cache() -> None:
    """Forget every compiled model of this process (tests and benchmarks use it)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def cache_size() -> int:
    """How many compiled models this process holds."""
    return len(_CACHE)


def _prior_data(prior: Any) -> dict[str, np.ndarray]:
    return {f"prior_{name}": np.asarray(float(value)) for name, value in prior.values.items()}


def prior_predictive(
    model_name: str | ModuleType,
    study: Any,
    *,
    prior: Any = "neutral",
    likelihood: str | None = None,
    draws: int = 1000,
    seed: int = DEFAULT_SEED,
) -> xr.DataTree:
    """Prior predictive draws on the study's own design (``pm.sample_prior_predictive``).

    The model is built afresh (cheap; nothing is compiled for the sampler), so no
    cached data can leak in. The tree has ``prior``, ``prior_predictive`` and
    ``observed_data`` groups, ready for :func:`milkbayes.diagnostics.predictive_checks_of`.

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> tree = prior_predictive("paired_change", load_bundled(), draws=50, seed=1)
    >>> tree["prior_predictive"]["change_obs"].shape
    (1, 50, 24)
    """
    import logging
    import warnings

    import pymc as pm

    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise MilkbayesError(f"draws must be an integer >= 1, not {draws!r}")
    module = load_model(model_name)
    likelihood = resolve_likelihood(module, likelihood)
    prior_set = resolve_prior(prior, study, module.NAME)
    inputs = module.inputs(study, likelihood)
    model = module.build(inputs, prior_set, likelihood)
    _check_data_names(model, module, inputs.data, _prior_data(prior_set))
    pymc_logger = logging.getLogger("pymc")
    level = pymc_logger.level
    pymc_logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            tree = pm.sample_prior_predictive(
                draws=draws, model=model, random_seed=seed, compile_kwargs={"mode": PREDICTIVE_MODE}
            )
    finally:
        pymc_logger.setLevel(level)
    tree.attrs.update(_tree_attrs(module, likelihood, prior_set, seed, study))
    return tree


def _check_data_names(model: Any, module: ModuleType, data: dict, prior_values: dict) -> None:
    """Every ``pm.Data`` of the model must be refreshed on each fit, and nothing else.

    A ``pm.Data`` that ``inputs()`` does not supply would silently keep the values of
    the first fit (the stale-data trap); a prior value the model does not use would be
    silently ignored. Both are errors.
    """
    declared = {var.name for var in model.data_vars}
    priors_declared = {name for name in declared if name.startswith("prior_")}
    unused_prior = sorted(set(prior_values) - priors_declared)
    if unused_prior:
        uses = sorted(name.removeprefix("prior_") for name in priors_declared)
        raise PriorError(
            f"model {module.NAME} has no hyperparameter "
            f"{', '.join(name.removeprefix('prior_') for name in unused_prior)}"
            f"; it uses {', '.join(uses)}"
        )
    missing_prior = sorted(priors_declared - set(prior_values))
    if missing_prior:
        raise PriorError(
            f"the prior set lacks "
            f"{', '.join(name.removeprefix('prior_') for name in missing_prior)}"
            f", which model {module.NAME} needs"
        )
    supplied = set(data)
    if (declared - priors_declared) != supplied:
        raise ModelError(
            f"model {module.NAME}: inputs() supplies {sorted(supplied)} but build() "
            f"declares the data {sorted(declared - priors_declared)}; every pm.Data must "
            "come from inputs() so that a refit cannot keep stale values"
        )


def _compiled_for(
    module: ModuleType, inputs: Any, prior: Any, likelihood: str
) -> tuple[_CacheEntry, float]:
    """The cache entry for these inputs (compiling on a miss) and the compile time."""
    import time

    from milkbayes.engine.compile_cache import compile_pymc_model

    key = cache_key(module.NAME, likelihood, inputs.data, inputs.coords)
    # The module path, so a test model cannot collide; and the outcome kind, because the
    # named prior sets of different kinds have different hyperparameters, each a pm.Data
    # of the graph (a volume fit's graph would refuse a continuous study's prior set).
    design = design_data(module, inputs.data)
    key = (module.__name__, *key[1:], inputs.meta.get("kind"), _fingerprint(design))
    with _CACHE_LOCK:
        entry = _CACHE.get(key)
    if entry is not None:
        return entry, 0.0
    model = module.build(inputs, prior, likelihood)
    _check_data_names(model, module, inputs.data, _prior_data(prior))
    start = time.perf_counter()
    sampled = model
    if design:
        from pymc.model.transform.optimization import freeze_dims_and_data

        sampled = freeze_dims_and_data(model, data=sorted(design))
    # free variables only: the deterministics are computed after sampling (module Notes)
    compiled = compile_pymc_model(sampled, var_names=[rv.name for rv in model.free_RVs])
    seconds = time.perf_counter() - start
    entry = _CacheEntry(
        compiled=compiled,
        model=model,
        sampled=sampled,
        data_names=frozenset(var.name for var in model.data_vars),
    )
    with _CACHE_LOCK:
        _CACHE.setdefault(key, entry)
    return entry, seconds


def design_data(module: ModuleType, data: dict) -> dict[str, np.ndarray]:
    """The data arrays the model declares as design (``DESIGN_DATA`` patterns).

    Examples
    --------
    >>> import types, numpy as np
    >>> m = types.ModuleType("m"); m.DESIGN_DATA = ("idx_*",)
    >>> sorted(design_data(m, {"idx_a": np.zeros(2), "y": np.ones(2)}))
    ['idx_a']
    """
    import fnmatch

    patterns = getattr(module, "DESIGN_DATA", ())
    return {
        name: np.asarray(value)
        for name, value in data.items()
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    }


def _fingerprint(arrays: dict[str, np.ndarray]) -> tuple:
    """Name, dtype, shape and SHA-256 of each array: equal values, equal fingerprint."""
    return tuple(
        (name, str(a.dtype), a.shape, hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest())
        for name, a in sorted(arrays.items())
    )


def _set_model_data(entry: _CacheEntry, values: dict[str, np.ndarray], coords: dict) -> None:
    """``pm.set_data`` on the cached PyMC model: its log-likelihood and predictive
    functions must see the data actually fitted, not those of the first fit.

    The copy nutpie compiled (design data frozen) has pm.Data of its own, which feed
    nutpie's initial point (the priors' support points): they get the same values, so
    that a fit starts where its own priors put it, whatever the process fitted before.
    """
    import pymc as pm

    model = entry.model
    if entry.sampled is not None and entry.sampled is not model:
        from pytensor.compile.sharedvalue import SharedVariable

        for variable in entry.sampled.data_vars:
            # the frozen design data are constants now, and stay as compiled
            if isinstance(variable, SharedVariable) and variable.name in values:
                variable.set_value(np.asarray(values[variable.name], dtype=variable.dtype))
    used_dims = {dim for name in values for dim in (model.named_vars_to_dims.get(name) or ())}
    pm.set_data(
        values,
        model=model,
        coords={dim: labels for dim, labels in coords.items() if dim in used_dims},
    )
    for dim, labels in coords.items():  # dims of parameters only (no data carries them)
        if (
            dim not in used_dims
            and dim in model.coords
            and tuple(model.coords[dim]) != tuple(labels)
        ):
            model.set_dim(dim, len(labels), coord_values=labels)


def compiled_model(
    result: FitResult, model: str | ModuleType | None = None
) -> tuple[_CacheEntry, dict[str, np.ndarray]]:
    """The cached compiled model of a fit, holding that fit's data and prior values.

    Work that evaluates a model outside :func:`fit` (pointwise log-likelihoods,
    leave-one-mother-out refits) needs the compiled model, and the PyMC model it came
    from, to hold the data actually fitted, not those of the cache's latest fit.

    Parameters
    ----------
    result : FitResult
        The fit.
    model : str or module, optional
        The model as given to :func:`fit`; ``result.model_name`` by default.

    Returns
    -------
    entry
        The cache entry: ``entry.compiled`` (nutpie) and ``entry.model`` (PyMC).
    values : dict of str to numpy.ndarray
        The data and prior values set on it.
    """
    module = load_model(result.model_name if model is None else model)
    entry, _ = _compiled_for(module, result.inputs, result.prior, result.likelihood)
    values = {
        **{k: np.asarray(v) for k, v in result.inputs.data.items()},
        **_prior_data(result.prior),
    }
    _set_model_data(entry, values, result.inputs.coords)
    return entry, values


# ----------------------------------------------------------------------------- fit
def fit(
    model_name: str | ModuleType,
    study: Any,
    *,
    prior: Any = "neutral",
    likelihood: str | None = None,
    mcid: float | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = DEFAULT_SEED,
    progress: bool = False,
    log_likelihood: bool = True,
    posterior_predictive: bool = True,
    inputs: Any = None,
    target_accept: float | None = None,
) -> FitResult:
    """Fit a model to a study with nutpie, compiling the model at most once per process.

    Parameters
    ----------
    model_name : str or module
        A model of :mod:`milkbayes.models` (``paired_change``, ``signed_rank``,
        ``prepost_hierarchical``, ``two_arm``) or a module following the model contract.
    study : milkbayes.data.study.Study
    prior : str, path or PriorSet
        A named set (``skeptical``, ``neutral``, ``enthusiastic``) or a TOML file.
    likelihood : str, optional
        One of the model's ``LIKELIHOODS``; its first by default.
    mcid : float, optional
        Minimal clinically important difference, in outcome units. Without it the
        summary holds ``"mcid": None`` and no ``p_effect_gt_mcid``.
    draws, tune, chains : int
        Draws kept and warm-up draws per chain, and the number of chains.
    seed : int
        Same seed, same data, same settings: bit-identical draws.
    progress : bool
        Show nutpie's progress bar.
    log_likelihood, posterior_predictive : bool
        Add these groups (both needed by LOO and the predictive checks; leave-one-out
        loops that only need the posterior can switch them off).
    inputs : ModelInputs, optional
        Arrays to fit instead of ``model.inputs(study, likelihood)`` (e.g. with a
        held-out mother's ``mother_weight`` set to 0).
    target_accept : float, optional
        Step-size adaptation target in (0, 1); default the model's ``TARGET_ACCEPT``
        or :data:`DEFAULT_TARGET_ACCEPT`.

    Returns
    -------
    FitResult

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> result = fit("paired_change", load_bundled(), draws=200, tune=200, chains=2,
    ...              seed=1)  # doctest: +SKIP
    >>> result.summary["effect_median"] > 0  # doctest: +SKIP
    True
    """
    import time

    from milkbayes.diagnostics import convergence_report

    check_sampler_settings(draws=draws, tune=tune, chains=chains, seed=seed)
    module = load_model(model_name)
    target_accept = resolve_target_accept(module, target_accept)
    likelihood = resolve_likelihood(module, likelihood)
    prior_set = resolve_prior(prior, study, module.NAME)
    if mcid is not None and not np.isfinite(mcid):
        raise MilkbayesError(f"the MCID must be a finite number, not {mcid!r}")
    if inputs is None:
        inputs = module.inputs(study, likelihood)
    entry, compile_seconds = _compiled_for(module, inputs, prior_set, likelihood)
    values = {**{k: np.asarray(v) for k, v in inputs.data.items()}, **_prior_data(prior_set)}
    _check_data_names(entry.model, module, inputs.data, _prior_data(prior_set))
    # Before sampling: nutpie's initial point (each prior's support point, jittered) is
    # computed from the PyMC model's data, so they must be this fit's, not the
    # previous fit's; otherwise a fit's draws would depend on what the process ran before.
    _set_model_data(entry, values, inputs.coords)
    start = time.perf_counter()
    tree, sampler_seconds = _sample(
        _with_data(entry.compiled, values),
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        progress=progress,
        target_accept=target_accept,
    )
    sample_seconds = time.perf_counter() - start
    tree = _add_deterministics(tree, entry)
    tree = _relabel(tree, inputs.coords)
    if log_likelihood:
        tree = _add_log_likelihood(tree, entry.model)
    if posterior_predictive:
        tree = _add_posterior_predictive(tree, entry.model, seed)
    tree.attrs.update(_tree_attrs(module, likelihood, prior_set, seed, study))
    summary = summarise(tree, module, inputs, prior_set, mcid)
    return FitResult(
        tree=tree,
        summary=summary,
        diagnostics=convergence_report(tree),
        model_name=module.NAME,
        likelihood=likelihood,
        prior=prior_set,
        seed=seed,
        study=study,
        settings=SamplerSettings(
            draws=draws, tune=tune, chains=chains, seed=seed, target_accept=target_accept
        ),
        inputs=inputs,
        compile_seconds=compile_seconds,
        sample_seconds=sample_seconds,
        sampler_seconds=sampler_seconds,
        model_script_sha256=model_script_sha256(module),
    )


def _add_deterministics(tree: xr.DataTree, entry: _CacheEntry) -> xr.DataTree:
    """The model's deterministics, computed from the draws with the data just set."""
    if entry.deterministics is None:
        entry.deterministics = Deterministics(entry.model)
    tree["posterior"] = entry.deterministics.add_to(tree["posterior"].to_dataset())
    return tree


def _with_data(compiled: Any, values: dict[str, np.ndarray]) -> Any:
    """``compiled.with_data`` for the values its graph uses.

    A ``pm.Data`` that no log-density term needs (e.g. the Student-t prior of a model
    fitted with the normal likelihood) is not part of the compiled graph, so it cannot
    hold stale values either; it is still set on the PyMC model.
    """
    known = {var.name for var in compiled.shared_var_keys}
    return compiled.with_data(**{name: value for name, value in values.items() if name in known})


def check_sampler_settings(**settings: int) -> None:
    """Refuse sampler settings nutpie cannot run (MilkbayesError naming the setting).

    Examples
    --------
    >>> check_sampler_settings(draws=10, tune=0, chains=1, seed=1)
    Traceback (most recent call last):
    ...
    milkbayes.errors.MilkbayesError: tune must be an integer >= 1, not 0
    """
    # nutpie 0.16 panics ("early_end < num_tune") with tune = 0, so at least 1.
    minimum = {"draws": 1, "tune": 1, "chains": 1, "seed": 0}
    for name, value in settings.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or value < minimum[name]
        ):
            raise MilkbayesError(f"{name} must be an integer >= {minimum[name]}, not {value!r}")
    if settings["seed"] >= 2**63:
        raise MilkbayesError(f"seed must be below 2**63, not {settings['seed']}")


def _sample(
    compiled: Any,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    progress: bool,
    target_accept: float,
) -> tuple[xr.DataTree, float]:
    """The draws, and the seconds the sampler ran (:func:`sample_timed`)."""
    # cores=chains keeps the result independent of the machine (nutpie's default
    # cores depend on the CPU count; draws do not, but timings would).
    # no warm-up draws: nothing reads them, and storing them costs time and memory
    tree, seconds = sample_timed(
        compiled,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=min(chains, os.cpu_count() or 1),
        seed=int(seed),
        progress_bar=progress,
        target_accept=float(target_accept),
        save_warmup=False,
    )
    _check_complete(tree, draws=draws, chains=chains)
    return tree, seconds


def sample_uninterrupted(compiled: Any, **settings: Any) -> xr.DataTree:
    """``nutpie.sample(compiled, **settings)``, but Ctrl-C raises KeyboardInterrupt.

    On Ctrl-C ``nutpie.sample`` (0.16, blocking mode) catches KeyboardInterrupt and
    *returns* the draws made so far, which look like a finished trace (one chain) or
    are NaN-padded (several chains). Here the sampler runs in nutpie's non-blocking
    mode, so the interrupt reaches us: the sampler is cancelled and the interrupt
    re-raised, and no partial posterior can be mistaken for a run.
    """
    return sample_timed(compiled, **settings)[0]


def sample_timed(compiled: Any, **settings: Any) -> tuple[xr.DataTree, float]:
    """:func:`sample_uninterrupted`, and the seconds the sampler ran.

    The seconds run from the call of ``nutpie.sample`` to the end of the last chain
    (initial points, warm-up, draws), without the conversion of nutpie's Arrow trace
    into a DataTree, as PyMC's own ``sampling_time`` leaves out the packaging of its
    draws. nutpie's ``wait()`` is exactly those two steps (wait for the chains, then
    extract); they are called one after the other here (private names of nutpie
    0.16, pinned in ``constraints.txt``) to put the clock between them.
    """
    import time

    import nutpie

    start = time.perf_counter()
    sampler = nutpie.sample(compiled, blocking=False, **settings)
    try:
        chains = getattr(sampler, "_sampler", None)
        if chains is None or not hasattr(sampler, "_extract"):  # another nutpie: whole wait
            tree = sampler.wait()
            return tree, time.perf_counter() - start
        chains.wait(None)
        seconds = time.perf_counter() - start
        return sampler._extract(chains.take_results()), seconds
    except BaseException:
        sampler.cancel()
        raise


def _check_complete(tree: xr.DataTree, *, draws: int, chains: int) -> None:
    """Refuse a posterior with fewer chains or draws than asked for.

    Belt and braces for :func:`sample_uninterrupted`: a sampler that stopped early
    (interrupted in a way nutpie swallowed) must not be saved as a complete run.
    """
    posterior = tree["posterior"]
    got = (posterior.sizes.get("chain", 0), posterior.sizes.get("draw", 0))
    if got != (chains, draws):
        raise KeyboardInterrupt(
            f"sampling stopped early: {got[0]} chains x {got[1]} "
            f"draws instead of {chains} x {draws}"
        )


def _relabel(tree: xr.DataTree, coords: dict) -> xr.DataTree:
    """Put the current coordinate labels (e.g. participant ids) on every group."""
    for path, node in tree.subtree_with_keys:
        dataset = node.to_dataset()
        new = {
            dim: list(labels)
            for dim, labels in coords.items()
            if dim in dataset.dims and dataset.sizes[dim] == len(labels)
        }
        if new:
            tree[path] = node.to_dataset().assign_coords(new)
    return tree


def _add_log_likelihood(tree: xr.DataTree, model: Any) -> xr.DataTree:
    import pymc as pm

    dataset = pm.compute_log_likelihood(
        tree, model=model, progressbar=False, extend_inferencedata=False
    )
    tree["log_likelihood"] = dataset
    return tree


def _add_posterior_predictive(tree: xr.DataTree, model: Any, seed: int) -> xr.DataTree:
    import logging
    import warnings

    import pymc as pm

    pymc_logger = logging.getLogger("pymc")
    level = pymc_logger.level
    pymc_logger.setLevel(logging.WARNING)  # not "Sampling: [...]" on every fit
    try:
        with warnings.catch_warnings():
            # PyMC warns that the trace lacks constant_data; the values come from set_data.
            warnings.simplefilter("ignore", UserWarning)
            predictive = pm.sample_posterior_predictive(
                tree,
                model=model,
                progressbar=False,
                random_seed=seed,
                var_names=[var.name for var in model.observed_RVs],
                compile_kwargs={"mode": PREDICTIVE_MODE},
            )
    finally:
        pymc_logger.setLevel(level)
    for group in ("posterior_predictive", "observed_data"):
        if group in predictive.children:
            tree[group] = predictive[group].to_dataset()
    return tree


def _tree_attrs(
    module: ModuleType, likelihood: str, prior: Any, seed: int, study: Any
) -> dict[str, Any]:
    """Flat attributes (NetCDF stores no nested dicts)."""
    attrs: dict[str, Any] = {
        "milkbayes_model": module.NAME,
        "milkbayes_likelihood": likelihood,
        "milkbayes_prior": str(prior.name),
        "milkbayes_seed": int(seed),
        "milkbayes_reconstructed": int(bool(getattr(study, "reconstructed", False))),
        "milkbayes_data_sha256": str(getattr(study, "sha256", "")),
    }
    attrs.update({f"milkbayes_prior_{name}": float(value) for name, value in prior.values.items()})
    if attrs["milkbayes_reconstructed"]:
        attrs["milkbayes_warning"] = RECONSTRUCTED_WARNING
    return attrs


# ----------------------------------------------------------------------------- summary
def summarise(
    tree: xr.DataTree, module: ModuleType, inputs: Any, prior: Any, mcid: float | None
) -> dict[str, Any]:
    """The decision quantities of the effect, plus the model's own summary.

    Raises
    ------
    ModelError
        If the effect variable is missing, not scalar per draw, or not finite.
    """
    posterior = tree["posterior"]
    if module.EFFECT not in posterior.data_vars:
        raise ModelError(
            f"model {module.NAME}: the posterior has no effect variable {module.EFFECT!r}"
        )
    effect = posterior[module.EFFECT]
    if set(effect.dims) != {"chain", "draw"}:
        raise ModelError(
            f"model {module.NAME}: the effect {module.EFFECT!r} must be one "
            f"number per draw, not dims {effect.dims}"
        )
    values = np.asarray(effect.values, dtype=float).ravel()
    if not np.all(np.isfinite(values)):
        raise ModelError(
            f"model {module.NAME}: {int((~np.isfinite(values)).sum())} draws "
            f"of {module.EFFECT!r} are not finite"
        )
    lower, upper = _equal_tailed_95(tree, module.EFFECT)
    summary: dict[str, Any] = {
        "effect_variable": module.EFFECT,
        "effect_median": float(np.median(values)),
        "effect_mean": float(np.mean(values)),
        "effect_ci95_low": lower,
        "effect_ci95_high": upper,
        "p_effect_gt_0": float(np.mean(values > 0)),
        "mcid": None if mcid is None else float(mcid),
    }
    if mcid is not None:
        summary["p_effect_gt_mcid"] = float(np.mean(values > mcid))
    extra = module.extra_summary(tree, inputs, prior)
    clash = sorted(set(extra) & set(summary))
    if clash:
        raise ModelError(f"model {module.NAME}: extra_summary() redefines {clash}")
    summary.update(extra)
    return summary


def _equal_tailed_95(tree: xr.DataTree, variable: str) -> tuple[float, float]:
    """Equal-tailed 95 % interval from ``arviz.summary`` (columns ``eti95_lb/ub``)."""
    import arviz as az

    table = az.summary(
        tree, var_names=[variable], kind="stats", ci_prob=0.95, ci_kind="eti", round_to="none"
    )
    return float(table.loc[variable, "eti95_lb"]), float(table.loc[variable, "eti95_ub"])


# ----------------------------------------------------------------------------- run folders
def provenance(
    result: FitResult, *, command_line: list[str] | str | dict | None = None
) -> dict[str, Any]:
    """Everything needed to redo a run: versions, seed, hashes, prior, settings."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in PROVENANCE_PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    versions["python"] = platform.python_version()
    if command_line is None:
        command_line = list(sys.argv)
    study = result.study
    prior = result.prior
    return {
        "model": result.model_name,
        "likelihood": result.likelihood,
        "model_script_sha256": result.model_script_sha256,
        "prior": {
            "name": str(prior.name),
            "values": {k: float(v) for k, v in prior.values.items()},
            "source": str(getattr(prior, "source", "named")),
        },
        "sampler": {"name": "nutpie", **result.settings.as_dict()},
        "seed": result.seed,
        "data": {
            "source": str(getattr(study, "source", "")),
            "sha256": str(getattr(study, "sha256", "")),
            "n": int(getattr(study, "n", 0)),
            "dropped_ids": list(getattr(study, "dropped_ids", ())),
        },
        "reconstructed": result.reconstructed,
        "warning": RECONSTRUCTED_WARNING if result.reconstructed else None,
        "command_line": command_line,
        "packages": versions,
        "platform": platform.platform(),
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "compile_seconds": result.compile_seconds,
        "sample_seconds": result.sample_seconds,
        "sampler_seconds": result.sampler_seconds,
    }


def netcdf_ready(tree: xr.DataTree) -> xr.DataTree:
    """A copy NetCDF can store: object-dtype variables (nutpie's ``divergence_message``)
    become fixed strings, ``None`` and NaN becoming ``""``.
    """
    out = tree.copy()
    for path, node in tree.subtree_with_keys:
        dataset = node.to_dataset()
        objects = [name for name, var in dataset.data_vars.items() if var.dtype == object]
        if not objects:
            continue
        for name in objects:
            text = np.vectorize(_message_text, otypes=[str])(dataset[name].values)
            dataset[name] = dataset[name].copy(data=text.astype(str))
        out[path] = dataset
    return out


def _message_text(value: Any) -> str:
    """Nutpie fills "no message" with None (sampling) or NaN (warm-up)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def safe_run_name(text: str) -> str:
    """A folder name made from user text: letters, digits, ``-``, ``_`` and ``.`` only.

    Examples
    --------
    >>> safe_run_name("../../etc/my prior.toml")
    'etc_my_prior.toml'
    """
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return name or "run"


def save_run(
    result: FitResult,
    out_dir: str | Path,
    *,
    force: bool = False,
    command_line: list[str] | str | dict | None = None,
) -> Path:
    """Write a run folder atomically and return its path.

    The folder holds ``posterior.nc`` (the whole DataTree, h5netcdf), ``summary.json``,
    ``diagnostics.json`` and ``provenance.json``. Everything is written into a hidden
    temporary sibling that is renamed into place at the end; on any error, Ctrl-C or
    SIGTERM the temporary folder is removed, so no half-written run remains.

    Raises
    ------
    RunExistsError
        If ``out_dir`` exists and is not empty and ``force`` is False.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "taken"
    >>> _ = folder.mkdir(); _ = (folder / "posterior.nc").write_text("old")
    >>> save_run(None, folder)
    Traceback (most recent call last):
    ...
    milkbayes.errors.RunExistsError: ... already holds a run; pass --force to replace it
    """
    target = Path(out_dir).absolute()
    if target.exists() and not target.is_dir():
        raise RunExistsError(f"{target} exists and is not a folder")
    if target.exists() and any(target.iterdir()) and not force:
        raise RunExistsError(f"{target} already holds a run; pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    with sigterm_as_keyboard_interrupt():
        try:
            temporary.mkdir()
            _write_run_files(result, temporary, command_line)
            _move_into_place(temporary, target, force=force)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
    return target


def _inside(folder: Path, name: str) -> Path:
    """``folder / name``, refusing any name that would leave ``folder``."""
    path = (folder / name).resolve()
    if path.parent != folder.resolve():
        raise MilkbayesError(f"refusing to write {name!r} outside {folder}")
    return path


def _write_run_files(result: FitResult, folder: Path, command_line: Any) -> None:
    netcdf_ready(result.tree).to_netcdf(_inside(folder, "posterior.nc"), engine="h5netcdf")
    summary = {
        **result.summary,
        "model": result.model_name,
        "likelihood": result.likelihood,
        "prior": str(result.prior.name),
        "reconstructed": result.reconstructed,
        "warning": RECONSTRUCTED_WARNING if result.reconstructed else None,
    }
    _write_json(_inside(folder, "summary.json"), summary)
    _write_json(_inside(folder, "diagnostics.json"), result.diagnostics.to_dict())
    _write_json(_inside(folder, "provenance.json"), provenance(result, command_line=command_line))


def json_ready(value: Any, *, where: str = "summary") -> Any:
    """``value`` with numpy scalars as Python numbers and infinities as ``"inf"``.

    JSON has no infinity (a Bayes factor can overflow a float); NaN means a bug
    upstream, so it raises instead of being written.

    Examples
    --------
    >>> json_ready({"bf10": float("inf"), "n": np.int64(3), "xs": (1.5, None)})
    {'bf10': 'inf', 'n': 3, 'xs': [1.5, None]}
    """
    if isinstance(value, dict):
        return {str(k): json_ready(v, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v, where=where) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist(), where=where)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if np.isnan(value):
            raise ModelError(f"{where} is NaN; refusing to write a silent NaN")
        if np.isinf(value):
            return "inf" if value > 0 else "-inf"
    if isinstance(value, Path):
        return str(value)
    return value


def _write_json(path: Path, payload: dict) -> None:
    text = json.dumps(
        json_ready(payload, where=path.stem), indent=2, allow_nan=False, default=json_default
    )
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars and arrays and paths (the run folder
    and the report write their JSON with it).
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _move_into_place(temporary: Path, target: Path, *, force: bool) -> None:
    """Rename the finished ``temporary`` folder onto ``target``.

    The emptiness check of :func:`save_run` ran before sampling finished: another run
    (two ``fit --out same`` at once) may land in between. POSIX ``rename`` onto a
    non-empty folder fails with ENOTEMPTY/EEXIST; that is the other run winning, so it
    is kept and reported as :class:`RunExistsError` (the caller removes ``temporary``).
    """
    if not target.exists() or not any(target.iterdir()):
        rename_or_refuse(temporary, target)  # renaming onto an empty folder replaces it
        return
    if not force:  # someone wrote there while we were sampling
        raise RunExistsError(f"{target} already holds a run; pass --force to replace it")
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    os.rename(target, old)
    try:
        rename_or_refuse(temporary, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def rename_or_refuse(temporary: Path, target: Path, *, what: str = "run") -> None:
    """Rename ``temporary`` to ``target``, or RunExistsError when another run landed on
    ``target`` between our check and the rename (that run is kept).
    """
    try:
        os.rename(temporary, target)
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
            raise
        raise RunExistsError(
            f"{target} was written by another run meanwhile; it is kept "
            f"and this {what} was not saved"
        ) from error


@contextlib.contextmanager
def sigterm_as_keyboard_interrupt():
    """Turn SIGTERM into KeyboardInterrupt while a run is written, so the cleanup of
    :func:`save_run` runs on ``kill`` as it does on Ctrl-C (main thread only: Python
    installs signal handlers nowhere else).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass(frozen=True)
class SavedRun:
    """A run folder read back: the DataTree and its JSON files."""

    path: Path
    tree: Any
    summary: dict
    diagnostics: dict
    provenance: dict


def load_run(run_dir: str | Path) -> SavedRun:
    """Read a run folder written by :func:`save_run`.

    Raises
    ------
    MilkbayesError
        If the folder or one of its files is missing or unreadable.
    """
    import xarray as xr

    folder = Path(run_dir)
    if not folder.is_dir():
        raise MilkbayesError(f"{folder}: no such run folder")
    missing = [name for name in RUN_FILES if not (folder / name).is_file()]
    if missing:
        raise MilkbayesError(f"{folder}: not a milkbayes run folder (missing {', '.join(missing)})")
    try:
        tree = xr.open_datatree(folder / "posterior.nc", engine="h5netcdf").load()
    except (OSError, ValueError) as error:
        raise MilkbayesError(f"{folder / 'posterior.nc'}: cannot be read ({error})") from error
    loaded = {}
    for name in ("summary.json", "diagnostics.json", "provenance.json"):
        try:
            loaded[name] = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise MilkbayesError(f"{folder / name}: cannot be read ({error})") from error
    return SavedRun(
        path=folder,
        tree=tree,
        summary=loaded["summary.json"],
        diagnostics=loaded["diagnostics.json"],
        provenance=loaded["provenance.json"],
    )
