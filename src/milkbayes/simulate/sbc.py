r"""Simulation-based calibration (SBC) of the models in :mod:`milkbayes.models`.

For each simulation: draw parameters from the prior, data from the model given
those parameters, fit the model to the data, and record the rank of the true value
among (thinned) posterior draws. If the fitting is calibrated, every rank is
uniform on ``0..L`` (Talts et al. 2018). The decision is the graphical uniformity
test of Säilynoja, Bürkner & Vehtari (2022): the ECDF of the (jittered, fractional)
ranks must stay inside simultaneous confidence bands (the simulation method of the
paper, :func:`ecdf_uniformity`); a
study whose data come from a prior twice as wide as the model's (``widen=2``) must
fail it, which shows that the check has teeth. The binned chi-square test is kept
beside it for reference (``chi2``, ``p_value``): with 20 bins it spreads its power
over shapes a miscalibration rarely has, while a shifted ECDF, the usual trace of a
too-wide prior on a scale parameter, is what the ECDF bands are most sensitive to.
Neither test can be relied on to see a doubled prior with far fewer simulations than
the default 200: the shift it leaves on ``sigma`` is then within the noise of the
ranks.

Notes
-----
Rank statistic (Talts et al. 2018, Theorem 1): with :math:`\tilde\theta \sim
\pi(\theta)`, :math:`\tilde y \sim \pi(y \mid \tilde\theta)` and
:math:`\theta_1..\theta_L` draws of :math:`\pi(\theta \mid \tilde y)`,
:math:`r = \#\{\ell : \theta_\ell < \tilde\theta\}` is uniform on
:math:`\{0, \dots, L\}`. Posterior draws are thinned to ``L`` to reduce
autocorrelation. With *B* bins of equal width (B divides L + 1) the counts are
multinomial with equal cell probabilities under calibration, so Pearson's
:math:`X^2 = \sum_b (c_b - N/B)^2 / (N/B) \sim \chi^2_{B-1}`
(``scipy.stats.chisquare``). For the ECDF test a rank :math:`r` becomes the
fractional rank :math:`u = (r + U)/(L + 1)` with :math:`U \sim U(0, 1)` (a fixed
seed), exactly uniform on (0, 1) under calibration; the band of level :math:`1 -
\alpha/k` holds the whole ECDF with that probability (simultaneously over the
evaluation points). Several parameters are tested at once, so a study passes when
every parameter's ECDF stays inside its band (Bonferroni over the :math:`k`
parameters). Modrák et al. (2023) recommend these bands for SBC.

Parameters tested: every scalar free parameter of the model and its effect
variable (``EFFECT``); vector parameters (per-mother intercepts) are not ranked.
Data are simulated on the covariates and arm sizes of a template study drawn from
:func:`milkbayes.simulate.dgp.simulate` with a fixed seed.

References
----------
Talts, S., Betancourt, M., Simpson, D., Vehtari, A., & Gelman, A. (2018).
Validating Bayesian inference algorithms with simulation-based calibration.
arXiv:1804.06788.
Modrák, M., Moon, A. H., Kim, S., Bürkner, P., Huurre, N., Faltejsková, K.,
Gelman, A., & Vehtari, A. (2023). Simulation-based calibration checking for
Bayesian computation: the choice of test quantities shapes sensitivity. *Bayesian
Analysis*.
Säilynoja, T., Bürkner, P.-C., & Vehtari, A. (2022). Graphical test for discrete
uniformity and its applications in goodness-of-fit evaluation and multiple sample
comparison. *Statistics and Computing*, 32(2), 32.

Examples
--------
>>> uniform = np.tile(np.arange(100), 3)        # perfectly flat ranks, L = 99
>>> chi2, p, bins = rank_uniformity(uniform, 99)
>>> float(chi2), float(p), bins
(0.0, 1.0, 20)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

from milkbayes.errors import MilkbayesError
from milkbayes.models.registry import MODEL_NAMES
from milkbayes.simulate import engine
from milkbayes.simulate.dgp import DGPSettings, SimulationError, simulate

MODELS = MODEL_NAMES
"""Every model of :mod:`milkbayes.models`, each calibrated by ``milkbayes simulate sbc``."""

SCALE_SUFFIXES = ("_sigma", "_sd", "_scale")
"""Prior values that are widths (multiplied by ``widen``); ``sigma`` itself too."""

_SIMULATORS: dict[tuple, object] = {}


def _is_width(key: str) -> bool:
    return key == "sigma" or key.endswith(SCALE_SUFFIXES)


def widened(values: dict[str, float], factor: float) -> dict[str, float]:
    """Prior values with every width (SD, scale) multiplied by ``factor``.

    Examples
    --------
    >>> widened({"delta_loc": 0.0, "delta_scale": 0.5, "sigma": 4.0, "nu_rate": 0.1}, 2)
    {'delta_loc': 0.0, 'delta_scale': 1.0, 'sigma': 8.0, 'nu_rate': 0.1}
    """
    return {k: (v * factor if _is_width(k) else v) for k, v in values.items()}


ECDF_SIMULATIONS = 4000
"""Uniform samples simulated for the null distribution of the ECDF statistic."""

ECDF_SEED = 2022
"""Seed of the rank jitter and of the null simulation: the verdict is reproducible."""

_NULL_TAILS: dict[tuple[int, int], np.ndarray] = {}


def _smallest_tail(counts: np.ndarray, n: int, points: np.ndarray) -> np.ndarray:
    """The smallest, over the evaluation points, of the smaller binomial tail of each count."""
    lower = stats.binom.cdf(counts, n, points)
    upper = stats.binom.sf(counts - 1, n, points)
    return np.minimum(lower, upper).min(axis=-1)


def _null_tails(n: int, seed: int) -> np.ndarray:
    """The statistic of :func:`_smallest_tail` for uniform samples of size ``n``."""
    key = (n, seed)
    if key not in _NULL_TAILS:
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
        points = np.arange(1, n) / n
        out = np.empty(ECDF_SIMULATIONS)
        for start in range(0, ECDF_SIMULATIONS, 500):
            u = np.sort(rng.uniform(size=(min(500, ECDF_SIMULATIONS - start), n)), axis=1)
            counts = np.stack([np.searchsorted(row, points, side="right") for row in u])
            out[start : start + len(u)] = _smallest_tail(counts, n, points)
        _NULL_TAILS[key] = out
    return _NULL_TAILS[key]


def ecdf_uniformity(ranks, L: int, prob: float, seed: int = ECDF_SEED) -> dict:
    r"""Simultaneous ECDF band test that ranks are uniform on ``0..L``.

    Parameters
    ----------
    ranks : array_like of int
        Ranks in ``0..L``.
    L : int
    prob : float
        Simultaneous coverage of the band (``1 - alpha / k``).
    seed : int
        Seed of the jitter and of the null simulation.

    Returns
    -------
    dict
        ``inside`` (bool: the whole ECDF lies in the band), ``p_value`` (of the
        statistic below, by simulation), ``excursion`` (largest distance of the ECDF
        outside the band; 0 inside), and ``x``, ``ecdf_diff``, ``lower_diff``,
        ``upper_diff`` (the ECDF and the band minus the uniform CDF, for the plot).

    Notes
    -----
    The simulation method of Säilynoja et al. (2022, section 2.2): at the points
    :math:`z_i = i/N` the count :math:`N \hat F(z_i)` is Binomial(:math:`N, z_i`)
    under uniformity; the statistic is the smallest, over :math:`i`, of its smaller
    tail probability, its null distribution is simulated from uniform samples, and
    the band holds the counts whose tails exceed the :math:`1 - \mathrm{prob}`
    quantile of that distribution. ArviZ has the same method
    (``arviz_stats.ecdf_utils.ecdf_pit``), but its band rounds the pointwise
    quantiles up and covered 0.92 instead of 0.95 of independent uniform samples
    (N = 100), enough to fail calibrated models; here one tail definition serves the
    statistic, its null distribution and the band, so the coverage is ``prob`` up to
    Monte Carlo error (checked in the tests).

    Examples
    --------
    >>> flat = np.tile(np.arange(100), 3)
    >>> ecdf_uniformity(flat, 99, 0.95)["inside"]
    True
    >>> ecdf_uniformity(np.zeros(300, dtype=int), 99, 0.95)["inside"]
    False
    """
    ranks = np.asarray(ranks, dtype=float)
    if ranks.size == 0 or ranks.min() < 0 or ranks.max() > L:
        raise SimulationError(f"ranks must lie in 0..{L}")
    n = ranks.size
    jitter = np.random.SeedSequence(seed).spawn(2)[0]
    u = np.sort((ranks + np.random.default_rng(jitter).uniform(size=n)) / (L + 1))
    points = np.arange(1, n) / n
    counts = np.searchsorted(u, points, side="right")
    observed = float(_smallest_tail(counts[None, :], n, points)[0])
    null = _null_tails(n, seed)
    gamma = float(np.quantile(null, 1.0 - prob))
    # the band: counts whose smaller tail exceeds gamma (the statistic's acceptance set)
    support = np.arange(n + 1)[:, None]
    tails = np.minimum(stats.binom.cdf(support, n, points), stats.binom.sf(support - 1, n, points))
    accepted = tails > gamma
    lower = np.argmax(accepted, axis=0) / n
    upper = (n - np.argmax(accepted[::-1], axis=0)) / n
    ecdf = counts / n
    excursion = float(max(0.0, np.max(lower - ecdf), np.max(ecdf - upper)))
    x = np.concatenate([[0.0], points, [1.0]])
    return {
        "inside": bool(observed > gamma),
        "p_value": float(np.mean(null <= observed)),
        "excursion": excursion,
        "x": x,
        "ecdf_diff": np.concatenate([[0.0], ecdf, [1.0]]) - x,
        "lower_diff": np.concatenate([[0.0], lower, [1.0]]) - x,
        "upper_diff": np.concatenate([[0.0], upper, [1.0]]) - x,
    }


def rank_uniformity(ranks, L: int, bins: int | None = None) -> tuple[float, float, int]:
    """Chi-square test that ranks are uniform on ``0..L``; returns X², p and the bins.

    The number of bins is the largest divisor of ``L + 1`` that is at most 20 and
    leaves at least 5 expected ranks per bin (the usual validity rule of thumb).
    """
    ranks = np.asarray(ranks, dtype=int)
    if ranks.size == 0 or ranks.min() < 0 or ranks.max() > L:
        raise SimulationError(f"ranks must lie in 0..{L}")
    if bins is None:
        divisors = [
            b for b in range(2, min(20, L + 1) + 1) if (L + 1) % b == 0 and ranks.size / b >= 5
        ]
        bins = max(divisors) if divisors else 2
    counts = np.bincount(ranks * bins // (L + 1), minlength=bins)
    chi2, p = stats.chisquare(counts)
    return float(chi2), float(p), int(bins)


@dataclass(frozen=True)
class SBCResult:
    """Ranks and uniformity tests of one SBC study.

    Attributes
    ----------
    model, likelihood, prior : str
    widen : float
        Width factor of the simulating prior (1 = the model's own prior).
    n_sims, L : int
        Simulations, and posterior draws per rank (ranks lie in ``0..L``).
    ranks : dict of str to tuple of int
    chi2, p_value : dict of str to float
    bins : int
    alpha : float
        Family-wise level; each parameter is tested at ``alpha / k``.
    passed : bool
        True when every parameter's rank ECDF stays inside its simultaneous band of
        level ``1 - alpha / k`` (:func:`ecdf_uniformity`).
    divergences : int
        Divergent transitions summed over all fits.
    """

    model: str
    likelihood: str
    prior: str
    widen: float
    n_sims: int
    L: int
    ranks: dict[str, tuple[int, ...]]
    chi2: dict[str, float]
    p_value: dict[str, float]
    bins: int
    alpha: float
    passed: bool
    divergences: int
    run: dict = field(default_factory=dict, compare=False)
    ecdf_inside: dict[str, bool] = field(default_factory=dict)
    ecdf_excursion: dict[str, float] = field(default_factory=dict)
    test: str = "ECDF simultaneous band (Säilynoja et al. 2022)"

    def to_dict(self) -> dict:
        """JSON-ready form."""
        out = asdict(self)
        out["ranks"] = {k: list(v) for k, v in self.ranks.items()}
        return out


def sbc(
    model: str,
    *,
    n_sims: int = 200,
    likelihood: str | None = None,
    prior: str = "neutral",
    widen: float = 1.0,
    n_mothers: int = 12,
    outcome: str = "volume",
    draws: int = 200,
    tune: int = 200,
    chains: int = 2,
    L: int = 99,
    alpha: float = 0.05,
    seed: int = 2018,
    **run_options,
) -> SBCResult:
    """Simulation-based calibration of one model (see the module docstring).

    Parameters
    ----------
    model : str
        A model of :mod:`milkbayes.models` (``paired_change``, ...).
    n_sims : int
        Simulated datasets (one fit each).
    likelihood, prior : str
        As for :func:`milkbayes.engine.fit.fit`.
    widen : float
        Width factor of the prior the data are simulated from; 1 gives correct SBC,
        2 is the deliberately mis-specified check that must fail.
    n_mothers : int
        Mothers per simulated dataset. Small studies leave more room for the prior,
        so they make the mis-specified check sharper.
    outcome : {"volume", "score"}
    draws, tune, chains : int
        Sampler settings per fit; ``chains * draws`` must be at least ``L``.
    L : int
        Thinned posterior draws per rank.
    alpha : float
    seed : int
    **run_options
        ``workers``, ``scheduler``, ``client``, ``checkpoint``, ``progress`` of
        :func:`milkbayes.simulate.runner.run_study`.
    """
    from milkbayes.simulate.runner import run_study

    module = engine.model_module(model)
    likelihood = likelihood or module.LIKELIHOODS[0]
    if chains * draws < L:
        raise SimulationError(
            f"chains * draws = {chains * draws} < L = {L}: not enough posterior draws to rank"
        )
    if widen <= 0:
        raise SimulationError(f"widen must be > 0, not {widen}")
    # two_arm and ancova need a control arm: give it as many mothers as the massage arm
    n_control = n_mothers if getattr(module, "NEEDS_CONTROL_ARM", False) else 0
    params = {
        "model": model,
        "likelihood": likelihood,
        "prior": prior,
        "widen": float(widen),
        "n": int(n_mothers),
        "n_control": n_control,
        "outcome": outcome,
        "draws": int(draws),
        "tune": int(tune),
        "chains": int(chains),
        "L": int(L),
        "template_seed": int(seed),
    }
    run = run_study(
        "sbc", params, n_sims, seed=seed, unit="fits", description=f"SBC {model}", **run_options
    )
    return summarise_sbc(
        run.results,
        params,
        alpha,
        run_info={"backend": run.backend, "compilations": run.compilations, "elapsed": run.elapsed},
    )


def summarise_sbc(results, params: dict, alpha: float = 0.05, run_info=None) -> SBCResult:
    """Collect per-fit ranks into an :class:`SBCResult` with uniformity tests."""
    names = list(results[0]["ranks"])
    ranks = {k: tuple(int(r["ranks"][k]) for r in results) for k in names}
    tests = {k: rank_uniformity(v, params["L"]) for k, v in ranks.items()}
    level = alpha / len(names)
    bands = {k: ecdf_uniformity(v, params["L"], 1.0 - level) for k, v in ranks.items()}
    return SBCResult(
        model=params["model"],
        likelihood=params["likelihood"],
        prior=params["prior"],
        widen=params["widen"],
        n_sims=len(results),
        L=params["L"],
        ranks=ranks,
        chi2={k: t[0] for k, t in tests.items()},
        p_value={k: t[1] for k, t in tests.items()},
        bins=next(iter(tests.values()))[2],
        alpha=alpha,
        passed=all(b["inside"] for b in bands.values()),
        divergences=int(sum(r["divergences"] for r in results)),
        run=dict(run_info or {}),
        ecdf_inside={k: bool(b["inside"]) for k, b in bands.items()},
        ecdf_excursion={k: b["excursion"] for k, b in bands.items()},
    )


# ---------------------------------------------------------------- the task


def _template(params: dict):
    settings = DGPSettings(
        n=params["n"], n_control=params.get("n_control", 0), outcome=params["outcome"]
    )
    return simulate(settings, 1, np.random.default_rng(params["template_seed"])).study(0)


_SETUPS: dict[str, tuple] = {}


def _setup(params: dict):
    """(compiled model, simulator, template inputs), built once per process and study."""
    import json

    key = json.dumps(params, sort_keys=True)
    if key not in _SETUPS:
        _SETUPS[key] = _build_setup(params)
    return _SETUPS[key]


def _build_setup(params: dict):
    module = engine.model_module(params["model"])
    study = _template(params)
    inputs = module.inputs(study, params["likelihood"])
    prior = engine.prior_set(params["prior"], study.outcome, params["model"])
    bundle = engine.get_compiled(module, inputs, prior, params["likelihood"])
    shapes = tuple((k, np.shape(v)) for k, v in sorted(inputs.data.items()))
    sim_key = (
        params["model"],
        params["likelihood"],
        params["prior"],
        params["outcome"],
        shapes,
        params["widen"],
    )
    if sim_key not in _SIMULATORS:
        _SIMULATORS[sim_key] = _simulator(module, inputs, prior, params)
    return bundle, _SIMULATORS[sim_key], inputs


class _SignedRankSimulator:
    """Forward model of ``signed_rank``: its latent values are not forward-sampleable.

    The model's generative story (van Doorn et al. 2020) is
    delta ~ Cauchy(delta_0, r), z_i ~ Normal(delta, 1), and
    the data are the signs and rank groups of :math:`z`; PyMC cannot draw it because
    the latent values enter through a constrained bijection, so it is written here.
    """

    def __init__(self, module, prior, params):
        self.module = module
        self.values = widened(prior.values, params["widen"])
        self.n = params["n"]
        self.names = [module.EFFECT]

    def draw(self, seed: np.random.SeedSequence):
        rng = np.random.default_rng(seed)
        delta = self.values["delta_loc"] + self.values["delta_scale"] * rng.standard_cauchy()
        z = delta + rng.standard_normal(self.n)
        data = {"sign": np.sign(z), "rank_group": self.module.rank_groups(z)}
        return {self.module.EFFECT: delta}, data


class _PyMCSimulator:
    """Forward sampler of (scalar parameters, observed data) from a model's prior."""

    def __init__(self, spec):
        self.spec = spec
        self.names = spec["names"]

    def draw(self, seed: np.random.SeedSequence):
        from pymc.pytensorf import reseed_rngs

        reseed_rngs(self.spec["rngs"], [int(x) for x in seed.generate_state(4)])
        values = self.spec["function"]()
        k = len(self.names)
        return (
            dict(zip(self.names, values[:k], strict=True)),
            dict(zip(self.spec["data_names"], values[k:], strict=True)),
        )


def _simulator(module, inputs, prior, params):
    """A simulator of (true scalar parameters, data) from the (widened) prior."""
    if module.NAME == "signed_rank":
        return _SignedRankSimulator(module, prior, params)
    return _PyMCSimulator(_pymc_forward(module, inputs, prior, params))


def _pymc_forward(module, inputs, prior, params):
    """A compiled forward sampler of (scalar parameters, observed data) from the prior."""
    from pymc.pytensorf import compile as compile_graph
    from pytensor.tensor.random.type import RandomGeneratorType

    wide = type(prior)(**{**prior.__dict__, "values": widened(prior.values, params["widen"])})
    model = module.build(inputs, wide, params["likelihood"])
    targets = [v for v in model.free_RVs if v.ndim == 0]
    effect = model[module.EFFECT]
    if all(v.name != effect.name for v in targets):
        targets.append(effect)
    if not model.observed_RVs:
        raise MilkbayesError(f"model {module.NAME} has no observed variable to simulate from")
    observed = list(model.observed_RVs)
    data_names = []
    for rv in observed:
        value = model.rvs_to_values[rv]
        if not getattr(value, "name", None):
            raise MilkbayesError(
                f"model {module.NAME}: the observed variable {rv.name} is not "
                "a pm.Data, so SBC cannot swap in simulated data"
            )
        data_names.append(value.name)
    function = compile_graph(inputs=[], outputs=targets + observed, random_seed=0)
    rngs = [v for v in function.get_shared() if isinstance(v.type, RandomGeneratorType)]
    return {
        "function": function,
        "rngs": rngs,
        "names": [v.name for v in targets],
        "data_names": data_names,
    }


def sbc_task(params: dict, seed: np.random.SeedSequence) -> dict:
    """One SBC simulation: prior draw, simulated data, fit, ranks."""
    bundle, simulator, inputs = _setup(params)
    draw_seed, fit_seed = seed.spawn(2)
    truth, simulated = simulator.draw(draw_seed)
    # every input, so a compiled model shared with other studies sees this template
    data = {**inputs.data, **simulated}
    names = list(truth)
    posterior, divergences = engine.sample_scalars(
        bundle,
        data,
        names,
        seed=int(fit_seed.generate_state(1)[0]),
        draws=params["draws"],
        tune=params["tune"],
        chains=params["chains"],
    )
    ranks = {}
    for name, true_value in truth.items():
        flat = posterior[name].ravel()
        thinned = flat[:: max(1, flat.size // params["L"])][: params["L"]]
        ranks[name] = int(np.sum(thinned < float(true_value)))
    return {"ranks": ranks, "divergences": divergences}
