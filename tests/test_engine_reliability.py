"""Reliability of the engine: reproducible draws, interrupts, an untrusted compile cache.

Each test compares with something independent of the code under test: the draws of
another process, PyMC's own log-density, the signal actually sent, and the exit
status the model-script contract promises.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import replace

import numpy as np
import pytest

from _callbacks import callback_logp
from milkbayes.engine import compile_cache

REPRODUCE = r"""
import json, sys
import numpy as np
from milkbayes.datasets import load_bundled
from milkbayes.engine import cache
from milkbayes.engine.fit import fit

result = fit("prepost_hierarchical", load_bundled(), draws=60, tune=60, chains=2,
             seed=20241, log_likelihood=False, posterior_predictive=False)
np.save(sys.argv[1], result.tree["posterior"]["effect"].values)
(entry,) = cache._CACHE.values()
print(json.dumps({"logp_hits": entry.compiled.compiled_logp_func._cache_hits,
                  "from_record": entry.compiled.logp_func is None}))
"""


def test_same_seed_same_draws_whether_the_compile_cache_is_empty_or_full(tmp_path):
    """Two processes share one compile directory, empty at first.

    The first compiles and fills it, the second loads everything from it; their draws
    must be bit-identical.
    """
    script = tmp_path / "child.py"
    script.write_text(REPRODUCE)
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path / 'compiledir'}"}
    hits, records = [], []
    for name in ("empty", "full"):
        done = subprocess.run(
            [sys.executable, str(script), str(tmp_path / f"{name}.npy")],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout.strip().splitlines()[-1])
        hits.append(report["logp_hits"])
        records.append(report["from_record"])
    assert hits == [0, 1]  # the first compiled, the second read the cache
    assert records == [False, True]  # ... and assembled the model from its record
    empty, full = np.load(tmp_path / "empty.npy"), np.load(tmp_path / "full.npy")
    assert empty.shape == (2, 60)
    np.testing.assert_array_equal(empty, full)


def test_an_interrupted_posterior_predictive_is_not_a_result(
    toy_model, toy_prior, small_study, monkeypatch
):
    """A SIGINT inside PyMC's posterior predictive loop must reach the caller.

    PyMC's ``sample_posterior_predictive`` catches KeyboardInterrupt and returns a
    partly filled buffer, which ``fit`` must not take for predictive draws.
    """
    import pymc.sampling.forward as forward

    from milkbayes.engine.fit import fit

    real = forward.create_simple_progress
    sent = []

    def progress_that_is_interrupted(*args, **kwargs):
        progress = real(*args, **kwargs)
        advance = progress.advance

        def interrupted_advance(*a, **k):
            if len(sent) == 0:
                sent.append(signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the draws
            return advance(*a, **k)

        progress.advance = interrupted_advance
        return progress

    monkeypatch.setattr(forward, "create_simple_progress", progress_that_is_interrupted)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        fit(toy_model, small_study, prior=toy_prior, seed=1, draws=50, tune=50, chains=1)
    assert sent == [signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is handler  # restored


def test_sigterm_swallowed_inside_the_block_is_raised_at_its_end():
    from milkbayes.engine.sampling import interrupts_reraised

    handler = signal.getsignal(signal.SIGTERM)
    reached_the_end = []
    with pytest.raises(KeyboardInterrupt, match="signal 15"):
        with interrupts_reraised():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
            except KeyboardInterrupt:
                pass  # as PyMC does
            reached_the_end.append(True)
    assert reached_the_end == [True]
    assert signal.getsignal(signal.SIGTERM) is handler


# ----------------------------------------------------------------------------- compile cache
def _unique_model():
    """A model whose frozen constant no other run used: its callbacks are new entries."""
    import pymc as pm
    from pymc.model.transform.optimization import freeze_dims_and_data

    shift = 1.0 + (uuid.uuid4().int % 10**9) / 10**9
    with pm.Model() as model:
        y = pm.Data("y", np.array([1.0, 2.5, 0.5, 3.0]))
        design = pm.Data("design", np.array([0.0, 1.0, 0.0, 1.0]) * shift)
        mu = pm.Normal("mu", 0, 10)
        sigma = pm.HalfNormal("sigma", 2)
        pm.Normal("obs", mu + design, sigma, observed=y)
    return model, freeze_dims_and_data(model, data=["design"])


def test_a_truncated_or_empty_cache_entry_is_recompiled_not_fatal(monkeypatch, capsys):
    from pytensor.link.numba.cache import NUMBA_CACHE_PATH

    keys = []
    real_key = compile_cache.callback_cache_key

    def recorded_key(*args, **kwargs):
        keys.append(real_key(*args, **kwargs))
        return keys[-1]

    monkeypatch.setattr(compile_cache, "callback_cache_key", recorded_key)
    monkeypatch.setattr(compile_cache, "_SAID", set())
    model, frozen = _unique_model()
    first = compile_cache.compile_pymc_model(frozen)
    assert first.compiled_logp_func._cache_hits == 0
    logp_key = keys[0]
    files = sorted(NUMBA_CACHE_PATH.glob(f"*.logp_callback-{logp_key}.*"))
    assert {path.suffix for path in files} == {".nbi", ".nbc"}
    for path in files:  # a killed writer, a full disk
        if path.suffix == ".nbi":
            path.write_bytes(b"")
        else:
            path.write_bytes(path.read_bytes()[:100])

    again = compile_cache.compile_pymc_model(frozen)
    assert "failed its check; recompiling" in capsys.readouterr().err
    values = {"mu": 0.3, "sigma_log__": -0.2}
    point = [values[name] for name in again.shape_info[0][:2]]
    logp, _, status = callback_logp(again, point)
    assert status == 0
    assert logp == pytest.approx(float(model.compile_logp()(values)), rel=1e-12)
    # the rewritten entry verifies: the next compile reads it back
    assert compile_cache.compile_pymc_model(frozen).compiled_logp_func._cache_hits == 1


def test_only_a_private_folder_and_key_are_trusted(tmp_path):
    folder = tmp_path / "numba"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    assert compile_cache._trusted_folder(folder)
    folder.chmod(0o777)  # anyone could plant an entry
    assert not compile_cache._trusted_folder(folder)
    secret = compile_cache._secret(tmp_path)
    key_file = tmp_path / compile_cache.KEY_FILE_NAME
    assert secret is not None and len(secret) == 32 and key_file.read_bytes() == secret
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert compile_cache._secret(tmp_path) == secret  # the same key next time
    key_file.chmod(0o644)  # readable by others: an attacker could forge HMACs
    assert compile_cache._secret(tmp_path) is None


# ----------------------------------------------------------------------------- model scripts
def test_model_script_fits_and_prints_the_summary(capsys):
    from milkbayes.engine.script import run_model_script
    from milkbayes.models import paired_change

    code = run_model_script(paired_change, ["--seed", "2"])  # the script's 4 x 1000 draws
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "effect_median:" in out and "p_effect_gt_0:" in out
    assert "diagnostic rhat: pass" in out


def test_model_script_exits_3_when_a_convergence_check_fails(capsys, monkeypatch):
    from milkbayes import diagnostics
    from milkbayes.engine.script import run_model_script
    from milkbayes.errors import EXIT_DIAGNOSTICS_FAILED
    from milkbayes.models import paired_change

    real = diagnostics.convergence_report

    def failing_report(tree):
        report = real(tree)
        failed = replace(report.rows[0], status="fail", detail="forced by the test")
        return replace(report, rows=(failed, *report.rows[1:]))

    monkeypatch.setattr(diagnostics, "convergence_report", failing_report)
    code = run_model_script(
        paired_change, ["--draws", "100", "--tune", "100", "--chains", "2", "--seed", "2"]
    )
    out, err = capsys.readouterr()
    assert EXIT_DIAGNOSTICS_FAILED == 3 and code == 3
    assert "forced by the test" in out and "convergence check failed" in err
