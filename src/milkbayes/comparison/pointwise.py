"""The pointwise log-likelihood of a PyMC model, vectorised over posterior draws.

Shared by PSIS-LOO (:mod:`milkbayes.comparison.psis`) and the exact
leave-one-mother-out refits (:mod:`milkbayes.comparison.lomo`): the log density of
every observation at every draw, and which observations belong to which mother.

Examples
--------
>>> import numpy as np
>>> [rows.tolist() for rows in mother_rows(np.array([0, 1, 0]), 2)]
[[0, 2], [1]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from milkbayes.errors import ModelError

__all__ = ["PointwiseLogLik", "mother_rows", "stacked_draws"]


class PointwiseLogLik:
    """Elementwise log-likelihood of a PyMC model, vectorised over posterior draws.

    ``pm.compute_log_likelihood`` loops over draws in Python; here the model's
    observed-variable log density is compiled once with a leading batch axis
    (:func:`pytensor.graph.replace.vectorize_graph`), so thousands of draws, or
    draws times quadrature nodes, cost milliseconds.

    Parameters
    ----------
    model : pm.Model
        The model; its observed variables define the likelihood. The
        ``mother_weight`` data do not enter: the density is unweighted.
    mode : str or pytensor Mode
        PyTensor compile mode. ``"FAST_COMPILE"`` (Python linker, NumPy kernels) by
        default: JIT-compiling each model's graph with the numba linker costs far
        more than evaluating the few hundred thousand rows a comparison needs, which
        both linkers do in about the same time.

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> with pm.Model() as m:
    ...     mu = pm.Normal("mu", 0, 1)
    ...     _ = pm.Normal("y", mu, 1, observed=np.array([0.0, 1.0]))
    >>> ll = PointwiseLogLik(m)({"mu": np.array([0.0, 1.0])})
    >>> ll.shape
    (2, 2)
    >>> from scipy import stats
    >>> bool(np.allclose(ll[1], stats.norm.logpdf([0.0, 1.0], 1.0, 1.0)))
    True
    """

    def __init__(self, model, mode="FAST_COMPILE"):
        import pytensor
        import pytensor.tensor as pt
        from pymc.model.transform.conditioning import remove_value_transforms
        from pytensor.graph.replace import vectorize_graph

        if not model.observed_RVs:
            raise ModelError("the model has no observed variable, so no log-likelihood")
        umodel = remove_value_transforms(model)
        self.observed_names = tuple(rv.name for rv in umodel.observed_RVs)
        outputs = umodel.logp(vars=umodel.observed_RVs, sum=False)
        self.value_names = tuple(v.name for v in umodel.value_vars)
        batched = [
            pt.tensor(name=f"{v.name}_batch", dtype=v.dtype, shape=(None,) * (v.ndim + 1))
            for v in umodel.value_vars
        ]
        vectorised = vectorize_graph(
            outputs, replace=dict(zip(umodel.value_vars, batched, strict=True))
        )
        self._dtypes = tuple(v.dtype for v in umodel.value_vars)
        self._fn = pytensor.function(batched, vectorised, on_unused_input="ignore", mode=mode)
        self._graph = (batched, vectorised, mode)
        self._row_data = _observation_data(umodel, vectorised)
        self._rows_fn = None
        self._rows_exact: bool | None = None  # checked against the full function once

    def __call__(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log-likelihood of every observation, shape ``(batch, n_observations)``.

        ``values`` maps each free variable name to an array with a leading batch
        axis (draws). Several observed variables are concatenated in model order.
        """
        args = self._arguments(values)
        return _joined(self._fn(*args), args)

    def _arguments(self, values: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        missing = [name for name in self.value_names if name not in values]
        if missing:
            raise ModelError(f"posterior draws lack the variables {missing}")
        return [
            np.ascontiguousarray(values[name], dtype=dtype)
            for name, dtype in zip(self.value_names, self._dtypes, strict=True)
        ]

    def rows(self, values: Mapping[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
        """``self(values)[:, rows]``, evaluating the observations ``rows`` only.

        For a model with one observed variable along one observation dimension, the
        function is compiled a second time with that dimension's data (the observed
        values, the indices and covariates per observation) as inputs, and given their
        ``rows``: every other observation's density, which held-out scoring discards,
        is not computed. The first call also evaluates every observation and keeps
        this path only if the two agree bit for bit (elementwise operations on the same
        numbers); otherwise, and for other models, it is ``self(values)[:, rows]``.
        """
        rows = np.asarray(rows, dtype=int)
        if self._row_data is None or self._rows_exact is False:
            return self(values)[:, rows]
        if self._rows_fn is None:
            self._rows_fn = self._compile_rows()
        args = self._arguments(values)
        data = [np.asarray(var.get_value(borrow=True))[rows] for var in self._row_data[1]]
        got = _joined(self._rows_fn(*args, *data), args)
        if self._rows_exact is None:
            full = self(values)[:, rows]
            self._rows_exact = (
                full.dtype == got.dtype
                and full.shape == got.shape
                and full.tobytes() == got.tobytes()
            )
            return full
        return got

    def _compile_rows(self):
        import pytensor
        import pytensor.tensor as pt
        from pytensor.graph.replace import graph_replace

        batched, vectorised, mode = self._graph
        length, data = self._row_data
        inputs = [
            pt.tensor(name=f"{var.name}_rows", dtype=var.dtype, shape=(None,)) for var in data
        ]
        replace: dict = dict(zip(data, inputs, strict=True))
        if length is not None:
            replace[length] = pt.cast(inputs[0].shape[0], length.dtype)
        outputs = graph_replace(vectorised, replace, strict=False)
        return pytensor.function([*batched, *inputs], outputs, on_unused_input="ignore", mode=mode)


def _joined(outs: Sequence[np.ndarray], args: Sequence[np.ndarray]) -> np.ndarray:
    """The observed variables' densities side by side, shape ``(batch, n_observations)``."""
    batch = args[0].shape[0] if args else 1
    return np.concatenate([np.reshape(o, (batch, -1)) for o in outs], axis=1)


def _observation_data(model, outputs) -> tuple | None:
    """``(length, data)``: the shared dimension length and the data along the observations.

    For a model with one observed variable along one dimension: that dimension's
    length variable (or None) and every shared variable of ``outputs`` declared along
    it. None when the model has another layout, or when a shared vector of the same
    length is not declared along it (it could be indexed by observation).
    """
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.traversal import ancestors

    if len(model.observed_RVs) != 1:
        return None
    dims = tuple(model.named_vars_to_dims.get(model.observed_RVs[0].name) or ())
    if len(dims) != 1:
        return None
    shared = {var.name: var for var in ancestors(outputs) if isinstance(var, SharedVariable)}
    data = [var for name, var in shared.items() if model.named_vars_to_dims.get(name) == dims]
    if not data:
        return None
    n_obs = np.shape(data[0].get_value(borrow=True))[0]
    for name, var in shared.items():
        value = var.get_value(borrow=True)
        if var in data or name == dims[0]:
            continue
        if np.ndim(value) >= 1 and np.shape(value)[0] == n_obs:
            return None
    if any(np.ndim(var.get_value(borrow=True)) != 1 for var in data):
        return None
    return shared.get(dims[0]), data


def stacked_draws(posterior, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Posterior variables as arrays with chain and draw flattened into one axis.

    Parameters
    ----------
    posterior : xarray.Dataset or DataTree node
        With ``chain`` and ``draw`` dimensions.
    names : sequence of str
        The variables to take.

    Returns
    -------
    dict of str to numpy.ndarray
        Each of shape ``(chain * draw, ...)``, chain-major (the order ArviZ uses).
    """
    out = {}
    for name in names:
        da = posterior[name]
        da = da.transpose("chain", "draw", ...)
        values = np.asarray(da.values)
        out[name] = values.reshape((-1,) + values.shape[2:])
    return out


def mother_rows(mother_of_obs: np.ndarray, n_mothers: int) -> list[np.ndarray]:
    """The observation indices of each mother, in mother order.

    Parameters
    ----------
    mother_of_obs : numpy.ndarray of int
        For each observation (flattened), its mother's index.
    n_mothers : int
        Number of mothers.

    Returns
    -------
    list of numpy.ndarray
        ``rows[i]`` holds the positions of mother i's observations.

    Raises
    ------
    ModelError
        If a mother has no observation: she could be neither left out nor predicted.
    """
    mother_of_obs = np.asarray(mother_of_obs).ravel()
    rows = [np.flatnonzero(mother_of_obs == i) for i in range(n_mothers)]
    empty = [i for i, r in enumerate(rows) if r.size == 0]
    if empty:
        raise ModelError(f"mothers {empty} have no observation in the likelihood")
    return rows
