"""Regression to the mean when mothers are enrolled for low milk output.

Mothers are screened one after another and enrolled when their (noisy) pre
measurement falls below a cut-off, as a study of "mothers with insufficient milk"
would do. With no massage effect and no natural trend, the enrolled mothers' output
still rises on average, because part of a low pre reading is measurement error that
does not repeat. A one-group pre/post study (the design of the paper) reads that
rise as an effect; a control arm enrolled the same way shows the same rise, so the
difference between arms removes it.

Examples
--------
>>> s = DGPSettings(distribution="normal", effect=0.0, trend=0.0, baseline_mean=10.0,
...                 between_sd=4.0, measurement_sd=3.0, within_sd=1.0, n=24, n_control=24)
>>> r = regression_to_mean(s, cutoff=8.0, n_sims=2000, seed=3)
>>> bool(abs(r.mean_change_massage - r.expected_change) < 4 * r.mc_se_massage)
True
>>> bool(abs(r.mean_difference) < 4 * r.mc_se_difference)
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

from milkbayes.simulate.dgp import DGPSettings, SimulationError, simulate
from milkbayes.simulate.rules import wilcoxon_many
from milkbayes.simulate.runner import run_study

BLOCK = 500
"""Simulated studies per task (fixed: results depend on it)."""


def expected_rtm_change(settings: DGPSettings, cutoff: float) -> float:
    r"""E[post - pre | pre < cutoff] in a group without massage (normal process).

    Notes
    -----
    Pre is :math:`T + e_1`, post :math:`T + \tau + \varepsilon + e_2` with
    :math:`T \sim N(\mu, \sigma_b^2)` and errors :math:`N(0, \sigma_m^2)`.
    Pre and post are bivariate normal with
    :math:`\sigma_p^2 = \sigma_b^2 + \sigma_m^2` and covariance
    :math:`\sigma_b^2`, so with :math:`a = (c - \mu)/\sigma_p`
    (truncated-normal mean and linear regression of post on pre):

    .. math::
        E[\text{post} - \text{pre} \mid \text{pre} < c] = \tau +
        \frac{\sigma_m^2}{\sigma_p}\,\frac{\varphi(a)}{\Phi(a)}

    The rise vanishes without measurement error and grows as the cut-off moves
    into the lower tail (Barnett, van der Pols & Dobson 2005).

    References
    ----------
    Barnett, A. G., van der Pols, J. C., & Dobson, A. J. (2005). Regression to the
    mean: what it is and how to deal with it. *International Journal of
    Epidemiology*, 34(1), 215-220.

    Examples
    --------
    >>> s = DGPSettings(distribution="normal", trend=0.0, measurement_sd=0.0)
    >>> expected_rtm_change(s, 8.0)
    0.0
    """
    s = settings
    sd_pre = math.sqrt(s.between_sd**2 + s.measurement_sd**2)
    if sd_pre == 0:
        return float(s.trend)
    a = (cutoff - s.baseline_mean) / sd_pre
    return float(s.trend + s.measurement_sd**2 / sd_pre * stats.norm.pdf(a) / stats.norm.cdf(a))


def _check(settings: DGPSettings, cutoff: float) -> None:
    if settings.outcome != "volume" or settings.distribution != "normal":
        raise SimulationError(
            "the regression-to-the-mean study needs normal volumes "
            "(outcome='volume', distribution='normal'), whose closed form "
            "it checks"
        )
    sd_pre = math.hypot(settings.between_sd, settings.measurement_sd)
    if sd_pre == 0 or stats.norm.cdf((cutoff - settings.baseline_mean) / sd_pre) < 1e-3:
        raise SimulationError(f"cut-off {cutoff} enrols fewer than 1 in 1000 screened mothers")


def rtm_block_task(params: dict, seed: np.random.SeedSequence) -> dict:
    """Screen, enrol and follow one block of simulated studies."""
    settings = DGPSettings(**params["settings"])
    cutoff = params["cutoff"]
    index = seed.spawn_key[-1]
    size = min(params["block"], params["n_sims"] - index * params["block"])
    rng = np.random.default_rng(seed)
    n, n_control = settings.n, settings.n_control
    pre, post, arm_effect = _enrol(settings, cutoff, size, rng)
    change = post - pre
    change[:, :n] += arm_effect
    out = {
        "n": size,
        "mean_change_massage": change[:, :n].mean(axis=1).tolist(),
        "wilcoxon_p": wilcoxon_many(change[:, :n])[1].tolist(),
    }
    if n_control:
        control = change[:, n:]
        out["mean_change_control"] = control.mean(axis=1).tolist()
        out["welch_p"] = stats.ttest_ind(
            change[:, :n], control, axis=1, equal_var=False
        ).pvalue.tolist()
    return out


def _enrol(settings: DGPSettings, cutoff: float, size: int, rng: np.random.Generator):
    """The first ``n + n_control`` screened mothers with pre < cutoff, per study."""
    total = settings.n + settings.n_control
    sd_pre = math.hypot(settings.between_sd, settings.measurement_sd)
    share = stats.norm.cdf((cutoff - settings.baseline_mean) / sd_pre)
    pool = int(math.ceil(total / share * 1.5)) + 20
    pre = np.empty((size, total))
    post = np.empty((size, total))
    effect = np.empty((size, total))
    missing = np.arange(size)
    while missing.size:
        # Without massage: the arm's effect is added after enrolment, since the
        # normal process is additive (post = ... + beta_i for the massage arm).
        sims = simulate(settings.with_(n=pool, n_control=0), missing.size, rng, effect=0.0)
        s = settings
        beta = (
            s.effect
            + s.modifier_work_long * (sims.work_long - s.p_work_long)
            + s.modifier_multipara * (sims.multipara - s.p_multipara)
        )
        enrolled = sims.pre < cutoff
        enough = enrolled.sum(axis=1) >= total
        for row in np.flatnonzero(enough):
            chosen = np.flatnonzero(enrolled[row])[:total]
            target = missing[row]
            pre[target], post[target] = sims.pre[row, chosen], sims.post[row, chosen]
            effect[target] = beta[row, chosen]
        missing = missing[~enough]
    return pre, post, effect[:, : settings.n]


@dataclass(frozen=True)
class RTMResult:
    """Spurious rise after selective enrolment, simulated and in closed form.

    Attributes
    ----------
    cutoff : float
    true_effect, trend : float
    expected_change : float
        Closed form of the massage arm's mean change: trend + effect + RTM rise.
    mean_change_massage, mc_se_massage : float
        Simulated mean change of the massage arm and its Monte Carlo SE.
    rejection_one_group : float
        Share of studies in which the one-group Wilcoxon test (the paper's
        analysis) gives p < alpha.
    mean_change_control, mean_difference, mc_se_difference : float or None
        With a control arm: its mean change and the difference between arms.
    rejection_two_arm : float or None
        Share of studies with Welch's t-test on the changes at p < alpha.
    n_sims : int
    alpha : float
    settings : dict
    """

    cutoff: float
    true_effect: float
    trend: float
    expected_change: float
    mean_change_massage: float
    mc_se_massage: float
    rejection_one_group: float
    mean_change_control: float | None
    mean_difference: float | None
    mc_se_difference: float | None
    rejection_two_arm: float | None
    n_sims: int
    alpha: float
    settings: dict
    run: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def regression_to_mean(
    settings: DGPSettings,
    cutoff: float,
    n_sims: int = 2000,
    *,
    alpha: float = 0.05,
    seed: int = 1,
    **run_options,
) -> RTMResult:
    """Simulate selective enrolment on a noisy pre measurement (see module docstring)."""
    _check(settings, cutoff)
    if n_sims < 2:
        raise SimulationError(f"n_sims must be >= 2, not {n_sims}")
    params = {
        "settings": settings.to_dict(),
        "cutoff": float(cutoff),
        "n_sims": int(n_sims),
        "block": BLOCK,
    }
    run_options.setdefault("workers", 1)
    run = run_study(
        "rtm",
        params,
        math.ceil(n_sims / BLOCK),
        seed=seed,
        unit="sims",
        units_per_task=BLOCK,
        description="enrolling",
        **run_options,
    )
    column = {
        k: np.concatenate([np.asarray(r[k], float) for r in run.results])
        for k in run.results[0]
        if isinstance(run.results[0][k], list)
    }
    massage = column["mean_change_massage"]
    out = {
        "mean_change_control": None,
        "mean_difference": None,
        "mc_se_difference": None,
        "rejection_two_arm": None,
    }
    if "mean_change_control" in column:
        difference = massage - column["mean_change_control"]
        out = {
            "mean_change_control": float(column["mean_change_control"].mean()),
            "mean_difference": float(difference.mean()),
            "mc_se_difference": float(difference.std(ddof=1) / math.sqrt(n_sims)),
            "rejection_two_arm": float(np.mean(column["welch_p"] < alpha)),
        }
    return RTMResult(
        cutoff=float(cutoff),
        true_effect=settings.effect,
        trend=settings.trend,
        expected_change=expected_rtm_change(settings, cutoff) + settings.effect,
        mean_change_massage=float(massage.mean()),
        mc_se_massage=float(massage.std(ddof=1) / math.sqrt(n_sims)),
        rejection_one_group=float(np.mean(column["wilcoxon_p"] < alpha)),
        n_sims=n_sims,
        alpha=alpha,
        settings=settings.to_dict(),
        run={"backend": run.backend, "elapsed": run.elapsed},
        **out,
    )
