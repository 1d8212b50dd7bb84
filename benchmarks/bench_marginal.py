"""The flagship with the mother intercepts integrated out: nutpie against Stan, same model.

Target: the flagship's effective samples per second >= 10x Stan's on the same
statistical model and the same parameterisation, over several seeds.

The flagship (``prepost_hierarchical``, normal likelihood, ``neutral`` priors, the
bundled data) gives each mother an intercept ``a + s_a z_i``. Given the other
parameters, a mother's (pre, post) is bivariate normal with equal variances
``s_a^2 + sigma^2`` and covariance ``s_a^2``; so her change ``D = post - pre`` and her
sum ``S = pre + post`` are independent normals,

    D_i ~ N(tau_i, sqrt(2) sigma),    S_i ~ N(2 a + tau_i, sqrt(4 s_a^2 + 2 sigma^2)),

and the 24 ``z_i`` leave the sampler: the same posterior of every other parameter
(``effect`` included), 20 parameters instead of 44, and no funnel between ``s_a``
and the ``z_i``. This parameterisation is written twice, in PyMC
(:func:`marginal_model`, sampled by milkbayes's engine: its compile cache and nutpie)
and in Stan (``prepost_marginal.stan``, pystan 3), with the same priors, computed by
the flagship's own ``_scale_priors``. It is a benchmark-only parameterisation: the
package's model is unchanged.

Both ways sample 4 chains x 1,000 warm-up + 1,000 draws, 2 chains at a time,
``target_accept`` / ``adapt delta`` 0.9, the same seeds in both, in this process
after an untimed warm-up fit, the ways interleaved seed by seed. ESS/s is bulk ESS
(``arviz.ess``) per second of the whole sampling call (nutpie: the chains and the
packaging of the draws into a DataTree; Stan: pystan's ``sample()``, which fetches
and parses the draws), for ``effect`` and for the slowest free parameter; nutpie's
chains alone (``chains s``) are shown too (pystan gives no finer time). The
flagship as the package fits it (non-centred, milkbayes's engine) is timed too, for
the gain of the marginalisation itself. The posterior mean of ``effect`` must agree
between the ways within 4 Monte Carlo standard errors.

Prints ``RATIO`` lines for ``benchmarks/run_all.py``. Run:
``.venv/bin/python benchmarks/bench_marginal.py [--seeds 1,2,3]`` (pystan is the
``bench`` extra; the first Stan build compiles C++ for a minute or more).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_samplers as flagship  # noqa: E402 - the flagship's inputs and Stan data

STAN_FILE = HERE / "prepost_marginal.stan"
TARGET_RATIO = 10.0
FREE = (
    "mother_sd",
    "effect",
    "modifier_work_duration",
    "modifier_parity",
    "sd_occupation",
    "z_occupation",
    "sd_education",
    "z_education",
    "sd_age_group",
    "z_age_group",
    "intercept",
    "sigma",
)
"""The free parameters of the marginal parameterisation, named alike in PyMC and Stan."""


def pre_post(inputs) -> tuple[np.ndarray, np.ndarray]:
    """Each mother's pre and post from the flagship's long-format inputs."""
    d = inputs.data
    m = d["mother_weight"].size
    pre, post = np.full(m, np.nan), np.full(m, np.nan)
    at_pre = d["time"] == 0
    pre[d["mother_idx"][at_pre]] = d["y"][at_pre]
    post[d["mother_idx"][~at_pre]] = d["y"][~at_pre]
    assert np.isfinite(pre).all() and np.isfinite(post).all()
    return pre, post


def marginal_model(inputs, hyper):
    """The flagship with the mother intercepts integrated out, in PyMC."""
    import pymc as pm
    import pytensor.tensor as pt

    d = inputs.data
    pre, post = pre_post(inputs)
    with pm.Model() as model:
        mother_sd = pm.HalfNormal("mother_sd", sigma=hyper["mother_sd"])
        effect = pm.Normal("effect", hyper["effect"][0], hyper["effect"][1])
        tau = effect + pt.zeros(pre.size)
        for column in ("work_duration", "parity"):
            x = d[f"x_{column}"] - d[f"x_{column}"].mean()
            tau = tau + pm.Normal(f"modifier_{column}", 0.0, hyper["modifier"]) * x
        for column in ("occupation", "education", "age_group"):
            k = len(inputs.coords[f"{column}_level"])
            sd = pm.HalfNormal(f"sd_{column}", sigma=hyper["subgroup_sd"])
            u = sd * pm.Normal(f"z_{column}", 0.0, 1.0, shape=k)
            per_mother = u[d[f"idx_{column}"]]
            tau = tau + per_mother - per_mother.mean()
        intercept = pm.Normal("intercept", hyper["intercept"][0], hyper["intercept"][1])
        sigma = pm.HalfNormal("sigma", sigma=hyper["sigma"])
        pm.Normal("d", tau, math.sqrt(2.0) * sigma, observed=post - pre)
        pm.Normal(
            "s",
            2.0 * intercept + tau,
            pt.sqrt(4.0 * mother_sd**2 + 2.0 * sigma**2),
            observed=pre + post,
        )
    return model


def marginal_stan_data(inputs, hyper) -> dict:
    """The Stan program's data: per-mother pre and post, covariates, the same priors."""
    full = flagship.stan_data(inputs, hyper)
    pre, post = pre_post(inputs)
    keep = {k: v for k, v in full.items() if k not in ("N", "y", "mother_idx", "time")}
    keep.pop("mother_weight")
    return keep | {"pre": pre.tolist(), "post": post.tolist()}


def ess_measures(tree, seconds: float, *, names) -> dict:
    """Bulk ESS/s of ``effect`` and of the slowest element of ``names``; effect mean, MCSE."""
    import arviz as az

    ess = az.ess(tree, var_names=list(names), method="bulk")
    ess = ess["posterior"] if "posterior" in getattr(ess, "children", {}) else ess
    slowest, where = math.inf, ""
    for name in names:
        low = float(np.min(np.asarray(ess[name])))
        if low < slowest:
            slowest, where = low, name
    effect = np.asarray(tree["posterior"]["effect"]).ravel()
    ess_effect = float(np.asarray(ess["effect"]))
    return {
        "seconds": seconds,
        "ess_s_effect": ess_effect / seconds,
        "ess_s_min": slowest / seconds,
        "slowest": where,
        "effect_mean": float(effect.mean()),
        "effect_mcse": float(effect.std(ddof=1) / math.sqrt(ess_effect)),
    }


def setup_nutpie_marginal(inputs, hyper, args):
    """The marginal PyMC model, compiled by milkbayes's compile cache, sampled by nutpie.

    Returns ``measure(seed) -> dict``, after an untimed warm-up fit.
    """
    from milkbayes.engine.compile_cache import compile_pymc_model
    from milkbayes.engine.sampling import sample_timed

    compiled = compile_pymc_model(marginal_model(inputs, hyper), var_names=list(FREE))

    def sample(seed, draws):
        start = time.perf_counter()
        tree, chains = sample_timed(
            compiled,
            draws=draws,
            tune=draws,
            chains=args.chains,
            cores=min(args.chains, 2),
            seed=seed,
            progress_bar=False,
            target_accept=args.target_accept,
            save_warmup=False,
        )
        return tree, time.perf_counter() - start, chains

    sample(10_000, 50)  # untimed: thread pools, first call

    def measure(seed):
        tree, seconds, chains = sample(seed, args.draws)
        return ess_measures(tree, seconds, names=FREE) | {"chains_seconds": chains}

    return measure


def setup_flagship(study, args):
    """The flagship as the package fits it (non-centred), by :func:`milkbayes.engine.fit.fit`."""
    from milkbayes.engine.fit import fit

    def sample(seed, draws):
        return fit(
            flagship.MODEL,
            study,
            prior=flagship.PRIOR,
            likelihood=flagship.LIKELIHOOD,
            draws=draws,
            tune=draws,
            chains=args.chains,
            seed=seed,
            log_likelihood=False,
            posterior_predictive=False,
            target_accept=args.target_accept,
        )

    sample(10_000, 50)

    def measure(seed):
        result = sample(seed, args.draws)
        row = ess_measures(result.tree, result.sample_seconds, names=flagship.FREE_PARAMETERS)
        return row | {"chains_seconds": result.sampler_seconds}

    return measure


def setup_stan_marginal(inputs, hyper, args):
    """The marginal Stan program, sampled by pystan 3 with the same settings."""
    import stan
    from arviz_base import from_dict

    flagship.without_client_timeout()
    data = marginal_stan_data(inputs, hyper)
    program = STAN_FILE.read_text()
    posterior = stan.build(program, data=data, random_seed=10_000)
    posterior.sample(num_chains=args.chains, num_samples=50, num_warmup=50)  # untimed

    def measure(seed):
        posterior = stan.build(program, data=data, random_seed=seed)  # from httpstan's cache
        start = time.perf_counter()
        fit = posterior.sample(
            num_chains=args.chains,
            num_samples=args.draws,
            num_warmup=args.draws,
            delta=args.target_accept,
        )
        seconds = time.perf_counter() - start
        draws = {}
        for name in FREE:
            dims = tuple(fit.dims[fit.param_names.index(name)])
            values = np.asarray(fit[name]).reshape(*dims, args.draws, args.chains)
            draws[name] = np.moveaxis(values, (-1, -2), (0, 1))
        return ess_measures(from_dict({"posterior": draws}), seconds, names=FREE)

    return measure


def pooled(rows: list[dict]) -> tuple[float, float]:
    """Mean of the effect's posterior means over seeds, and its pooled MCSE."""
    k = len(rows)
    mean = sum(r["effect_mean"] for r in rows) / k
    return mean, math.sqrt(sum(r["effect_mcse"] ** 2 for r in rows)) / k


def main(argv=None) -> int:
    """Sample every way for every seed; print the table, the ratios and the agreement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds")
    parser.add_argument("--draws", type=int, default=1000, help="draws and warm-up per chain")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--target-accept", type=float, default=0.9)
    parser.add_argument("--ways", default="nutpie_marginal,stan_marginal,flagship")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    ways = args.ways.split(",")

    from milkbayes.datasets import load_bundled

    study = load_bundled("volume_ml")
    inputs, _, hyper = flagship.model_inputs(study)
    measures = {}
    if "nutpie_marginal" in ways:
        measures["nutpie_marginal"] = setup_nutpie_marginal(inputs, hyper, args)
    if "stan_marginal" in ways:
        try:
            measures["stan_marginal"] = setup_stan_marginal(inputs, hyper, args)
        except ImportError as error:
            print(f"stan_marginal not measured: {error} (pip install -e '.[bench]')")
    if "flagship" in ways:
        measures["flagship"] = setup_flagship(study, args)
    results: dict[str, list[dict]] = {way: [] for way in measures}
    for seed in seeds:  # interleaved: a change of load hits every way alike
        for way, measure in measures.items():
            results[way].append(measure(seed))

    print(
        f"n = 24, {args.chains} chains x {args.draws} + {args.draws} draws, seeds {seeds}; "
        "medians over seeds"
    )
    print(
        f"{'way':<18}{'s/fit':>8}{'chains s':>9}{'ESS/s effect':>14}{'ESS/s slowest':>15}"
        "  slowest      effect mean (pooled MCSE)"
    )
    med = {}
    for way, rows in results.items():
        med[way] = {
            key: statistics.median(r[key] for r in rows)
            for key in ("seconds", "ess_s_effect", "ess_s_min")
        }
        slowest = statistics.mode(r["slowest"] for r in rows)
        mean, mcse = pooled(rows)
        chains = [r["chains_seconds"] for r in rows if "chains_seconds" in r]
        chains_text = f"{statistics.median(chains):.2f}" if chains else "-"
        print(
            f"{way:<18}{med[way]['seconds']:>8.2f}{chains_text:>9}{med[way]['ess_s_effect']:>14.0f}"
            f"{med[way]['ess_s_min']:>15.0f}  {slowest:<12} {mean:.2f} ({mcse:.3f})"
        )
    if "nutpie_marginal" in med and "stan_marginal" in med:
        for key, label in (("ess_s_effect", "effect"), ("ess_s_min", "min")):
            ratio = med["nutpie_marginal"][key] / med["stan_marginal"][key]
            print(f"RATIO marginal_nutpie_over_stan_ess_per_s_{label} {ratio:.2f}")
        per_seed = [
            a["ess_s_effect"] / b["ess_s_effect"]
            for a, b in zip(results["nutpie_marginal"], results["stan_marginal"], strict=True)
        ]
        print("per seed, effect: " + ", ".join(f"{r:.1f}x" for r in per_seed))
        (m1, s1), (m2, s2) = pooled(results["nutpie_marginal"]), pooled(results["stan_marginal"])
        agree = abs(m1 - m2) < 4 * math.hypot(s1, s2)
        print(
            f"effect agrees (|diff| < 4 MCSE): {'yes' if agree else 'NO'} "
            f"({abs(m1 - m2):.3f} vs {4 * math.hypot(s1, s2):.3f})"
        )
        met = (
            med["nutpie_marginal"]["ess_s_effect"]
            >= TARGET_RATIO * med["stan_marginal"]["ess_s_effect"]
            and med["nutpie_marginal"]["ess_s_min"]
            >= TARGET_RATIO * med["stan_marginal"]["ess_s_min"]
        )
        print(
            f"target >= {TARGET_RATIO:g}x Stan (effect and slowest): {'met' if met else 'NOT met'}"
        )
    if "nutpie_marginal" in med and "flagship" in med:
        for key, label in (("ess_s_effect", "effect"), ("ess_s_min", "min")):
            ratio = med["nutpie_marginal"][key] / med["flagship"][key]
            print(f"RATIO marginal_over_noncentred_ess_per_s_{label} {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
