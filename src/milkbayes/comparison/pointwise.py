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

    def __call__(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log-likelihood of every observation, shape ``(batch, n_observations)``.

        ``values`` maps each free variable name to an array with a leading batch
        axis (draws). Several observed variables are concatenated in model order.
        """
        missing = [name for name in self.value_names if name not in values]
        if missing:
            raise ModelError(f"posterior draws lack the variables {missing}")
        args = [
            np.ascontiguousarray(values[name], dtype=dtype)
            for name, dtype in zip(self.value_names, self._dtypes, strict=True)
        ]
        outs = self._fn(*args)
        batch = args[0].shape[0] if args else 1
        return np.concatenate([np.reshape(o, (batch, -1)) for o in outs], axis=1)


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
