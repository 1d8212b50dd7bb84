"""A model's deterministics, computed after sampling for all draws at once.

nutpie stores only the free variables of each draw. The model's deterministics
(subgroup effects, each mother's effect, ...) are computed afterwards by one
vectorised function (:class:`Deterministics`): computed inside the sampler they
would cost every draw a call and make the compiled callback larger, which lengthens
both compilation and sampling (the figures are in ``benchmarks/``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    import xarray as xr

FORWARD_MODE = "FAST_COMPILE"
"""PyTensor mode of the functions compiled anew on every fit (deterministics, predictive).

A Python VM with NumPy kernels: no machine-code compilation, which would take
longer than the few calls these functions get, and the same values.
"""


class Deterministics:
    """A model's deterministics as one function of the free variables' draws.

    The graph of every ``pm.Deterministic`` is written in terms of the free random
    variables (on their constrained scale, as nutpie stores them) and the model's
    ``pm.Data``; each free variable is replaced by a tensor with a leading batch axis
    (:func:`pytensor.graph.replace.vectorize_graph`) and the result compiled once in
    :data:`FORWARD_MODE`, so that a single call covers all draws. Data enter with the
    values the PyMC model holds when the function is called, so call ``pm.set_data``
    first. ``pm.compute_deterministics`` gives the same values but loops over draws
    in Python.

    Parameters
    ----------
    model : pymc.Model
        The model whose deterministics are computed.

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
        outputs = _without_views(vectorize_graph(list(model.deterministics), replace=batched))
        self._fn = pytensor.function(
            list(batched.values()), outputs, mode=FORWARD_MODE, on_unused_input="ignore"
        )

    def add_to(self, posterior: xr.Dataset) -> xr.Dataset:
        """``posterior`` with the deterministics added.

        Parameters
        ----------
        posterior : xarray.Dataset
            Draws of every free variable, with dims ``chain``, ``draw``, ...

        Returns
        -------
        xarray.Dataset
        """
        if self._fn is None:
            return posterior
        chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
        flat = {}
        for name in self.inputs:
            values = np.asarray(posterior[name].transpose("chain", "draw", ...).values)
            flat[name] = values.reshape((chains * draws,) + values.shape[2:])
        new = {}
        for name, values in self.compute(flat).items():
            values = values.reshape((chains, draws) + values.shape[1:])
            dims = self.dims[name] or tuple(f"{name}_dim_{k}" for k in range(values.ndim - 2))
            new[name] = (("chain", "draw", *dims), values)
        return posterior.assign(new)

    def compute(self, draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The deterministics of a batch of draws.

        Parameters
        ----------
        draws : dict of str to numpy.ndarray
            Every free variable, with the draws along the first axis.

        Returns
        -------
        dict of str to numpy.ndarray
            Every deterministic, with the draws along the first axis.
        """
        if self._fn is None:
            return {}
        results = self._fn(*(np.asarray(draws[name]) for name in self.inputs))
        return {name: np.asarray(values) for name, values in zip(self.names, results, strict=True)}


def _without_views(outputs: list[Any]) -> list[Any]:
    """``outputs`` with every vectorised identity view replaced by a whole-array copy.

    A ``pm.Deterministic`` is a view (``ViewOp``) of its expression, and a
    deterministic used in another one keeps its view there. Vectorised over draws, a
    view becomes a
    ``Blockwise`` op that copies the batch into a new C-ordered array one draw at a
    time in Python, which was most of the time of :meth:`Deterministics.compute` on
    thousands of draws. ``DeepCopyOp`` copies it in one call into the same new
    C-ordered array (``ndarray.copy()``): the same values in the same memory layout,
    so the operations downstream (a reduction's order of summation depends on the
    layout) give the same bits.

    Examples
    --------
    >>> import pytensor.tensor as pt
    >>> from pytensor.compile.ops import ViewOp
    >>> x = pt.vector("x")
    >>> from pytensor.graph.replace import vectorize_graph
    >>> batch = pt.matrix("batch")
    >>> [view] = vectorize_graph([ViewOp()(2 * x)], replace={x: batch})
    >>> type(view.owner.op).__name__, type(_without_views([view])[0].owner.op).__name__
    ('Blockwise', 'DeepCopyOp')
    """
    from pytensor.compile.ops import DeepCopyOp, ViewOp
    from pytensor.graph.traversal import toposort
    from pytensor.tensor.blockwise import Blockwise

    rebuilt: dict[Any, Any] = {}  # variable -> its replacement
    for node in toposort(outputs):
        inputs = [rebuilt.get(var, var) for var in node.inputs]
        if isinstance(node.op, Blockwise) and isinstance(node.op.core_op, ViewOp):
            rebuilt[node.outputs[0]] = DeepCopyOp()(inputs[0])
        elif any(new is not old for new, old in zip(inputs, node.inputs, strict=True)):
            clone = node.clone_with_new_inputs(inputs, strict=False)
            rebuilt.update(zip(node.outputs, clone.outputs, strict=True))
    return [rebuilt.get(var, var) for var in outputs]
