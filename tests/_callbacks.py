"""Calling a compiled nutpie model's C callback the way nutpie's sampler calls it.

Shared by the tests of the compile cache, the model records and the design data: each
checks the callback's log density and gradient against PyMC's own.
"""

from __future__ import annotations

import ctypes

import numpy as np


def callback_logp(compiled, point):
    """Call ``compiled``'s log-density callback at ``point``: (logp, gradient, status)."""
    x = np.ascontiguousarray(point, dtype=float)
    gradient, logp = np.zeros(len(x)), np.zeros(1)
    pointer = ctypes.POINTER(ctypes.c_double)
    status = compiled.compiled_logp_func.ctypes(
        len(x),
        x.ctypes.data_as(pointer),
        gradient.ctypes.data_as(pointer),
        logp.ctypes.data_as(pointer),
        compiled.user_data.ctypes.data,
    )
    return logp[0], gradient, status
