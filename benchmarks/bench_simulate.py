"""Benchmarks of milkbayes.simulate; each prints its measurement and the ratio to its target.

Run: ``.venv/bin/python benchmarks/bench_simulate.py [--fits 1000] [--memory-fits 10000]``

1. ``--fits`` Bayesian fits of ``paired_change`` (n = 24, 2 chains x 300 draws, 300
   tuning) on 2 local worker processes, compiling once per worker: target <= 180 s
   for 1,000 fits.
2. 100,000 SPSS Wilcoxon tests of n = 24 (vectorised): target <= 2 s.
3. Fits per second of the same ``--dask-fits`` study on 2 local processes and on a
   2-worker Dask ``LocalCluster`` on the same machine (cold: including start-up and
   compilation; warm: Dask workers that already compiled the model).
4. ``--memory-fits`` fits: peak resident memory of the parent and of the largest
   worker (``resource.getrusage``), target < 1 GB; results are per-fit summaries.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np


def _settings():
    from milkbayes.simulate.dgp import DGPSettings

    return DGPSettings(n=24, effect=6.0, trend=2.0)


def bench_fits(n_fits: int, workers: int = 2, ratio: bool = True) -> float:
    """Time a Bayesian power study of ``n_fits`` fits on ``workers`` processes.

    Prints the wall and worker CPU time and, with ``ratio``, the ratio to the target;
    returns the wall time in seconds.
    """
    from milkbayes.simulate.design import bayes_power

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result, _ = bayes_power(
        _settings(), n_fits, draws=300, tune=300, chains=2, seed=1, workers=workers, progress=True
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # workers are reaped at shutdown
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        f"[fits] worker CPU time {cpu:.1f} s (start-up and compilation included); on "
        f"{workers} otherwise idle cores that is about {cpu / workers:.1f} s of wall time; "
        f"load average now {os.getloadavg()[0]:.1f}"
    )
    target = 180.0 * n_fits / 1000
    print(
        f"[fits] {n_fits} paired_change fits on {workers} processes: {elapsed:.1f} s "
        f"({n_fits / elapsed:.1f} fits/s, {result.run['compilations']} compilations); "
        f"target {target:.0f} s, ratio {elapsed / target:.2f}"
    )
    if ratio:  # the 1,000-fit target; the Dask comparison reuses this without a ratio
        print(f"RATIO simulate_fits_seconds_over_target {elapsed / target:.3f}")
    return n_fits / elapsed


def bench_wilcoxon(n_tests: int = 100_000) -> None:
    """Time ``n_tests`` vectorised Wilcoxon tests of n = 24 against the target."""
    from milkbayes.simulate.rules import wilcoxon_many

    changes = np.random.default_rng(1).normal(0.5, 1.0, size=(n_tests, 24))
    wilcoxon_many(changes[:10])  # import and first-call costs out of the timing
    started = time.perf_counter()
    wilcoxon_many(changes)
    elapsed = time.perf_counter() - started
    print(
        f"[wilcoxon] {n_tests} tests of n = 24: {elapsed:.2f} s; target 2 s, "
        f"ratio {elapsed / 2.0:.2f}"
    )
    print(f"RATIO simulate_wilcoxon_100k_seconds_over_target {elapsed / 2.0:.3f}")


def bench_dask(n_fits: int) -> None:
    """Same study, same size, on 2 local processes and on a 2-worker LocalCluster.

    Both cold runs include starting the workers and compiling the model; a local
    process pool lives for one study, while a Dask cluster keeps its workers (and their
    compiled models) for the next study, which the warm run measures.
    """
    from distributed import Client, LocalCluster

    from milkbayes.simulate.design import bayes_power

    local_rate = bench_fits(n_fits, ratio=False)
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        rates = []
        for label in ("cold", "warm"):
            started = time.perf_counter()
            bayes_power(_settings(), n_fits, draws=300, tune=300, chains=2, seed=2, client=client)
            elapsed = time.perf_counter() - started
            rates.append(n_fits / elapsed)
            print(
                f"[dask] {label}: {n_fits} fits on a 2-worker LocalCluster: {elapsed:.1f} s "
                f"({rates[-1]:.1f} fits/s)"
            )
    print(
        f"[dask] fits/s, Dask over local processes ({n_fits} fits each): cold "
        f"{rates[0] / local_rate:.2f}, warm Dask over cold local {rates[1] / local_rate:.2f}"
    )
    print(f"RATIO simulate_dask_cold_over_local_fits_per_s {rates[0] / local_rate:.3f}")
    print(f"RATIO simulate_dask_warm_over_local_fits_per_s {rates[1] / local_rate:.3f}")


def bench_memory(n_fits: int) -> None:
    """Run a study of ``n_fits`` fits and print the peak memory of parent and workers."""
    bench_fits(n_fits)
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"[memory] {n_fits} fits: peak RSS parent {parent:.0f} MB, largest worker "
        f"{child:.0f} MB; target < 1024 MB each, ratio {max(parent, child) / 1024:.2f}"
    )
    print(f"RATIO simulate_peak_memory_over_1gb {max(parent, child) / 1024:.3f}")


def main(argv=None) -> int:
    """Run the simulation benchmarks not named in ``--skip`` and print their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=1000)
    parser.add_argument("--dask-fits", type=int, default=200)
    parser.add_argument(
        "--memory-fits",
        type=int,
        default=0,
        help="also run a study of this many fits and report peak memory",
    )
    parser.add_argument("--skip", nargs="*", default=(), choices=("fits", "wilcoxon", "dask"))
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # results appear as they are measured
    if "wilcoxon" not in args.skip:
        bench_wilcoxon()
    if "fits" not in args.skip:
        bench_fits(args.fits)
    if "dask" not in args.skip:
        bench_dask(args.dask_fits)
    if args.memory_fits:
        bench_memory(args.memory_fits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
