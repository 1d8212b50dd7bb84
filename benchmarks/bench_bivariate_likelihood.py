r"""prepost_bivariate's likelihood written out against ``pm.MvNormal``: compile, gradient, draws.

Two forms of the same statistical model (``milkbayes.models.prepost_bivariate``):

* ``written_out``: the module as it is, each mother's pair as
  :math:`p(\mathrm{pre})\,p(\mathrm{post} \mid \mathrm{pre})` (a ``pm.CustomDist``,
  elementwise arithmetic);
* ``mvnormal``: the form it replaced, ``pm.MvNormal`` with the 2 x 2 Cholesky factor
  built from the sds and the correlation. It is rebuilt here by running the module's
  own ``build`` with ``pm.CustomDist`` swapped for :func:`mvnormal_likelihood`, which
  makes that ``MvNormal`` from the same arguments, so everything else in the graph is
  the module's.

Each run starts one fresh process per form (the forms interleaved), every cache
empty as in ``profile_reanalyze.py``'s cold runs (PyTensor's compile folder, numba's
and XDG caches in a new temporary folder). In it, on the bundled data:

1. *cold compile*: CPU and wall seconds of ``engine.cache.compiled_model`` (PyTensor
   builds the log density and its gradient, numba compiles them);
2. *gradient*: microseconds per call of the compiled log density with its gradient
   (nutpie's ``cfunc``, called from a numba loop, at every unconstrained coordinate
   0.1; the log density there is printed, and must agree between the forms);
3. *fit*: the engine's default fit (4 chains x (1,000 + 1,000), seed ``--seed + run``):
   the sampler's seconds and the whole ``fit()`` call (with the log-likelihood of
   every draw and the posterior predictive) in CPU seconds, the first in the process
   (its caches empty: what a cold reanalysis pays) and a second one (seed + 1,000);
4. *posterior*: each scalar parameter's posterior mean and its Monte Carlo standard
   error (ArviZ).

Then the medians over runs, and for each parameter the difference of the two forms'
means in units of the combined MCSE (:math:`\sqrt{\mathrm{mcse}_a^2 +
\mathrm{mcse}_b^2}`, the same seed in both; the draws differ because the two
compiled functions round differently, so the chains part after a few steps).

Prints ``RATIO mvnormal_over_written_out_cold_compile_cpu``,
``RATIO mvnormal_over_written_out_us_per_gradient``,
``RATIO mvnormal_over_written_out_fit_cpu`` and
``RATIO mvnormal_over_written_out_second_fit_cpu``. Run:
``.venv/bin/python benchmarks/bench_bivariate_likelihood.py [--runs 3] [--seed 1]``
(about 1.5 min per run on two idle cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FORMS = ("mvnormal", "written_out")
SCALARS = ("intercept", "effect", "sd_pre", "sd_post", "corr", "sd_ratio")


def mvnormal_likelihood(name, mean_pre, mean_post, sd, rho, *, observed, dims, **_):
    """``pm.MvNormal`` with the Cholesky factor of the module docstring's covariance."""
    import pymc as pm
    import pytensor.tensor as pt

    chol = pt.stack(
        [
            pt.stack([sd[0], pt.zeros(())]),
            pt.stack([rho * sd[1], sd[1] * pt.sqrt(1.0 - rho**2)]),
        ]
    )
    mean = pt.stack([mean_pre, mean_post], axis=1)
    return pm.MvNormal(name, mu=mean, chol=chol, observed=observed, dims=dims)


def gradient_timer(compiled):
    """``time(calls) -> microseconds per call`` and the log density at the point."""
    import numba

    func = compiled.compiled_logp_func
    x = np.full(compiled.n_dim, 0.1)
    grad, logp = np.zeros(compiled.n_dim), np.zeros(1)
    user_data = compiled.user_data.reshape(1).view(np.uint8)

    @numba.njit
    def loop(calls, x, grad, logp, user_data):
        n = np.uint64(x.size)
        sink = 0.0
        for _ in range(calls):
            func(n, x.ctypes, grad.ctypes, logp.ctypes, user_data.ctypes)
            sink += logp[0]
        return sink

    loop(10_000, x, grad, logp, user_data)

    def timed(calls):
        start = time.perf_counter()
        loop(calls, x, grad, logp, user_data)
        return (time.perf_counter() - start) / calls * 1e6

    return timed, float(logp[0])


def measure(form: str, seed: int, calls: int) -> dict:
    """One form, in this (fresh, cold) process: the figures listed in the module docstring."""
    import arviz as az
    import pymc as pm

    from milkbayes.datasets import load_bundled
    from milkbayes.engine import cache
    from milkbayes.engine.fit import fit
    from milkbayes.models import prepost_bivariate as module
    from milkbayes.models.priors import get_prior

    if form == "mvnormal":
        pm.CustomDist = mvnormal_likelihood
    study = load_bundled()
    inputs = module.inputs(study, "normal")
    prior = get_prior("neutral", study.outcome, module.NAME)
    cpu, wall = time.process_time(), time.perf_counter()
    entry, _ = cache.compiled_model(module, inputs, prior, "normal")
    out = {
        "form": form,
        "compile_cpu": time.process_time() - cpu,
        "compile_wall": time.perf_counter() - wall,
        "likelihood": type(entry.model["y_obs"].owner.op).__name__,
    }
    timed, out["logp_at_point"] = gradient_timer(entry.compiled)
    out["us_per_gradient"] = statistics.median(timed(calls) for _ in range(5))
    cpu = time.process_time()
    result = fit(module, study, seed=seed)
    out["fit_cpu"] = time.process_time() - cpu
    out["sampler_seconds"] = result.sampler_seconds
    cpu = time.process_time()
    fit(module, study, seed=seed + 1000)
    out["warm_fit_cpu"] = time.process_time() - cpu
    post = result.tree["posterior"].to_dataset()
    post["sd_pre"], post["sd_post"] = post["sd"].isel(time=0), post["sd"].isel(time=1)
    mean = post[list(SCALARS)].mean(("chain", "draw"))
    mcse = az.mcse(post[list(SCALARS)], method="mean")
    out["mean"] = {name: float(mean[name]) for name in SCALARS}
    out["mcse"] = {name: float(mcse[name]) for name in SCALARS}
    out["summary"] = {
        key: result.summary[key]
        for key in ("effect_median", "effect_ci95_low", "effect_ci95_high", "p_effect_gt_0")
    } | {f"{key}_median": result.summary[key]["median"] for key in ("sd_ratio", "corr")}
    return out


def cold_environment(root: Path) -> dict:
    """The environment of a cold run: every cache in a new, empty folder under ``root``."""
    env = dict(os.environ)
    flags = env.get("PYTENSOR_FLAGS", "")
    env["PYTENSOR_FLAGS"] = ",".join(filter(None, [flags, f"base_compiledir={root / 'pytensor'}"]))
    env["NUMBA_CACHE_DIR"] = str(root / "numba")
    env["XDG_CACHE_HOME"] = str(root / "xdg")
    env["PYTHONWARNINGS"] = "ignore"
    for sub in ("pytensor", "numba", "xdg"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return env


def run_cold(form: str, seed: int, calls: int) -> dict:
    """:func:`measure` in a fresh process with empty caches; its figures."""
    with tempfile.TemporaryDirectory(prefix="bench-bivariate-") as scratch:
        load = os.getloadavg()[0]
        done = subprocess.run(
            [sys.executable, __file__, "--measure", form, "--seed", str(seed)]
            + ["--calls", str(calls)],
            env=cold_environment(Path(scratch)),
            capture_output=True,
            text=True,
            check=True,
        )
    line = next(x for x in done.stdout.splitlines() if x.startswith("{"))
    return json.loads(line) | {"load": load}


def main(argv=None) -> int:
    """Interleaved cold runs of both forms, then medians, MCSE distances and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--measure", choices=FORMS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.seed, args.calls)))
        return 0
    import milkbayes

    print(f"milkbayes from {Path(milkbayes.__file__).parent}")
    results = {form: [] for form in FORMS}
    for run in range(args.runs):
        for form in FORMS:
            got = run_cold(form, args.seed + run, args.calls)
            results[form].append(got)
            print(
                f"run {run + 1} {form:<12} ({got['likelihood']}): load {got['load']:.1f}, "
                f"cold compile {got['compile_cpu']:.1f} s CPU ({got['compile_wall']:.1f} wall), "
                f"{got['us_per_gradient']:.2f} us/gradient, logp(0.1) {got['logp_at_point']:.10g}, "
                f"fit {got['fit_cpu']:.2f} s CPU (sampler {got['sampler_seconds']:.2f} s), "
                f"second fit {got['warm_fit_cpu']:.2f} s CPU",
                flush=True,
            )
    median = {
        form: {
            key: statistics.median(r[key] for r in rows)
            for key in (
                "compile_cpu",
                "us_per_gradient",
                "fit_cpu",
                "sampler_seconds",
                "warm_fit_cpu",
            )
        }
        for form, rows in results.items()
    }
    for form in FORMS:
        m = median[form]
        print(
            f"median {form:<12} cold compile {m['compile_cpu']:.1f} s CPU, "
            f"{m['us_per_gradient']:.2f} us/gradient, fit {m['fit_cpu']:.2f} s CPU, "
            f"sampler {m['sampler_seconds']:.2f} s, second fit {m['warm_fit_cpu']:.2f} s CPU"
        )
    print("posterior means, difference in combined MCSE (same seed per run):")
    for name in SCALARS:
        cells = []
        for a, b in zip(results["mvnormal"], results["written_out"], strict=True):
            z = (b["mean"][name] - a["mean"][name]) / np.hypot(a["mcse"][name], b["mcse"][name])
            cells.append(f"{a['mean'][name]:.3f} -> {b['mean'][name]:.3f} ({z:+.2f})")
        print(f"  {name:<10} " + "; ".join(cells))
    print("the model's summary (effect median and 95 % interval, sd ratio, correlation):")
    for form in FORMS:
        for got in results[form]:
            print(f"  {form:<12} " + ", ".join(f"{k} {v:.3f}" for k, v in got["summary"].items()))
    old, new = median["mvnormal"], median["written_out"]
    ratio = old["compile_cpu"] / new["compile_cpu"]
    print(f"RATIO mvnormal_over_written_out_cold_compile_cpu {ratio:.3f}")
    print(
        "RATIO mvnormal_over_written_out_us_per_gradient "
        f"{old['us_per_gradient'] / new['us_per_gradient']:.3f}"
    )
    print(f"RATIO mvnormal_over_written_out_fit_cpu {old['fit_cpu'] / new['fit_cpu']:.3f}")
    ratio = old["warm_fit_cpu"] / new["warm_fit_cpu"]
    print(f"RATIO mvnormal_over_written_out_second_fit_cpu {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
