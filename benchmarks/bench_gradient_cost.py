"""The cost of one log-density gradient of the marginal flagship: nutpie's against Stan's.

``bench_marginal.py`` measures each sampler's time per gradient *inside* its sampler
(the model's gradient plus the sampler's own work per leapfrog step, and for Stan the
output of each draw). This script isolates the model's part, the same function in
both, in a tight loop on one core:

* **nutpie**: the numba ``cfunc`` that milkbayes's compile cache builds for the
  marginal PyMC model (``bench_marginal.marginal_model``), log density and gradient
  on the unconstrained space, called from a numba loop (no Python per call);
* **Stan**: ``stan::model::log_prob_grad<true, true>`` (``propto``, with the
  Jacobian: what Stan's NUTS calls) of ``prepost_marginal.stan``, in a small C++
  program built with httpstan's ``stanc``, headers and flags
  (:data:`stan_native.GRADIENT`) that reads the data from JSON and calls it in a loop.

Both at the same point (every unconstrained coordinate 0.1), the loops interleaved
(nutpie, Stan, nutpie, ...); per-call microseconds of each repetition, and their
medians. Then the same inside each sampler: one chain (1,000 warm-up + 1,000 draws)
at a time, each seed by both samplers in turn, chain time over gradient evaluations
as ``bench_marginal.py`` computes them; the difference from the model's gradient is
the sampler's own work per leapfrog step (and, for Stan, the output of each draw:
Stan's warm-up, which writes no draw, is timed too, by :func:`stan_warmup_cost`, and
Stan's sampler called from C++ with the draws kept in memory,
``bench_marginal.setup_stan_native``).
The whole process, httpstan's chain processes included, runs on one CPU (the last),
so neither sampler shares a core with its own other chain.

The C++ program is built once (about a minute) into
``$XDG_CACHE_HOME/milkbayes-bench`` (:func:`stan_native.build`).

Prints ``RATIO stan_over_nutpie_us_per_model_gradient``,
``RATIO stan_over_nutpie_us_per_gradient_in_sampler``,
``RATIO stan_warmup_over_nutpie_us_per_gradient_in_sampler`` and
``RATIO stan_native_over_nutpie_us_per_gradient_in_sampler``. Run:
``.venv/bin/python benchmarks/bench_gradient_cost.py [--repeats 5] [--calls 200000]``
(needs the ``bench`` extra, pystan/httpstan, and a C++ compiler).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_marginal as marginal  # noqa: E402 - the marginal model, its data
import bench_samplers as flagship  # noqa: E402 - the flagship's inputs
import stan_native  # noqa: E402 - Stan's C++ programs


def build_stan_harness(data: dict) -> tuple[Path, Path]:
    """The compiled gradient-timing program and the JSON data file next to it."""
    binary = stan_native.build(marginal.STAN_FILE, stan_native.GRADIENT)
    return binary, stan_native.write_data(binary.parent, data)


def nutpie_timer(inputs, hyper):
    """``time(calls) -> microseconds per call`` of the compiled log density and gradient."""
    import numba

    from milkbayes.engine.compile_cache import compile_pymc_model

    compiled = compile_pymc_model(
        marginal.marginal_model(inputs, hyper), var_names=list(marginal.FREE)
    )
    func = compiled.compiled_logp_func
    x = np.full(compiled.n_dim, 0.1)
    grad, logp = np.zeros(compiled.n_dim), np.zeros(1)
    user_data = compiled.user_data.reshape(1).view(np.uint8)  # the same memory, as bytes

    @numba.njit
    def loop(calls, x, grad, logp, user_data):
        n = np.uint64(x.size)
        sink = 0.0
        for _ in range(calls):
            func(n, x.ctypes, grad.ctypes, logp.ctypes, user_data.ctypes)
            sink += logp[0]
        return sink

    loop(10_000, x, grad, logp, user_data)  # compile, warm up

    def timed(calls):
        start = time.perf_counter()
        loop(calls, x, grad, logp, user_data)
        return (time.perf_counter() - start) / calls * 1e6

    return timed, compiled.n_dim


def stan_warmup_cost(inputs, hyper, target_accept):
    """``measure(seed) -> microseconds per gradient of Stan's warm-up, no draw written``.

    httpstan writes every kept draw as a JSON message to a socket from inside the
    chain, on Stan's clock; warm-up draws are not written unless kept. The same seed
    run twice makes the same trajectory (writing consumes no random numbers): once
    keeping the warm-up, to count its leapfrog steps, once not, to time it.
    """
    import stan

    flagship.without_client_timeout()
    data = marginal.marginal_stan_data(inputs, hyper)
    program = marginal.STAN_FILE.read_text()

    def run(seed, keep):
        posterior = stan.build(program, data=data, random_seed=seed)
        marginal.empty_fit_cache(posterior.model_name)
        return posterior.sample(
            num_chains=1,
            num_samples=1000,
            num_warmup=1000,
            delta=target_accept,
            save_warmup=keep,
        )

    def measure(seed):
        kept = run(seed, True)
        steps = int(np.asarray(kept["n_leapfrog__"]).ravel()[:1000].sum())  # warm-up rows first
        timed = run(seed, False)
        seconds = marginal.stan_elapsed(timed.stan_outputs[0])["Warm-up"]
        return 1e6 * seconds / steps

    return measure


def in_sampler(inputs, hyper, seeds, target_accept) -> dict[str, list[float]]:
    """Microseconds per gradient inside each sampler, one chain at a time."""
    settings = argparse.Namespace(chains=1, draws=1000, target_accept=target_accept)
    nutpie = marginal.setup_nutpie_marginal(inputs, hyper, settings)
    stan = marginal.setup_stan_marginal(inputs, hyper, settings)
    stan_warmup = stan_warmup_cost(inputs, hyper, target_accept)
    native = marginal.setup_stan_native(inputs, hyper, settings)
    out = {"nutpie": [], "stan": [], "stan warm-up": [], "stan native": []}
    for seed in seeds:
        out["nutpie"].append(nutpie(seed)["us_per_gradient"])
        out["stan"].append(stan(seed)["us_per_gradient"])
        out["stan warm-up"].append(stan_warmup(seed))
        out["stan native"].append(native(seed)["us_per_gradient"])
    return out


def main(argv=None) -> int:
    """Time both gradients, interleaved; print the medians and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--seeds", default="1,2,3,4,5", help="in-sampler chains")
    parser.add_argument("--target-accept", type=float, default=0.9)
    args = parser.parse_args(argv)
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})  # before httpstan forks its chain processes

    from milkbayes.datasets import load_bundled

    inputs, _, hyper = flagship.model_inputs(load_bundled("volume_ml"))
    binary, data_file = build_stan_harness(marginal.marginal_stan_data(inputs, hyper))
    nutpie_us, n_dim = nutpie_timer(inputs, hyper)
    times = {"nutpie": [], "stan": []}
    for _ in range(args.repeats):
        times["nutpie"].append(nutpie_us(args.calls))
        out = subprocess.run(
            [str(binary), str(data_file), str(args.calls), "1"],
            capture_output=True,
            text=True,
            check=True,
        )
        times["stan"].append(float(out.stdout.split()[0]))
    print(
        f"log density + gradient of the marginal flagship ({n_dim} unconstrained parameters), "
        f"{args.calls} calls x {args.repeats} repetitions, interleaved"
    )
    for way, values in times.items():
        print(
            f"{way:<13} median {statistics.median(values):.3f} us per call  "
            f"(repetitions: {', '.join(f'{v:.3f}' for v in values)})"
        )
    ratio = statistics.median(times["stan"]) / statistics.median(times["nutpie"])
    print(f"RATIO stan_over_nutpie_us_per_model_gradient {ratio:.2f}")
    seeds = [int(s) for s in args.seeds.split(",")]
    sampler = in_sampler(inputs, hyper, seeds, args.target_accept)
    print(
        f"inside the sampler, one chain of 1,000 + 1,000 at a time on CPU {cpu}, seeds {seeds} "
        "(nutpie: all its steps; stan: pystan's sampling phase; stan warm-up: pystan's "
        "warm-up, when no draw is written; stan native: all the steps of Stan's sampler "
        "called from C++, draws kept in memory)"
    )
    for way, values in sampler.items():
        model = statistics.median(times[way.split()[0]])
        print(
            f"{way:<13} median {statistics.median(values):.3f} us per gradient "
            f"(model {model:.3f}, sampler's own work {statistics.median(values) - model:.3f}; "
            f"seeds: {', '.join(f'{v:.2f}' for v in values)})"
        )
    ratio = statistics.median(sampler["stan"]) / statistics.median(sampler["nutpie"])
    print(f"RATIO stan_over_nutpie_us_per_gradient_in_sampler {ratio:.2f}")
    ratio = statistics.median(sampler["stan warm-up"]) / statistics.median(sampler["nutpie"])
    print(f"RATIO stan_warmup_over_nutpie_us_per_gradient_in_sampler {ratio:.2f}")
    ratio = statistics.median(sampler["stan native"]) / statistics.median(sampler["nutpie"])
    print(f"RATIO stan_native_over_nutpie_us_per_gradient_in_sampler {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
