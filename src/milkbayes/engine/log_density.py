r"""Pointwise log-likelihood and log-prior of every posterior draw, in one call.

``pm.compute_log_likelihood`` and ``pm.stats.compute_log_prior`` compile the
elementwise log-density of the model and call it once per posterior draw, in a
Python loop: 8,000 calls for the flagship's 4 x 2,000 draws, which with the compile
was about a second of every ``milkbayes fit``. :func:`log_density` computes the same
quantities with the same graph, batched over the draws
(:func:`pytensor.graph.replace.vectorize_graph`: each free variable's value becomes
a tensor with a leading axis of draws) and compiled in
:data:`~milkbayes.engine.deterministics.FORWARD_MODE`, so that one call covers
every draw; the group is laid out as PyMC lays it out (its
``coords_and_dims_for_inferencedata`` and ``dict_to_dataset``).

Notes
-----
For draw :math:`s` with free variables :math:`\theta^{(s)}` (on their constrained
scale, as nutpie stores them) the log-likelihood of observation :math:`i` is
:math:`\log p(y_i \mid \theta^{(s)})` and the log-prior of free variable :math:`k`
is :math:`\log p(\theta_k^{(s)} \mid \theta_{\mathrm{pa}(k)}^{(s)})`, elementwise and
without the Jacobian of any transform, as PyMC computes them (its
``remove_value_transforms``). The kernels are NumPy's where PyMC's default mode
compiles numba's, so values agree to rounding (``tests/test_log_density.py``
checks a relative difference below 1e-12 against PyMC's own functions); any graph
that cannot be batched, or whose batched form would loop over the draws in Python
(:func:`_loops_in_python`), falls back to PyMC's loop.

Examples
--------
>>> import numpy as np, pymc as pm, xarray as xr
>>> with pm.Model() as m:
...     mu = pm.Normal("mu")
...     _ = pm.Normal("y", mu, 1.0, observed=[0.0, 1.0])
>>> posterior = xr.Dataset({"mu": (("chain", "draw"), [[0.0, 1.0]])})
>>> tree = xr.DataTree.from_dict({"posterior": posterior})
>>> values = log_density(tree, m, "likelihood")["y"].values
>>> bool(np.allclose(values[0, 0], -0.5 * np.log(2 * np.pi) - np.array([0.0, 0.5])))
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from milkbayes.engine.deterministics import FORWARD_MODE

if TYPE_CHECKING:  # pragma: no cover - typing only
    import xarray as xr


def log_density(
    tree: xr.DataTree,
    model: Any,
    kind: Literal["likelihood", "prior"],
    *,
    prepared: LogDensityFunction | None = None,
) -> xr.Dataset:
    """The ``log_likelihood`` or ``log_prior`` group of ``tree``'s posterior draws.

    The values of ``pm.compute_log_likelihood(tree, model=model)`` (``kind=
    "likelihood"``) or ``pm.stats.compute_log_prior(tree, model=model)`` (``"prior"``),
    to rounding, computed for every draw at once.

    Parameters
    ----------
    tree : xarray.DataTree
        With a ``posterior`` group holding every free variable of ``model``.
    model : pymc.Model
        Holding the data of the fit (``pm.set_data`` done).
    kind : {"likelihood", "prior"}
        Observed variables (likelihood) or free variables (prior).
    prepared : LogDensityFunction, optional
        :func:`prepare_log_density`'s function of the same ``model`` and ``kind``,
        compiled ahead (e.g. while the chains run); compiled here otherwise.

    Returns
    -------
    xarray.Dataset
        One variable per observed (free) variable, dims ``chain``, ``draw`` and the
        variable's own.
    """
    try:
        function = prepared if prepared is not None else LogDensityFunction(model, kind)
        return function(tree)
    except KeyboardInterrupt:
        raise
    except Exception:  # noqa: BLE001 - PyMC's own loop computes the same values
        return _looped(tree, model, kind)


def prepare_log_density(model: Any, kind: str | tuple[str, ...]) -> LogDensityFunction | None:
    """The batched function of :func:`log_density`, compiled before the draws exist.

    The graph and its compilation depend on the model alone, not on the draws, so
    they can be done while the sampler runs. None when the model cannot be batched
    (:func:`log_density` then runs PyMC's loop).

    Parameters
    ----------
    model : pymc.Model
    kind : {"likelihood", "prior"} or tuple of them
        Several kinds share one compiled function (one copy of the model without
        transforms, one compilation), evaluated by :meth:`LogDensityFunction.groups`.

    Returns
    -------
    LogDensityFunction or None
    """
    try:
        return LogDensityFunction(model, kind)
    except KeyboardInterrupt:
        raise
    except Exception:  # noqa: BLE001 - log_density falls back to PyMC's loop
        return None


def _looped(tree: xr.DataTree, model: Any, kind: str) -> xr.Dataset:
    """PyMC's function: one call of the compiled log-density per draw."""
    from pymc.stats.log_density import compute_log_density

    from milkbayes.engine.predictive import _quiet_pymc

    with _quiet_pymc():
        return compute_log_density(
            tree, model=model, kind=kind, progressbar=False, extend_inferencedata=False
        )


class _NotBatched(Exception):
    """The batched function would be slower than PyMC's loop."""


def _loops_in_python(op: Any) -> bool:
    """True for an operation that :data:`FORWARD_MODE` runs once per draw in Python.

    A ``Blockwise`` (an operation batched by broadcasting its core over the leading
    axes, e.g. ``signed_rank``'s ``LogAddExp``) or a ``Scan`` costs a Python call per
    draw, slower than PyMC's loop over one compiled function. A batched identity
    (``pm.Deterministic``'s ``ViewOp`` wrapper) costs a trivial call and is allowed.
    """
    from pytensor.compile.ops import ViewOp
    from pytensor.scan.op import Scan
    from pytensor.tensor.blockwise import Blockwise

    if isinstance(op, Blockwise):
        return not isinstance(op.core_op, ViewOp)
    return isinstance(op, Scan)


class LogDensityFunction:
    """PyMC's elementwise log-density graph, batched over the draws and compiled once.

    Calling it with a tree computes :func:`log_density`'s group (one kind);
    :meth:`groups` gives every kind it was built for. The model's data enter with
    the values it holds at the call.

    Parameters
    ----------
    model : pymc.Model
    kind : {"likelihood", "prior"} or tuple of them

    Raises
    ------
    _NotBatched
        When the batched graph would loop over the draws in Python.
    """

    def __init__(self, model: Any, kind: str | tuple[str, ...]):
        import pytensor
        import pytensor.tensor as pt
        from pymc.model.transform.conditioning import remove_value_transforms
        from pytensor.graph.replace import vectorize_graph

        self.kinds = (kind,) if isinstance(kind, str) else tuple(kind)
        umodel = remove_value_transforms(model)
        self.targets = {
            kind: [
                rv.name for rv in (umodel.observed_RVs if kind == "likelihood" else umodel.free_RVs)
            ]
            for kind in self.kinds
        }
        targets = [umodel[name] for kind in self.kinds for name in self.targets[kind]]
        self.outputs = umodel.logp(vars=targets, sum=False)
        self.umodel = umodel
        self.values = []
        batched = {}
        for rv in umodel.free_RVs:
            value = umodel.rvs_to_values[rv]
            batched[value] = pt.tensor(
                name=f"{value.name}_draws",
                dtype=value.type.dtype,
                shape=(None,) * (value.ndim + 1),
            )
            self.values.append((rv.name, value.type.dtype))
        self.function = pytensor.function(
            list(batched.values()),
            vectorize_graph(self.outputs, replace=batched),
            mode=FORWARD_MODE,
            on_unused_input="ignore",
        )
        if any(_loops_in_python(node.op) for node in self.function.maker.fgraph.apply_nodes):
            raise _NotBatched("a batched node would loop over the draws in Python")

    def __call__(self, tree: xr.DataTree) -> xr.Dataset:
        """The group of ``tree``'s posterior draws (a function built for one kind)."""
        if len(self.kinds) != 1:
            raise ValueError(f"built for {self.kinds}: call groups()")
        return self.groups(tree)[self.kinds[0]]

    def groups(self, tree: xr.DataTree) -> dict[str, xr.Dataset]:
        """Every kind's group of ``tree``'s posterior draws, from one call."""
        import pymc
        from pymc.backends.arviz import coords_and_dims_for_inferencedata, dict_to_dataset

        posterior = tree["posterior"].to_dataset()
        chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
        arrays = []
        for name, dtype in self.values:
            values = np.asarray(posterior[name].transpose("chain", "draw", ...).values, dtype=dtype)
            arrays.append(values.reshape((chains * draws, *values.shape[2:])))
        results = iter(zip(self.outputs, self.function(*arrays), strict=True))
        coords, dims = coords_and_dims_for_inferencedata(self.umodel)
        stacked = {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
        out = {}
        for kind in self.kinds:
            trace = {}
            for name in self.targets[kind]:
                output, value = next(results)
                value = np.asarray(value)
                if value.ndim == output.ndim:  # a term that no free variable enters
                    value = np.broadcast_to(value, (chains * draws, *value.shape))
                if value.shape[0] != chains * draws:
                    raise ValueError(f"the batched log-density of {name} does not cover every draw")
                trace[name] = value.reshape((chains, draws, *value.shape[1:]))
            out[kind] = dict_to_dataset(
                trace,
                inference_library=pymc,
                dims=dims,
                coords={**coords, **stacked},
                sample_dims=["chain", "draw"],
                skip_event_dims=True,
            )
        return out
