r"""Approximate Bayesian computation by rejection on the published facts.

What the paper publishes about its outcome is one event: with n = 24 mothers (and
the five covariate counts of :data:`milkbayes.published.COVARIATE_FACTS`), the SPSS
Wilcoxon signed-rank test gave a two-sided p below .0005 ("0.000") and milk output
rose. The bundled reconstruction (:mod:`milkbayes.datasets`) fixes every other
quantity at an assumed value; here those assumptions get priors
(:class:`ReconstructionPrior`) and are kept only when a dataset drawn with them
reproduces the published event. Because the event is discrete (it happened or not),
rejection with the event itself as the acceptance rule is *exact* Bayesian
inference, not an approximation: the accepted assumption values are draws from

.. math:: \pi(\theta \mid A) \propto \pi(\theta)\, P(A \mid \theta),

with :math:`A` = {n = 24, the five counts, p < .0005, post > pre} (Pritchard et al.
1999; Beaumont 2010, whose tolerance is zero here). The only error is Monte Carlo.

The generator
-------------
One proposal draws, in this order from one stream (:func:`_simulate`): the outcome
reading (volume in ml or a 0-10 checklist score), the assumption values of both
readings, which mothers have a long work duration (13) and are primiparous (3)
(independent random permutations: the paper gives no cross-tabulation), each
mother's standardised baseline deviate z and change deviate e, and the outcome:

- volume: :math:`\text{pre} = m_0 e^{s_0 z}`,
  :math:`\Delta = \mu + \beta_{long} L + \beta_{primi} P + \sigma(r z + \sqrt{1-r^2} e)`,
  both rounded to 0.1 ml; the standardised effect
  :math:`\delta = E\Delta / SD\,\Delta` is drawn from its prior and
  :math:`\mu = \delta S - \beta_{long} p_L - \beta_{primi} p_P`, with
  :math:`S^2 = \sigma^2 + \beta_{long}^2 p_L(1-p_L) + \beta_{primi}^2 p_P(1-p_P)`
  and :math:`p_L = 13/24`, :math:`p_P = 3/24`;
- score: :math:`a = \operatorname{logit} p_0 + s_a z`,
  pre ~ Binomial(10, expit a), post ~ Binomial(10, expit(a + \eta + \gamma_{long} L
  + \gamma_{primi} P + \tau e)); its :math:`\delta` (mean change over SD of the
  change, over the covariate mixture) is computed by Gauss-Hermite quadrature
  (:func:`score_delta`).

Every proposal lives in a chunk with its own seed
(``SeedSequence(seed, spawn_key=(chunk,))``), so any accepted dataset is re-made by
re-running its chunk (:meth:`ReconstructionPosterior.dataset`).

References
----------
Pritchard, J. K., Seielstad, M. T., Perez-Lezaun, A. and Feldman, M. W. (1999).
Population growth of human Y chromosomes: a study of Y chromosome microsatellites.
*Molecular Biology and Evolution* 16, 1791-1798.

Beaumont, M. A. (2010). Approximate Bayesian computation in evolution and ecology.
*Annual Review of Ecology, Evolution, and Systematics* 41, 379-406.

Examples
--------
>>> post = abc_posterior(n_proposals=4000, seed=1)
>>> post.n_proposals, bool(post.n_accepted > 0)
(4000, True)
>>> bool(post.draws["delta"].min() > 0)
True
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from milkbayes import RECONSTRUCTED_WARNING, jsonio, published, storage
from milkbayes.data import Study, study_from_csv_text
from milkbayes.datasets import (
    COLUMNS,
    OUTCOMES,
    CovariateAssumptions,
    reconstruction_csv,
)
from milkbayes.errors import ReconstructionError
from milkbayes.frequentist import wilcoxon_many

__all__ = [
    "DEFAULT_PROPOSALS",
    "DEFAULT_SEED",
    "FAST_PROPOSALS",
    "ReconstructionPosterior",
    "ReconstructionPrior",
    "RejectionResult",
    "abc_posterior",
    "rejection_abc",
    "score_delta",
    "write_posterior",
]

DEFAULT_PROPOSALS = 100_000
"""Proposals of the default run (about 3 s on one core; the target is 30 s)."""

FAST_PROPOSALS = 20_000
"""Proposals under ``reanalyze --fast``: P(delta > 0.8) to about +-0.01."""

DEFAULT_SEED = 20_241_204
"""Seed of the default run."""

CHUNK_SIZE = 10_000
"""Proposals per chunk: one seed, one vectorised Wilcoxon call, one regeneration unit."""

N = published.N_PARTICIPANTS
P_LONG = published.COVARIATE_FACTS["work_duration"].count / N
P_PRIMI = 1.0 - published.COVARIATE_FACTS["parity"].count / N
N_LONG = published.COVARIATE_FACTS["work_duration"].count
N_PRIMI = N - published.COVARIATE_FACTS["parity"].count
MAX_SCORE = 10

VOLUME_PARAMETERS = (
    "pre_median_ml",
    "pre_log_sd",
    "change_sd_ml",
    "long_work_modifier_ml",
    "primipara_modifier_ml",
    "baseline_change_correlation",
    "effect_ml",
    "mean_change_ml",
)
"""Volume assumptions kept per draw (``effect_ml`` and ``mean_change_ml`` are derived)."""

SCORE_PARAMETERS = (
    "pre_proportion",
    "ability_sd_logit",
    "effect_logit",
    "long_work_modifier_logit",
    "primipara_modifier_logit",
    "change_sd_logit",
)
"""Score assumptions kept per draw."""

STATISTICS = ("sample_mean_change", "sample_median_change", "sample_dz", "spss_z", "spss_p")
"""What each accepted dataset shows (in its own unit: ml or points)."""


# ----------------------------------------------------------------------------- priors
@dataclass(frozen=True)
class ReconstructionPrior:
    r"""Priors on every assumption of the generator (both outcome readings).

    The defaults are wide on purpose: each is centred on the value the bundled
    generator assumes (:class:`milkbayes.datasets.VolumeAssumptions`,
    :class:`~milkbayes.datasets.ScoreAssumptions`) with a spread that lets the
    published facts, not the prior, decide. The standardised effect has the
    default JZS prior of the Bayes factors (Cauchy, scale :math:`\sqrt 2/2`), so the
    posterior of delta is comparable with :mod:`milkbayes.sensitivity.published_p`.

    Attributes
    ----------
    p_volume : float, default 0.5
        Prior probability that the outcome was a volume (else a 0-10 score).
    delta_scale : float, default sqrt(2)/2
        Volume: delta ~ Cauchy(0, delta_scale), two-sided (a fall is allowed).
    pre_median_ml, pre_median_log_sd : float, default 6.0, 0.75
        Baseline median m_0 ~ LogNormal(log 6, 0.75).
    pre_log_sd_low, pre_log_sd_high : float, default 0.2, 1.0
        Baseline spread s_0 ~ Uniform.
    change_sd_ml, change_sd_log_sd : float, default 5.0, 0.75
        Residual SD of the change sigma ~ LogNormal(log 5, 0.75).
    modifier_sd_ml : float, default 5.0
        beta_long, beta_primi ~ Normal(0, 5) ml.
    correlation_limit : float, default 0.5
        r ~ Uniform(-limit, limit): correlation of the change with the baseline.
    pre_proportion_a, pre_proportion_b : float, default 3.5, 6.5
        Score: p_0 ~ Beta(3.5, 6.5) (mean 0.35).
    ability_sd_low, ability_sd_high : float, default 0.1, 1.2
        Score: s_a ~ Uniform.
    effect_logit_sd : float, default 2.0
        Score: eta ~ Normal(0, 2) (two-sided).
    modifier_sd_logit : float, default 0.75
        Score: gamma_long, gamma_primi ~ Normal(0, 0.75).
    change_sd_logit : float, default 0.5
        Score: tau ~ HalfNormal(0.5), mothers' own variation of the rise.
    """

    p_volume: float = 0.5
    delta_scale: float = math.sqrt(2.0) / 2.0
    pre_median_ml: float = 6.0
    pre_median_log_sd: float = 0.75
    pre_log_sd_low: float = 0.2
    pre_log_sd_high: float = 1.0
    change_sd_ml: float = 5.0
    change_sd_log_sd: float = 0.75
    modifier_sd_ml: float = 5.0
    correlation_limit: float = 0.5
    pre_proportion_a: float = 3.5
    pre_proportion_b: float = 6.5
    ability_sd_low: float = 0.1
    ability_sd_high: float = 1.2
    effect_logit_sd: float = 2.0
    modifier_sd_logit: float = 0.75
    change_sd_logit: float = 0.5

    def validate(self) -> None:
        """Raise :class:`ReconstructionError` for an impossible prior."""
        if not 0.0 <= self.p_volume <= 1.0:
            raise ReconstructionError(f"p_volume must be in [0, 1] (got {self.p_volume})")
        if not 0.0 <= self.correlation_limit < 1.0:
            raise ReconstructionError(
                f"correlation_limit must be in [0, 1) (got {self.correlation_limit})"
            )
        for name in (
            "delta_scale",
            "pre_median_ml",
            "change_sd_ml",
            "pre_proportion_a",
            "pre_proportion_b",
        ):
            if not getattr(self, name) > 0:
                raise ReconstructionError(f"{name} must be > 0 (got {getattr(self, name)})")
        for name in (
            "pre_median_log_sd",
            "change_sd_log_sd",
            "modifier_sd_ml",
            "effect_logit_sd",
            "modifier_sd_logit",
            "change_sd_logit",
        ):
            if not getattr(self, name) >= 0:
                raise ReconstructionError(f"{name} must be >= 0 (got {getattr(self, name)})")
        for low, high in (
            ("pre_log_sd_low", "pre_log_sd_high"),
            ("ability_sd_low", "ability_sd_high"),
        ):
            if not 0 <= getattr(self, low) <= getattr(self, high):
                raise ReconstructionError(f"need 0 <= {low} <= {high}")

    def command_options(self) -> str:
        """The ``--set`` options of ``milkbayes reconstruct posterior`` that give this prior.

        Only the settings that differ from the defaults, so a default prior gives ``""``.

        Examples
        --------
        >>> ReconstructionPrior().command_options()
        ''
        >>> ReconstructionPrior(p_volume=1.0, delta_scale=1.0).command_options()
        ' --set p_volume=1.0 --set delta_scale=1.0'
        """
        default = ReconstructionPrior()
        return "".join(
            f" --set {f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        )

    def describe(self) -> dict[str, str]:
        """One line per assumption: its prior, in words (for reports and the CLI).

        Examples
        --------
        >>> ReconstructionPrior().describe()["delta"]
        'Cauchy(0, 0.707), two-sided'
        """
        return {
            "outcome": f"volume (ml) with probability {self.p_volume:g}, else a 0-10 score",
            "delta": f"Cauchy(0, {self.delta_scale:.3g}), two-sided",
            "pre_median_ml": f"LogNormal(log {self.pre_median_ml:g}, {self.pre_median_log_sd:g})",
            "pre_log_sd": f"Uniform({self.pre_log_sd_low:g}, {self.pre_log_sd_high:g})",
            "change_sd_ml": f"LogNormal(log {self.change_sd_ml:g}, {self.change_sd_log_sd:g})",
            "long_work_modifier_ml": f"Normal(0, {self.modifier_sd_ml:g})",
            "primipara_modifier_ml": f"Normal(0, {self.modifier_sd_ml:g})",
            "baseline_change_correlation": (
                f"Uniform({-self.correlation_limit:g}, {self.correlation_limit:g})"
            ),
            "pre_proportion": f"Beta({self.pre_proportion_a:g}, {self.pre_proportion_b:g})",
            "ability_sd_logit": f"Uniform({self.ability_sd_low:g}, {self.ability_sd_high:g})",
            "effect_logit": f"Normal(0, {self.effect_logit_sd:g})",
            "long_work_modifier_logit": f"Normal(0, {self.modifier_sd_logit:g})",
            "primipara_modifier_logit": f"Normal(0, {self.modifier_sd_logit:g})",
            "change_sd_logit": f"HalfNormal({self.change_sd_logit:g})",
        }


# ----------------------------------------------------------------------------- generic core
@dataclass(frozen=True)
class RejectionResult:
    """What :func:`rejection_abc` keeps.

    Attributes
    ----------
    accepted : pandas.DataFrame
        The accepted proposals' columns, plus ``proposal`` (global index),
        ``chunk`` and ``row`` (where to re-make it).
    prior : pandas.DataFrame
        The ``keep_all`` columns of every proposal (the prior sample).
    n_proposals, chunk_size, seed : int
    """

    accepted: pd.DataFrame
    prior: pd.DataFrame
    n_proposals: int
    chunk_size: int
    seed: int


def chunk_rng(seed: int, chunk: int) -> np.random.Generator:
    """The random stream of one chunk: ``default_rng(SeedSequence(seed, spawn_key=(chunk,)))``."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(chunk),)))


def chunk_sizes(n_proposals: int, chunk_size: int) -> list[int]:
    """Sizes of the chunks of a run (the last may be smaller).

    Examples
    --------
    >>> chunk_sizes(25, 10)
    [10, 10, 5]
    """
    full, rest = divmod(int(n_proposals), int(chunk_size))
    return [int(chunk_size)] * full + ([rest] if rest else [])


def rejection_abc(
    simulate: Callable[[np.random.Generator, int], tuple[pd.DataFrame, np.ndarray]],
    n_proposals: int,
    seed: int,
    *,
    chunk_size: int = CHUNK_SIZE,
    keep_all: tuple[str, ...] = (),
    progress: Callable[[int, int], None] | None = None,
) -> RejectionResult:
    r"""Rejection sampling, chunk by chunk: keep each proposal whose data show the event.

    Parameters
    ----------
    simulate : callable
        ``simulate(rng, size) -> (table, accept)``: ``size`` proposals drawn from
        the prior with their data, as a table of one row per proposal, and the
        boolean mask of those whose data reproduce the conditioning event. It must
        draw only from ``rng``, so a chunk re-run with the same stream re-makes it.
    n_proposals : int
        Proposals in all.
    seed : int
        Chunk ``c`` draws from :func:`chunk_rng` ``(seed, c)``.
    chunk_size : int
        Proposals per call of ``simulate``.
    keep_all : tuple of str
        Columns kept for every proposal (the prior sample), e.g. ``("delta",)``.
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk.

    Returns
    -------
    RejectionResult

    Notes
    -----
    With a conditioning event that has positive probability, the accepted
    proposals are an exact sample of :math:`\pi(\theta \mid A) \propto \pi(\theta)
    P(A \mid \theta)`: a proposal is accepted with probability
    :math:`P(A \mid \theta)` (Pritchard et al. 1999, with zero tolerance).

    Examples
    --------
    A coin's bias under a uniform prior, given that 3 tosses all came up heads:
    the posterior is Beta(4, 1), of mean 0.8.

    >>> def toss(rng, size):
    ...     p = rng.random(size)
    ...     return pd.DataFrame({"p": p}), (rng.random((size, 3)) < p[:, None]).all(axis=1)
    >>> result = rejection_abc(toss, 40_000, seed=1)
    >>> round(float(result.accepted["p"].mean()), 2)
    0.8
    """
    if isinstance(n_proposals, bool) or int(n_proposals) != n_proposals or n_proposals < 1:
        raise ReconstructionError(f"proposals must be a whole number >= 1 (got {n_proposals!r})")
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise ReconstructionError(f"chunk_size must be a whole number >= 1 (got {chunk_size!r})")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ReconstructionError(f"seed must be a whole number >= 0 (got {seed!r})")
    n_proposals, chunk_size, seed = int(n_proposals), int(chunk_size), int(seed)
    kept, prior, done = [], [], 0
    for chunk, size in enumerate(chunk_sizes(n_proposals, chunk_size)):
        table, accept = simulate(chunk_rng(seed, chunk), size)
        accept = np.asarray(accept, dtype=bool)
        rows = np.flatnonzero(accept)
        part = table.iloc[rows].reset_index(drop=True)
        part.insert(0, "row", rows)
        part.insert(0, "chunk", chunk)
        part.insert(0, "proposal", chunk * chunk_size + rows)
        kept.append(part)
        if keep_all:
            prior.append(table.loc[:, list(keep_all)].reset_index(drop=True))
        done += size
        if progress is not None:
            progress(done, n_proposals)
    accepted = pd.concat(kept, ignore_index=True)
    prior_table = pd.concat(prior, ignore_index=True) if prior else pd.DataFrame()
    return RejectionResult(accepted, prior_table, n_proposals, chunk_size, seed)


# ----------------------------------------------------------------------------- the generator
@dataclass(frozen=True)
class _Chunk:
    """One chunk's proposals with their data (integer tenths of ml, or points)."""

    table: pd.DataFrame
    accept: np.ndarray
    pre: np.ndarray  # (size, n): tenths of ml for volume, points for score
    post: np.ndarray
    long: np.ndarray  # (size, n) bool
    primi: np.ndarray
    volume: np.ndarray  # (size,) bool


def _draw_parameters(rng: np.random.Generator, size: int, prior: ReconstructionPrior) -> dict:
    """Every assumption of both readings, in a fixed order (part of the procedure)."""
    pr = prior
    theta: dict[str, np.ndarray] = {}
    theta["volume"] = rng.random(size) < pr.p_volume
    theta["delta"] = pr.delta_scale * rng.standard_cauchy(size)
    theta["pre_median_ml"] = pr.pre_median_ml * np.exp(
        pr.pre_median_log_sd * rng.standard_normal(size)
    )
    theta["pre_log_sd"] = rng.uniform(pr.pre_log_sd_low, pr.pre_log_sd_high, size)
    theta["change_sd_ml"] = pr.change_sd_ml * np.exp(
        pr.change_sd_log_sd * rng.standard_normal(size)
    )
    theta["long_work_modifier_ml"] = pr.modifier_sd_ml * rng.standard_normal(size)
    theta["primipara_modifier_ml"] = pr.modifier_sd_ml * rng.standard_normal(size)
    theta["baseline_change_correlation"] = rng.uniform(
        -pr.correlation_limit, pr.correlation_limit, size
    )
    theta["pre_proportion"] = rng.beta(pr.pre_proportion_a, pr.pre_proportion_b, size)
    theta["ability_sd_logit"] = rng.uniform(pr.ability_sd_low, pr.ability_sd_high, size)
    theta["effect_logit"] = pr.effect_logit_sd * rng.standard_normal(size)
    theta["long_work_modifier_logit"] = pr.modifier_sd_logit * rng.standard_normal(size)
    theta["primipara_modifier_logit"] = pr.modifier_sd_logit * rng.standard_normal(size)
    theta["change_sd_logit"] = np.abs(pr.change_sd_logit * rng.standard_normal(size))
    # derived volume quantities: the total SD of the change and the reference mean
    bl, bp = theta["long_work_modifier_ml"], theta["primipara_modifier_ml"]
    total_sd = np.sqrt(
        theta["change_sd_ml"] ** 2 + bl**2 * P_LONG * (1 - P_LONG) + bp**2 * P_PRIMI * (1 - P_PRIMI)
    )
    theta["mean_change_ml"] = theta["delta"] * total_sd
    theta["effect_ml"] = theta["mean_change_ml"] - bl * P_LONG - bp * P_PRIMI
    return theta


def _random_members(rng: np.random.Generator, size: int, k: int) -> np.ndarray:
    """(size, n) bool: ``k`` of the n mothers chosen uniformly at random, per row."""
    return np.argsort(rng.random((size, N)), axis=1) < k


def _simulate(rng: np.random.Generator, size: int, prior: ReconstructionPrior) -> _Chunk:
    """Draw ``size`` proposals and their datasets; test each against the published facts."""
    theta = _draw_parameters(rng, size, prior)
    long = _random_members(rng, size, N_LONG)
    primi = _random_members(rng, size, N_PRIMI)
    z = rng.standard_normal((size, N))
    e = rng.standard_normal((size, N))

    def col(name: str) -> np.ndarray:
        return theta[name][:, None]

    # volume, in integer tenths of ml (so that decimal ties tie exactly)
    r = col("baseline_change_correlation")
    pre_ml = col("pre_median_ml") * np.exp(col("pre_log_sd") * z)
    change_ml = (
        col("effect_ml")
        + col("long_work_modifier_ml") * long
        + col("primipara_modifier_ml") * primi
        + col("change_sd_ml") * (r * z + np.sqrt(1.0 - r**2) * e)
    )
    pre_v = np.rint(pre_ml * 10.0)
    post_v = np.rint((pre_ml + change_ml) * 10.0)
    # score, in points out of MAX_SCORE
    ability = special.logit(col("pre_proportion")) + col("ability_sd_logit") * z
    shift = (
        col("effect_logit")
        + col("long_work_modifier_logit") * long
        + col("primipara_modifier_logit") * primi
        + col("change_sd_logit") * e
    )
    pre_s = rng.binomial(MAX_SCORE, special.expit(ability)).astype(float)
    post_s = rng.binomial(MAX_SCORE, special.expit(ability + shift)).astype(float)

    volume = theta["volume"]
    pre = np.where(volume[:, None], pre_v, pre_s)
    post = np.where(volume[:, None], post_v, post_s)
    change = post - pre
    valid = np.where(volume, (post_v >= 0).all(axis=1), True)
    spss_z, spss_p = wilcoxon_many(change)
    mean_change = change.mean(axis=1)
    accept = valid & (spss_p < published.SPSS_P_THRESHOLD) & (spss_z > 0) & (mean_change > 0)

    unit = np.where(volume, 10.0, 1.0)
    sd = change.std(axis=1, ddof=1)
    delta = np.where(volume, theta["delta"], np.nan)
    if (~volume).any():
        delta[~volume] = score_delta(*(theta[name][~volume] for name in SCORE_PARAMETERS))
    table = pd.DataFrame(
        {
            "scenario": np.where(volume, "volume_ml", "score"),
            "delta": delta,
            **{name: np.where(volume, theta[name], np.nan) for name in VOLUME_PARAMETERS},
            **{name: np.where(volume, np.nan, theta[name]) for name in SCORE_PARAMETERS},
            "sample_mean_change": mean_change / unit,
            "sample_median_change": np.median(change, axis=1) / unit,
            "sample_dz": np.divide(mean_change, sd, out=np.full(size, np.nan), where=sd > 0),
            "spss_z": spss_z,
            "spss_p": spss_p,
        }
    )
    return _Chunk(table, accept, pre, post, long, primi, volume)


@dataclass(frozen=True)
class _AcceptedRows:
    """The datasets of one chunk's accepted proposals, kept from the run that made them.

    ``rows`` are the accepted rows of the chunk in increasing order; ``pre`` and
    ``post`` hold their values as :class:`_Chunk` does (tenths of ml or points),
    stored as int32 when every value is a whole number that fits (they are: the
    generator rounds them), else as they came; ``long`` and ``primi`` are the
    modifier indicators.
    """

    rows: np.ndarray
    pre: np.ndarray
    post: np.ndarray
    long: np.ndarray
    primi: np.ndarray

    @classmethod
    def of(cls, made: _Chunk) -> _AcceptedRows:
        rows = np.flatnonzero(made.accept)
        return cls(
            rows,
            _compact(made.pre[rows]),
            _compact(made.post[rows]),
            made.long[rows],
            made.primi[rows],
        )

    def values(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """``(pre, post, long, primi)`` of chunk row ``row`` (floats as made), or None."""
        at = int(np.searchsorted(self.rows, row))
        if at >= self.rows.size or self.rows[at] != row:
            return None
        return (
            self.pre[at].astype(float),
            self.post[at].astype(float),
            self.long[at],
            self.primi[at],
        )


def _compact(values: np.ndarray) -> np.ndarray:
    """``values`` as int32 when that keeps every value exactly, else unchanged."""
    if np.isfinite(values).all() and (np.abs(values) < 2**31).all():
        small = values.astype(np.int32)
        if np.array_equal(small, values):
            return small
    return values


@lru_cache(maxsize=4)
def _remade_chunk(seed: int, chunk: int, size: int, prior: ReconstructionPrior) -> _Chunk:
    """A chunk re-run from its seed (kept: accepted datasets of one chunk come in runs)."""
    return _simulate(chunk_rng(seed, chunk), size, prior)


_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(12)
_GH_WEIGHTS = _GH_WEIGHTS / _GH_WEIGHTS.sum()


def score_delta(
    pre_proportion,
    ability_sd_logit,
    effect_logit,
    long_work_modifier_logit,
    primipara_modifier_logit,
    change_sd_logit,
    *,
    max_score: int = MAX_SCORE,
) -> np.ndarray:
    r"""Standardised effect (mean / SD of post - pre) of the score reading, per draw.

    Notes
    -----
    Given a mother's ability a and own change deviate e, pre and post are
    independent binomials with probabilities :math:`p_0 = \operatorname{expit} a`,
    :math:`p_1 = \operatorname{expit}(a + \eta_c + \tau e)`, so the change has mean
    :math:`K(p_1 - p_0)` and variance :math:`K p_1(1-p_1) + K p_0(1-p_0)`. Over a,
    e (both normal; 12-point Gauss-Hermite quadrature in each) and the four
    covariate classes c (long work with probability 13/24, primipara with 3/24,
    independently):

    .. math:: \delta = \frac{E[\Delta]}{\sqrt{E[\operatorname{Var}(\Delta \mid a, e, c)]
              + \operatorname{Var}(E[\Delta \mid a, e, c])}}.

    Examples
    --------
    No effect and no spread: delta is 0.

    >>> float(score_delta(0.35, 0.6, 0.0, 0.0, 0.0, 0.0)[0])
    0.0
    """

    def per_draw(values) -> np.ndarray:  # (draws, 1, 1): broadcasts over the nodes
        return np.atleast_1d(np.asarray(values, dtype=float))[:, None, None]

    p0, sa = per_draw(pre_proportion), per_draw(ability_sd_logit)
    eta, tau = per_draw(effect_logit), per_draw(change_sd_logit)
    gl, gp = per_draw(long_work_modifier_logit), per_draw(primipara_modifier_logit)
    x = _GH_NODES[None, :, None]
    y = _GH_NODES[None, None, :]
    w = _GH_WEIGHTS[:, None] * _GH_WEIGHTS[None, :]
    k = float(max_score)
    a = special.logit(p0) + sa * x
    q0 = special.expit(a)
    mean, second = 0.0, 0.0
    for is_long, w_long in ((1.0, P_LONG), (0.0, 1.0 - P_LONG)):
        for is_primi, w_primi in ((1.0, P_PRIMI), (0.0, 1.0 - P_PRIMI)):
            q1 = special.expit(a + eta + gl * is_long + gp * is_primi + tau * y)
            m = k * (q1 - q0)
            v = k * q1 * (1.0 - q1) + k * q0 * (1.0 - q0)
            weight = w_long * w_primi
            mean = mean + weight * (w * m).sum(axis=(1, 2))
            second = second + weight * (w * (v + m**2)).sum(axis=(1, 2))
    variance = np.maximum(second - mean**2, 0.0)
    return np.divide(mean, np.sqrt(variance), out=np.zeros_like(mean), where=variance > 0)


# ----------------------------------------------------------------------------- the posterior
@dataclass(frozen=True)
class ReconstructionPosterior:
    """Accepted assumption values of the generator, given the published facts.

    Attributes
    ----------
    draws : pandas.DataFrame
        One row per accepted proposal: ``proposal``, ``chunk``, ``row``,
        ``scenario``, ``delta`` (the standardised effect of the population the
        assumptions describe), the volume assumptions (:data:`VOLUME_PARAMETERS`,
        NaN for score draws), the score assumptions (:data:`SCORE_PARAMETERS`),
        and the accepted dataset's statistics (:data:`STATISTICS`).
    prior_delta : numpy.ndarray
        delta of every proposal (the prior sample the facts were applied to).
    prior_scenario : numpy.ndarray
        Scenario of every proposal.
    n_proposals, seed, chunk_size : int
    prior : ReconstructionPrior
    """

    draws: pd.DataFrame
    prior_delta: np.ndarray
    prior_scenario: np.ndarray
    n_proposals: int
    seed: int
    chunk_size: int
    prior: ReconstructionPrior = field(default_factory=ReconstructionPrior)
    accepted_data: dict[int, _AcceptedRows] | None = field(default=None, repr=False, compare=False)
    """The accepted datasets by chunk, kept by :func:`abc_posterior` so that
    :meth:`dataset` need not re-run their chunks (None: re-run them)."""

    @property
    def n_accepted(self) -> int:
        """Number of accepted proposals."""
        return len(self.draws)

    @property
    def acceptance_rate(self) -> float:
        """Accepted / proposed."""
        return self.n_accepted / self.n_proposals

    def acceptance_by_scenario(self) -> dict[str, float]:
        """Acceptance rate within each outcome reading (the evidence for each)."""
        out = {}
        for scenario in OUTCOMES:
            proposed = int((self.prior_scenario == scenario).sum())
            accepted = int((self.draws["scenario"] == scenario).sum())
            out[scenario] = accepted / proposed if proposed else math.nan
        return out

    def delta_summary(self) -> dict[str, float]:
        """Posterior median, 95 % interval and P(delta > 0.5, 0.8) of delta, and the prior's.

        Examples
        --------
        >>> s = abc_posterior(n_proposals=2000, seed=2).delta_summary()
        >>> bool(s["ci95_low"] < s["median"] < s["ci95_high"]), bool(s["p_gt_0_8"] <= s["p_gt_0_5"])
        (True, True)
        """
        if self.n_accepted == 0:
            raise ReconstructionError(
                f"no proposal of {self.n_proposals} reproduced the published facts: "
                "use more proposals"
            )
        delta = self.draws["delta"].to_numpy()
        low, median, high = np.quantile(delta, [0.025, 0.5, 0.975])
        p5, p8 = float((delta > 0.5).mean()), float((delta > 0.8).mean())
        prior = self.prior_delta
        return {
            "median": float(median),
            "ci95_low": float(low),
            "ci95_high": float(high),
            "p_gt_0_5": p5,
            "p_gt_0_8": p8,
            "mc_se_p_gt_0_8": math.sqrt(p8 * (1 - p8) / self.n_accepted),
            "prior_median": float(np.median(prior)),
            "prior_p_gt_0_5": float((prior > 0.5).mean()),
            "prior_p_gt_0_8": float((prior > 0.8).mean()),
            "n_accepted": self.n_accepted,
            "n_proposals": self.n_proposals,
            "acceptance_rate": self.acceptance_rate,
        }

    def quantiles(self, column: str, scenario: str) -> dict[str, float]:
        """Posterior median and 95 % interval of one assumption within one reading."""
        values = self.draws.loc[self.draws["scenario"] == scenario, column].dropna()
        if values.empty:
            return {"median": math.nan, "ci95_low": math.nan, "ci95_high": math.nan}
        low, median, high = np.quantile(values.to_numpy(), [0.025, 0.5, 0.975])
        return {"median": float(median), "ci95_low": float(low), "ci95_high": float(high)}

    def dataset(self, i: int) -> Study:
        """Re-make the ``i``-th accepted dataset (row ``i`` of :attr:`draws`) as a Study.

        Its chunk is re-run from its seed; the covariates that do not enter the
        outcome (occupation, education, age group) are permuted with a stream of
        their own (``SeedSequence(seed, spawn_key=(chunk, row, 1))``) from the
        default counts of :class:`~milkbayes.datasets.CovariateAssumptions`.

        Raises
        ------
        ReconstructionError
            If ``i`` is not a row of :attr:`draws`.
        """
        if (
            isinstance(i, bool)
            or not isinstance(i, (int, np.integer))
            or not (0 <= i < self.n_accepted)
        ):
            raise ReconstructionError(
                f"accepted reconstruction {i!r} does not exist: there are {self.n_accepted} "
                f"(0 to {self.n_accepted - 1})"
            )
        record = self.draws.iloc[int(i)]
        chunk, row = int(record["chunk"]), int(record["row"])
        pre, post, long, primi = self._values(chunk, row)
        scenario = str(record["scenario"])
        unit = 10.0 if scenario == "volume_ml" else 1.0
        table = pd.DataFrame(
            {
                "id": [f"M{k + 1:02d}" for k in range(N)],
                "pre": pre / unit,
                "post": post / unit,
                "group": ["massage"] * N,
                "work_duration": np.where(long, "long", "short"),
                "parity": np.where(primi, "primipara", "multipara"),
            }
        )
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(chunk, row, 1)))
        defaults = CovariateAssumptions()
        for column in ("occupation", "education", "age_group"):
            counts = defaults.counts(column)
            levels = np.repeat(list(counts), list(counts.values()))
            table[column] = rng.permutation(levels)
        table = table[list(COLUMNS)]
        text = reconstruction_csv(table, scenario)
        outcome = OUTCOMES[scenario]
        provenance = {
            "reconstructed": True,
            "warning": RECONSTRUCTED_WARNING,
            "outcome": outcome.to_dict(),
            "scenario": scenario,
            "generator": "milkbayes.reconstruction.abc",
            "procedure": (
                "approximate Bayesian computation by rejection on the published facts; "
                "chunk re-run from SeedSequence(seed, spawn_key=(chunk,))"
            ),
            "seed": self.seed,
            "chunk": chunk,
            "row": row,
            "proposal": int(record["proposal"]),
            "n_proposals": self.n_proposals,
            "chunk_size": self.chunk_size,
            "numpy_version": np.__version__,
            "prior": asdict(self.prior),
            "assumptions": {
                k: (float(v) if isinstance(v, (float, np.floating)) else v)
                for k, v in record.items()
                if k in ("delta", *VOLUME_PARAMETERS, *SCORE_PARAMETERS) and pd.notna(v)
            },
            "csv_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "command": (
                f"milkbayes reconstruct posterior --proposals {self.n_proposals} --seed {self.seed}"
                + self.prior.command_options()
            ),
        }
        return study_from_csv_text(
            text,
            outcome=outcome,
            source=f"reconstructed:abc:seed={self.seed}:proposal={int(record['proposal'])}",
            reconstructed=True,
            provenance=provenance,
        )

    def _values(self, chunk: int, row: int) -> tuple[np.ndarray, ...]:
        """``(pre, post, long, primi)`` of one proposal: kept by the run, else re-made.

        Both give the same values: the kept ones are copies of what the run drew,
        and a re-run chunk draws from the same stream (:func:`chunk_rng`).
        """
        kept = (self.accepted_data or {}).get(chunk)
        values = kept.values(row) if kept is not None else None
        if values is not None:
            return values
        size = chunk_sizes(self.n_proposals, self.chunk_size)[chunk]
        made = _remade_chunk(self.seed, chunk, size, self.prior)
        return made.pre[row], made.post[row], made.long[row], made.primi[row]

    def to_dict(self) -> dict[str, Any]:
        """The run's settings and summaries (JSON-ready through :mod:`milkbayes.jsonio`)."""
        return {
            "warning": RECONSTRUCTED_WARNING,
            "method": "approximate Bayesian computation by rejection (zero tolerance)",
            "conditioning_event": published_event_text(),
            "n_proposals": self.n_proposals,
            "n_accepted": self.n_accepted,
            "acceptance_rate": self.acceptance_rate,
            "acceptance_by_scenario": self.acceptance_by_scenario(),
            "seed": self.seed,
            "chunk_size": self.chunk_size,
            "prior": self.prior.describe(),
            "delta": self.delta_summary() if self.n_accepted else None,
            "volume_mean_change_ml": self.quantiles("mean_change_ml", "volume_ml"),
        }


def published_event_text() -> str:
    """The conditioning event in words.

    Examples
    --------
    >>> "p < 0.0005" in published_event_text()
    True
    """
    counts = ", ".join(f"{fact.count} {fact.level}" for fact in published.COVARIATE_FACTS.values())
    return (
        f"n = {N} ({counts}); SPSS Wilcoxon two-sided p < {published.SPSS_P_THRESHOLD:g} "
        "with post > pre (mean change > 0); volumes >= 0"
    )


def abc_posterior(
    n_proposals: int = DEFAULT_PROPOSALS,
    seed: int = DEFAULT_SEED,
    *,
    prior: ReconstructionPrior | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> ReconstructionPosterior:
    """The posterior of the reconstruction's assumptions given only the published facts.

    Parameters
    ----------
    n_proposals : int, default :data:`DEFAULT_PROPOSALS`
        Draws from the prior; about a third are accepted with the default prior.
    seed : int, default :data:`DEFAULT_SEED`
        The run is a function of it (and of ``chunk_size`` and the prior).
    prior : ReconstructionPrior, optional
        Default: :class:`ReconstructionPrior` ().
    chunk_size : int, default :data:`CHUNK_SIZE`
    progress : callable, optional
        ``progress(done, total)`` after each chunk.

    Returns
    -------
    ReconstructionPosterior

    Raises
    ------
    ReconstructionError
        For a bad number of proposals, seed, chunk size or prior.

    Notes
    -----
    The conditioning event is :func:`published_event_text`; the generator and
    why rejection is exact here are in the module docstring. ``delta`` of a score
    draw is :func:`score_delta` of its assumptions.

    Examples
    --------
    >>> post = abc_posterior(n_proposals=3000, seed=4)
    >>> study = post.dataset(0)
    >>> from milkbayes.datasets import check_constraints
    >>> check_constraints(study).satisfied, study.reconstructed
    (True, True)
    """
    prior = ReconstructionPrior() if prior is None else prior
    prior.validate()
    # the accepted datasets, kept as the chunks are made (rejection_abc runs the
    # chunks in order, so the k-th call is chunk k): dataset(i) then re-runs nothing
    accepted: dict[int, _AcceptedRows] = {}

    def simulate(rng: np.random.Generator, size: int) -> tuple[pd.DataFrame, np.ndarray]:
        made = _simulate(rng, size, prior)
        accepted[len(accepted)] = _AcceptedRows.of(made)
        return made.table, made.accept

    result = rejection_abc(
        simulate,
        n_proposals,
        seed,
        chunk_size=chunk_size,
        keep_all=("delta", "scenario"),
        progress=progress,
    )
    return ReconstructionPosterior(
        draws=result.accepted,
        prior_delta=result.prior["delta"].to_numpy(),
        prior_scenario=result.prior["scenario"].to_numpy(),
        n_proposals=result.n_proposals,
        seed=result.seed,
        chunk_size=result.chunk_size,
        prior=prior,
        accepted_data=accepted,
    )


SUMMARY_FILE = "summary.json"
DRAWS_FILE = "draws.csv"


def _is_posterior_folder(folder: Path) -> bool:
    """True for a folder :func:`write_posterior` wrote (it may be replaced with ``force``)."""
    try:
        summary = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and summary.get("generator") == "milkbayes.reconstruction.abc"


def write_posterior(
    posterior: ReconstructionPosterior, out: str | Path, *, force: bool = False
) -> Path:
    """Write the accepted draws (``draws.csv``) and the summary (``summary.json``) to ``out``.

    The folder is built under a temporary name and put in place whole
    (:func:`milkbayes.storage.staged_folder`): an interrupted or failed write
    leaves no half-written folder and never touches an earlier result unless
    ``force`` (and only a folder this function wrote).

    Raises
    ------
    RunExistsError
        ``out`` holds files and ``force`` is false, or it holds files this
        function did not write.
    OutputError
        The folder cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "abc"
    >>> written = write_posterior(abc_posterior(n_proposals=1000, seed=1), folder)
    >>> sorted(p.name for p in written.iterdir())
    ['draws.csv', 'summary.json']
    """
    out = Path(out)
    summary = {"generator": "milkbayes.reconstruction.abc", **posterior.to_dict()}
    # one comment line (read back with pandas.read_csv(..., comment="#"))
    header = f"# {RECONSTRUCTED_WARNING}\n"
    with storage.staged_folder(
        out, force=force, is_replaceable=_is_posterior_folder, what="reconstruction posterior"
    ) as stage:
        storage.atomic_write_text(stage / SUMMARY_FILE, jsonio.dumps(summary, indent=2) + "\n")
        storage.atomic_write_text(
            stage / DRAWS_FILE,
            header + posterior.draws.to_csv(index=False, lineterminator="\n"),
        )
    return out
