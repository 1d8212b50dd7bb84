"""Speed of the reconstruction posterior (rejection ABC), against a loop measured in the same run.

Run: ``.venv/bin/python benchmarks/bench_abc.py [--proposals 100000] [--loop 300] [--strict]``.
It prints proposals per second of :func:`milkbayes.reconstruction.abc_posterior`,
the time of the default run against its target (100,000 proposals in <= 30 s on
2 cores), and the same ABC done one proposal at a time with the bundled
generator's own functions (:func:`milkbayes.datasets.draw_covariates`,
:func:`~milkbayes.datasets.draw_volume`, :func:`~milkbayes.datasets.check_constraints`),
timed on ``--loop`` proposals and scaled. With ``--strict`` it exits 1 when a
target is missed. It is not a test.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np


def vectorised(proposals: int) -> tuple[float, int]:
    """Seconds of one default-prior run, and its accepted count."""
    from milkbayes.reconstruction import abc_posterior

    start = time.perf_counter()
    post = abc_posterior(n_proposals=proposals, seed=1)
    return time.perf_counter() - start, post.n_accepted


def loop(proposals: int) -> float:
    """Seconds per proposal of the one-at-a-time ABC (volume reading, same priors)."""
    import pandas as pd

    from milkbayes.datasets import (
        OUTCOMES,
        CovariateAssumptions,
        VolumeAssumptions,
        check_constraints,
        draw_covariates,
        draw_volume,
    )
    from milkbayes.reconstruction import ReconstructionPrior
    from milkbayes.reconstruction.abc import P_LONG, P_PRIMI

    prior = ReconstructionPrior()
    rng = np.random.default_rng(1)
    covariates_prior = CovariateAssumptions()
    start = time.perf_counter()
    for _ in range(proposals):
        delta = prior.delta_scale * rng.standard_cauchy()
        sigma = prior.change_sd_ml * math.exp(prior.change_sd_log_sd * rng.standard_normal())
        bl, bp = prior.modifier_sd_ml * rng.standard_normal(2)
        total = math.sqrt(
            sigma**2 + bl**2 * P_LONG * (1 - P_LONG) + bp**2 * P_PRIMI * (1 - P_PRIMI)
        )
        assumptions = VolumeAssumptions(
            pre_median_ml=prior.pre_median_ml * math.exp(0.75 * rng.standard_normal()),
            pre_log_sd=rng.uniform(0.2, 1.0),
            effect_ml=delta * total - bl * P_LONG - bp * P_PRIMI,
            long_work_modifier_ml=bl,
            primipara_modifier_ml=bp,
            change_sd_ml=sigma,
        )
        covariates = draw_covariates(rng, covariates_prior)
        pre, post = draw_volume(rng, covariates, assumptions)
        table = pd.DataFrame({"pre": pre, "post": post, **covariates})
        check_constraints(table, OUTCOMES["volume_ml"])
    return (time.perf_counter() - start) / proposals


def main(argv: list[str] | None = None) -> int:
    """Print the ABC's speed against its target and the loop baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=100_000)
    parser.add_argument("--loop", type=int, default=300, help="proposals timed in the loop")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)

    vectorised(2_000)  # imports and first-call costs out of the timing
    seconds, accepted = vectorised(args.proposals)
    per_loop = loop(args.loop)
    rate = args.proposals / seconds
    loop_seconds = per_loop * args.proposals
    target = 30.0 * args.proposals / 100_000
    rows = [
        (
            f"abc_posterior, {args.proposals:,} proposals",
            seconds,
            f"<= {target:g} s",
            seconds <= target,
            f"{rate:,.0f} proposals/s; {accepted:,} accepted; "
            f"{loop_seconds / seconds:.0f}x faster than the loop",
        ),
        (
            "  one proposal at a time (datasets functions)",
            loop_seconds,
            "",
            True,
            f"{1 / per_loop:,.0f} proposals/s, from {args.loop} proposals, scaled",
        ),
    ]
    print(f"{'benchmark':<48}{'seconds':>9}  {'target':<9}{'met':<5}ratio")
    for name, secs, goal, met, ratio in rows:
        flag = ("yes" if met else "NO") if goal else ""
        print(f"{name:<48}{secs:>9.2f}  {goal:<9}{flag:<5}{ratio}")
    print(f"RATIO abc_over_loop {loop_seconds / seconds:.1f}")
    missed = [name for name, _, goal, met, _ in rows if goal and not met]
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
