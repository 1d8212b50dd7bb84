"""Speed of the Bayesian meta-analysis: one warm fit within 10 s.

Target: ``milkbayes meta-analysis``'s fit of the four primary studies (4 chains x
2,000 draws after 1,000 warm-up draws, bias and PET terms on) within 10 s once the
model is compiled ("warm"). The first fit in the process, which compiles the model
(or loads it from the on-disk compile cache), is timed too, and the ratio of the two
is printed. Both scales and the derived prior (the whole ``run_meta_analysis``) are
timed warm as well.

Run: ``.venv/bin/python benchmarks/bench_meta_analysis.py [--strict]``. It prints a
table; with ``--strict`` it exits 1 when the target is missed. It is not a test:
timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import sys
import time

TARGET_SECONDS = 10.0


def main(argv: list[str] | None = None) -> int:
    """Time a cold and a warm fit, and a warm full run; print the table and ratios.

    Returns 1 under ``--strict`` when the target is missed, else 0.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args(argv)

    from milkbayes.literature import load_studies
    from milkbayes.meta_analysis.effects import study_effects
    from milkbayes.meta_analysis.model import fit_meta_analysis
    from milkbayes.meta_analysis.run import run_meta_analysis

    table = study_effects(load_studies(), scale="smd")
    start = time.perf_counter()
    first = fit_meta_analysis(table)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    fit = fit_meta_analysis(table, seed=2)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    run_meta_analysis(seed=3)
    full = time.perf_counter() - start
    met = warm <= TARGET_SECONDS and fit.diagnostics.ok
    print(f"{'benchmark':<46}{'seconds':>9}  {'target':<8}{'met':<5}ratio")
    print(
        f"{'meta-analysis fit, 4 studies, warm':<46}{warm:>9.3f}  {'<= 10 s':<8}"
        f"{'yes' if met else 'NO':<5}{cold / warm:.1f}x faster than the first fit "
        f"({cold:.1f} s, {first.compile_seconds:.1f} s of it compiling)"
    )
    print(f"{'meta-analysis, both scales + prior, warm':<46}{full:>9.3f}")
    print(f"RATIO meta_analysis_seconds_over_target {warm / TARGET_SECONDS:.3f}")
    print(f"RATIO meta_analysis_first_over_warm {cold / warm:.2f}")
    return 1 if (args.strict and not met) else 0


if __name__ == "__main__":
    sys.exit(main())
