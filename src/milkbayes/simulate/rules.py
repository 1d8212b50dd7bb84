"""Vectorised decision rules for many simulated studies at once.

Each function takes an array of paired changes of shape ``(n_sims, n)`` and returns
one value per simulated study, so a design study of 100,000 datasets costs a few
array operations rather than 100,000 calls.

Examples
--------
>>> import numpy as np
>>> from scipy import stats
>>> d = np.random.default_rng(3).normal(0.5, 1.0, size=(5, 24))
>>> t, p = paired_t_many(d)
>>> reference = stats.ttest_1samp(d, 0.0, axis=1)
>>> bool(np.allclose(t, reference.statistic) and np.allclose(p, reference.pvalue))
True
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

DEFAULT_R = float(np.sqrt(2) / 2)
"""Default Cauchy scale of the JZS prior on the standardised effect (Morey & Rouder)."""

_LOG_G = np.linspace(-12.0, 22.0, 851)
"""Grid of log g for the JZS integral (see :func:`jzs_bf10_many`)."""


def wilcoxon_many(changes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""SPSS's asymptotic Wilcoxon signed-rank test on every row of ``changes``.

    A thin adapter over :func:`milkbayes.frequentist.wilcoxon_many` (the toolkit's one
    implementation) that returns plain float arrays for the design studies.

    Returns
    -------
    z, p : numpy.ndarray
        Z of the positive-rank sum and the two-sided p-value, one per row.

    Notes
    -----
    SPSS drops zero differences, ranks :math:`|d_i|` with average ranks for ties,
    and uses the normal approximation without continuity correction:

    .. math:: Z = \frac{T^+ - n(n+1)/4}
                {\sqrt{n(n+1)(2n+1)/24 - \sum_k (t_k^3 - t_k)/48}}

    where *n* counts the non-zero differences and :math:`t_k` are the tie-group
    sizes. Zeros take the lowest ranks of :math:`|d|`, so the rank of a non-zero
    difference among non-zeros is its rank among all minus the number of zeros;
    the tie term is :math:`\sum_i (t_i^2 - 1)` over elements, with
    :math:`t_i` = max rank - min rank + 1 (both from ``scipy.stats.rankdata``).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> d = np.array([[1.5, -0.5, 2.0, 2.0, 0.0, 3.0, -1.0, 4.0, 2.5, 1.0]])
    >>> z, p = wilcoxon_many(d)
    >>> ref = stats.wilcoxon(d[0], zero_method="wilcox", correction=False, method="approx")
    >>> bool(np.isclose(p[0], ref.pvalue))
    True
    """
    from milkbayes.frequentist import wilcoxon_many as shared

    z, p = shared(np.asarray(changes, dtype=float))
    return np.asarray(z, dtype=float), np.asarray(p, dtype=float)


def paired_t_many(changes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-sample t-test of mean change 0 on every row; returns t and two-sided p.

    Written out (rather than ``scipy.stats.ttest_1samp``) because it is the inner
    loop of every design study; the module example checks it against scipy.
    """
    d = np.atleast_2d(np.asarray(changes, dtype=float))
    n = d.shape[1]
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / np.sqrt(n))
    return t, 2 * stats.t.sf(np.abs(t), n - 1)


def jzs_bf10_many(t: np.ndarray, n: int, r: float = DEFAULT_R) -> np.ndarray:
    r"""JZS Bayes factor BF10 of a one-sample (paired) t statistic, without sampling.

    The default Bayesian t-test (Cauchy(0, r) prior on the standardised effect)
    has a closed form up to one integral over the Zellner-Siow variance ``g``, so a
    design study can use it for thousands of datasets without MCMC. The integral is
    done on a fixed grid in log g (trapezoid rule, in log space for overflow-free
    large BFs); the examples check it against ``scipy.integrate.quad``.

    Notes
    -----
    Rouder et al. (2009), eq. 1, with :math:`\nu = n - 1`:

    .. math::
        BF_{10} = \frac{\int_0^\infty (1 + n g r^2)^{-1/2}
            \left(1 + \frac{t^2}{(1 + n g r^2)\nu}\right)^{-(\nu+1)/2}
            (2\pi)^{-1/2} g^{-3/2} e^{-1/(2g)}\, dg}
            {(1 + t^2/\nu)^{-(\nu+1)/2}}

    References
    ----------
    Rouder, J. N., Speckman, P. L., Sun, D., Morey, R. D., & Iverson, G. (2009).
    Bayesian t tests for accepting and rejecting the null hypothesis. *Psychonomic
    Bulletin & Review*, 16(2), 225-237.

    Examples
    --------
    >>> from scipy import integrate
    >>> t, n, r = 2.5, 24, DEFAULT_R
    >>> nu = n - 1
    >>> f = lambda g: ((1 + n * g * r**2) ** -0.5
    ...     * (1 + t**2 / ((1 + n * g * r**2) * nu)) ** (-(nu + 1) / 2)
    ...     * (2 * np.pi) ** -0.5 * g ** -1.5 * np.exp(-1 / (2 * g)))
    >>> quad = integrate.quad(f, 0, np.inf)[0] / (1 + t**2 / nu) ** (-(nu + 1) / 2)
    >>> bool(np.isclose(jzs_bf10_many(np.array([t]), n)[0], quad, rtol=1e-6))
    True
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    nu = n - 1
    log_g = _LOG_G
    g = np.exp(log_g)
    scale = 1 + n * g * r**2
    log_prior = -0.5 * np.log(2 * np.pi) - 1.5 * log_g - 1 / (2 * g) + log_g  # + Jacobian
    out = np.empty_like(t)
    for start in range(0, t.size, 2048):  # bounded memory: 2048 x grid at a time
        block = t[start : start + 2048, None]
        log_f = -0.5 * np.log(scale) - (nu + 1) / 2 * np.log1p(block**2 / (scale * nu)) + log_prior
        step = log_g[1] - log_g[0]
        weights = np.full(log_g.size, np.log(step))
        weights[[0, -1]] -= np.log(2)
        log_integral = special.logsumexp(log_f + weights, axis=1)
        out[start : start + 2048] = np.exp(
            log_integral + (nu + 1) / 2 * np.log1p(block[:, 0] ** 2 / nu)
        )
    return out
