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

Both ways sample 4 chains x 1,000 warm-up + 1,000 draws, 2 chains at a time on the
same 2 cores, ``target_accept`` / ``adapt delta`` 0.9 (``--target-accept`` sets both),
in this process after an untimed warm-up fit, the ways interleaved seed by seed.
httpstan caches every seeded fit and answers a repeated request from that cache
without sampling, so the benchmark empties the model's fit cache before each Stan call.

**Two time bases, the same on both sides.** *The sampling itself* (``chains s``, the
basis of the target): each sampler's own clock of each chain, warm-up and draws,
summed over the chains and divided by the 2 chains run at a time (nutpie: the
``runtime_ms`` its progress callback reports per chain; Stan: the ``Elapsed Time``
it writes at the end of each chain). *The whole call* (``whole s``): nutpie's
``sample`` with the packaging of the draws into a DataTree; pystan's ``sample()``,
with httpstan's requests, the JSON messages of every draw and their parsing.

**Measures.** Bulk ESS (``arviz.ess``) of ``effect`` and of the slowest free parameter
(every element of every free parameter), per draw, per 1,000 gradient evaluations of
the kept draws (nutpie's ``n_steps``, Stan's ``n_leapfrog__``) and per second on each
basis; microseconds per gradient inside the sampler (nutpie: chain time over all its
leapfrog steps; Stan: sampling-phase time over the sampling phase's leapfrog steps,
the warm-up's steps being unrecorded unless kept). The ratio of ESS/s is then the
product of the ratio of gradients per second and the ratio of ESS per gradient, both
printed. Ways: ``nutpie_marginal`` (milkbayes's engine settings), the same with
nutpie's ``draw_diag`` or ``low_rank`` mass-matrix adaptation, the zero-sum
parameterisation of the subgroup deviations in both samplers
(``nutpie_marginal_zerosum`` against ``stan_marginal_zerosum``,
``prepost_marginal_zerosum.stan``), Stan's own sampler without pystan
(``stan_native``, :func:`setup_stan_native`: the same chains as pystan's, without
httpstan's output of every draw), and the flagship as the package fits it
(non-centred, :func:`milkbayes.engine.fit.fit`, for the gain of the marginalisation
itself). The posterior mean of ``effect`` must agree with Stan's within 4 Monte Carlo
standard errors. ``bench_gradient_cost.py`` times the model's gradient alone in both.

Prints ``RATIO`` lines for ``benchmarks/run_all.py``. Run:
``.venv/bin/python benchmarks/bench_marginal.py [--seeds 1,2,3,4,5] [--ways ...]
[--target-accept 0.9]`` (pystan is the
``bench`` extra; the first Stan build compiles C++ for a minute or more).
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_samplers as flagship  # noqa: E402 - the flagship's inputs and Stan data

STAN_FILE = HERE / "prepost_marginal.stan"
STAN_FILE_ZERO_SUM = HERE / "prepost_marginal_zerosum.stan"
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


def marginal_model(inputs, hyper, zero_sum: bool = False):
    """The flagship with the mother intercepts integrated out, in PyMC.

    ``zero_sum``: each subgroup's standardised deviations ``z`` are a zero-sum normal
    vector (``pm.ZeroSumNormal(sigma=1)``: ``K - 1`` free coordinates) instead of ``K``
    independent standard normals. The same statistical model: the likelihood sees
    ``z`` only through the deviations centred over the mothers, ``C z``, and ``C``
    maps the constant vector to zero, so ``C z = C (I - 11'/K) z``, and
    ``(I - 11'/K) z`` with ``z ~ N(0, I)`` is exactly a zero-sum normal. One
    direction per subgroup that only the prior informed leaves the sampler.
    """
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
            if zero_sum:
                z = pm.ZeroSumNormal(f"z_{column}", sigma=1.0, shape=k)
            else:
                z = pm.Normal(f"z_{column}", 0.0, 1.0, shape=k)
            u = sd * z
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


CORES = 2
"""Chains run two at a time in both samplers (nutpie ``cores=2``; httpstan's process
pool has one worker per CPU, two here)."""


def ess_measures(tree, *, names, draws: int) -> dict:
    """Bulk ESS of ``effect`` and of the slowest element of ``names``; effect mean, MCSE.

    With the post-warm-up gradient count when the tree has nutpie's ``n_steps`` (or
    Stan's ``n_leapfrog__``, added by :func:`setup_stan_marginal`).
    """
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
    row = {
        "ess_effect": ess_effect,
        "ess_min": slowest,
        "slowest": where,
        "n_draws": effect.size,
        "effect_mean": float(effect.mean()),
        "effect_mcse": float(effect.std(ddof=1) / math.sqrt(ess_effect)),
    }
    stats = tree.children.get("sample_stats") if hasattr(tree, "children") else None
    if stats is not None and "n_steps" in stats:
        row["draw_gradients"] = int(np.asarray(stats["n_steps"]).sum())
    return row


def with_rates(row: dict) -> dict:
    """ESS/s on each time basis, ESS per draw and per 1,000 post-warm-up gradients."""
    out = dict(row)
    for basis in ("whole", "chains"):
        seconds = row.get(f"{basis}_seconds")
        if seconds:
            out[f"ess_s_effect_{basis}"] = row["ess_effect"] / seconds
            out[f"ess_s_min_{basis}"] = row["ess_min"] / seconds
    out["ess_draw_effect"] = row["ess_effect"] / row["n_draws"]
    out["ess_draw_min"] = row["ess_min"] / row["n_draws"]
    if row.get("draw_gradients"):
        out["ess_kgrad_effect"] = 1000 * row["ess_effect"] / row["draw_gradients"]
        out["ess_kgrad_min"] = 1000 * row["ess_min"] / row["draw_gradients"]
        out["gradients_per_draw"] = row["draw_gradients"] / row["n_draws"]
    return out


class ChainClock:
    """nutpie's progress callback, kept: each chain's run time and leapfrog steps.

    nutpie calls it from a background thread every ``progress_rate`` ms and once at the
    end; the last call holds every chain's ``runtime_ms`` (wall time of that chain,
    warm-up and draws) and ``total_num_steps`` (gradient evaluations).
    """

    def __init__(self):
        self.last = []

    def __call__(self, progress):
        """Keep the latest progress of every chain."""
        self.last = [(p.runtime_ms, p.total_num_steps, p.finished_draws) for p in progress]

    def totals(self) -> tuple[float, int]:
        """Seconds summed over chains, gradients summed over chains."""
        return sum(c[0] for c in self.last) / 1000, sum(c[1] for c in self.last)


def setup_nutpie_marginal(inputs, hyper, args, adaptation="diag", zero_sum=False):
    """The marginal PyMC model, compiled by milkbayes's compile cache, sampled by nutpie.

    Returns ``measure(seed) -> dict``, after an untimed warm-up fit. ``adaptation`` is
    nutpie's mass-matrix adaptation (``"diag"``, nutpie's and milkbayes's default, from
    draws and gradients; ``"draw_diag"``, from draws alone, as Stan; ``"low_rank"``).
    """
    from milkbayes.engine.compile_cache import compile_pymc_model
    from milkbayes.engine.sampling import sample_timed

    model = marginal_model(inputs, hyper, zero_sum=zero_sum)
    compiled = compile_pymc_model(model, var_names=list(FREE))

    def sample(seed, draws, clock=None):
        start = time.perf_counter()
        tree, chains = sample_timed(
            compiled,
            draws=draws,
            tune=draws,
            chains=args.chains,
            cores=min(args.chains, CORES),
            seed=seed,
            progress_bar=False,
            target_accept=args.target_accept,
            save_warmup=False,
            adaptation=adaptation,
            **({"progress_callback": clock, "progress_rate": 50} if clock else {}),
        )
        return tree, time.perf_counter() - start, chains

    sample(10_000, 50)  # untimed: thread pools, first call

    def measure(seed):
        clock = ChainClock()
        tree, seconds, chains_wall = sample(seed, args.draws, clock)
        if len(clock.last) != args.chains or any(c[2] < 2 * args.draws for c in clock.last):
            raise RuntimeError("nutpie's progress callback missed the end of a chain")
        chain_sum, gradients = clock.totals()
        row = ess_measures(tree, names=FREE, draws=args.draws)
        return row | {
            "whole_seconds": seconds,
            "chains_wall": chains_wall,
            "chains_seconds": chain_sum / min(args.chains, CORES),
            "us_per_gradient": 1e6 * chain_sum / gradients,
        }

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
        row = ess_measures(result.tree, names=flagship.FREE_PARAMETERS, draws=args.draws)
        return row | {"whole_seconds": result.sample_seconds, "chains_wall": result.sampler_seconds}

    return measure


ELAPSED = re.compile(rb"([0-9.eE+-]+) seconds \((Warm-up|Sampling|Total)\)")


def stan_elapsed(stan_output: bytes) -> dict[str, float]:
    """Stan's own clock of one chain: seconds of warm-up, sampling and in total.

    Stan writes ``Elapsed Time: ... seconds (Warm-up)`` and the like to its logger at
    the end of a chain; httpstan keeps the logger messages with the draws.
    """
    found = {}
    for line in stan_output.splitlines():
        if b'"logger"' in line:
            match = ELAPSED.search(line)
            if match:
                found[match.group(2).decode()] = float(match.group(1))
    return found


def empty_fit_cache(model_name: str) -> None:
    """Delete httpstan's cached fits of this model.

    httpstan caches every fit made with a ``random_seed`` and answers a request with
    the same seed, data and settings from that cache without sampling (in about 0.1 s):
    a second run of this benchmark with the same seeds would time Stan reading a file.
    """
    import httpstan.cache

    fits = httpstan.cache.model_directory(model_name) / "fits"
    for path in fits.glob("*.jsonlines.gz"):
        path.unlink()


def setup_stan_marginal(inputs, hyper, args, stan_file=STAN_FILE):
    """The marginal Stan program, sampled by pystan 3 with the same settings."""
    import stan
    from arviz_base import from_dict

    flagship.without_client_timeout()
    data = marginal_stan_data(inputs, hyper)
    program = stan_file.read_text()
    posterior = stan.build(program, data=data, random_seed=10_000)
    empty_fit_cache(posterior.model_name)
    posterior.sample(num_chains=args.chains, num_samples=50, num_warmup=50)  # untimed

    def measure(seed):
        posterior = stan.build(program, data=data, random_seed=seed)  # from httpstan's cache
        empty_fit_cache(posterior.model_name)
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
        clocks = [stan_elapsed(out) for out in fit.stan_outputs]
        if len(clocks) != args.chains or any("Total" not in c for c in clocks):
            raise RuntimeError("Stan's elapsed times were not found in httpstan's messages")
        leapfrog = int(np.asarray(fit["n_leapfrog__"]).sum())
        tree = from_dict({"posterior": draws})
        row = ess_measures(tree, names=FREE, draws=args.draws)
        return row | {
            "whole_seconds": seconds,
            "chains_seconds": sum(c["Total"] for c in clocks) / min(args.chains, CORES),
            "draw_gradients": leapfrog,
            # sampling phase only: Stan's clock splits warm-up from sampling, and the
            # sampling phase's leapfrog steps are those of the kept draws
            "us_per_gradient": 1e6 * sum(c["Sampling"] for c in clocks) / leapfrog,
        }

    return measure


def setup_stan_native(inputs, hyper, args, stan_file=STAN_FILE):
    """The marginal Stan program run by Stan's own sampler without pystan.

    :data:`stan_native.SAMPLER`: ``hmc_nuts_diag_e_adapt`` with httpstan's arguments,
    the draws kept in memory; two processes of two chains each, at once (as httpstan's
    two chain processes). The chains' times are the program's clock around each
    sampler call; the whole call is the wall time of the two processes (start, data,
    sampling, writing the CSV files).
    """
    import tempfile

    import pandas as pd
    from arviz_base import from_dict

    import stan_native

    binary = stan_native.build(stan_file, stan_native.SAMPLER)
    scratch = Path(tempfile.mkdtemp(prefix="bench_marginal_stan_"))
    data = stan_native.write_data(scratch, marginal_stan_data(inputs, hyper))
    per_process = math.ceil(args.chains / CORES)

    def run(seed, draws):
        start = time.perf_counter()
        processes = []
        for first in range(1, args.chains + 1, per_process):
            count = min(per_process, args.chains + 1 - first)
            command = [binary, data, seed, first, count, draws, draws, args.target_accept]
            command = [str(c) for c in (*command, scratch / "chain_")]
            processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
        outputs = [p.communicate()[0] for p in processes]
        seconds = time.perf_counter() - start
        if any(p.returncode for p in processes):
            raise RuntimeError(f"the Stan program failed: {outputs}")
        clocks = [float(line.split()[2]) for out in outputs for line in out.splitlines()]
        tables = [pd.read_csv(scratch / f"chain_{c}.csv") for c in range(1, args.chains + 1)]
        return tables, seconds, clocks

    run(10_000, 50)  # untimed: page cache, first start

    def measure(seed):
        tables, seconds, clocks = run(seed, args.draws)
        kept = [t.iloc[args.draws :] for t in tables]
        draws = {}
        for name in FREE:
            columns = [c for c in tables[0].columns if c == name or c.startswith(f"{name}.")]
            values = np.stack([t[columns].to_numpy() for t in kept])  # chain, draw, element
            draws[name] = values[..., 0] if columns == [name] else values
        gradients = sum(int(t["n_leapfrog__"].sum()) for t in tables)
        row = ess_measures(from_dict({"posterior": draws}), names=FREE, draws=args.draws)
        return row | {
            "whole_seconds": seconds,
            "chains_seconds": sum(clocks) / min(args.chains, CORES),
            "draw_gradients": sum(int(t["n_leapfrog__"].sum()) for t in kept),
            "us_per_gradient": 1e6 * sum(clocks) / gradients,
        }

    return measure


def pooled(rows: list[dict]) -> tuple[float, float]:
    """Mean of the effect's posterior means over seeds, and its pooled MCSE."""
    k = len(rows)
    mean = sum(r["effect_mean"] for r in rows) / k
    return mean, math.sqrt(sum(r["effect_mcse"] ** 2 for r in rows)) / k


NUTPIE_WAYS = {
    "nutpie_marginal": ("diag", False),
    "nutpie_marginal_draw_diag": ("draw_diag", False),
    "nutpie_marginal_low_rank": ("low_rank", False),
    "nutpie_marginal_zerosum": ("diag", True),
}
"""nutpie ways: mass-matrix adaptation, zero-sum subgroup deviations. ``nutpie_marginal``
has the engine's settings; each is compared with the Stan way of its parameterisation."""

STAN_WAYS = {"stan_marginal": STAN_FILE, "stan_marginal_zerosum": STAN_FILE_ZERO_SUM}
"""Stan through pystan, per parameterisation."""

NATIVE_WAYS = {"stan_native": STAN_FILE}
"""Stan's sampler called from C++ without pystan (:mod:`stan_native`)."""


def stan_partner(way: str) -> str:
    """The Stan way with the same parameterisation as a nutpie way."""
    return "stan_marginal_zerosum" if NUTPIE_WAYS[way][1] else "stan_marginal"


BASES = (("chains", "the sampling itself"), ("whole", "the whole call"))


def median(rows: list[dict], key: str) -> float:
    """Median of ``key`` over the rows that have it (NaN if none)."""
    values = [r[key] for r in rows if key in r]
    return statistics.median(values) if values else math.nan


def print_table(results: dict[str, list[dict]], args, seeds) -> None:
    """One line per way: medians over seeds."""
    print(
        f"n = 24, {args.chains} chains x {args.draws} + {args.draws} draws, {CORES} chains at "
        f"a time, target accept {args.target_accept}, seeds {seeds}; medians over seeds"
    )
    print(
        "chains s: the sampling itself, each chain's time on the sampler's own clock "
        f"summed over chains / {CORES} (flagship: nutpie's wall time of its chains); "
        "whole s: the whole sampling call"
    )
    head = (
        f"{'way':<26}{'whole s':>8}{'chains s':>9}{'us/grad':>8}{'grad/draw':>10}"
        f"{'ESS/draw':>14}{'ESS/kgrad':>14}{'ESS/s chains':>16}{'ESS/s whole':>16}"
        "  slowest       effect mean (MCSE)"
    )
    print(head)
    print(f"{'':<26}{'':>8}{'':>9}{'':>8}{'':>10}" + "    effect min" * 2 + "   effect   min" * 2)
    for way, rows in results.items():
        mean, mcse = pooled(rows)
        slowest = statistics.mode(r["slowest"] for r in rows)
        print(
            f"{way:<26}{median(rows, 'whole_seconds'):>8.2f}{median(rows, 'chains_seconds'):>9.2f}"
            f"{median(rows, 'us_per_gradient'):>8.2f}{median(rows, 'gradients_per_draw'):>10.1f}"
            f"{median(rows, 'ess_draw_effect'):>10.2f}{median(rows, 'ess_draw_min'):>5.2f}"
            f"{median(rows, 'ess_kgrad_effect'):>9.1f}{median(rows, 'ess_kgrad_min'):>5.1f}"
            f"{median(rows, 'ess_s_effect_chains'):>9.0f}{median(rows, 'ess_s_min_chains'):>7.0f}"
            f"{median(rows, 'ess_s_effect_whole'):>9.0f}{median(rows, 'ess_s_min_whole'):>7.0f}"
            f"  {slowest:<13} {mean:.2f} ({mcse:.3f})"
        )


def print_ratios(results: dict[str, list[dict]]) -> None:
    """RATIO lines: each nutpie way against Stan on both time bases, and the decomposition.

    Each nutpie way against the pystan way of its parameterisation; the engine's way
    (``nutpie_marginal``) also against Stan without pystan (``stan_native``).
    """
    pairs = [(w, stan_partner(w), "stan") for w in NUTPIE_WAYS]
    pairs.append(("nutpie_marginal", "stan_native", "stan_native"))
    for way, partner, against in pairs:
        if way not in results or partner not in results:
            continue
        rows, stan_rows = results[way], results[partner]
        prefix = "marginal_nutpie" if way == "nutpie_marginal" else way
        prefix = f"{prefix}_over_{against}"
        for basis, text in BASES:
            suffix = "" if basis == "chains" else "_whole_call"
            for key, label in (("effect", "effect"), ("min", "min")):
                ratio = median(rows, f"ess_s_{key}_{basis}") / median(
                    stan_rows, f"ess_s_{key}_{basis}"
                )
                print(f"RATIO {prefix}{suffix}_ess_per_s_{label} {ratio:.2f}")
            per_seed = [
                (
                    a[f"ess_s_effect_{basis}"] / b[f"ess_s_effect_{basis}"],
                    a[f"ess_s_min_{basis}"] / b[f"ess_s_min_{basis}"],
                )
                for a, b in zip(rows, stan_rows, strict=True)
            ]
            print(
                f"  {way} / {partner} per seed, {text} (effect, slowest): "
                + ", ".join(f"{e:.1f}x/{m:.1f}x" for e, m in per_seed)
            )
        gradient = median(stan_rows, "us_per_gradient") / median(rows, "us_per_gradient")
        print(f"RATIO {prefix}_gradients_per_s {gradient:.2f}")
        for key, label in (("effect", "effect"), ("min", "min")):
            ratio = median(rows, f"ess_kgrad_{key}") / median(stan_rows, f"ess_kgrad_{key}")
            print(f"RATIO {prefix}_ess_per_gradient_{label} {ratio:.2f}")
        (m1, s1), (m2, s2) = pooled(rows), pooled(stan_rows)
        agree = abs(m1 - m2) < 4 * math.hypot(s1, s2)
        print(
            f"  {way}: effect agrees with {partner} (|diff| < 4 MCSE): {'yes' if agree else 'NO'} "
            f"({abs(m1 - m2):.3f} vs {4 * math.hypot(s1, s2):.3f})"
        )
    for partner in ("stan_marginal", "stan_native"):
        if "nutpie_marginal" not in results or partner not in results:
            continue
        rows, stan_rows = results["nutpie_marginal"], results[partner]
        for basis, text in BASES:
            met = all(
                median(rows, f"ess_s_{k}_{basis}")
                >= TARGET_RATIO * median(stan_rows, f"ess_s_{k}_{basis}")
                for k in ("effect", "min")
            )
            print(
                f"target >= {TARGET_RATIO:g}x Stan ({partner}; effect and slowest), {text}: "
                f"{'met' if met else 'NOT met'}"
            )
    if "nutpie_marginal" in results and "flagship" in results:
        a, b = results["nutpie_marginal"], results["flagship"]
        for key, label in (("effect", "effect"), ("min", "min")):
            ratio = median(a, f"ess_s_{key}_whole") / median(b, f"ess_s_{key}_whole")
            print(f"RATIO marginal_over_noncentred_ess_per_s_{label} {ratio:.2f}")
            ratio = median(a, f"ess_draw_{key}") / median(b, f"ess_draw_{key}")
            print(f"RATIO marginal_over_noncentred_ess_per_draw_{label} {ratio:.2f}")


def main(argv=None) -> int:
    """Sample every way for every seed; print the table, the ratios and the agreement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds")
    parser.add_argument("--draws", type=int, default=1000, help="draws and warm-up per chain")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--target-accept", type=float, default=0.9, help="both samplers")
    parser.add_argument(
        "--ways",
        default="nutpie_marginal,stan_marginal,stan_native,flagship",
        help="comma-separated, of "
        + ", ".join([*NUTPIE_WAYS, *STAN_WAYS, *NATIVE_WAYS, "flagship"]),
    )
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    ways = args.ways.split(",")
    unknown = set(ways) - {*NUTPIE_WAYS, *STAN_WAYS, *NATIVE_WAYS, "flagship"}
    if unknown:
        parser.error(f"unknown ways: {sorted(unknown)}")

    from milkbayes.datasets import load_bundled

    study = load_bundled("volume_ml")
    inputs, _, hyper = flagship.model_inputs(study)
    measures = {}
    for way in ways:
        if way in NUTPIE_WAYS:
            adaptation, zero_sum = NUTPIE_WAYS[way]
            measures[way] = setup_nutpie_marginal(inputs, hyper, args, adaptation, zero_sum)
        elif way in STAN_WAYS:
            try:
                measures[way] = setup_stan_marginal(inputs, hyper, args, STAN_WAYS[way])
            except ImportError as error:
                print(f"{way} not measured: {error} (pip install -e '.[bench]')")
        elif way in NATIVE_WAYS:
            try:
                measures[way] = setup_stan_native(inputs, hyper, args, NATIVE_WAYS[way])
            except (ImportError, OSError, subprocess.CalledProcessError) as error:
                print(f"{way} not measured: {error} (needs the bench extra and g++)")
        else:
            measures[way] = setup_flagship(study, args)
    results: dict[str, list[dict]] = {way: [] for way in measures}
    for seed in seeds:  # interleaved: a change of load hits every way alike
        for way, measure in measures.items():
            results[way].append(with_rates(measure(seed)))
    print_table(results, args, seeds)
    print_ratios(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
