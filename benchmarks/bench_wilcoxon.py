"""Speed of the Wilcoxon code, as ratios against baselines measured in the same run.

Targets:

1. the exact null distribution for n = 1000 *with ties* in <= 1 s;
   baseline: SciPy's own exact distribution for n = 1000 without ties;
2. 100,000 simulated datasets of n = 24 tested (SPSS/asymptotic procedure) in
   <= 2 s and >= 20x faster than ``scipy.stats.wilcoxon`` called in a loop;
   the loop is timed on a subset and scaled up; SciPy's vectorised ``axis=1`` call
   is shown too.

Run: ``.venv/bin/python benchmarks/bench_wilcoxon.py [--strict]``. It prints a
table; with ``--strict`` it exits 1 when a target is missed. It is not a test:
timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from scipy import stats

from milkbayes.frequentist import exact_null_distribution, signed_ranks, wilcoxon_many


def best_of(repeats: int, function, *args) -> float:
    """Smallest wall time of ``repeats`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def scipy_exact_untied(n: int) -> np.ndarray:
    """SciPy's exact null distribution of W+ for ``n`` untied ranks (the baseline)."""
    from scipy.stats._hypotests import _get_wilcoxon_distr  # private, baseline only

    return _get_wilcoxon_distr(n)


def bench_exact(repeats: int) -> tuple[float, float]:
    """Best-of-``repeats`` seconds of our exact tied distribution and of SciPy's.

    Ours handles ties and zeros (n = 1000, rounded data); SciPy's baseline is its
    untied distribution for the same n, the closest it offers.
    """
    rng = np.random.default_rng(1)
    change = np.round(rng.normal(0.3, 1.0, 1000), 1)  # many ties, a few zeros
    ranks, _ = signed_ranks(change)
    tied_ranks = ranks[change != 0]
    ours = best_of(repeats, exact_null_distribution, tied_ranks)
    baseline = best_of(repeats, scipy_exact_untied, 1000)
    return ours, baseline


def scipy_loop(changes: np.ndarray) -> None:
    """One SciPy asymptotic Wilcoxon test per row (the loop a user would write)."""
    for row in changes:
        stats.wilcoxon(row, zero_method="wilcox", correction=False, method="asymptotic")


def bench_many(repeats: int, loop_rows: int) -> tuple[float, float, float]:
    """Seconds of 100,000 tests of n = 24: ours, SciPy vectorised, SciPy looped.

    The loop is timed on ``loop_rows`` rows and scaled to 100,000.
    """
    rng = np.random.default_rng(2)
    changes = np.round(rng.normal(0.5, 1.0, (100_000, 24)), 1)
    ours = best_of(repeats, wilcoxon_many, changes)
    vectorised = best_of(1, lambda c: stats.wilcoxon(c, axis=1, method="asymptotic"), changes)
    loop = best_of(1, scipy_loop, changes[:loop_rows]) * changes.shape[0] / loop_rows
    return ours, vectorised, loop


def main(argv: list[str] | None = None) -> int:
    """Print the Wilcoxon timings against their targets and baselines.

    Returns 1 under ``--strict`` when a target is missed, else 0.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--loop-rows",
        type=int,
        default=500,
        help="datasets timed in the scipy loop (scaled to 100,000)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)

    exact, exact_base = bench_exact(args.repeats)
    many, vectorised, loop = bench_many(args.repeats, args.loop_rows)
    rows = [
        (
            "exact distribution, n=1000 with ties",
            exact,
            "<= 1 s",
            exact <= 1.0,
            f"{exact_base / exact:.1f}x faster than scipy's untied n=1000 ({exact_base:.3f} s)",
        ),
        (
            "wilcoxon_many, 100,000 x n=24",
            many,
            "<= 2 s",
            many <= 2.0,
            f"{vectorised / many:.1f}x faster than scipy axis=1 ({vectorised:.2f} s)",
        ),
        (
            "  vs scipy.stats.wilcoxon in a loop",
            loop,
            ">= 20x",
            loop / many >= 20,
            f"{loop / many:.0f}x faster than the loop ({loop:.1f} s, from {args.loop_rows} rows)",
        ),
    ]
    print(f"{'benchmark':<40}{'seconds':>9}  {'target':<8}{'met':<5}ratio")
    for name, seconds, target, met, ratio in rows:
        print(f"{name:<40}{seconds:>9.3f}  {target:<8}{'yes' if met else 'NO':<5}{ratio}")
    missed = [name for name, _, _, met, _ in rows if not met]
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
