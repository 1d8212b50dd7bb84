"""The forked helper of engine.forked_call: its value, or the caller's when it fails.

Each test checks where the value was computed (the helper's process id, or the
caller's) against what the function returns when called directly.
"""

from __future__ import annotations

import functools
import os
import sys
import time

import numpy as np
import pytest

from milkbayes.engine import forked_call
from milkbayes.engine.forked_call import ForkedCall

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the helper is forked on Linux only"
)


def _pid_and_square(x: float) -> tuple[int, float]:
    return os.getpid(), x * x


def test_value_comes_from_another_process():
    call = ForkedCall.start(functools.partial(_pid_and_square, 3.0))
    helper = call.pid
    pid, value = call.result()
    assert value == 9.0
    assert pid == helper != os.getpid()
    assert call.computed_by == "helper"
    assert call.pid is None  # reaped
    with pytest.raises(ChildProcessError):
        os.waitpid(helper, os.WNOHANG)


def _fails_in_a_helper(parent: int) -> int:
    if os.getpid() != parent:
        raise RuntimeError("only in the helper")
    return 42


def test_a_failing_helper_leaves_the_work_to_the_caller():
    call = ForkedCall.start(functools.partial(_fails_in_a_helper, os.getpid()))
    assert call.result() == 42
    assert call.computed_by == "caller"


def test_an_error_of_the_work_is_raised_in_the_caller():
    def broken() -> None:
        raise ValueError("bad input")

    call = ForkedCall.start(broken)
    with pytest.raises(ValueError, match="bad input"):
        call.result()


def _hangs_in_a_helper(parent: int) -> str:
    if os.getpid() != parent:
        time.sleep(600)
    return "here"


def test_a_helper_that_does_not_answer_is_ended(monkeypatch):
    monkeypatch.setattr(forked_call, "HELPER_PATIENCE_SECONDS", 0.5)
    call = ForkedCall.start(functools.partial(_hangs_in_a_helper, os.getpid()))
    helper = call.pid
    start = time.monotonic()
    assert call.result() == "here"
    assert time.monotonic() - start < 30
    assert call.computed_by == "caller"
    with pytest.raises(ChildProcessError):  # killed and reaped
        os.waitpid(helper, os.WNOHANG)


def test_the_helper_prints_nothing(capfd):
    def noisy() -> int:
        print("from the helper")
        print("from the helper", file=sys.stderr)
        return 1

    assert ForkedCall.start(noisy).result() == 1
    out, err = capfd.readouterr()
    assert "from the helper" not in out + err


def test_large_values_cross_intact():
    rng = np.random.default_rng(5)
    expected = rng.standard_normal((500, 1000))  # 4 MB: more than a pipe holds

    call = ForkedCall.start(lambda: expected)
    got = call.result()
    assert call.computed_by == "helper"
    assert got.tobytes() == expected.tobytes()


def _slow_pid() -> int:
    time.sleep(0.5)
    return os.getpid()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_copy_in_another_process_leaves_the_helper_alone():
    """A copy of the object in a later forked process leaves the helper alone.

    The reanalysis's worker inherits the object: its close must neither kill nor
    reap the helper of the process that started it.
    """
    import multiprocessing

    call = ForkedCall.start(_slow_pid)
    helper = call.pid
    copy_holder = multiprocessing.get_context("fork").Process(target=call.close)
    copy_holder.start()
    copy_holder.join()
    assert copy_holder.exitcode == 0
    assert call.result() == helper
    assert call.computed_by == "helper"


def _unpicklable_in_a_helper(parent: int):
    if os.getpid() != parent:
        return lambda: "made in the helper"  # a lambda cannot be pickled
    return "made in the caller"


def test_a_value_that_cannot_be_sent_is_computed_by_the_caller():
    call = ForkedCall.start(functools.partial(_unpicklable_in_a_helper, os.getpid()))
    assert call.result() == "made in the caller"
    assert call.computed_by == "caller"
