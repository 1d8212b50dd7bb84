r"""The flagship model fitted three ways: milkbayes's engine, PyMC's own NUTS, and Stan.

``prepost_hierarchical`` with the normal likelihood and the ``neutral`` priors, on the
bundled (reconstructed) ``volume_ml`` data (n = 24) and on a synthetic 2,000-mother
dataset, is fitted by

* ``milkbayes``: :func:`milkbayes.engine.fit.fit` (nutpie, numba backend, compile once);
* ``pymc``: ``pm.sample(nuts_sampler="pymc")`` on the same ``pm.Model``;
* ``stan``: pystan 3 on ``benchmarks/prepost_hierarchical.stan``, the same model
  written in Stan (same non-centred parameterisation, same priors, same likelihood).

Every fit runs in its own fresh Python process (``--worker``), so the total time is
that of a cold process (interpreter start, imports, data, compilation, sampling and
the ESS computation), and the repetitions of the ways are interleaved
(A B C A B C ...) so that a change of machine load hits all of them alike.
Repetition :math:`r` uses the seed ``--seed`` + :math:`r` in every way: the ESS of a
single chain set varies from seed to seed (that of the slowest parameter by a factor
of 2), so the medians are over seeds as well as over timings.

Notes
-----
**Same settings.** Every way runs 4 chains of 1000 warm-up draws and 1000 draws on
``min(chains, CPUs)`` cores, with the same step-size adaptation target
(``--target-accept``, milkbayes's engine default 0.9; Stan's ``adapt delta``), and
each worker first makes one short, untimed fit (``--warmup-draws`` draws) in the
same process, so that one-off start-up costs (thread pools, lazy imports and, for
nutpie, first-call initialisation: about 0.2 s) are counted in the total time but not
as sampling.

**Measures, per fit.** With :math:`t_s` a sampling time (warm-up plus draws, all
chains) and :math:`\widehat{ESS}_{bulk}` from
:func:`arviz.ess` (method ``"bulk"``, the rank-normalised split-:math:`\hat R` ESS of
Vehtari et al. 2021):

* ESS/s of the effect :math:`= \widehat{ESS}_{bulk}(\beta) / t_s`;
* ESS/s of the slowest parameter :math:`= \min_\theta \widehat{ESS}_{bulk}(\theta) / t_s`
  over every free parameter (each element of a vector counts; the same set in all
  three ways);
* two sampling times: the whole sampling call (``sample s``: for milkbayes the data
  swap, nutpie's chains and the packaging of the draws into a DataTree; for Stan
  pystan's ``sample()``, which fetches and parses the draws) and the chains alone
  (``sampler s``: milkbayes's ``sampler_seconds``; none for Stan). PyMC records only
  its ``sampling_time``, which ends with its chains, so it fills both. Each ratio
  uses the same one on both sides (:data:`TIME_BASIS`): the sampler time against
  PyMC, the whole call against Stan;
* compile time: ``milkbayes.engine.compile_cache.compile_pymc_model``; for PyMC the wall time of
  ``pm.sample`` minus its sampling time (compilation, initialisation, worker start);
  ``stan.build``;
* total: wall time of the worker process, measured by the parent;
* peak memory: ``resource.getrusage`` max RSS of the worker, and of its largest child
  (PyMC's and httpstan's chain processes), whichever is larger.

The first repetition of each way runs with empty compile caches (a fresh PyTensor
compile directory, a fresh httpstan cache): its compile time is the cold one; later
repetitions reuse those caches, as a user's second session would. Medians are over
repetitions.

**Agreement.** The effect's posterior mean and sd, averaged over the repetitions
(:func:`pooled_effect`), must agree between each pair of ways within
:math:`4\sqrt{MCSE_1^2 + MCSE_2^2}` (MCSE of the mean and of the sd from
:func:`arviz.mcse`, pooled over the repetitions).

References
----------
Vehtari A, Gelman A, Simpson D, Carpenter B, Bürkner P-C (2021). Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC.
Bayesian Analysis 16(2), 667-718.

Examples
--------
Run ``.venv/bin/python benchmarks/bench_samplers.py --help``; the table ends with lines
``RATIO <name> <value>`` that ``benchmarks/run_all.py`` collects.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

HERE = Path(__file__).resolve().parent
STAN_FILE = HERE / "prepost_hierarchical.stan"
WAYS = ("milkbayes", "pymc", "stan", "nutpie_bare")
"""``nutpie_bare`` is an ablation (the same maths without the model contract's extras)."""
MODEL = "prepost_hierarchical"
LIKELIHOOD = "normal"
PRIOR = "neutral"
COVARIATES = ("work_duration", "parity", "occupation", "education", "age_group")
TARGETS = {24: {"stan": 5.0, "pymc": 25.0}, 2000: {"stan": 5.0}}
"""ESS/s of milkbayes over the other way, at each n."""
REFIT_TARGET_SECONDS = 0.5
"""A refit after compiling takes <= 0.5 s (4 chains x 1000 + 1000 draws)."""
TIME_BASIS = {"pymc": "sampler", "stan": "sample", "nutpie_bare": "sample"}
"""Which sampling time each ratio divides by, the same on both sides.

``sample``: the wall time of the whole sampling call, draws packaged as the caller
gets them; ``sampler``: the chains alone. PyMC's ``sampling_time`` ends when its
chains end, before the draws are packaged, so milkbayes is compared with it on its
sampler time (nutpie's chains, :attr:`milkbayes.engine.fit.FitResult.sampler_seconds`);
pystan's ``sample()`` returns only after fetching and parsing the draws and gives no
finer figure, so milkbayes is compared with Stan on its whole sampling step
(``sample_seconds``: data swap, chains and packaging), which counts milkbayes's
packaging against it."""


class Timing(NamedTuple):
    """The sampling time of one fit: the whole call, and the chains alone if known."""

    sample_s: float
    sampler_s: float | None


# ----------------------------------------------------------------------------- data
def make_study(n: int, seed: int = 2000):
    """The bundled data at n = 24; otherwise a synthetic study of ``n`` mothers.

    The synthetic mothers take covariate rows drawn with replacement from the bundled
    24 (keeping their joint structure) and volumes from the reconstruction's own
    generative model (:func:`milkbayes.datasets.draw_volume` at its default
    assumptions), redrawn for the few mothers whose drawn volume is negative.
    """
    import pandas as pd

    from milkbayes import datasets
    from milkbayes.data.study import study_from_frame

    bundled = datasets.load_bundled("volume_ml")
    if n == bundled.n:
        return bundled
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, bundled.n, size=n)
    covariates = bundled.table.iloc[rows][list(COVARIATES)].astype(str).reset_index(drop=True)
    assumptions = datasets.make_assumptions("volume_ml").outcome
    pre, post = datasets.draw_volume(rng, covariates, assumptions)
    # a volume cannot be negative: redraw those mothers (conditioning on volume >= 0)
    while (bad := np.flatnonzero((pre < 0) | (post < 0))).size:
        pre[bad], post[bad] = datasets.draw_volume(
            rng, covariates.iloc[bad].reset_index(drop=True), assumptions
        )
    frame = pd.DataFrame(
        {
            "id": [f"S{i + 1:05d}" for i in range(n)],
            "pre": pre,
            "post": post,
            "group": "massage",
            **covariates,
        }
    )
    return study_from_frame(
        frame,
        outcome=bundled.outcome,
        reconstructed=True,
        source=f"synthetic:volume_ml:n={n}:seed={seed}",
    )


def model_inputs(study):
    """The PyMC model's inputs, its prior set and the hyperparameters in outcome units."""
    from milkbayes.models import prepost_hierarchical as model
    from milkbayes.models.priors import get_prior

    inputs = model.inputs(study, LIKELIHOOD)
    missing = [
        c for c in COVARIATES if c not in (*inputs.meta["modifiers"], *inputs.meta["pooled"])
    ]
    if missing:
        raise SystemExit(f"the Stan twin needs every covariate; these were skipped: {missing}")
    if not np.all(inputs.data["mother_weight"] == 1.0):
        raise SystemExit("the Stan twin has no likelihood weights; all must be 1")
    prior = get_prior(PRIOR, study.outcome, MODEL)
    hyper = model._scale_priors(
        prior.values, LIKELIHOOD, float(inputs.data["y_centre"]), float(inputs.data["y_scale"])
    )
    return inputs, prior, hyper


def stan_data(inputs, hyper) -> dict:
    """The Stan program's data: the same arrays, 1-based indices, the same priors."""
    d = inputs.data
    out = {
        "N": int(d["y"].size),
        "M": int(d["mother_weight"].size),
        "y": d["y"].tolist(),
        "mother_idx": (d["mother_idx"] + 1).tolist(),
        "time": d["time"].tolist(),
        "mother_weight": d["mother_weight"].tolist(),
        "x_work_duration": d["x_work_duration"].tolist(),
        "x_parity": d["x_parity"].tolist(),
        "intercept_mu": float(hyper["intercept"][0]),
        "intercept_sigma": float(hyper["intercept"][1]),
        "mother_sd_sigma": float(hyper["mother_sd"]),
        "effect_mu": float(hyper["effect"][0]),
        "effect_sigma": float(hyper["effect"][1]),
        "modifier_sigma": float(hyper["modifier"]),
        "subgroup_sd_sigma": float(hyper["subgroup_sd"]),
        "sigma_sigma": float(hyper["sigma"]),
    }
    for column in ("occupation", "education", "age_group"):
        out[f"K_{column}"] = len(inputs.coords[f"{column}_level"])
        out[f"idx_{column}"] = (d[f"idx_{column}"] + 1).tolist()
    return out


FREE_PARAMETERS = (
    "mother_sd",
    "mother_z",
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
"""The free parameters of the model, named alike in PyMC and Stan."""


# ----------------------------------------------------------------------------- workers
def run_milkbayes(study, args) -> tuple[object, float, float]:
    """Fit with :func:`milkbayes.engine.fit.fit`; the tree, compile and sampling seconds."""
    from milkbayes.engine.fit import fit

    def run(draws, tune, seed):
        return fit(
            MODEL,
            study,
            prior=PRIOR,
            likelihood=LIKELIHOOD,
            draws=draws,
            tune=tune,
            chains=args.chains,
            seed=seed,
            log_likelihood=False,
            posterior_predictive=False,
            target_accept=args.target_accept,
        )

    first = run(args.warmup_draws, args.warmup_draws, args.seed + 1) if args.warmup_draws else None
    result = run(args.draws, args.tune, args.seed)
    compile_seconds = first.compile_seconds if first is not None else result.compile_seconds
    return result.tree, compile_seconds, Timing(result.sample_seconds, result.sampler_seconds)


def run_pymc(study, args) -> tuple[object, float, float]:
    """Sample the same PyMC model with PyMC's own NUTS; tree, compile and sampling seconds."""
    import pymc as pm

    from milkbayes.models import prepost_hierarchical as model

    inputs, prior, _ = model_inputs(study)
    pm_model = model.build(inputs, prior, LIKELIHOOD)

    def run(draws, tune, seed):
        with pm_model:
            return pm.sample(
                draws=draws,
                tune=tune,
                chains=args.chains,
                cores=min(args.chains, os.cpu_count() or 1),
                nuts_sampler="pymc",
                random_seed=seed,
                progressbar=False,
                target_accept=args.target_accept,
                compute_convergence_checks=False,
            )

    if args.warmup_draws:
        run(args.warmup_draws, args.warmup_draws, args.seed + 1)
    start = time.perf_counter()
    tree = run(args.draws, args.tune, args.seed)
    wall = time.perf_counter() - start
    sampling = float(tree["sample_stats"].attrs["sampling_time"])
    # PyMC's sampling_time ends when the chains end, before the draws are packaged
    return tree, wall - sampling, Timing(sampling, sampling)


def run_stan(study, args) -> tuple[object, float, float]:
    """Sample the Stan translation with PyStan; tree, compile and sampling seconds."""
    import stan
    from arviz_base import from_dict

    inputs, _, hyper = model_inputs(study)
    without_client_timeout()
    start = time.perf_counter()
    posterior = stan.build(
        STAN_FILE.read_text(), data=stan_data(inputs, hyper), random_seed=args.seed
    )
    compile_seconds = time.perf_counter() - start
    if args.warmup_draws:
        posterior.sample(
            num_chains=args.chains,
            num_samples=args.warmup_draws,
            num_warmup=args.warmup_draws,
            delta=args.target_accept,
        )
    start = time.perf_counter()
    fit = posterior.sample(
        num_chains=args.chains,
        num_samples=args.draws,
        num_warmup=args.tune,
        delta=args.target_accept,
    )
    sample_seconds = time.perf_counter() - start
    draws = {}
    for name in FREE_PARAMETERS:
        # pystan 3 gives (*dims, draws * chains) with the chains of each draw adjacent
        # (flat index = draw * chains + chain) and (1, ...) for a scalar
        dims = tuple(fit.dims[fit.param_names.index(name)])
        values = np.asarray(fit[name]).reshape(*dims, args.draws, args.chains)
        draws[name] = np.moveaxis(values, (-1, -2), (0, 1))
    # pystan returns after fetching and parsing the draws: no figure without them
    return from_dict({"posterior": draws}), compile_seconds, Timing(sample_seconds, None)


def without_client_timeout() -> None:
    """Let pystan wait for a slow compilation.

    pystan talks to its in-process httpstan server through an ``aiohttp`` session with
    aiohttp's default 5-minute total timeout; compiling the model takes longer than
    that on a loaded 2-core machine, and the build then fails although the compiler
    finishes. The benchmark lifts that limit (its own ``--timeout`` still applies).
    """
    import functools

    import aiohttp
    import stan.common

    stan.common.aiohttp.ClientSession = functools.partial(
        aiohttp.ClientSession, timeout=aiohttp.ClientTimeout(total=None)
    )


def bare_model(inputs, hyper):
    """The same maths as the PyMC model, written without the model contract's extras.

    No ``pm.Data`` containers, no likelihood-weight potential (which evaluates the
    likelihood a second time), no deterministics (which nutpie evaluates at every
    draw): an ablation that shows what those cost, not a way milkbayes fits.
    """
    import pymc as pm

    d = inputs.data
    coords = {k: v for k, v in inputs.coords.items()}
    with pm.Model(coords=coords) as model:
        mother_sd = pm.HalfNormal("mother_sd", sigma=hyper["mother_sd"])
        mother_z = pm.Normal("mother_z", 0.0, 1.0, dims="mother")
        effect = pm.Normal("effect", hyper["effect"][0], hyper["effect"][1])
        tau = effect
        # sample-centred coding, as in the model (all weights are 1 here)
        for column in ("work_duration", "parity"):
            gamma = pm.Normal(f"modifier_{column}", 0.0, hyper["modifier"])
            x = d[f"x_{column}"]
            tau = tau + gamma * (x - x.mean())
        for column in ("occupation", "education", "age_group"):
            sd = pm.HalfNormal(f"sd_{column}", sigma=hyper["subgroup_sd"])
            raw = pm.Normal(f"z_{column}", 0.0, 1.0, dims=f"{column}_level")
            u = (sd * raw)[d[f"idx_{column}"]]
            tau = tau + u - u.mean()
        intercept = pm.Normal("intercept", hyper["intercept"][0], hyper["intercept"][1])
        sigma = pm.HalfNormal("sigma", sigma=hyper["sigma"])
        idx = d["mother_idx"]
        eta = intercept + mother_sd * mother_z[idx] + d["time"] * tau[idx]
        pm.Normal("y_obs", eta, sigma, observed=d["y"], dims="obs")
    return model


def run_nutpie_bare(study, args) -> tuple[object, float, float]:
    """Sample a hand-written PyMC model with nutpie directly (no milkbayes layer).

    Returns the tree, compile and sampling seconds: the floor that the engine's
    overhead is measured against.
    """
    import nutpie

    inputs, _, hyper = model_inputs(study)
    hyper = {
        k: (tuple(float(x) for x in v) if isinstance(v, tuple) else float(v))
        for k, v in hyper.items()
        if k in ("intercept", "mother_sd", "effect", "modifier", "subgroup_sd", "sigma")
    }
    model = bare_model(inputs, hyper)
    start = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model)
    compile_seconds = time.perf_counter() - start

    def run(draws, tune, seed):
        return nutpie.sample(
            compiled,
            draws=draws,
            tune=tune,
            chains=args.chains,
            cores=min(args.chains, os.cpu_count() or 1),
            seed=seed,
            progress_bar=False,
            target_accept=args.target_accept,
            save_warmup=False,
        )

    if args.warmup_draws:
        run(args.warmup_draws, args.warmup_draws, args.seed + 1)
    start = time.perf_counter()
    tree = run(args.draws, args.tune, args.seed)
    return tree, compile_seconds, Timing(time.perf_counter() - start, None)


RUNNERS = {
    "milkbayes": run_milkbayes,
    "pymc": run_pymc,
    "stan": run_stan,
    "nutpie_bare": run_nutpie_bare,
}


def measures(tree, compile_seconds: float, timing: Timing) -> dict:
    """ESS_bulk, MCSE and ESS/s of the effect and of the slowest free parameter.

    ESS/s is per second of the whole sampling call and, when known, of the sampler
    alone.
    """
    import arviz as az

    posterior = tree["posterior"] if "posterior" in tree.children else tree
    ess = az.ess(tree, var_names=list(FREE_PARAMETERS), method="bulk")
    per_element = {}
    for name in FREE_PARAMETERS:
        values = np.atleast_1d(np.asarray(ess[name]))
        for k, value in enumerate(values.ravel()):
            per_element[name if values.size == 1 else f"{name}[{k}]"] = float(value)
    slowest = min(per_element, key=per_element.get)
    effect = np.asarray(posterior["effect"])
    mcse_mean = float(np.asarray(az.mcse(tree, var_names=["effect"], method="mean")["effect"]))
    mcse_sd = float(np.asarray(az.mcse(tree, var_names=["effect"], method="sd")["effect"]))
    out = {
        "compile_s": compile_seconds,
        "sample_s": timing.sample_s,
        "sampler_s": timing.sampler_s,
        "effect_mean": float(effect.mean()),
        "effect_sd": float(effect.std(ddof=1)),
        "effect_mcse_mean": mcse_mean,
        "effect_mcse_sd": mcse_sd,
        "ess_bulk_effect": per_element["effect"],
        "ess_bulk_min": per_element[slowest],
        "slowest_parameter": slowest,
        "n_draws": int(effect.size),
    }
    for basis in ("sample", "sampler"):
        seconds = out[f"{basis}_s"]
        if seconds is not None:
            suffix = "" if basis == "sample" else "_sampler"
            out[f"ess_per_s_effect{suffix}"] = per_element["effect"] / seconds
            out[f"ess_per_s_min{suffix}"] = per_element[slowest] / seconds
    return out


def peak_rss_mb() -> float:
    """Largest max RSS of this process and of its waited-for children, in MB."""
    import resource

    kb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return kb / 1024.0  # Linux reports kilobytes


def worker(args) -> None:
    """One fit in this (fresh) process; prints one JSON line."""
    study = make_study(args.n)
    tree, compile_seconds, timing = RUNNERS[args.worker](study, args)
    out = {
        "way": args.worker,
        "n": args.n,
        **measures(tree, compile_seconds, timing),
        "peak_rss_mb": peak_rss_mb(),
    }
    print("WORKER " + json.dumps(out), flush=True)


# ----------------------------------------------------------------------------- parent
def stan_available() -> str | None:
    """None when pystan can be imported, else the reason it cannot."""
    try:
        import stan  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure means "skip Stan"
        return (
            f"pystan not importable ({type(exc).__name__}: {exc}); "
            "install with .venv/bin/pip install -c constraints.txt pystan"
        )
    return None


def stan_compiled(cache_home: Path) -> bool:
    """Whether a Stan model is already compiled in the benchmark's httpstan cache."""
    return any(cache_home.glob("httpstan/*/models/*/*.so"))


def launch(way: str, n: int, args, env: dict, seed: int) -> dict:
    """Run one worker process; add its wall time; return its measures or its error."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        way,
        "--n",
        str(n),
        "--draws",
        str(args.draws),
        "--tune",
        str(args.tune),
        "--chains",
        str(args.chains),
        "--seed",
        str(seed),
        "--target-accept",
        str(args.target_accept),
        "--warmup-draws",
        str(args.warmup_draws),
    ]
    cpu_before = children_cpu_seconds()
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=args.timeout
        )
    except subprocess.TimeoutExpired:
        return {
            "way": way,
            "n": n,
            "error": f"timed out after {args.timeout:.0f} s",
            "total_s": time.perf_counter() - start,
            "cpu_s": children_cpu_seconds() - cpu_before,
        }
    total = time.perf_counter() - start
    cpu = children_cpu_seconds() - cpu_before
    lines = [line for line in done.stdout.splitlines() if line.startswith("WORKER ")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {
            "way": way,
            "n": n,
            "error": " | ".join(tail) or f"exit {done.returncode}",
            "total_s": total,
            "cpu_s": cpu,
        }
    return {**json.loads(lines[-1].removeprefix("WORKER ")), "total_s": total, "cpu_s": cpu}


def children_cpu_seconds() -> float:
    """User + system CPU seconds of the finished children.

    Their own children count too, when waited for: what a worker cost the machine,
    whatever the other load.
    """
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def environment(cache_root: Path, cold: bool) -> dict:
    """Environment of a worker: its own PyTensor compile dir and httpstan cache.

    ``cold`` empties them first, so the worker compiles everything from scratch.
    """
    if cold and cache_root.exists():
        shutil.rmtree(cache_root)
    cache_root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    flags = env.get("PYTENSOR_FLAGS", "")
    env["PYTENSOR_FLAGS"] = ",".join(
        filter(None, [flags, f"base_compiledir={cache_root / 'pytensor'}"])
    )
    env["XDG_CACHE_HOME"] = str(cache_root / "xdg")  # httpstan's compiled models
    env["NUMBA_CACHE_DIR"] = str(cache_root / "numba")
    env["PYTHONWARNINGS"] = "ignore"
    return env


def median_of(rows: list[dict], key: str) -> float | None:
    """Median of ``key`` over ``rows`` that have it, or None when none has."""
    values = [row[key] for row in rows if row.get(key) is not None]
    return statistics.median(values) if values else None


def pooled_effect(fits: list[dict]) -> dict:
    r"""The effect's posterior mean and sd averaged over repetitions, with their MCSE.

    Repetitions use different seeds, so they are independent estimates: the average
    of :math:`k` of them has MCSE :math:`\sqrt{\sum_r MCSE_r^2}/k`.

    Examples
    --------
    >>> out = pooled_effect([{"effect_mean": 1.0, "effect_sd": 2.0, "effect_mcse_mean": 0.3,
    ...                       "effect_mcse_sd": 0.4},
    ...                      {"effect_mean": 3.0, "effect_sd": 2.0, "effect_mcse_mean": 0.4,
    ...                       "effect_mcse_sd": 0.3}])
    >>> out["effect_mean"], round(out["effect_mcse_mean"], 3)
    (2.0, 0.25)
    """
    k = len(fits)
    out = {}
    for stat in ("mean", "sd"):
        out[f"effect_{stat}"] = float(np.mean([f[f"effect_{stat}"] for f in fits]))
        out[f"effect_mcse_{stat}"] = float(
            np.sqrt(np.sum([f[f"effect_mcse_{stat}"] ** 2 for f in fits])) / k
        )
    return out


def summarise(fits: list[dict], n: int, ways: tuple[str, ...]) -> dict:
    """Medians per way, ratios against the targets, and the agreement check."""
    per_way = {}
    for way in ways:
        ok = [f for f in fits if f["way"] == way and "error" not in f]
        errors = [f["error"] for f in fits if f["way"] == way and "error" in f]
        if not ok:
            per_way[way] = {"error": errors[0] if errors else "not run"}
            continue
        first = ok[0]
        per_way[way] = {
            "repetitions": len(ok),
            "ess_per_s_effect": median_of(ok, "ess_per_s_effect"),
            "ess_per_s_min": median_of(ok, "ess_per_s_min"),
            "ess_per_s_effect_sampler": median_of(ok, "ess_per_s_effect_sampler"),
            "ess_per_s_min_sampler": median_of(ok, "ess_per_s_min_sampler"),
            "sampler_s": median_of(ok, "sampler_s"),
            "slowest_parameter": statistics.mode(f["slowest_parameter"] for f in ok),
            "sample_s": median_of(ok, "sample_s"),
            "compile_s_cold_cache": first["compile_s"] if first.get("cold") else None,
            "compile_s_warm_cache": median_of([f for f in ok if not f.get("cold")], "compile_s"),
            "total_s_cold_cache": first["total_s"] if first.get("cold") else None,
            "total_s_warm_cache": median_of([f for f in ok if not f.get("cold")], "total_s"),
            "peak_rss_mb": max(f["peak_rss_mb"] for f in ok),
            "cpu_s": median_of(ok, "cpu_s"),
            **pooled_effect(ok),
            "errors": errors,
        }
    ratios, agreement = {}, {}
    ours = per_way.get("milkbayes", {})
    for other in ways:
        theirs = per_way.get(other, {})
        if other == "milkbayes" or "error" in ours or "error" in theirs:
            continue
        suffix = "_sampler" if TIME_BASIS.get(other) == "sampler" else ""
        for kind in ("effect", "min"):
            ratio = ours[f"ess_per_s_{kind}{suffix}"] / theirs[f"ess_per_s_{kind}{suffix}"]
            ratios[f"n{n}_milkbayes_over_{other}_ess_per_s_{kind}"] = ratio
            if suffix:  # and milkbayes's whole sampling step, for the record
                ratios[f"n{n}_milkbayes_whole_step_over_{other}_ess_per_s_{kind}"] = (
                    ours[f"ess_per_s_{kind}"] / theirs[f"ess_per_s_{kind}{suffix}"]
                )
        agreement[other] = agree(ours, theirs)
    targets = {}
    for other, target in TARGETS.get(n, {}).items():
        key = f"n{n}_milkbayes_over_{other}_ess_per_s_effect"
        if key in ratios:
            # the target must hold for the effect and for the slowest parameter
            worst = min(ratios[key], ratios[key.replace("_effect", "_min")])
            targets[f"n{n}_ess_per_s_vs_{other}"] = {
                "target": target,
                "value": worst,
                "met": worst >= target,
            }
    refit = per_way.get("milkbayes", {}).get("sample_s")
    if n <= 100 and refit is not None:
        # the timed milkbayes fit is a refit: the untimed first fit compiled the model
        targets[f"n{n}_refit_sampling"] = {
            "target": REFIT_TARGET_SECONDS,
            "value": refit,
            "met": refit <= REFIT_TARGET_SECONDS,
            "unit": "s",
        }
    return {"n": n, "ways": per_way, "ratios": ratios, "agreement": agreement, "targets": targets}


def agree(a: dict, b: dict) -> dict:
    """|difference| of the effect's mean and sd against 4 combined MCSEs."""
    out = {}
    for stat in ("mean", "sd"):
        diff = abs(a[f"effect_{stat}"] - b[f"effect_{stat}"])
        bound = 4.0 * float(np.hypot(a[f"effect_mcse_{stat}"], b[f"effect_mcse_{stat}"]))
        out[stat] = {"abs_diff": diff, "bound": bound, "ok": diff < bound}
    out["ok"] = out["mean"]["ok"] and out["sd"]["ok"]
    return out


def run_size(
    n: int, repetitions: int, ways: tuple[str, ...], args, cache_root: Path, first_size: bool
) -> dict:
    """Interleaved repetitions (A B C A B C ...) of every way at one n.

    Only the first repetition of the first size starts from empty caches (the Stan
    program and PyTensor's compiled operations do not depend on n).
    """
    fits = []
    for rep in range(repetitions):
        for way in ways:
            cold = (
                rep == 0
                and first_size
                and not args.keep_caches
                and not (way == "stan" and args.keep_stan_cache)
            )
            env = environment(cache_root / way, cold=cold)
            print(
                f"  n={n} rep {rep + 1}/{repetitions} {way}{' (cold caches)' if cold else ''} ...",
                file=sys.stderr,
                flush=True,
            )
            row = launch(way, n, args, env, seed=args.seed + rep)
            fits.append({**row, "repetition": rep + 1, "cold": cold})
    return {**summarise(fits, n, ways), "fits": fits}


def fmt(value, spec: str = ".1f") -> str:
    """``value`` formatted with ``spec``, or ``-`` when it is None."""
    return "-" if value is None else format(value, spec)


def print_table(result: dict) -> None:
    """Print one row per way of sampling: ESS/s, times, CPU and memory."""
    n = result["n"]
    print(f"\nprepost_hierarchical (normal, neutral priors), n = {n}: medians over repetitions")
    header = (
        f"{'way':<10} {'reps':>4} {'ESS/s eff':>10} {'ESS/s min':>10} {'slowest':<16} "
        f"{'sample s':>8} {'sampler s':>9} {'compile s':>15} {'total s':>15} "
        f"{'cpu s':>6} {'peak MB':>8}"
    )
    print(header)
    print("-" * len(header))
    for way, row in result["ways"].items():
        if "error" in row:
            print(f"{way:<10} not measured: {row['error']}")
            continue
        compile_text = f"{fmt(row['compile_s_cold_cache'])}/{fmt(row['compile_s_warm_cache'])}"
        total_text = f"{fmt(row['total_s_cold_cache'])}/{fmt(row['total_s_warm_cache'])}"
        print(
            f"{way:<10} {row['repetitions']:>4} {fmt(row['ess_per_s_effect']):>10} "
            f"{fmt(row['ess_per_s_min']):>10} {row['slowest_parameter']:<16} "
            f"{fmt(row['sample_s'], '.2f'):>8} {fmt(row.get('sampler_s'), '.2f'):>9} "
            f"{compile_text:>15} {total_text:>15} "
            f"{fmt(row['cpu_s'], '.0f'):>6} {fmt(row['peak_rss_mb'], '.0f'):>8}"
        )
    print(
        "(ESS/s per second of the whole sampling call, 'sample s'; 'sampler s' = the "
        "chains alone, draws not yet packaged: for PyMC its own sampling_time, which is "
        "both; compile and total: cold caches / warm caches; total = wall time of the "
        "whole fresh process; cpu s = its CPU time, median)"
    )
    per_second_of = {"sampler": "the sampler (chains alone)", "sample": "the whole sampling call"}
    for other, basis in TIME_BASIS.items():
        if other in result["ways"] and "error" not in result["ways"][other]:
            print(f"ratio milkbayes / {other}: per second of {per_second_of[basis]} on both sides")
    for other, check in result["agreement"].items():
        print(
            f"effect agreement milkbayes vs {other}: mean |diff| "
            f"{check['mean']['abs_diff']:.3f} < {check['mean']['bound']:.3f}, sd |diff| "
            f"{check['sd']['abs_diff']:.3f} < {check['sd']['bound']:.3f}: "
            f"{'ok' if check['ok'] else 'DISAGREE'}"
        )
    for name, value in result["ratios"].items():
        print(f"RATIO {name} {value:.2f}")
    for name, target in result["targets"].items():
        if target.get("unit") == "s":
            print(
                f"TARGET {name} <= {target['target']:g} s: {target['value']:.2f} s "
                f"{'met' if target['met'] else 'NOT met'} (milkbayes sample s: with_data "
                "and sampling after the compiling first fit)"
            )
            continue
        print(
            f"TARGET {name} >= {target['target']:g}x: {target['value']:.2f}x "
            f"{'met' if target['met'] else 'NOT met'}"
        )


def parse(argv=None) -> argparse.Namespace:
    """The command-line options of the benchmark (also those of a worker)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="24,2000", help="comma-separated numbers of mothers (default 24,2000)"
    )
    parser.add_argument(
        "--repetitions",
        default="3,1",
        help="repetitions per size, same order as --sizes (default 3,1)",
    )
    parser.add_argument(
        "--ways",
        default=",".join(WAYS),
        help="ways at n <= 100 (default: all, nutpie_bare included)",
    )
    parser.add_argument(
        "--ways-large",
        default="milkbayes,stan",
        help="ways run at n > 100 (PyMC's NUTS at n = 2,000 takes minutes "
        "and has no target there; add pymc to include it)",
    )
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=20241)
    parser.add_argument(
        "--target-accept",
        type=float,
        default=None,
        help="step-size adaptation target of every way (Stan's adapt "
        "delta); default milkbayes's engine default, 0.9",
    )
    parser.add_argument(
        "--warmup-draws",
        type=int,
        default=20,
        help="draws (and warm-up draws) of an untimed first fit in each "
        "worker, so that one-off start-up costs are not counted as "
        "sampling (0: none)",
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds before a worker is abandoned"
    )
    parser.add_argument(
        "--keep-caches",
        action="store_true",
        help="do not empty the compile caches before the first repetition",
    )
    parser.add_argument(
        "--keep-stan-cache",
        action="store_true",
        help="keep httpstan's compiled model from an earlier run (its C++ "
        "build takes about a minute and does not change between runs)",
    )
    parser.add_argument(
        "--skip-stan-unless-compiled",
        action="store_true",
        help="leave Stan out unless its model is already in the cache",
    )
    parser.add_argument(
        "--cache-root", default=str(Path(tempfile.gettempdir()) / "milkbayes-bench-caches")
    )
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument("--worker", choices=WAYS, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=24, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Measure every way at every size in fresh worker processes; print and save."""
    args = parse(argv)
    if args.target_accept is None:
        from milkbayes.engine.fit import DEFAULT_TARGET_ACCEPT

        args.target_accept = DEFAULT_TARGET_ACCEPT
    if args.worker:
        worker(args)
        return 0
    ways = tuple(w for w in args.ways.split(",") if w)
    cache_root = Path(args.cache_root)
    skipped = {}
    if "stan" in ways:
        reason = stan_available()
        if (
            reason is None
            and args.skip_stan_unless_compiled
            and not stan_compiled(cache_root / "stan" / "xdg")
        ):
            reason = "skipped: no compiled Stan model in the benchmark cache (smoke run)"
        if reason:
            skipped["stan"] = reason
            ways = tuple(w for w in ways if w != "stan")
    if "stan" in ways and args.skip_stan_unless_compiled:
        args.keep_caches = True
    sizes = [int(s) for s in args.sizes.split(",")]
    reps = [int(r) for r in args.repetitions.split(",")]
    results = []
    large_ways = tuple(w for w in args.ways_large.split(",") if w in ways)
    for k, (n, repetitions) in enumerate(zip(sizes, reps, strict=True)):
        size_ways = ways if n <= 100 else large_ways
        result = run_size(n, repetitions, size_ways, args, cache_root, first_size=k == 0)
        for way in ways:
            if way not in size_ways:
                result["ways"][way] = {"error": f"not run at n = {n} (see --ways-large)"}
        for way, reason in skipped.items():
            result["ways"][way] = {"error": reason}
        print_table(result)
        results.append(result)
        payload = {
            "settings": {
                "draws": args.draws,
                "tune": args.tune,
                "chains": args.chains,
                "seed": args.seed,
                "model": MODEL,
                "likelihood": LIKELIHOOD,
                "prior": PRIOR,
            },
            "sizes": results,
            "skipped": skipped,
        }
        if args.json:  # after each size, so that an interrupted run keeps what it measured
            Path(args.json).write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
