r"""The in-process cache of compiled models: each model is compiled once per process.

Every fit, simulation and leave-one-out refit of a model of :mod:`milkbayes.models`
gets its compiled model here (:func:`compiled_model`). A later fit swaps data and
prior values into the compiled model with ``compiled.with_data(...)`` and samples
again, instead of compiling the model anew. The PyMC model kept beside the compiled
one gets the same values through ``pm.set_data`` (:func:`set_model_data`) before
sampling, because nutpie's initial point reads them, and the log-likelihood and the
posterior predictive computed from it must describe the data actually fitted.

Notes
-----
**Key.** ``(model module, likelihood, structural signature, outcome kind, design)``,
where the signature lists every data array's name and shape and every coordinate's
name and length (:func:`cache_key`). The compiled model fixes the shapes of
parameters, and the coordinates that label them, so any change of shape recompiles
(refits that hold out a mother use ``mother_weight`` and keep their shapes).
Coordinate *labels* (participant ids) are re-attached after each fit from the
current inputs. The module's import name is used rather than its ``NAME`` so that a
test model cannot collide with a real one, and the outcome kind because the named
prior sets of different kinds have different hyperparameters, each a ``pm.Data`` of
the graph.

**Design data.** A model may list data that describe the design rather than the
outcomes (``DESIGN_DATA``: indices, covariate codings); they are compiled in as
constants (``freeze_dims_and_data``) and their values join the key, so a fit with
another design compiles anew while outcomes, weights and prior values are still
swapped by ``with_data``. A model may name them per likelihood (a mapping): the
flagship's normal likelihood, which the assumption ensemble refits to other
covariates, freezes only its long layout, so that one compilation serves both.

**Across processes.** :mod:`milkbayes.engine.compile_cache` keeps nutpie's compiled
callbacks on disk, and a record of each compiled model under
:func:`model_record_key`, so a new process that meets a model already compiled on
this machine assembles it without compiling anything but its initial-point function.
Pickling a compiled model is not an alternative: it would pickle the user's data
with it (the record holds sizes, names and keys, no values).

Examples
--------
>>> import numpy as np
>>> cache_key("paired_change", "normal", {"change": np.zeros(3)}, {"mother": ["a", "b", "c"]})
('paired_change', 'normal', (('change', (3,)),), (('mother', 3),))
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from milkbayes.errors import ModelError, PriorError


@dataclass
class CacheEntry:
    """One compiled model and what refits need beside it.

    Attributes
    ----------
    compiled : nutpie compiled model
        Holding the data of its first fit; refits use ``compiled.with_data``.
    model : pymc.Model
        The model it was compiled from: the target of ``pm.set_data``, and the model
        the log-likelihood, the posterior predictive and the deterministics use.
    sampled : pymc.Model
        The model nutpie compiled: ``model`` itself, or its copy with the design data
        frozen, whose own ``pm.Data`` feed nutpie's initial-point function.
    data_names : frozenset of str
        The names of the model's ``pm.Data``.
    deterministics : milkbayes.engine.deterministics.Deterministics or None
        Built on first use.
    """

    compiled: Any
    model: Any
    sampled: Any = None
    data_names: frozenset = field(default_factory=frozenset)
    deterministics: Any = None


_CACHE: dict[tuple, CacheEntry] = {}
_LOCK = threading.Lock()
_COMPILATIONS = 0


def cache_key(model_name: str, likelihood: str, data: dict, coords: dict) -> tuple:
    """The structural part of the cache key: name, likelihood, data shapes, dim lengths.

    Parameters
    ----------
    model_name, likelihood : str
    data : dict of str to array
        The ``pm.Data`` values (only their shapes enter the key).
    coords : dict of str to sequence
        The coordinates (only their lengths enter the key).

    Returns
    -------
    tuple
        Hashable and sorted, so the order of ``data`` and ``coords`` does not matter.
    """
    shapes = tuple(sorted((name, tuple(np.shape(value))) for name, value in data.items()))
    lengths = tuple(sorted((name, len(values)) for name, values in coords.items()))
    return (model_name, likelihood, shapes, lengths)


def clear_cache() -> None:
    """Forget every compiled model of this process (tests and benchmarks use it)."""
    with _LOCK:
        _CACHE.clear()


def cache_size() -> int:
    """How many compiled models this process holds.

    Examples
    --------
    >>> cache_size() >= 0
    True
    """
    return len(_CACHE)


def compilation_count() -> int:
    """How many models this process has compiled (cache misses) so far.

    Examples
    --------
    >>> compilation_count() >= 0
    True
    """
    return _COMPILATIONS


def prior_data(prior: Any) -> dict[str, np.ndarray]:
    """The ``pm.Data`` values of a prior set: ``prior_<name>`` for each hyperparameter.

    Examples
    --------
    >>> import types
    >>> prior_data(types.SimpleNamespace(values={"mu": 1}))
    {'prior_mu': array(1.)}
    """
    return {f"prior_{name}": np.asarray(float(value)) for name, value in prior.values.items()}


def design_data(
    module: ModuleType, data: dict, likelihood: str | None = None
) -> dict[str, np.ndarray]:
    """The data arrays the model declares as design (``DESIGN_DATA`` patterns).

    ``DESIGN_DATA`` is a tuple of ``fnmatch`` patterns, or a mapping from likelihood to
    such a tuple when the likelihoods freeze different arrays (a likelihood it does
    not list freezes none).

    Examples
    --------
    >>> import types, numpy as np
    >>> m = types.ModuleType("m"); m.DESIGN_DATA = ("idx_*",)
    >>> sorted(design_data(m, {"idx_a": np.zeros(2), "y": np.ones(2)}))
    ['idx_a']
    >>> m.DESIGN_DATA = {"normal": (), "student_t": ("idx_*",)}
    >>> sorted(design_data(m, {"idx_a": np.zeros(2)}, "normal"))
    []
    """
    patterns = getattr(module, "DESIGN_DATA", ())
    if isinstance(patterns, Mapping):
        patterns = patterns.get(likelihood, ())
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


def check_data_names(model: Any, module: ModuleType, data: dict, prior_values: dict) -> None:
    """Every ``pm.Data`` of the model must be refreshed on each fit, and nothing else.

    A ``pm.Data`` that ``inputs()`` does not supply would silently keep the values of
    the first fit (the stale-data trap); a prior value the model does not use would be
    silently ignored. Both are errors.

    Raises
    ------
    PriorError
        When the prior set lacks a hyperparameter the model uses, or has one it does not.
    ModelError
        When ``inputs()`` and ``build()`` disagree on the data.
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


def compiled_model(
    module: ModuleType, inputs: Any, prior: Any, likelihood: str
) -> tuple[CacheEntry, float]:
    """The cache entry for these inputs, compiling the model on a miss.

    Parameters
    ----------
    module : module
        A model following the contract of :mod:`milkbayes.models.contract`.
    inputs : ModelInputs
        Its data; their shapes (and design data) select the entry.
    prior : PriorSet
        Used to build the model on a miss; its values are swapped in on every fit.
    likelihood : str

    Returns
    -------
    entry : CacheEntry
    seconds : float
        The compilation time, 0 when the cache served.

    Raises
    ------
    ModelError, PriorError
        See :func:`check_data_names`.
    """
    global _COMPILATIONS
    from milkbayes.engine.compile_cache import compile_pymc_model

    design = design_data(module, inputs.data, likelihood)
    key = _entry_key(module, inputs, likelihood, design)
    with _LOCK:
        entry = _CACHE.get(key)
    if entry is not None:
        return entry, 0.0
    model = module.build(inputs, prior, likelihood)
    check_data_names(model, module, inputs.data, prior_data(prior))
    start = time.perf_counter()
    sampled = model
    if design:
        from pymc.model.transform.optimization import freeze_dims_and_data

        sampled = freeze_dims_and_data(model, data=sorted(design))
    # free variables only: the deterministics are computed after sampling, for all
    # draws at once (milkbayes.engine.deterministics)
    compiled = compile_pymc_model(
        sampled,
        var_names=[rv.name for rv in model.free_RVs],
        record_key=model_record_key(module, key, prior_data(prior)),
    )
    seconds = time.perf_counter() - start
    entry = CacheEntry(
        compiled=compiled,
        model=model,
        sampled=sampled,
        data_names=frozenset(var.name for var in model.data_vars),
    )
    with _LOCK:
        _COMPILATIONS += 1
        entry = _CACHE.setdefault(key, entry)
    return entry, seconds


def _entry_key(module: ModuleType, inputs: Any, likelihood: str, design: dict) -> tuple:
    """The in-process key of :func:`compiled_model` (module Notes, "Key")."""
    return (
        module.__name__,
        *cache_key(module.NAME, likelihood, inputs.data, inputs.coords)[1:],
        inputs.meta.get("kind"),
        _fingerprint(design),
    )


def is_ready(module: ModuleType, inputs: Any, prior: Any, likelihood: str) -> bool:
    """True when :func:`compiled_model` would not compile the model in full.

    The model is in this process's cache, or recorded on disk by an earlier process
    (:func:`milkbayes.engine.compile_cache.has_record`), so that loading it costs
    about a second rather than a compilation. The record is only looked for: should
    its callbacks have left numba's cache since, the model is compiled after all.

    Parameters
    ----------
    module, inputs, prior, likelihood
        As :func:`compiled_model` takes them.
    """
    from milkbayes.engine.compile_cache import has_record

    design = design_data(module, inputs.data, likelihood)
    key = _entry_key(module, inputs, likelihood, design)
    with _LOCK:
        if key in _CACHE:
            return True
    record_key = model_record_key(module, key, prior_data(prior))
    return record_key is not None and has_record(record_key)


RECORD_CONFIG_FLAGS = (
    "floatX",
    "mode",
    "linker",
    "optimizer",
    "optimizer_including",
    "optimizer_excluding",
    "optimizer_requiring",
    "cast_policy",
    "numba__vectorize_target",
)
"""PyTensor settings that shape a compiled graph, and so join :func:`model_record_key`."""

RECORD_PACKAGES = ("pymc", "pytensor", "nutpie", "numba", "llvmlite", "numpy", "scipy")
"""Packages whose versions join :func:`model_record_key`."""


@functools.lru_cache(maxsize=1)
def _package_digest() -> str | None:
    """SHA-256 of every Python source file of milkbayes (relative path and bytes).

    None when the package holds no source file (byte code only): then nothing tells
    one build of it from another, and no model is recorded.
    """
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    paths = sorted(root.rglob("*.py"))
    for path in paths:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest() if paths else None


def model_record_key(module: ModuleType, key: tuple, prior_values: dict) -> str | None:
    """The key under which a compiled model is recorded across processes, or None.

    The in-process key (module, likelihood, data shapes, coordinate lengths, outcome
    kind, design data) identifies a model's graph only while the code that builds it
    stays the same. Across processes the key adds that code and what compiles it: the
    bytes of every source file of milkbayes, the versions of :data:`RECORD_PACKAGES`,
    Python's and the PyTensor settings of :data:`RECORD_CONFIG_FLAGS`, with the names
    of the prior's values. Any edit of milkbayes thus compiles each model once in full
    again (and a milkbayes without source files records nothing). A model module
    outside the milkbayes package (a user's or a test's) gets None: what its
    ``build`` imports is unknown, so it is always compiled in full (its numba
    callbacks are still cached, :mod:`milkbayes.engine.compile_cache`).

    Parameters
    ----------
    module : module
        The model module.
    key : tuple
        The in-process cache key of :func:`compiled_model`.
    prior_values : dict
        The prior's ``pm.Data`` values (only their names join the key).

    Returns
    -------
    str or None
        A SHA-256 hex digest.

    Examples
    --------
    >>> import types
    >>> model_record_key(types.ModuleType("outside"), ("k",), {}) is None
    True
    """
    import platform
    from importlib.metadata import version

    from pytensor import config

    root = Path(__file__).resolve().parents[1]
    source = getattr(module, "__file__", None)
    if not source or not Path(source).resolve().is_relative_to(root):
        return None
    package = _package_digest()
    if package is None:
        return None
    parts = (
        key,
        tuple(sorted(prior_values)),
        package,
        tuple((package, version(package)) for package in RECORD_PACKAGES),
        platform.python_version(),
        tuple((flag, str(getattr(config, flag, None))) for flag in RECORD_CONFIG_FLAGS),
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def prepared_model(
    module: ModuleType, inputs: Any, prior: Any, likelihood: str
) -> tuple[CacheEntry, dict[str, np.ndarray], float]:
    """:func:`compiled_model` with this fit's data and prior values set on the PyMC model.

    Returns
    -------
    entry : CacheEntry
    values : dict of str to numpy.ndarray
        Every ``pm.Data`` value of this fit (data and ``prior_*``), to pass to
        ``compiled.with_data`` (:func:`milkbayes.engine.sampling.with_data`).
    seconds : float
        The compilation time, 0 when the cache served.
    """
    entry, seconds = compiled_model(module, inputs, prior, likelihood)
    priors = prior_data(prior)
    check_data_names(entry.model, module, inputs.data, priors)
    values = {**{k: np.asarray(v) for k, v in inputs.data.items()}, **priors}
    set_model_data(entry, values, inputs.coords)
    return entry, values, seconds


def set_model_data(entry: CacheEntry, values: dict[str, np.ndarray], coords: dict) -> None:
    """``pm.set_data`` on the cached PyMC model, and on the copy nutpie compiled.

    The log-likelihood and predictive functions must see the data actually fitted,
    not those of the first fit. The copy nutpie compiled (design data frozen) has
    ``pm.Data`` of its own, which feed nutpie's initial point (the priors' support
    points): they get the same values, so that a fit starts where its own priors put
    it, whatever the process fitted before.

    Parameters
    ----------
    entry : CacheEntry
    values : dict of str to array
        Every ``pm.Data`` value of the fit.
    coords : dict of str to sequence
        The coordinate labels of the fit.
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
