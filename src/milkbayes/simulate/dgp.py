"""A data-generating process with known truth for pre/post milk studies.

Every design study in :mod:`milkbayes.simulate` draws its data here, so the truth
(the massage effect, the natural trend) is a number the user chose, and an analysis
can be scored against it.

Examples
--------
>>> import numpy as np
>>> settings = DGPSettings(n=24, effect=6.0, trend=2.0)
>>> sims = simulate(settings, n_sims=3, rng=np.random.default_rng(1))
>>> sims.pre.shape, sims.post.shape
((3, 24), (3, 24))
>>> study = sims.study(0)
>>> study.n, study.outcome.kind, study.outcome.unit
(24, 'volume', 'ml')
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Literal

import numpy as np

from milkbayes.errors import SimulationError

P_WORK_LONG = 13 / 24
"""Share of mothers with long work duration in the paper (13/24, 54.2 %)."""

P_MULTIPARA = 21 / 24
"""Share of multiparous mothers in the paper (21/24, 87.5 %)."""


@dataclass(frozen=True)
class DGPSettings:
    """Settings of the data-generating process; every number is in outcome units.

    Attributes
    ----------
    n : int
        Mothers in the massage arm (24 in the paper).
    n_control : int
        Mothers in a control arm (0: the one-group design the paper used).
    outcome : {"volume", "score"}
        Expressed milk per session in ml, or an integer adequacy score ``0..max_score``.
    distribution : {"lognormal", "normal"}
        Distribution of volumes (ignored for scores, whose latent scale is normal).
    baseline_mean : float
        Mean true pre-intervention output (ml, or score points). The default, 10 ml,
        sits in the range of similar Indonesian studies (5.6 -> 16.8 ml in a
        one-group study of 20 mothers, Fara, Sagita & Safitry 2022).
    between_sd : float
        SD of the true pre output between mothers.
    trend : float
        Natural rise of the mean over the 3 days in every arm, without massage.
    effect : float
        Mean massage effect on the post measurement (the truth to recover).
    modifier_work_long, modifier_multipara : float
        Effect modification: difference in effect between long and short work
        duration, and between multiparous and primiparous mothers. Modifiers are
        centred on the covariate shares, so the mean effect stays ``effect``.
    within_sd : float
        SD of a mother's true change around her expected change (biological).
    measurement_sd : float
        SD of the measurement error, added independently to pre and post.
    max_score : int
        Maximum of the score outcome.
    p_work_long, p_multipara : float
        Covariate shares (defaults: the paper's 13/24 and 21/24).
    """

    n: int = 24
    n_control: int = 0
    outcome: Literal["volume", "score"] = "volume"
    distribution: Literal["lognormal", "normal"] = "lognormal"
    baseline_mean: float = 10.0
    between_sd: float = 4.0
    trend: float = 2.0
    effect: float = 6.0
    modifier_work_long: float = 0.0
    modifier_multipara: float = 0.0
    within_sd: float = 3.0
    measurement_sd: float = 1.0
    max_score: int = 10
    p_work_long: float = P_WORK_LONG
    p_multipara: float = P_MULTIPARA

    def __post_init__(self) -> None:
        """Refuse invalid settings at construction (:class:`SimulationError`)."""
        _check_settings(self)

    def to_dict(self) -> dict:
        """The settings as a JSON-ready dict."""
        return asdict(self)

    def with_(self, **changes) -> DGPSettings:
        """A copy with some settings changed (validated again)."""
        return replace(self, **changes)


def _check_settings(s: DGPSettings) -> None:
    if s.n < 2 or s.n_control < 0 or s.n_control == 1:
        raise SimulationError(
            f"need n >= 2 mothers (got n={s.n}) and n_control = 0 or >= 2 (got {s.n_control})"
        )
    if s.outcome not in ("volume", "score"):
        raise SimulationError(f"outcome must be 'volume' or 'score', not {s.outcome!r}")
    if s.distribution not in ("lognormal", "normal"):
        raise SimulationError(
            f"distribution must be 'lognormal' or 'normal', not {s.distribution!r}"
        )
    for name in ("between_sd", "within_sd", "measurement_sd"):
        value = getattr(s, name)
        if not (math.isfinite(value) and value >= 0):
            raise SimulationError(f"{name} must be a finite number >= 0, not {value}")
    for name in ("p_work_long", "p_multipara"):
        if not 0 <= getattr(s, name) <= 1:
            raise SimulationError(f"{name} must lie in [0, 1], not {getattr(s, name)}")
    if s.outcome == "volume" and s.distribution == "lognormal":
        if s.baseline_mean <= 0 or s.baseline_mean + s.trend <= 0:
            raise SimulationError(
                "log-normal volumes need baseline_mean > 0 and baseline_mean + trend > 0"
            )
    if s.outcome == "score" and s.max_score < 1:
        raise SimulationError(f"max_score must be >= 1, not {s.max_score}")


def change_sd(settings: DGPSettings) -> float:
    r"""SD of one massage-arm change ``post - pre`` under the normal process.

    Notes
    -----
    With independent biological variation, measurement error at both times and
    centred binary modifiers,

    .. math:: \operatorname{Var}(d) = \sigma_w^2 + 2\sigma_m^2
              + \beta_w^2 p_w (1 - p_w) + \beta_p^2 p_p (1 - p_p).

    Exact for ``distribution="normal"`` volumes; an approximation for log-normal
    volumes and rounded scores.

    Examples
    --------
    >>> change_sd(DGPSettings(within_sd=3.0, measurement_sd=2.0))
    4.123105625617661
    """
    s = settings
    variance = (
        s.within_sd**2
        + 2 * s.measurement_sd**2
        + s.modifier_work_long**2 * s.p_work_long * (1 - s.p_work_long)
        + s.modifier_multipara**2 * s.p_multipara * (1 - s.p_multipara)
    )
    return math.sqrt(variance)


@dataclass(frozen=True)
class SimulatedData:
    """``n_sims`` simulated studies as arrays of shape ``(n_sims, n + n_control)``.

    Attributes
    ----------
    pre, post : numpy.ndarray
        Observed measurements (with measurement error; scores are integers).
    massage : numpy.ndarray of bool
        True for the massage arm (the first ``n`` columns).
    work_long, multipara : numpy.ndarray of bool
        Covariates.
    effect : numpy.ndarray
        The true mean massage effect of each simulated study (shape ``(n_sims,)``);
        it varies only when drawn from a design prior.
    settings : DGPSettings
    """

    pre: np.ndarray
    post: np.ndarray
    massage: np.ndarray
    work_long: np.ndarray
    multipara: np.ndarray
    effect: np.ndarray
    settings: DGPSettings

    @property
    def change(self) -> np.ndarray:
        """``post - pre`` of every mother, shape ``(n_sims, n + n_control)``."""
        return self.post - self.pre

    @property
    def massage_change(self) -> np.ndarray:
        """Changes of the massage arm only, shape ``(n_sims, n)``."""
        return self.change[:, : self.settings.n]

    @property
    def control_change(self) -> np.ndarray:
        """Changes of the control arm, shape ``(n_sims, n_control)``."""
        return self.change[:, self.settings.n :]

    def frame(self, index: int):
        """Simulated study ``index`` as a wide table in the data contract's columns."""
        import pandas as pd

        s = self.settings
        size = s.n + s.n_control
        frame = pd.DataFrame(
            {
                "id": [f"sim{index}_{i + 1:03d}" for i in range(size)],
                "pre": self.pre[index].astype(float),
                "post": self.post[index].astype(float),
                "group": np.where(self.massage[index], "massage", "control"),
                "work_duration": np.where(self.work_long[index], "long", "short"),
                "parity": np.where(self.multipara[index], "multipara", "primipara"),
            }
        )
        return frame

    def study(self, index: int):
        """Simulated study ``index`` as a validated :class:`milkbayes.data.study.Study`.

        The data pass through the same validation as a user's file, so impossible
        values (a negative volume from a normal process with a small mean) raise a
        :class:`~milkbayes.errors.DataError` instead of being clipped silently.
        """
        from milkbayes.data.study import Outcome, study_from_frame

        s = self.settings
        outcome = (
            Outcome(kind="volume", unit="ml")
            if s.outcome == "volume"
            else Outcome(kind="score", max_score=s.max_score)
        )
        return study_from_frame(
            self.frame(index), outcome=outcome, source=f"simulated:{index}", reconstructed=False
        )


def simulate(
    settings: DGPSettings,
    n_sims: int,
    rng: np.random.Generator,
    effect: np.ndarray | float | None = None,
) -> SimulatedData:
    r"""Draw ``n_sims`` studies from the data-generating process.

    Parameters
    ----------
    settings : DGPSettings
    n_sims : int
    rng : numpy.random.Generator
        The only source of randomness: the same generator state gives the same data.
    effect : float or array of shape (n_sims,), optional
        True mean massage effect per study (e.g. drawn from a design prior); default
        ``settings.effect``.

    Notes
    -----
    For mother *i* with covariates :math:`w_i` (long work) and :math:`p_i`
    (multipara), in arm :math:`g_i` (1 = massage):

    .. math::
        \beta_i = \beta + \beta_w (w_i - \pi_w) + \beta_p (p_i - \pi_p), \quad
        \Delta_i = \tau + g_i \beta_i + \sigma_w \varepsilon_i

    *Normal* volumes and scores (latent): true pre
    :math:`\mu_i = \mu_0 + \sigma_b z_i`, true post :math:`\mu_i + \Delta_i`, each
    observed with independent error :math:`N(0, \sigma_m^2)`. Scores are the
    observed latent values rounded and clipped to ``0..max_score`` (the clipping is
    the ceiling/floor effect of a checklist).

    *Log-normal* volumes: the true pre output is log-normal with mean
    :math:`\mu_0` and SD :math:`\sigma_b`; the post output multiplies it by
    :math:`(\mu_0 + \Delta_i) / \mu_0` (so the mean change is :math:`\tau + \beta`
    in ml, as in the normal case, but each mother's change is proportional to her
    output), and measurement error is multiplicative with coefficient of variation
    :math:`\sigma_m / \mu_0`, mean one.

    Examples
    --------
    >>> s = DGPSettings(distribution="normal", effect=5.0, trend=1.0)
    >>> sims = simulate(s, 4000, np.random.default_rng(2))
    >>> bool(abs(sims.massage_change.mean() - 6.0) < 0.1)
    True
    """
    s = settings
    if n_sims < 1:
        raise SimulationError(f"n_sims must be >= 1, not {n_sims}")
    size = s.n + s.n_control
    shape = (n_sims, size)
    beta = np.broadcast_to(
        np.asarray(s.effect if effect is None else effect, float), (n_sims,)
    ).copy()
    massage = np.zeros(shape, bool)
    massage[:, : s.n] = True
    work_long = rng.random(shape) < s.p_work_long
    multipara = rng.random(shape) < s.p_multipara
    mother_effect = (
        beta[:, None]
        + s.modifier_work_long * (work_long - s.p_work_long)
        + s.modifier_multipara * (multipara - s.p_multipara)
    )
    expected_change = s.trend + massage * mother_effect
    true_change = expected_change + s.within_sd * rng.standard_normal(shape)
    if s.outcome == "volume" and s.distribution == "lognormal":
        pre, post = _lognormal_measurements(s, true_change, rng, shape)
    else:
        true_pre = s.baseline_mean + s.between_sd * rng.standard_normal(shape)
        pre = true_pre + s.measurement_sd * rng.standard_normal(shape)
        post = true_pre + true_change + s.measurement_sd * rng.standard_normal(shape)
        if s.outcome == "score":
            pre = np.clip(np.rint(pre), 0, s.max_score)
            post = np.clip(np.rint(post), 0, s.max_score)
    return SimulatedData(
        pre=pre,
        post=post,
        massage=massage,
        work_long=work_long,
        multipara=multipara,
        effect=beta,
        settings=s,
    )


def _lognormal_measurements(
    s: DGPSettings, true_change: np.ndarray, rng: np.random.Generator, shape
) -> tuple[np.ndarray, np.ndarray]:
    # Log-normal with the requested mean and SD: sigma^2 = log(1 + cv^2).
    log_sd = math.sqrt(math.log1p((s.between_sd / s.baseline_mean) ** 2))
    true_pre = s.baseline_mean * np.exp(log_sd * rng.standard_normal(shape) - log_sd**2 / 2)
    ratio = np.maximum((s.baseline_mean + true_change) / s.baseline_mean, 0.0)
    true_post = true_pre * ratio
    error_sd = math.sqrt(math.log1p((s.measurement_sd / s.baseline_mean) ** 2))

    def measured(values):
        return values * np.exp(error_sd * rng.standard_normal(shape) - error_sd**2 / 2)

    return measured(true_pre), measured(true_post)
