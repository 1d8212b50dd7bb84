"""Numerical integration for held-out mothers: log-mean-exp and Gauss-Hermite quadrature.

NumPy functions on arrays, used by :func:`milkbayes.comparison.lomo.lomo_cv` to
average densities over posterior draws and to integrate a held-out mother's own
intercept out of her likelihood (see :mod:`milkbayes.comparison` for the maths).

Examples
--------
>>> import numpy as np
>>> bool(np.isclose(log_mean_exp(np.log([1.0, 3.0])), np.log(2.0)))
True
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

__all__ = [
    "DEFAULT_QUADRATURE_NODES",
    "gauss_hermite_normal",
    "log_mean_exp",
    "marginalise_intercept",
]

DEFAULT_QUADRATURE_NODES = 20
"""Gauss-Hermite nodes used to integrate a held-out mother's intercept."""


# --------------------------------------------------------------------------- arrays
def log_mean_exp(log_values: np.ndarray, axis: int = -1) -> np.ndarray:
    r"""Log of the mean of ``exp(log_values)`` along ``axis``, without overflow.

    Parameters
    ----------
    log_values : ndarray
        Log densities, e.g. one per posterior draw.
    axis : int
        Axis holding the draws.

    Returns
    -------
    ndarray
        :math:`\log \frac1S \sum_s e^{x_s}`.

    Examples
    --------
    >>> import numpy as np
    >>> bool(np.isclose(log_mean_exp(np.log([1.0, 3.0])), np.log(2.0)))
    True
    >>> float(log_mean_exp(np.array([-1000.0, -1000.0])))
    -1000.0
    """
    log_values = np.asarray(log_values, dtype=float)
    return logsumexp(log_values, axis=axis) - math.log(log_values.shape[axis])


def gauss_hermite_normal(n_nodes: int = DEFAULT_QUADRATURE_NODES) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and log weights that integrate against a standard normal density.

    Parameters
    ----------
    n_nodes : int
        Number of nodes.

    Returns
    -------
    nodes, log_weights : ndarray
        :math:`\int f(z)\phi(z)dz \approx \sum_k e^{\text{log\_weights}_k} f(\text{nodes}_k)`.

    Notes
    -----
    From physicists' Gauss-Hermite nodes :math:`x_k`, weights :math:`w_k`
    (:func:`numpy.polynomial.hermite.hermgauss`): :math:`z_k = \sqrt2 x_k`,
    weight :math:`w_k/\sqrt\pi`.

    Examples
    --------
    >>> import numpy as np
    >>> z, lw = gauss_hermite_normal(10)
    >>> round(float(np.exp(lw).sum()), 12), round(float((np.exp(lw) * z**2).sum()), 12)
    (1.0, 1.0)
    """
    if n_nodes < 1:
        raise ValueError(f"n_nodes must be >= 1, got {n_nodes}")
    x, w = np.polynomial.hermite.hermgauss(n_nodes)
    return math.sqrt(2.0) * x, np.log(w) - 0.5 * math.log(math.pi)


def marginalise_intercept(loglik_at_nodes: np.ndarray, log_weights: np.ndarray) -> np.ndarray:
    r"""Integrate a held-out mother's intercept out of her log-likelihood, per draw.

    Parameters
    ----------
    loglik_at_nodes : ndarray, shape (n_nodes, n_draws)
        :math:`\log p(y_i \mid z = z_k, \theta_s)`, summed over her observations.
    log_weights : ndarray, shape (n_nodes,)
        From :func:`gauss_hermite_normal`.

    Returns
    -------
    ndarray, shape (n_draws,)
        :math:`\log \sum_k w_k\, p(y_i \mid z_k, \theta_s)`.

    Examples
    --------
    A normal observation y with mean z, z ~ N(0, 1): the marginal is N(0, sqrt(2)).

    >>> import numpy as np
    >>> from scipy import stats
    >>> z, lw = gauss_hermite_normal(40)
    >>> y = 0.7
    >>> ll = stats.norm.logpdf(y, loc=z)[:, None]
    >>> bool(np.isclose(marginalise_intercept(ll, lw)[0], stats.norm.logpdf(y, 0, np.sqrt(2))))
    True
    """
    return logsumexp(np.asarray(loglik_at_nodes) + np.asarray(log_weights)[:, None], axis=0)
