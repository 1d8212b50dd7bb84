"""Shared input handling of the frequentist tests: the validated, snapped paired change.

The change itself is owned by :mod:`milkbayes.data.change` (one snapping for the
tests and the models); it is re-exported here.

Every test in :mod:`milkbayes.frequentist` works on the change ``post - pre`` made
here by :func:`paired_change` (re-exported as ``milkbayes.frequentist.paired_change``),
so that all of them see the same numbers, refuse the same bad input with the same
message, and treat decimal ties alike. The option checks and the exact power-of-two
rescaling used by the t-test and the Hodges-Lehmann estimate live here too.

Examples
--------
>>> paired_change([1.0, 2.0], [1.5, 1.0]).tolist()
[0.5, -1.0]
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from milkbayes.data.change import paired_change
from milkbayes.errors import FrequentistOptionError

__all__ = [
    "ALTERNATIVES",
    "Alternative",
    "check_choice",
    "check_confidence",
    "paired_change",
    "power_of_two_scaled",
]

Alternative = Literal["two-sided", "greater", "less"]

ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater", "less")
"""Alternatives; ``"greater"`` means post > pre (the change post - pre is positive)."""


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``allowed``.

    Parameters
    ----------
    name : str
        The option's name, for the message.
    value : str
        The value given.
    allowed : tuple of str
        The values the option accepts.

    Returns
    -------
    str
        ``value`` unchanged.

    Raises
    ------
    FrequentistOptionError
        Naming the option and every allowed value.

    Examples
    --------
    >>> check_choice("alternative", "less", ALTERNATIVES)
    'less'
    """
    if value not in allowed:
        raise FrequentistOptionError(
            f"{name}={value!r} is not allowed; choose one of {', '.join(allowed)}"
        )
    return value


def check_confidence(confidence: float) -> float:
    """Return ``confidence`` as a float after checking that it lies in (0, 1).

    Parameters
    ----------
    confidence : float
        A two-sided confidence level.

    Returns
    -------
    float

    Raises
    ------
    FrequentistOptionError
        For 0, 1, values outside, NaN and non-numbers.

    Examples
    --------
    >>> check_confidence(0.95)
    0.95
    """
    if not (isinstance(confidence, (int, float)) and 0.0 < float(confidence) < 1.0):
        raise FrequentistOptionError(f"confidence={confidence!r} must lie strictly between 0 and 1")
    return float(confidence)


def power_of_two_scaled(values: np.ndarray) -> tuple[np.ndarray, int]:
    """``values * 2**-e`` with every magnitude below 1, and ``e``: exact, so order and ties stay.

    Parameters
    ----------
    values : numpy.ndarray
        Finite numbers.

    Returns
    -------
    scaled : numpy.ndarray
        ``values`` times an exact power of two, every magnitude in [0, 1).
    exponent : int
        ``e``; ``numpy.ldexp(scaled, e)`` gives ``values`` back exactly.

    Notes
    -----
    Walsh sums x_i + x_j of the scaled values cannot overflow, squares of huge
    changes stay finite, and subnormal data are lifted into the normal range where
    halving is exact.

    Examples
    --------
    >>> scaled, exponent = power_of_two_scaled(np.array([3.0, -1.0]))
    >>> scaled.tolist(), exponent
    ([0.75, -0.25], 2)
    """
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    if largest == 0.0:
        return values, 0
    exponent = int(np.frexp(largest)[1])
    return np.ldexp(values, -exponent), exponent
