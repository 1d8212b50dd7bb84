"""The paired change ``post - pre``, validated and snapped so that decimal ties tie.

One owner for the number every analysis ranks or averages: the frequentist tests
(re-exported as ``milkbayes.frequentist.paired_change``), :attr:`Study.change
<milkbayes.data.study.Study.change>` and through it every model (the Bayesian
signed-rank model ranks the same ties as the Wilcoxon test). It lives in the data
layer because the models may import only ``data`` at module level.

Examples
--------
>>> paired_change([1.0, 2.0], [1.5, 1.0]).tolist()
[0.5, -1.0]
>>> paired_change([0.1, 0.3], [0.3, 0.5]).tolist()  # 0.3 - 0.1 != 0.5 - 0.3 unsnapped
[0.2, 0.2]
"""

from __future__ import annotations

import numpy as np

from milkbayes.errors import DataError

__all__ = ["paired_change"]


_SNAP_RELATIVE = 1e-12
"""Each change is rounded to the decimal place of this fraction of its own pair's magnitude.

``0.3 - 0.1`` and ``0.5 - 0.3`` differ in binary floating point; without snapping
they would get different ranks although they tie in the data as written (SciPy's
docstring warns about exactly this). 1e-12 is thousands of ulps and far below any
measurement precision.
"""


def _as_vector(values, column: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"values are not numbers ({error})", column=column) from None
    if array.ndim != 1:
        raise DataError(
            f"expected one value per participant, got an array of shape {array.shape}",
            column=column,
        )
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise DataError(
            f"value {array[bad[0]]!r} at position {bad[0] + 1} is not a finite number "
            f"({bad.size} such value(s)); nothing is dropped silently",
            column=column,
        )
    return array


def paired_change(pre, post) -> np.ndarray:
    """Return the change ``post - pre``, validated and snapped so that decimal ties tie.

    Parameters
    ----------
    pre, post : array_like of float
        One value per participant, in the same order.

    Returns
    -------
    numpy.ndarray
        ``post - pre``, each rounded to the decimal place of 1e-12 times the larger
        of its own ``|pre|`` and ``|post|``.

    Raises
    ------
    DataError
        If the lengths differ, a value is missing or infinite, there are no pairs,
        or a change ``post - pre`` overflows the float range (e.g. 1e308 - (-1e308));
        the message gives the participant row (1-based among the pairs).

    Notes
    -----
    Snapping makes ``0.5 - 0.3`` and ``0.3 - 0.1`` the same number, so that they
    share a rank as they do when the test is done by hand; it moves no change by
    more than 1e-12 of its pair's scale, i.e. it removes only floating-point noise
    of the subtraction. The scale is each pair's own, not the data's largest: a
    change of 1 between volumes 1 and 2 stays 1 beside volumes near 1e308 (with a
    common scale it would have been rounded to 0, silently). Pairs whose scale is
    below 1e-278 (a snapping quantum below 1e-290, e.g. subnormal numbers) are not
    snapped.

    Examples
    --------
    >>> paired_change([0.1, 0.3], [0.3, 0.5]).tolist()
    [0.2, 0.2]
    >>> (0.3 - 0.1) == (0.5 - 0.3)
    False
    >>> float(paired_change([1e300, 1.0], [3e300, 2.0])[1])  # not rounded to 0 beside 2e300
    1.0
    """
    pre_values, post_values = _as_vector(pre, "pre"), _as_vector(post, "post")
    if pre_values.shape != post_values.shape:
        raise DataError(
            f"pre has {pre_values.size} values but post has {post_values.size}; "
            "the test needs one pre and one post value per participant"
        )
    if pre_values.size == 0:
        raise DataError("no pairs: the test needs at least one participant")
    with np.errstate(over="ignore", invalid="ignore"):
        change = post_values - pre_values
    _refuse_overflow(change, pre_values, post_values)
    return _snap(change, scale=np.maximum(np.abs(pre_values), np.abs(post_values)))


def _refuse_overflow(change: np.ndarray, pre: np.ndarray, post: np.ndarray) -> None:
    # Refused rather than rescaled: a change beyond the float range has no value to
    # report (mean change, Hodges-Lehmann estimate), only an order, and silently
    # halving the data would change every number the user reads.
    overflow = np.flatnonzero(~np.isfinite(change))
    if overflow.size:
        first = int(overflow[0])
        raise DataError(
            f"the change post - pre of participant row {first + 1} ({float(post[first])!r} - "
            f"{float(pre[first])!r}) is beyond the float range (about 1.8e308); {overflow.size} "
            "change(s) overflow. Express the data in larger units"
        )


_SNAP_SMALLEST = 1e-290
"""Below this snapping quantum, changes are left as computed (no decimal rounding).

Decimal rounding to ``d`` places multiplies by 10**d, which overflows for d > 308;
at this scale (subnormal or nearly) binary differences are exact or as good as the
data, so ties are exact floating-point equality, as in SciPy.
"""


def _snap(change: np.ndarray, *, scale: np.ndarray) -> np.ndarray:
    quantum = scale * _SNAP_RELATIVE
    snapped = change.copy()
    rounded = quantum >= _SNAP_SMALLEST
    if not rounded.any():
        return snapped
    decimals = -np.floor(np.log10(quantum[rounded])).astype(np.int64)
    # decimal rounding (not a binary grid) so that 0.19999999999999998 becomes 0.2;
    # pairs of one order of magnitude share a decimal place, so a few rounds suffice
    positions = np.flatnonzero(rounded)
    for places in np.unique(decimals):
        at = positions[decimals == places]
        snapped[at] = np.round(change[at], int(places))
    return snapped
