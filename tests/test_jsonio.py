"""Tests of milkbayes.jsonio: the one JSON policy (NaN -> null, infinity -> "inf").

Expected values are written out by hand from the policy in the module docstring,
and every text is parsed back by the standard library with NaN and Infinity
tokens refused, so that the output is JSON that any other program reads.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from milkbayes.jsonio import dumps, from_json_number, to_jsonable


def strict_loads(text):
    """``json.loads`` that refuses NaN, Infinity and -Infinity (not JSON)."""

    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_nan_is_null_and_infinities_are_signed_strings():
    assert to_jsonable([math.nan, math.inf, -math.inf, 1.5]) == [None, "inf", "-inf", 1.5]
    assert strict_loads(dumps({"a": math.nan, "b": -math.inf})) == {"a": None, "b": "-inf"}


def test_numpy_scalars_become_python_numbers_of_the_right_type():
    converted = to_jsonable(
        {
            "i": np.int64(7),
            "u": np.uint8(255),
            "f32": np.float32(0.25),
            "f": np.float64(-2.5),
            "b": np.bool_(True),
            "nan": np.float64("nan"),
            "inf": np.float32("inf"),
        }
    )
    assert converted == {
        "i": 7,
        "u": 255,
        "f32": 0.25,
        "f": -2.5,
        "b": True,
        "nan": None,
        "inf": "inf",
    }
    assert type(converted["i"]) is int
    assert type(converted["f32"]) is float
    assert type(converted["b"]) is bool


def test_numpy_arrays_become_nested_lists_with_the_policy_inside():
    array = np.array([[1.0, np.nan], [np.inf, -np.inf]])
    assert to_jsonable({"m": array}) == {"m": [[1.0, None], ["inf", "-inf"]]}
    assert to_jsonable(np.arange(3)) == [0, 1, 2]


def test_keys_paths_tuples_and_booleans():
    assert to_jsonable({3: (Path("runs") / "a", True, None)}) == {"3": ["runs/a", True, None]}
    assert dumps(True, indent=None) == "true"  # a bool stays a bool, not 1


def test_dumps_keeps_unicode_and_options():
    assert dumps({"unit": "µl", "b": 1, "a": 2}, indent=None, sort_keys=True) == (
        '{"a": 2, "b": 1, "unit": "µl"}'
    )


@pytest.mark.parametrize(
    "value", [object(), {1, 2}, 1 + 2j, Decimal("1.5"), b"bytes"], ids=lambda v: type(v).__name__
)
def test_an_unknown_object_is_a_type_error_naming_its_type(value):
    with pytest.raises(TypeError, match=type(value).__name__):
        to_jsonable({"nested": [value]})
    with pytest.raises(TypeError):
        dumps(value)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_every_float_survives_the_round_trip(value):
    back = from_json_number(strict_loads(dumps({"x": value}))["x"])
    if math.isnan(value):
        assert math.isnan(back)
    else:
        assert back == value


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_integers_survive_the_round_trip_exactly(value):
    text = dumps(np.int64(value))
    assert strict_loads(text) == value
    assert from_json_number(strict_loads(text)) == float(value)


def test_from_json_number_reads_the_policy_back():
    assert math.isnan(from_json_number(None))
    assert from_json_number("inf") == math.inf
    assert from_json_number("-inf") == -math.inf
    assert from_json_number(3) == 3.0
    with pytest.raises(ValueError):
        from_json_number("many")
