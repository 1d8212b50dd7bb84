r"""JSON as milkbayes writes it: one policy for every ``--json``, run folder and summary.

JSON has no NaN and no infinity, and numpy's numbers are not JSON numbers. Every JSON
that milkbayes writes goes through :func:`to_jsonable`, so that other programs read
the same conventions everywhere:

- a NaN (a quantity that could not be computed, e.g. an interval limit the solver
  did not find) is written as ``null``;
- an infinity (a Bayes factor beyond the float range, a mean of values near 1e308)
  is written as the string ``"inf"`` or ``"-inf"``, which keeps its sign and says
  what happened, where ``null`` would not;
- numpy scalars and arrays become Python numbers and lists; paths become strings;
  mapping keys become strings.

Anything else that JSON cannot hold raises ``TypeError`` naming its type: a silent
``str()`` of an unknown object would hide a bug.

Examples
--------
>>> import numpy as np
>>> to_jsonable({"bf10": float("inf"), "ci": (np.float64(1.5), float("nan")), 3: np.int64(2)})
{'bf10': 'inf', 'ci': [1.5, None], '3': 2}
>>> dumps({"x": float("-inf")})
'{\n  "x": "-inf"\n}'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any


def to_jsonable(value: Any) -> Any:
    """``value`` with every part made JSON-safe by the policy of this module.

    Parameters
    ----------
    value : object
        Nested mappings, lists, tuples, numbers (Python or numpy), strings, booleans,
        ``None``, numpy arrays and paths.

    Returns
    -------
    object
        The same structure made of dicts, lists, ``str``, ``int``, ``float``, ``bool``
        and ``None`` only, with no NaN and no infinity.

    Raises
    ------
    TypeError
        For a value of another type.
    """
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy array or scalar
        return to_jsonable(value.tolist())
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return float(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def dumps(value: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """``value`` as JSON text under this module's policy (UTF-8, not ASCII-escaped).

    Examples
    --------
    >>> dumps([float("nan"), 1], indent=None)
    '[null, 1]'
    """
    return json.dumps(
        to_jsonable(value), indent=indent, sort_keys=sort_keys, allow_nan=False, ensure_ascii=False
    )


def from_json_number(value: Any) -> float:
    """Read back a number written by :func:`dumps` (``null`` and ``"inf"`` included).

    Examples
    --------
    >>> from_json_number("-inf"), from_json_number(None), from_json_number(2)
    (-inf, nan, 2.0)
    """
    if value is None:
        return math.nan
    if value in ("inf", "-inf"):
        return math.inf if value == "inf" else -math.inf
    return float(value)
