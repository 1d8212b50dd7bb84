"""Design studies with known truth: power, assurance, Type S/M errors, precision.

Each study simulates many datasets from :mod:`milkbayes.simulate.dgp` and applies
decision rules to the massage arm's changes: the SPSS Wilcoxon test, the paired
t-test, the JZS Bayes factor (closed form, no sampling) and, when asked for, the
posterior of a fitted model (``P(effect > 0) > 0.95``). With a control arm
(``n_control > 0``) the between-arm rules are added: ANCOVA of post on pre and arm
(``ancova``), the two-sample t-test of the changes (``t_between``) and the
Mann-Whitney test of the changes (``mann_whitney``).
The simulations run through :func:`milkbayes.simulate.runner.run_study`, so they
scale out to processes or Dask and can be checkpointed.

A result counts as a success only when it is significant *and* favourable: the
estimate points to more milk (a positive change, or the massage arm's changes above
the control arm's). A significant harm is not a success; it is counted apart
(``PowerResult.harmful``). A one-group rule tests the whole pre-to-post change, so
its "power" is the power to detect trend + effect, not the massage effect; only a
between-arm rule separates the effect from the trend.

Examples
--------
The power of the paired t-test against its noncentral-t closed form:

>>> from scipy import stats
>>> s = DGPSettings(n=24, distribution="normal", effect=2.0, trend=0.0, within_sd=4.0,
...                 measurement_sd=0.0)
>>> result = power(s, n_sims=4000, seed=1, workers=1)
>>> nc = 2.0 / 4.0 * 24 ** 0.5
>>> crit = stats.t.ppf(0.975, 23)
>>> exact = stats.nct.sf(crit, 23, nc)  # significant and favourable
>>> bool(abs(result.power["t"] - exact) < 4 * result.mc_se["t"])
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import special, stats

from milkbayes.simulate.dgp import DGPSettings, SimulationError, change_sd, simulate
from milkbayes.simulate.rules import DEFAULT_R, jzs_bf10_many, paired_t_many, wilcoxon_many
from milkbayes.simulate.runner import run_study

BLOCK = 1000
"""Simulated datasets per task of a frequentist study (fixed: results depend on it)."""

BF_THRESHOLD = 3.0
"""BF10 above which the Bayes-factor rule declares an effect ("moderate evidence")."""

POSTERIOR_THRESHOLD = 0.95
"""P(effect > 0) above which the posterior rule declares an effect."""

RULES = ("wilcoxon", "t", "bf10")
"""One-group rules that need no sampling; ``"posterior"`` (fits) is added by
:func:`bayes_power`."""

BETWEEN_RULES = ("ancova", "t_between", "mann_whitney")
"""Rules comparing the arms' changes, used when the design has a control arm."""

RULE_TARGETS = {
    "wilcoxon": "trend + effect (one-group Wilcoxon signed-rank)",
    "t": "trend + effect (one-group paired t)",
    "bf10": "trend + effect (one-group JZS BF10 > 3)",
    "posterior": "trend + effect (P(effect > 0) > 0.95 of a one-group fit)",
    "ancova": "effect (ANCOVA: post adjusted for pre, massage vs control)",
    "t_between": "effect (two-sample t of the changes, massage vs control)",
    "mann_whitney": "effect (Mann-Whitney of the changes, massage vs control)",
}
"""What each rule has power to detect: one-group rules see trend and effect together."""


# ---------------------------------------------------------------- tasks


def frequentist_block_task(params: dict, seed: np.random.SeedSequence) -> dict:
    """Simulate one block of datasets and apply every no-sampling rule to each.

    ``params``: ``settings`` (DGPSettings as dict), ``n_sims`` (total), ``index``-free
    block size ``block``, optional ``design_prior`` ``{"mean", "sd"}``, ``r``.
    The block's position comes from its seed's spawn key.
    """
    settings = DGPSettings(**params["settings"])
    index = seed.spawn_key[-1]
    size = min(params["block"], params["n_sims"] - index * params["block"])
    rng = np.random.default_rng(seed)
    effect = None
    if params.get("design_prior"):
        prior = params["design_prior"]
        effect = prior["mean"] + prior["sd"] * rng.standard_normal(size)
    sims = simulate(settings, size, rng, effect=effect)
    d = sims.massage_change
    n = d.shape[1]
    t, t_p = paired_t_many(d)
    w_z, w_p = wilcoxon_many(d)
    known_se = change_sd(settings) / math.sqrt(n)
    z_p = 2 * stats.norm.sf(np.abs(d.mean(axis=1) / known_se)) if known_se > 0 else np.ones(size)
    out = {
        "n": size,
        "effect": sims.effect.tolist(),
        "estimate": d.mean(axis=1).tolist(),
        "se": (d.std(axis=1, ddof=1) / math.sqrt(n)).tolist(),
        "t": t.tolist(),
        "t_p": t_p.tolist(),
        "wilcoxon_z": w_z.tolist(),
        "wilcoxon_p": w_p.tolist(),
        "z_p": z_p.tolist(),
        "bf10": jzs_bf10_many(t, n, params.get("r", DEFAULT_R)).tolist(),
    }
    if settings.n_control > 0:
        out.update(between_arm_rules(d, sims.control_change))
        out.update(ancova_rule(sims.pre, sims.post, sims.massage))
    return out


def ancova_rule(pre: np.ndarray, post: np.ndarray, massage: np.ndarray) -> dict:
    r"""ANCOVA of every simulated study: post ~ 1 + pre + massage, by least squares.

    Parameters
    ----------
    pre, post : numpy.ndarray, shape (n_sims, m)
    massage : numpy.ndarray of bool, shape (n_sims, m)

    Returns
    -------
    dict
        ``ancova`` (the coefficient of the massage arm: the effect adjusted for the
        baseline) and ``ancova_p`` (two-sided t-test of it, :math:`m - 3` degrees of
        freedom), as lists.

    Notes
    -----
    ANCOVA adjusts each arm's post measurement for its baseline (Vickers & Altman
    2001), so it also removes the baseline imbalance and regression to the mean that
    a comparison of changes keeps; it is the usual primary analysis of a pre/post
    trial with a control arm. Solved by batched normal equations.

    References
    ----------
    Vickers AJ, Altman DG (2001). Analysing controlled trials with baseline and follow
    up measurements. BMJ 323, 1123-1124.

    Examples
    --------
    >>> import statsmodels.api as sm
    >>> rng = np.random.default_rng(1)
    >>> pre = rng.normal(10, 2, (2, 30)); arm = np.arange(30) < 15
    >>> post = pre + 1.0 * arm + rng.normal(0, 1, (2, 30))
    >>> out = ancova_rule(pre, post, np.broadcast_to(arm, pre.shape))
    >>> fit = sm.OLS(post[1], np.column_stack([np.ones(30), pre[1], arm])).fit()
    >>> bool(np.isclose(out["ancova"][1], fit.params[2]))
    True
    >>> bool(np.isclose(out["ancova_p"][1], fit.pvalues[2]))
    True
    """
    pre = np.atleast_2d(np.asarray(pre, dtype=float))
    post = np.atleast_2d(np.asarray(post, dtype=float))
    arm = np.broadcast_to(np.asarray(massage, dtype=float), pre.shape)
    design = np.stack([np.ones_like(pre), pre, arm], axis=2)  # (S, m, 3)
    gram = np.einsum("smi,smj->sij", design, design)
    beta = np.linalg.solve(gram, np.einsum("smi,sm->si", design, post)[..., None])[..., 0]
    residual = post - np.einsum("smi,si->sm", design, beta)
    dof = pre.shape[1] - 3
    variance = (residual**2).sum(axis=1) / dof
    se = np.sqrt(variance * np.linalg.inv(gram)[:, 2, 2])
    t = beta[:, 2] / se
    return {"ancova": beta[:, 2].tolist(), "ancova_p": (2 * stats.t.sf(np.abs(t), dof)).tolist()}


def between_arm_rules(massage: np.ndarray, control: np.ndarray) -> dict:
    r"""The two-sample t-test and the Mann-Whitney test of the changes, per row.

    Parameters
    ----------
    massage, control : numpy.ndarray, shape (n_sims, n) and (n_sims, n_control)

    Returns
    -------
    dict
        ``t_between`` and ``t_between_p`` (Student's pooled-variance t of the mean
        change difference, two-sided p), ``mann_whitney_shift`` (:math:`U/(n m) -
        1/2`, positive when the massage arm's changes tend to be larger) and
        ``mann_whitney_p`` (two-sided, normal approximation with tie correction),
        as lists.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(1, 1, (3, 20)), rng.normal(0, 1, (3, 25))
    >>> out = between_arm_rules(a, b)
    >>> ref = stats.mannwhitneyu(a[1], b[1], method="asymptotic").pvalue
    >>> bool(np.isclose(out["mann_whitney_p"][1], ref))
    True
    """
    massage = np.atleast_2d(np.asarray(massage, dtype=float))
    control = np.atleast_2d(np.asarray(control, dtype=float))
    t = stats.ttest_ind(massage, control, axis=1)
    u = stats.mannwhitneyu(massage, control, axis=1, method="asymptotic")
    shift = u.statistic / (massage.shape[1] * control.shape[1]) - 0.5
    return {
        "t_between": np.asarray(t.statistic, dtype=float).tolist(),
        "t_between_p": np.asarray(t.pvalue, dtype=float).tolist(),
        "mann_whitney_shift": np.asarray(shift, dtype=float).tolist(),
        "mann_whitney_p": np.asarray(u.pvalue, dtype=float).tolist(),
    }


def bayes_fit_task(params: dict, seed: np.random.SeedSequence) -> dict:
    """Simulate one study, fit a model (compiled once per process), keep a summary."""
    from milkbayes.simulate import engine

    settings = DGPSettings(**params["settings"])
    data_seed, fit_seed = seed.spawn(2)
    rng = np.random.default_rng(data_seed)
    effect = None
    if params.get("design_prior"):
        prior = params["design_prior"]
        effect = prior["mean"] + prior["sd"] * rng.standard_normal(1)
    sims = simulate(settings, 1, rng, effect=effect)
    study = sims.study(0)
    module = engine.model_module(params["model"])
    inputs = module.inputs(study, params["likelihood"])
    prior = engine.prior_set(params["prior"], study.outcome, params["model"])
    bundle = engine.get_compiled(module, inputs, prior, params["likelihood"])
    draws, divergences = engine.sample_scalars(
        bundle,
        inputs.data,
        [module.EFFECT],
        seed=int(fit_seed.generate_state(1)[0]),
        draws=params["draws"],
        tune=params["tune"],
        chains=params["chains"],
    )
    posterior = draws[module.EFFECT].ravel()
    d = sims.massage_change
    t, t_p = paired_t_many(d)
    w_z, w_p = wilcoxon_many(d)
    low, median, high = np.quantile(posterior, [0.025, 0.5, 0.975])
    return {
        "effect": float(sims.effect[0]),
        "estimate": float(d.mean()),
        "effect_median": float(median),
        "effect_ci95_low": float(low),
        "effect_ci95_high": float(high),
        "p_effect_gt_0": float(np.mean(posterior > 0)),
        "divergences": divergences,
        "t": float(t[0]),
        "t_p": float(t_p[0]),
        "wilcoxon_z": float(w_z[0]),
        "wilcoxon_p": float(w_p[0]),
        "bf10": float(jzs_bf10_many(t, d.shape[1])[0]),
    }


# ---------------------------------------------------------------- power and assurance


@dataclass(frozen=True)
class PowerResult:
    r"""Rejection rates of each decision rule, with Monte Carlo standard errors.

    Attributes
    ----------
    power : dict of str to float
        The rate of favourable successes: ``wilcoxon``, ``t``, ``t_between`` and
        ``mann_whitney``: two-sided p < alpha *and* the estimate favours the massage;
        ``bf10``: BF10 > 3 and a positive mean change; ``posterior``: P(effect > 0)
        > 0.95 (fits only). Between-arm rules only with a control arm.
    mc_se : dict of str to float
        :math:`\sqrt{\hat p (1 - \hat p) / N}`.
    harmful : dict of str to float
        The rate of significant results in the unfavourable direction (not successes).
    targets : dict of str to str
        What each rule detects (:data:`RULE_TARGETS`): one-group rules detect trend +
        effect.
    n_sims : int
    alpha : float
    settings : dict
    design_prior : dict or None
        ``{"mean", "sd"}`` of the effect for assurance, None for power at a fixed effect.
    """

    power: dict[str, float]
    mc_se: dict[str, float]
    n_sims: int
    alpha: float
    settings: dict
    design_prior: dict | None = None
    run: dict = field(default_factory=dict, compare=False)
    harmful: dict[str, float] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def _decisions(columns: dict[str, np.ndarray], alpha: float) -> dict[str, np.ndarray]:
    """Favourable successes of each rule: significant and pointing to more milk."""
    return {rule: favourable for rule, (favourable, _) in _outcomes(columns, alpha).items()}


def _outcomes(columns: dict[str, np.ndarray], alpha: float) -> dict[str, tuple]:
    """Per rule, (favourable success, significant harm) for every simulated study."""
    out = {}
    # (p or evidence column, direction column) of each rule; positive = favourable
    tests = {
        "t": ("t_p", "t"),
        "wilcoxon": ("wilcoxon_p", "wilcoxon_z"),
        "ancova": ("ancova_p", "ancova"),
        "t_between": ("t_between_p", "t_between"),
        "mann_whitney": ("mann_whitney_p", "mann_whitney_shift"),
    }
    for rule, (p, direction) in tests.items():
        if p in columns and direction in columns:
            significant = columns[p] < alpha
            out[rule] = (
                significant & (columns[direction] > 0),
                significant & (columns[direction] < 0),
            )
    if "bf10" in columns and "t" in columns:
        evidence = columns["bf10"] > BF_THRESHOLD
        out["bf10"] = (evidence & (columns["t"] > 0), evidence & (columns["t"] < 0))
    if "p_effect_gt_0" in columns:
        out["posterior"] = (
            columns["p_effect_gt_0"] > POSTERIOR_THRESHOLD,
            columns["p_effect_gt_0"] < 1 - POSTERIOR_THRESHOLD,
        )
    return out


def _columns(results) -> dict[str, np.ndarray]:
    """Concatenate per-task results into one array per field."""
    keys = [k for k in results[0] if k != "n"]
    if isinstance(results[0][keys[0]], list):
        return {k: np.concatenate([np.asarray(r[k], float) for r in results]) for k in keys}
    return {k: np.asarray([r[k] for r in results], float) for k in keys}


def simulate_rules(
    settings: DGPSettings,
    n_sims: int,
    *,
    seed: int = 1,
    design_prior: dict | None = None,
    r: float = DEFAULT_R,
    **run_options,
):
    """Run the no-sampling rules on ``n_sims`` datasets; returns (columns, StudyRun)."""
    if n_sims < 1:
        raise SimulationError(f"n_sims must be >= 1, not {n_sims}")
    _check_design_prior(design_prior)
    params = {
        "settings": settings.to_dict(),
        "n_sims": int(n_sims),
        "block": BLOCK,
        "design_prior": design_prior,
        "r": float(r),
    }
    run_options.setdefault("workers", 1)  # vectorised blocks: one process is usually fastest
    run = run_study(
        "frequentist",
        params,
        math.ceil(n_sims / BLOCK),
        seed=seed,
        unit="sims",
        units_per_task=BLOCK,
        description="simulating",
        **run_options,
    )
    return _columns(run.results), run


def _check_design_prior(design_prior) -> None:
    if design_prior is None:
        return
    if set(design_prior) != {"mean", "sd"} or not design_prior["sd"] >= 0:
        raise SimulationError(f"a design prior is {{'mean': m, 'sd': s >= 0}}, not {design_prior}")


def _power_result(columns, n_sims, alpha, settings, design_prior, run) -> PowerResult:
    outcomes = _outcomes(columns, alpha)
    # the between-arm rules first: with a control arm they answer the question asked
    order = sorted(outcomes, key=lambda rule: rule not in BETWEEN_RULES)
    outcomes = {rule: outcomes[rule] for rule in order}
    rates = {k: float(v[0].mean()) for k, v in outcomes.items()}
    return PowerResult(
        power=rates,
        mc_se={k: math.sqrt(p * (1 - p) / n_sims) for k, p in rates.items()},
        n_sims=n_sims,
        alpha=alpha,
        settings=settings.to_dict(),
        design_prior=design_prior,
        run={
            "backend": run.backend,
            "elapsed": run.elapsed,
            "compilations": run.compilations,
            "resumed": run.resumed,
        },
        harmful={k: float(v[1].mean()) for k, v in outcomes.items()},
        targets={k: RULE_TARGETS[k] for k in rates},
    )


def power(
    settings: DGPSettings,
    n_sims: int = 10_000,
    *,
    alpha: float = 0.05,
    seed: int = 1,
    **run_options,
) -> PowerResult:
    """Power of each rule at the settings' true effect (favourable successes only).

    One-group rules (Wilcoxon, paired t, BF10 > 3) detect trend + effect; with
    ``settings.n_control > 0`` the between-arm rules detect the effect itself.

    The Bayes-factor rule uses the JZS closed form (:func:`~milkbayes.simulate.rules.
    jzs_bf10_many`), so no MCMC is needed; for the posterior rule use
    :func:`bayes_power`.
    """
    columns, run = simulate_rules(settings, n_sims, seed=seed, **run_options)
    return _power_result(columns, n_sims, alpha, settings, None, run)


def power_curve(
    settings: DGPSettings,
    sizes,
    n_sims: int = 4000,
    *,
    alpha: float = 0.05,
    seed: int = 1,
    **run_options,
) -> pd.DataFrame:
    """Power of every rule over the number of mothers in the massage arm (one row per n).

    The control arm, if any, keeps its ratio to the massage arm. Each size has its own
    seed (``SeedSequence(seed, spawn_key=(k,))``), so adding a size leaves the others'
    numbers unchanged.

    Returns
    -------
    pandas.DataFrame
        Columns ``n``, ``n_control``, ``rule``, ``power``, ``mc_se``, ``harmful``,
        ``target``.

    Examples
    --------
    The t rule against the noncentral t at each n:

    >>> s = DGPSettings(distribution="normal", effect=0.5, trend=0.0, within_sd=1.0,
    ...                 measurement_sd=0.0, baseline_mean=30.0)
    >>> curve = power_curve(s, [10, 30], n_sims=2000, workers=1)
    >>> t = curve[curve.rule == "t"]
    >>> exact = [stats.nct.sf(stats.t.ppf(0.975, n - 1), n - 1, 0.5 * n ** 0.5) for n in (10, 30)]
    >>> bool(np.all(np.abs(t.power.to_numpy() - exact) < 4 * t.mc_se.to_numpy() + 1e-3))
    True
    """
    sizes = [int(n) for n in sizes]
    if not sizes or min(sizes) < 3:
        raise SimulationError(f"power_curve needs sizes of at least 3 mothers, not {sizes}")
    ratio = settings.n_control / settings.n
    rows = []
    for k, n in enumerate(sizes):
        at_n = settings.with_(n=n, n_control=int(round(ratio * n)))
        sub_seed = int(np.random.SeedSequence(seed, spawn_key=(k,)).generate_state(1)[0])
        result = power(at_n, n_sims, alpha=alpha, seed=sub_seed, **run_options)
        for rule, value in result.power.items():
            rows.append(
                {
                    "n": n,
                    "n_control": at_n.n_control,
                    "rule": rule,
                    "power": value,
                    "mc_se": result.mc_se[rule],
                    "harmful": result.harmful[rule],
                    "target": result.targets[rule],
                }
            )
    return pd.DataFrame(rows)


def assurance(
    settings: DGPSettings,
    design_prior: dict,
    n_sims: int = 10_000,
    *,
    alpha: float = 0.05,
    seed: int = 1,
    **run_options,
) -> PowerResult:
    r"""Assurance: the power averaged over a normal design prior on the true effect.

    Notes
    -----
    :math:`A = \int P(\text{success} \mid \beta)\, \pi_d(\beta)\, d\beta`
    with :math:`\pi_d = N(m, s^2)`; each simulated study draws its own
    :math:`\beta` (O'Hagan, Stevens & Campbell 2005). A success is significant and
    favourable: where the prior puts mass on harm, a significant harm would otherwise
    count as a success.

    References
    ----------
    O'Hagan, A., Stevens, J. W., & Campbell, M. J. (2005). Assurance in clinical
    trial design. *Pharmaceutical Statistics*, 4(3), 187-201.
    """
    columns, run = simulate_rules(
        settings, n_sims, seed=seed, design_prior=design_prior, **run_options
    )
    return _power_result(columns, n_sims, alpha, settings, design_prior, run)


def bayes_power(
    settings: DGPSettings,
    n_sims: int = 1000,
    *,
    model: str = "paired_change",
    likelihood: str | None = None,
    prior: str = "neutral",
    draws: int = 300,
    tune: int = 300,
    chains: int = 2,
    alpha: float = 0.05,
    seed: int = 1,
    design_prior: dict | None = None,
    **run_options,
):
    """Power (or assurance) of the posterior rule P(effect > 0) > 0.95, by fitting.

    Every simulated study is fitted with the compiled model (one compilation per
    worker process); the same datasets also give the Wilcoxon, t and BF10 rules, so
    the four rules are compared on identical data. Returns ``(PowerResult, fits)``
    with ``fits`` the per-fit summaries.
    """
    from milkbayes.simulate import engine

    _check_design_prior(design_prior)
    module = engine.model_module(model)
    params = {
        "settings": settings.to_dict(),
        "model": model,
        "likelihood": likelihood or module.LIKELIHOODS[0],
        "prior": prior,
        "draws": int(draws),
        "tune": int(tune),
        "chains": int(chains),
        "design_prior": design_prior,
    }
    run = run_study(
        "bayes_fit",
        params,
        n_sims,
        seed=seed,
        unit="fits",
        description=f"fitting {model}",
        **run_options,
    )
    columns = _columns(run.results)
    return _power_result(columns, n_sims, alpha, settings, design_prior, run), run.results


# ---------------------------------------------------------------- Type S and Type M


@dataclass(frozen=True)
class TypeSM:
    """Power, Type S error rate and exaggeration ratio (Type M) of a design.

    Attributes
    ----------
    power : float
    type_s : float
        P(estimate has the wrong sign | significant).
    exaggeration : float
        E(|estimate| | significant) / |true effect|.
    n_significant : int or None
        Significant simulated studies (None for the closed form).
    method : str
    """

    power: float
    type_s: float
    exaggeration: float
    n_significant: int | None = None
    method: str = ""

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def retrodesign(effect: float, se: float, alpha: float = 0.05) -> TypeSM:
    r"""Gelman & Carlin's retrodesign for a normal estimate, entirely in closed form.

    Notes
    -----
    With estimate :math:`\hat\beta \sim N(D, s^2)`, :math:`z = \Phi^{-1}(1 - \alpha/2)`,
    :math:`\lambda = D/s`:

    .. math::
        p_+ = 1 - \Phi(z - \lambda), \quad p_- = \Phi(-z - \lambda), \quad
        \text{power} = p_+ + p_-, \quad \text{Type S} = p_- / \text{power}
        \ (D > 0)

    and, from the first moments of the truncated normal (Lu, Qiu & Deng 2019),

    .. math::
        E|\hat\beta|\,1\{|\hat\beta| > zs\} = D p_+ + s\varphi(z - \lambda)
        - D p_- + s\varphi(-z - \lambda),

    so the exaggeration ratio is that divided by :math:`\text{power} \cdot |D|`.
    Gelman & Carlin compute the exaggeration by simulation; the closed form is exact.

    References
    ----------
    Gelman, A., & Carlin, J. (2014). Beyond power calculations: assessing Type S
    (sign) and Type M (magnitude) errors. *Perspectives on Psychological Science*,
    9(6), 641-651.
    Lu, J., Qiu, Y., & Deng, A. (2019). A note on Type S/M errors in hypothesis
    testing. *British Journal of Mathematical and Statistical Psychology*, 72(1), 1-17.

    Examples
    --------
    Gelman & Carlin's beauty-and-sex-ratio setting (true effect 0.1, s = 3.3),
    against a direct simulation of normal estimates:

    >>> r = retrodesign(0.1, 3.3)
    >>> est = np.random.default_rng(0).normal(0.1, 3.3, 2_000_000)
    >>> sig = np.abs(est) > 1.959964 * 3.3
    >>> bool(abs(r.power - sig.mean()) < 0.001)
    True
    >>> bool(abs(r.type_s - np.mean(est[sig] < 0)) < 0.01)
    True
    >>> bool(abs(r.exaggeration - np.abs(est[sig]).mean() / 0.1) / r.exaggeration < 0.01)
    True
    """
    if se <= 0 or effect == 0:
        raise SimulationError("retrodesign needs se > 0 and a non-zero true effect")
    z = stats.norm.isf(alpha / 2)
    lam = abs(effect) / se
    p_hi, p_lo = stats.norm.sf(z - lam), stats.norm.cdf(-z - lam)
    power_ = p_hi + p_lo
    d = abs(effect)
    moment = d * p_hi + se * stats.norm.pdf(z - lam) - d * p_lo + se * stats.norm.pdf(-z - lam)
    return TypeSM(
        power=float(power_),
        type_s=float(p_lo / power_),
        exaggeration=float(moment / (power_ * d)),
        method="closed form",
    )


def type_sm(
    settings: DGPSettings,
    n_sims: int = 10_000,
    *,
    test: str = "t",
    alpha: float = 0.05,
    seed: int = 1,
    **run_options,
) -> TypeSM:
    """Type S and Type M errors of the mean change, conditional on significance.

    ``test`` picks the significance rule: ``"t"``, ``"wilcoxon"`` or ``"z"`` (known
    SD from :func:`~milkbayes.simulate.dgp.change_sd`; with normal volumes the mean
    change is then exactly normal and :func:`retrodesign` is the exact answer). The
    true effect is the mean change ``trend + effect`` of the one-group design,
    because that is what a pre/post mean estimates.
    """
    column = {"t": "t_p", "wilcoxon": "wilcoxon_p", "z": "z_p"}
    if test not in column:
        raise SimulationError(f"test must be one of {', '.join(column)}, not {test!r}")
    truth = settings.trend + settings.effect
    if truth == 0:
        raise SimulationError("Type S/M errors need a non-zero true mean change")
    columns, _ = simulate_rules(settings, n_sims, seed=seed, **run_options)
    significant = columns[column[test]] < alpha
    estimates = columns["estimate"][significant]
    if estimates.size == 0:
        return TypeSM(
            power=0.0,
            type_s=float("nan"),
            exaggeration=float("nan"),
            n_significant=0,
            method=f"simulation ({test}); nothing significant",
        )
    return TypeSM(
        power=float(significant.mean()),
        type_s=float(np.mean(np.sign(estimates) != np.sign(truth))),
        exaggeration=float(np.mean(np.abs(estimates)) / abs(truth)),
        n_significant=int(significant.sum()),
        method=f"simulation ({test})",
    )


# ---------------------------------------------------------------- precision


def expected_half_width(n: int, sigma: float, confidence: float = 0.95) -> float:
    r"""Expected half-width of the t interval of a mean change: t·σ·c4(n)/√n.

    Notes
    -----
    :math:`E[s] = c_4(n)\,\sigma` with
    :math:`c_4(n) = \sqrt{2/(n-1)}\,\Gamma(n/2)/\Gamma((n-1)/2)`.

    Examples
    --------
    Against the mean half-width of simulated normal samples:

    >>> d = np.random.default_rng(4).normal(0.0, 10.0, size=(200_000, 24))
    >>> simulated = (stats.t.ppf(0.975, 23) * d.std(axis=1, ddof=1) / 24 ** 0.5).mean()
    >>> bool(abs(expected_half_width(24, 10.0) - simulated) < 0.01)
    True
    """
    c4 = math.sqrt(2 / (n - 1)) * math.exp(special.gammaln(n / 2) - special.gammaln((n - 1) / 2))
    return float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sigma * c4 / math.sqrt(n))


def probability_half_width_within(
    n: int, sigma: float, half_width: float, confidence: float = 0.95
) -> float:
    r"""P(t-interval half-width <= ``half_width``) for n paired changes of SD σ.

    Notes
    -----
    :math:`(n-1)s^2/\sigma^2 \sim \chi^2_{n-1}`, so
    :math:`P(t s/\sqrt n \le w) = F_{\chi^2_{n-1}}((n-1) n w^2 / (t^2 \sigma^2))`
    (Kupper & Hafner 1989).

    References
    ----------
    Kupper, L. L., & Hafner, K. B. (1989). How appropriate are popular sample size
    formulas? *The American Statistician*, 43(2), 101-105.
    """
    t = stats.t.ppf(0.5 + confidence / 2, n - 1)
    return float(stats.chi2.cdf((n - 1) * n * half_width**2 / (t * sigma) ** 2, n - 1))


def sample_size_for_precision(
    sigma: float,
    half_width: float,
    *,
    confidence: float = 0.95,
    probability: float | None = None,
    n_max: int = 100_000,
) -> int:
    """Smallest n whose t interval of the mean change has the wanted half-width.

    With ``probability=None`` the *expected* half-width must be at most
    ``half_width``; otherwise the half-width must be at most ``half_width`` with
    that probability (the stricter, Kupper-Hafner criterion).

    Examples
    --------
    The answer meets the target and one participant fewer does not:

    >>> n = sample_size_for_precision(10.0, 4.0)
    >>> expected_half_width(n, 10.0) <= 4.0 < expected_half_width(n - 1, 10.0)
    True
    >>> m = sample_size_for_precision(10.0, 4.0, probability=0.9)
    >>> (probability_half_width_within(m, 10.0, 4.0) >= 0.9
    ...  > probability_half_width_within(m - 1, 10.0, 4.0), m > n)
    (True, True)
    """
    if sigma <= 0 or half_width <= 0:
        raise SimulationError("sigma and half_width must be > 0")
    if probability is not None and not 0 < probability < 1:
        raise SimulationError(f"probability must lie in (0, 1), not {probability}")

    def good(n: int) -> bool:
        if probability is None:
            return expected_half_width(n, sigma, confidence) <= half_width
        return probability_half_width_within(n, sigma, half_width, confidence) >= probability

    low, high = 2, 2
    while not good(high):  # both criteria improve monotonically with n
        low, high = high, high * 2
        if high > n_max:
            raise SimulationError(f"more than {n_max} participants would be needed")
    while low < high:
        middle = (low + high) // 2
        low, high = (middle + 1, high) if not good(middle) else (low, middle)
    return high


@dataclass(frozen=True)
class PrecisionPoint:
    """Simulated precision of the mean change at one sample size."""

    n: int
    mean_half_width: float
    p_within: float
    coverage: float


def precision_curve(
    settings: DGPSettings,
    sizes,
    half_width: float,
    *,
    n_sims: int = 2000,
    confidence: float = 0.95,
    seed: int = 1,
) -> list[PrecisionPoint]:
    """Simulated half-width, P(half-width <= target) and coverage of the t interval.

    The coverage is of the true mean change ``trend + effect`` (what a one-group
    pre/post design estimates).
    """
    truth = settings.trend + settings.effect
    out = []
    for offset, n in enumerate(sizes):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(offset,)))
        d = simulate(settings.with_(n=int(n), n_control=0), n_sims, rng).massage_change
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * d.std(axis=1, ddof=1) / math.sqrt(n)
        covered = np.abs(d.mean(axis=1) - truth) <= half
        out.append(
            PrecisionPoint(
                n=int(n),
                mean_half_width=float(half.mean()),
                p_within=float(np.mean(half <= half_width)),
                coverage=float(covered.mean()),
            )
        )
    return out
