"""Speed of the prior grid (:func:`milkbayes.sensitivity.prior_grid`) after compilation.

Target (sensitivity): a grid of >= 50 prior settings in <= 15 s once the model is
compiled. The script runs the default grid (``paired_change``, 56 settings of the
effect prior's location and scale, bundled data) twice in one process: the first
call compiles the model and fills :mod:`milkbayes.engine.fit`'s cache, the second is the
measured one, whose every setting is a refit of the compiled model. Its time is
compared with the first call's, measured in the same run.

Run: ``.venv/bin/python benchmarks/bench_prior_grid.py [--strict]``. It prints a
table and ``RATIO`` lines for ``benchmarks/run_all.py``; with ``--strict`` it exits 1
when the target is missed. It is not a test: timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import sys
import time

TARGET_SECONDS = 15.0
MIN_SETTINGS = 50


def timed_grid(study) -> tuple[float, int, float]:
    """Wall time of one default prior grid, its number of settings and compile time."""
    from milkbayes.sensitivity import prior_grid

    start = time.perf_counter()
    grid = prior_grid(study)
    return (
        time.perf_counter() - start,
        int(grid.summary["n_settings"]),
        float(grid.summary.get("compile_seconds") or 0.0),
    )


def main(argv: list[str] | None = None) -> int:
    """Time the default prior grid twice on the bundled data and print the ratios.

    Returns 1 under ``--strict`` when the target is missed, else 0.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args(argv)

    from milkbayes.datasets import load_bundled

    study = load_bundled()
    first, n_first, compile_seconds = timed_grid(study)
    warm, n_settings, recompiled = timed_grid(study)
    met = n_settings >= MIN_SETTINGS and warm <= TARGET_SECONDS and recompiled == 0.0
    print(f"{'benchmark':<40}{'seconds':>9}  {'target':<8}{'met':<5}ratio")
    print(
        f"{f'prior grid, {n_settings} settings, compiled':<40}{warm:>9.3f}  "
        f"{'<= 15 s':<8}{'yes' if met else 'NO':<5}"
        f"{first / warm:.1f}x faster than the first grid ({first:.1f} s, "
        f"{compile_seconds:.1f} s of it compiling)"
    )
    print(f"RATIO prior_grid_seconds_over_target {warm / TARGET_SECONDS:.3f}")
    print(f"RATIO prior_grid_first_over_compiled {first / warm:.2f}")
    return 1 if (args.strict and not met) else 0


if __name__ == "__main__":
    sys.exit(main())
