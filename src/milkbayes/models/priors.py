"""Prior sets: skeptical, neutral, enthusiastic, and user sets from TOML files.

A :class:`PriorSet` is a flat mapping from hyperparameter names to numbers. Each model
turns every value into ``pm.Data("prior_<name>")``, so one compiled model serves every
set. Each set states what it believes in words; the sentences are computed from the
distributions (never typed in), so they cannot drift from the numbers.

Units. Named sets are written once per outcome kind:

* ``volume``: millilitres (the minimal clinically important difference, MCID, is
  6.3 ml per session, half an SD of one feed, read from :mod:`milkbayes.literature`;
  log-normal keys ``log_*`` are on the log scale, MCID +50 %);
* ``score``: points of a 10-point checklist (MCID 2 points, a convention); the models
  rescale them by ``max_score / 10``; ordered-logistic keys ``logit_*`` are log-odds
  (MCID 1);
* ``continuous``: standard deviations of the pre measurement (MCID 0.5 SD); the
  models centre and rescale them with the data (see
  :func:`milkbayes.models.contract.outcome_scaling`).

Every probability of a report hangs on the MCID (P(effect > MCID), the ROPE
+-MCID, the triad calibrated on it), so each MCID states its source:
:func:`mcid_source` and :func:`mcid_statement`.

The triad follows Spiegelhalter, Freedman & Parmar (1994): the *skeptical* prior puts
5 % probability on an effect above the MCID, the *enthusiastic* prior is centred on
the MCID (50 % above it) with 5 % probability of harm, and the *neutral* prior is
weakly informative (centred on no effect, SD four MCIDs; the JZS Cauchy for delta).
The names mean the same in every model: the Cauchy priors on the standardised
effect delta are written against its MCID of half an SD (:data:`DELTA_MCID`).

User sets are TOML files::

    name = "my prior"            # optional, default: the file name
    model = "paired_change"      # required: the model the values are for
    kind = "volume"              # required: must match the data's outcome kind
    base = "neutral"             # optional: the named set that fills missing keys
    rationale = "why"            # optional
    [values]
    delta_scale = 0.5

Examples
--------
>>> from milkbayes.data.study import Outcome
>>> prior = get_prior("skeptical", Outcome("volume", "ml"), "prepost_hierarchical")
>>> prior.values["effect_mu"], round(prior.values["effect_sigma"], 3)
(0.0, 3.83)
>>> prior.beliefs[0]
'P(effect > 6.3 ml) = 5.0 %'

References
----------
Spiegelhalter DJ, Freedman LS, Parmar MKB (1994). Bayesian approaches to randomized
trials. J R Stat Soc A 157(3), 357-416.
Norman GR, Sloan JA, Wyrwich KW (2003). Interpretation of changes in health-related
quality of life: the remarkable universality of half a standard deviation. Medical
Care 41(5), 582-592.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import integrate, stats

from milkbayes.errors import MilkbayesError, PriorError
from milkbayes.literature import MCID_SD_FRACTION, literature_mcid
from milkbayes.models.registry import MODEL_NAMES

if TYPE_CHECKING:  # pragma: no cover
    from milkbayes.data.study import Outcome, Study

PRIOR_NAMES = ("skeptical", "neutral", "enthusiastic")
"""The named sets, in the order reports show them."""


Z95 = float(stats.norm.ppf(0.95))
"""One-sided 95 % normal quantile (1.645): P(effect > MCID) = 5 % for the skeptic."""


@dataclass(frozen=True)
class Anchor:
    """The outcome scale that prior numbers are written on."""

    unit: str
    mcid: float  # minimal clinically important difference
    level: float  # typical pre level
    spread: float  # typical SD between mothers and of the residual
    mcid_source: str = ""  # where the MCID comes from, in words


_VOLUME_MCID = literature_mcid()
"""The literature MCID of a volume (value, unit, source): its one owner is
:func:`milkbayes.literature.literature_mcid`, beside the quotes it is computed from."""

ANCHORS = {
    "volume": Anchor(
        unit="ml",
        mcid=float(_VOLUME_MCID["value"]),
        level=15.0,
        spread=10.0,
        mcid_source=str(_VOLUME_MCID["source"]),
    ),
    "score": Anchor(
        unit="points",
        mcid=2.0,
        level=5.0,
        spread=2.0,
        mcid_source=(
            "a convention, not a published MCID: 2 of the 10 checklist indicators "
            "(a fifth of the scale); no MCID exists for this checklist, and one "
            "yes/no indicator alone can flip between two assessments by chance"
        ),
    ),
    "continuous": Anchor(
        unit="SD",
        mcid=MCID_SD_FRACTION,
        level=0.0,
        spread=1.0,
        mcid_source=(
            "half a standard deviation of pre, the distribution-based rule of Norman, "
            "Sloan & Wyrwich 2003 (minimal important differences averaged 0.495 SD)"
        ),
    ),
}
"""Per outcome kind: unit, MCID, typical level, spread and the MCID's source.

Volume: similar Indonesian one-group studies of oxytocin massage report expressed
milk rising from 5.6 to 16.8 ml per session (Fara, Sagita & Safitry 2022, n = 20) and
a rise of 23 ml in working mothers (Anggorowati et al. 2016), so a typical level of
15 ml with 10 ml spread. The MCID is not read from those studies (they report
effects, not what matters to a mother) but from :func:`milkbayes.literature.literature_mcid`:
half the SD of one feed in established lactation, 0.5 x 12.6 g = 6.3 ml (Kent et al.
2006; Norman et al. 2003's half-SD rule, an analogy from quality-of-life scales).
Score: 2 of 10 indicators, a stated convention. Continuous: half a standard
deviation (Norman et al. 2003).
"""


def default_mcid(study: Study) -> float:
    """The minimal clinically important difference for ``study``, in its own units.

    The one definition used by every command, the reanalysis, the sensitivity tools
    and the notebooks. The MCID of :data:`ANCHORS` for the outcome's kind is written
    on the anchors' scale; it is turned into the study's units by the scale the
    models use (:func:`milkbayes.models.contract.outcome_scaling`):

    - volumes: 6.3 ml, half the SD of one feed (scale 1; :func:`mcid_source`);
    - scores: 2 points per 10 checklist points (scale ``max_score / 10``);
    - continuous outcomes: half a standard deviation of ``pre`` (scale ``SD(pre)``).

    A study description that states an MCID (``[mcid] value``, with its source) wins:
    it is that study's own definition.

    Examples
    --------
    >>> import pandas as pd
    >>> from milkbayes.data.study import study_from_frame
    >>> s = study_from_frame(pd.DataFrame({"id": ["a", "b"], "pre": [1.0, 3.0],
    ...                                    "post": [2.0, 5.0]}))
    >>> round(default_mcid(s), 6) == round(0.5 * 2 ** 0.5, 6)  # 0.5 x SD(pre) = 0.5 x sqrt(2)
    True
    """
    from milkbayes.models.contract import outcome_scaling

    # a study description that states an MCID (with its source) is the study's own
    described = getattr(getattr(study, "description", None), "mcid", None)
    if described is not None:
        return float(described)
    return float(ANCHORS[study.outcome.kind].mcid * outcome_scaling(study)[1])


def resolve_mcid(study: Study, mcid: Any = None) -> float:
    r"""The MCID to use for ``study``: ``mcid`` when given, else :func:`default_mcid`.

    An MCID is the smallest change that matters clinically, a size in the outcome's
    own units, so it must be a finite number :math:`\ge 0`. Everything downstream
    reads it as a threshold, :math:`P(\text{effect} > \text{MCID})`, and as the region
    of practical equivalence :math:`(-\text{MCID}, \text{MCID})`: a negative value
    would turn that region inside out and a NaN would make every comparison false, so
    both are refused here rather than turned into meaningless probabilities.

    Parameters
    ----------
    study : Study
        The data; it supplies the default and the unit named in the error message.
    mcid : float, str or None, optional
        The user's value (a notebook parameter or an option); anything ``float()``
        accepts. ``None`` (default) means :func:`default_mcid`.

    Returns
    -------
    float
        The MCID in the study's units.

    Raises
    ------
    MilkbayesError
        If ``mcid`` is not a number, is negative, infinite or NaN.

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> study = load_bundled("volume_ml")
    >>> resolve_mcid(study), resolve_mcid(study, 5), resolve_mcid(study, "7.5")
    (6.3, 5.0, 7.5)
    >>> resolve_mcid(study, -5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    milkbayes.errors.MilkbayesError: MCID = -5 is not allowed: the minimal clinically ...
    >>> resolve_mcid(study, float("nan"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    milkbayes.errors.MilkbayesError: MCID = nan is not allowed: ...
    >>> resolve_mcid(study, "ten")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    milkbayes.errors.MilkbayesError: MCID = 'ten' is not allowed: ...
    """
    default = default_mcid(study)
    if mcid is None:
        return default
    try:
        value = None if isinstance(mcid, bool) else float(mcid)
    except (TypeError, ValueError):
        value = None
    if value is None or not math.isfinite(value) or value < 0:
        unit = study.outcome.unit or "points"
        raise MilkbayesError(
            f"MCID = {mcid!r} is not allowed: the minimal clinically important "
            f"difference must be a finite number >= 0 in the outcome's units ({unit}); "
            f"None gives the default for this outcome, {default:g} {unit}"
        )
    return value


def mcid_source(study: Study, mcid: Any = None) -> str:
    """Where the MCID of ``study`` comes from, in words.

    A threshold that every probability of a report depends on (P(effect > MCID),
    the ROPE, the calibration of the sceptical and enthusiastic priors) must carry
    its source; this is the one sentence the CLI, the reanalysis and the report
    print beside it.

    Parameters
    ----------
    study : Study
        The data; its outcome kind picks the source.
    mcid : float, optional
        A user's MCID; when given and different from :func:`default_mcid`, the source
        is the user. A study description's MCID (:func:`default_mcid` takes it) is
        sourced by the description's own ``[mcid] source``.

    Returns
    -------
    str
        The source, without a final full stop.

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> mcid_source(load_bundled("volume_ml"))  # doctest: +ELLIPSIS
    'half an SD of one feed in established lactation, 0.5 x 12.6 g (Kent et al. 2006)...'
    >>> mcid_source(load_bundled("volume_ml"), 8.0)
    'given by the user (default 6.3 ml)'
    """
    default = default_mcid(study)
    if mcid is not None and float(mcid) != default:
        return f"given by the user (default {default:.3g} {_study_unit(study)})"
    description = getattr(study, "description", None)
    if getattr(description, "mcid", None) is not None:
        stated = getattr(description, "mcid_source", None) or "no source stated"
        return f"the study description: {stated}"
    return ANCHORS[study.outcome.kind].mcid_source


def mcid_statement(study: Study, mcid: Any = None) -> str:
    """One line: the MCID in the study's units and its source.

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> mcid_statement(load_bundled("volume_ml"))  # doctest: +ELLIPSIS
    'MCID = 6.3 ml (source: half an SD of one feed in established lactation, ...)'
    >>> mcid_statement(load_bundled("score"))  # doctest: +ELLIPSIS
    'MCID = 2 points (source: a convention, not a published MCID: ...)'
    """
    value = resolve_mcid(study, mcid)
    return f"MCID = {value:.3g} {_study_unit(study)} (source: {mcid_source(study, value)})"


def _study_unit(study: Study) -> str:
    """The unit the MCID is printed in: the data's.

    Not the anchors' SD: :func:`default_mcid` has already turned half an SD into the
    data's units.
    """
    return study.outcome.unit or ("points" if study.outcome.kind == "score" else "units")


LOG_MCID = math.log(1.5)
"""MCID of the log-normal model: a 50 % increase."""

LOGIT_MCID = 1.0
"""MCID of the ordered-logistic model: one unit of log-odds (odds ratio e = 2.7)."""

DELTA_MCID = MCID_SD_FRACTION
"""The MCID on the standardised scale: half an SD of the change (Norman, Sloan &
Wyrwich 2003 found minimal important differences close to half an SD across 38
studies); the triad of Cauchy priors on delta is written against it."""

DELTA_TRIAD_SCALE = DELTA_MCID / math.tan(math.pi * (0.5 - 0.05))
"""Cauchy scale with 5 % beyond DELTA_MCID from the centre (0.0792): the sceptic's
P(delta > MCID) = 5 % and the enthusiast's P(delta < 0) = 5 %, as for the normal
priors of the other models, so each name means the same in every model."""


@dataclass(frozen=True)
class PriorSet:
    """A named set of prior hyperparameters for one model and one outcome kind.

    Attributes
    ----------
    name : str
        ``skeptical``, ``neutral``, ``enthusiastic`` or the user set's name.
    kind : str
        The outcome kind the values are written for.
    values : dict of str to float
        Hyperparameters; each becomes ``pm.Data("prior_<name>")``.
    beliefs : list of str
        What the set believes, computed from ``values``.
    rationale : str
        Why these numbers.
    model_name : str
        The model the values are for.
    source : str
        ``"named"`` or the TOML file path.
    """

    name: str
    kind: str
    values: dict[str, float]
    beliefs: list[str]
    rationale: str
    model_name: str = ""
    source: str = "named"
    settings: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (for run attributes and reports)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "model": self.model_name,
            "source": self.source,
            "values": dict(self.values),
            "beliefs": list(self.beliefs),
            "rationale": self.rationale,
        }


RATIONALES = {
    "skeptical": (
        "A sceptic doubts that three days of massage change milk output: effects "
        "are centred on zero and an effect as large as the MCID has only 5 % "
        "prior probability (Spiegelhalter et al. 1994). The data must overcome "
        "this doubt."
    ),
    "neutral": (
        "Weakly informative: centred on no effect but wide (SD four MCIDs for "
        "normal priors, Cauchy scale sqrt(2)/2 for standardised effects, the "
        "JZS default of Rouder et al. 2009), so the data dominate."
    ),
    "enthusiastic": (
        "An enthusiast expects the massage to work as the MCID says it "
        "should: centred on the MCID with only 5 % prior probability of "
        "harm. Agreement between this and the sceptical posterior means the "
        "conclusion does not hinge on the prior."
    ),
}


BENEFITS = ("increase", "decrease")
"""Directions of benefit (:class:`milkbayes.data.outcome.Outcome` ``benefit``)."""


def benefit_sign(outcome: Any) -> float:
    """+1 when a rise of the outcome is the benefit, -1 when a fall is.

    The one place the direction of benefit enters the priors: effects keep the
    outcome's own sign (post - pre), so for a lower-is-better outcome the
    enthusiast's centre is -MCID and the probability of benefit is P(effect < 0).
    The sceptical and neutral sets are symmetric about zero and do not change.

    Parameters
    ----------
    outcome : Outcome, str or None
        An outcome (its ``benefit``), ``"increase"``/``"decrease"``, or None (a rise).

    Examples
    --------
    >>> from milkbayes.data.study import Outcome
    >>> benefit_sign(Outcome("continuous")), benefit_sign(Outcome("continuous", benefit="decrease"))
    (1.0, -1.0)
    """
    benefit = outcome if isinstance(outcome, str) or outcome is None else outcome.benefit
    if benefit in (None, "increase"):
        return 1.0
    if benefit == "decrease":
        return -1.0
    raise PriorError(
        f"the direction of benefit must be one of {', '.join(BENEFITS)}, not {benefit!r}"
    )


def _effect_normal(name: str, mcid: float, sign: float = 1.0) -> tuple[float, float]:
    """(mean, sd) of the normal effect prior of set ``name`` with this MCID.

    ``sign`` is :func:`benefit_sign`: the enthusiast is centred on the MCID in the
    direction of benefit, so that its 5 % tail of harm is on the other side of zero.
    """
    return {
        "skeptical": (0.0, mcid / Z95),
        "neutral": (0.0, 4.0 * mcid),
        "enthusiastic": (sign * mcid, mcid / Z95),
    }[name]


def _delta_cauchy(name: str, sign: float = 1.0) -> tuple[float, float]:
    """(location, scale) of the Cauchy prior on the standardised effect delta."""
    return {
        "skeptical": (0.0, DELTA_TRIAD_SCALE),
        "neutral": (0.0, math.sqrt(2) / 2),
        "enthusiastic": (sign * DELTA_MCID, DELTA_TRIAD_SCALE),
    }[name]


def _named_values(name: str, kind: str, model_name: str, sign: float = 1.0) -> dict[str, float]:
    a = ANCHORS[kind]
    if model_name in ("paired_change", "signed_rank"):
        loc, scale = _delta_cauchy(name, sign)
        values = {"delta_loc": loc, "delta_scale": scale}
        if model_name == "paired_change":
            values |= {"sigma": 2.0 * a.spread, "nu_rate": 0.1}
        return values
    effect_mu, effect_sigma = _effect_normal(name, a.mcid, sign)
    values = {
        "intercept_mu": a.level,
        "intercept_sigma": 2.0 * a.spread,
        "mother_sd": a.spread,
        "effect_mu": effect_mu,
        "effect_sigma": effect_sigma,
        "sigma": a.spread,
        "nu_rate": 0.1,
    }
    if model_name == "ancova":
        # The baseline slope is unit-free: N(0, 1) covers "post independent of pre" (0),
        # "analysis of changes" (1) and the usual regression to the mean in between.
        return {
            key: values[key]
            for key in ("intercept_mu", "intercept_sigma", "effect_mu", "effect_sigma")
        } | {"sigma": a.spread, "nu_rate": 0.1, "slope_mu": 0.0, "slope_sigma": 1.0}
    if model_name == "prepost_bivariate":
        # Each time's sd is the flagship's mother sd and residual together: twice the
        # typical spread covers both; LKJ eta = 2 mildly favours moderate correlations.
        return {
            key: values[key]
            for key in ("intercept_mu", "intercept_sigma", "effect_mu", "effect_sigma")
        } | {
            "modifier_sigma": a.mcid,
            "subgroup_sd": a.mcid / 2.0,
            "time_sd": 2.0 * a.spread,
            "lkj_eta": 2.0,
        }
    if model_name == "two_arm":
        # The natural three-day trend is not the massage: a neutral, wide prior always.
        return values | {"group_sigma": a.spread, "trend_mu": 0.0, "trend_sigma": 4.0 * a.mcid}
    values |= {"modifier_sigma": a.mcid, "subgroup_sd": a.mcid / 2.0}
    if kind == "volume":
        log_mu, log_sigma = _effect_normal(name, LOG_MCID, sign)
        values |= {
            "log_intercept_mu": math.log(a.level),
            "log_intercept_sigma": 1.0,
            "log_mother_sd": 0.5,
            "log_effect_mu": log_mu,
            "log_effect_sigma": log_sigma,
            "log_modifier_sigma": LOG_MCID,
            "log_subgroup_sd": LOG_MCID / 2.0,
            "log_sigma": 0.5,
        }
    if kind == "score":
        logit_mu, logit_sigma = _effect_normal(name, LOGIT_MCID, sign)
        # Cutpoints: within +-4 log-odds (95 %) of where every score is equally likely.
        # Wider (3.0) left 1-5 divergences per 4000 draws on the bundled scores, and the
        # log-odds effect grows with this width (2.4 at 2.0, 2.8 at 3.0 on those data):
        # a sensitivity worth reporting, not hiding.
        values |= {
            "logit_mother_sd": 1.5,
            "logit_effect_mu": logit_mu,
            "logit_effect_sigma": logit_sigma,
            "logit_modifier_sigma": LOGIT_MCID,
            "logit_subgroup_sd": LOGIT_MCID / 2.0,
            "cutpoint_sigma": 2.0,
        }
    return values


POSITIVE_SUFFIXES = ("_sigma", "_sd", "_scale", "_rate", "_eta")
"""Keys ending with these (or named ``sigma``) must be > 0: scales, and the LKJ shape ``_eta``."""


def _is_positive_key(key: str) -> bool:
    return key == "sigma" or key.endswith(POSITIVE_SUFFIXES)


# --------------------------------------------------------------------------- beliefs
def _percent(p: float) -> str:
    return f"{100 * p:.1f} %"


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def normal_beliefs(
    mu: float, sigma: float, mcid: float, unit: str, label: str = "effect", sign: float = 1.0
) -> list[str]:
    """Sentences for a Normal(mu, sigma) prior on an effect, with its MCID.

    With ``sign = -1`` (lower is better, :func:`benefit_sign`) the benefit beyond
    the MCID is P(effect < -MCID) and harm is P(effect > 0).

    Examples
    --------
    >>> normal_beliefs(0.0, 10 / 1.6448536269514722, 10.0, "ml")[0]
    'P(effect > 10 ml) = 5.0 %'
    >>> normal_beliefs(-10.0, 10 / 1.6448536269514722, 10.0, "points", sign=-1.0)[:2]
    ['P(effect < -10 points) = 50.0 %', 'P(effect > 0) = 5.0 %']
    """
    dist = stats.norm(mu, sigma)
    low, high = dist.ppf([0.025, 0.975])
    if sign < 0:
        benefit = f"P({label} < {_fmt(-mcid)} {unit}) = {_percent(dist.cdf(-mcid))}"
        harm = f"P({label} > 0) = {_percent(dist.sf(0.0))}"
    else:
        benefit = f"P({label} > {_fmt(mcid)} {unit}) = {_percent(dist.sf(mcid))}"
        harm = f"P({label} < 0) = {_percent(dist.cdf(0.0))}"
    return [
        benefit,
        harm,
        f"95 % prior interval for the {label}: {_fmt(low)} to {_fmt(high)} {unit}",
    ]


def cauchy_beliefs(loc: float, scale: float, sign: float = 1.0) -> list[str]:
    """Sentences for a Cauchy(loc, scale) prior on the standardised effect delta.

    Examples
    --------
    >>> cauchy_beliefs(0.0, 2 ** -0.5)[0]
    'P(delta > 0.5) = 30.4 %'
    >>> cauchy_beliefs(0.0, 2 ** -0.5, sign=-1.0)[0]
    'P(delta < -0.5) = 30.4 %'
    """
    dist = stats.cauchy(loc, scale)
    if sign < 0:
        benefit = f"P(delta < {-DELTA_MCID}) = {_percent(dist.cdf(-DELTA_MCID))}"
        harm = f"P(delta > 0) = {_percent(dist.sf(0.0))}"
    else:
        benefit = f"P(delta > {DELTA_MCID}) = {_percent(dist.sf(DELTA_MCID))}"
        harm = f"P(delta < 0) = {_percent(dist.cdf(0.0))}"
    return [benefit, f"P(|delta| < 0.1) = {_percent(dist.cdf(0.1) - dist.cdf(-0.1))}", harm]


def implied_effect_exceedance(
    loc: float, scale: float, sigma_scale: float, threshold: float
) -> float:
    """P(mu > threshold) when mu = delta * sigma, delta ~ Cauchy, sigma ~ HalfNormal.

    Computed as the one-dimensional integral over sigma of P(delta > threshold / sigma)
    (scipy ``quad``), so the sentence is exact up to quadrature error.

    Examples
    --------
    >>> round(implied_effect_exceedance(0.0, 1.0, 1.0, 0.0), 6)  # symmetric: half
    0.5
    """
    sigma_dist = stats.halfnorm(scale=sigma_scale)
    delta = stats.cauchy(loc, scale)
    value, _ = integrate.quad(
        lambda s: delta.sf(threshold / s) * sigma_dist.pdf(s), 0.0, np.inf, limit=200
    )
    return float(value)


def _beliefs(
    values: dict[str, float], kind: str, model_name: str, outcome: Outcome | None
) -> list[str]:
    a = ANCHORS[kind]
    factor = (
        (outcome.max_score / 10.0)
        if (kind == "score" and outcome is not None and outcome.max_score)
        else 1.0
    )
    unit = a.unit if kind != "continuous" else "SD of pre"
    sign = benefit_sign(outcome)
    if model_name in ("paired_change", "signed_rank"):
        sentences = cauchy_beliefs(values["delta_loc"], values["delta_scale"], sign)
        if model_name == "paired_change":
            # P(effect < -MCID) for a fall is P(effect > MCID) of the mirrored prior
            p = implied_effect_exceedance(
                sign * values["delta_loc"], values["delta_scale"], values["sigma"], a.mcid
            )
            side = ">" if sign > 0 else "<"
            sentences.append(
                f"P(effect {side} {_fmt(sign * a.mcid * factor)} {unit}) = {_percent(p)} "
                f"(delta times sigma, sigma ~ HalfNormal({_fmt(values['sigma'] * factor)}))"
            )
        return sentences
    sentences = normal_beliefs(
        values["effect_mu"] * factor,
        values["effect_sigma"] * factor,
        a.mcid * factor,
        unit,
        sign=sign,
    )
    if "log_effect_mu" in values:
        dist = stats.norm(values["log_effect_mu"], values["log_effect_sigma"])
        if sign < 0:  # a fall by a third is the mirror of a rise by half on the log scale
            p_log = _percent(dist.cdf(-LOG_MCID))
            sentences.append(f"log-normal model: P(change < -33 %) = {p_log}")
        else:
            sentences.append(f"log-normal model: P(change > +50 %) = {_percent(dist.sf(LOG_MCID))}")
    if "logit_effect_mu" in values:
        dist = stats.norm(values["logit_effect_mu"], values["logit_effect_sigma"])
        sentences.append(
            f"ordered-logistic model: P(log-odds effect < -1) = {_percent(dist.cdf(-LOGIT_MCID))}"
            if sign < 0
            else f"ordered-logistic model: P(log-odds effect > 1) = {_percent(dist.sf(LOGIT_MCID))}"
        )
    if "subgroup_sd" in values:
        sd = values["subgroup_sd"] * factor
        p = stats.halfnorm(scale=sd).sf(a.mcid * factor)
        sentences.append(
            f"P(sd of the subgroup effects > {_fmt(a.mcid * factor)} {unit}) = {_percent(p)}"
        )
    return sentences


# --------------------------------------------------------------------------- API
def _check_model(model_name: str) -> None:
    if model_name not in MODEL_NAMES:
        raise PriorError(f"unknown model {model_name!r}; known: {', '.join(MODEL_NAMES)}")


def _check_kind(outcome: Outcome, model_name: str) -> str:
    kind = outcome.kind
    if kind not in ANCHORS:
        raise PriorError(f"no prior sets for outcome kind {kind!r}")
    if kind == "volume" and outcome.unit != "ml":
        raise PriorError(
            f"the named prior sets for volumes are written in ml, but the data "
            f"are in {outcome.unit!r}; convert the data to ml or give a prior "
            f"TOML file written in {outcome.unit!r}"
        )
    return kind


def named_prior(name: str, outcome: Outcome, model_name: str) -> PriorSet:
    """The named set ``name`` for this outcome and model.

    Raises
    ------
    PriorError
        Unknown name or model, or a volume not in ml.
    """
    _check_model(model_name)
    if name not in PRIOR_NAMES:
        raise PriorError(
            f"unknown prior set {name!r}; named sets: {', '.join(PRIOR_NAMES)}, "
            "or the path of a .toml file"
        )
    kind = _check_kind(outcome, model_name)
    sign = benefit_sign(outcome)
    values = {
        key: float(value) for key, value in _named_values(name, kind, model_name, sign).items()
    }
    return PriorSet(
        name=name,
        kind=kind,
        values=values,
        beliefs=_beliefs(values, kind, model_name, outcome),
        rationale=RATIONALES[name],
        model_name=model_name,
    )


def get_prior(name_or_path: str | Path | PriorSet, outcome: Outcome, model_name: str) -> PriorSet:
    """A named set, a :class:`PriorSet` passed through, or a user set from a TOML file.

    Examples
    --------
    >>> from milkbayes.data.study import Outcome
    >>> get_prior("neutral", Outcome("score", max_score=10), "paired_change").values
    {'delta_loc': 0.0, 'delta_scale': 0.7071067811865476, 'sigma': 4.0, 'nu_rate': 0.1}
    >>> get_prior("bold", Outcome("score", max_score=10), "paired_change")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    milkbayes.errors.PriorError: unknown prior set 'bold'; named sets: skeptical, neutral, ...
    """
    if isinstance(name_or_path, PriorSet):
        if name_or_path.model_name and name_or_path.model_name != model_name:
            raise PriorError(
                f"prior set {name_or_path.name!r} is for model "
                f"{name_or_path.model_name}, not {model_name}"
            )
        return name_or_path
    text = str(name_or_path)
    if text == LITERATURE:
        return literature_prior(outcome, model_name)
    if text in PRIOR_NAMES or not (text.endswith(".toml") or Path(text).exists()):
        return named_prior(text, outcome, model_name)
    return load_prior_file(text, outcome, model_name)


TOP_KEYS = {"name", "model", "kind", "base", "rationale", "values"}


def load_prior_file(path: str | Path, outcome: Outcome, model_name: str) -> PriorSet:
    """Read and validate a user prior set (TOML; no code is ever evaluated).

    Raises
    ------
    PriorError
        Naming the file and the offending key: unreadable file, unknown or missing
        keys, a model or kind that does not match, a value that is not a finite
        number or a scale that is not positive.
    """
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PriorError(f"{path}: prior file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PriorError(f"{path}: cannot read prior file ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise PriorError(f"{path}: not valid TOML ({error})") from None
    unknown = sorted(set(document) - TOP_KEYS)
    if unknown:
        raise PriorError(
            f'{path}: unknown key "{unknown[0]}"; allowed: {", ".join(sorted(TOP_KEYS))}'
        )
    for key in ("model", "kind"):
        if key not in document:
            raise PriorError(f'{path}: missing key "{key}"')
        if not isinstance(document[key], str):
            raise PriorError(f'{path}: key "{key}" must be a string')
    if document["model"] != model_name:
        raise PriorError(
            f'{path}: key "model" is {document["model"]!r} but the model being '
            f"fitted is {model_name!r}"
        )
    _check_model(model_name)
    if document["kind"] != outcome.kind:
        raise PriorError(
            f'{path}: key "kind" is {document["kind"]!r} but the data\'s '
            f"outcome kind is {outcome.kind!r}"
        )
    base = document.get("base", "neutral")
    if base not in PRIOR_NAMES:
        raise PriorError(
            f'{path}: key "base" must be one of {", ".join(PRIOR_NAMES)}, not {base!r}'
        )
    if outcome.kind not in ANCHORS:
        raise PriorError(f"{path}: no prior schema for outcome kind {outcome.kind!r}")
    values = _named_values(base, outcome.kind, model_name, benefit_sign(outcome))
    given = document.get("values", {})
    if not isinstance(given, dict):
        raise PriorError(f'{path}: "values" must be a table ([values])')
    for key, value in given.items():
        where = f'{path}: key "values.{key}"'
        if key not in values:
            raise PriorError(
                f"{where} is not a hyperparameter of {model_name} for "
                f"{outcome.kind} outcomes; allowed: {', '.join(sorted(values))}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PriorError(f"{where} must be a number, not {value!r}")
        if not math.isfinite(value):
            raise PriorError(f"{where} must be finite, not {value!r}")
        if _is_positive_key(key) and value <= 0:
            raise PriorError(f"{where} is a scale and must be > 0, not {value!r}")
        values[key] = float(value)
    for key in ("name", "rationale"):
        if key in document and not isinstance(document[key], str):
            raise PriorError(f'{path}: key "{key}" must be a string')
    return PriorSet(
        name=document.get("name", path.stem),
        kind=outcome.kind,
        values=values,
        beliefs=_beliefs(values, outcome.kind, model_name, outcome),
        rationale=document.get("rationale", f"user prior set (base: {base})"),
        model_name=model_name,
        source=str(path),
    )


# --------------------------------------------------------------------------- literature
LITERATURE = "literature"
"""The literature-informed set: ``fit --prior literature`` (see :func:`literature_prior`)."""

EXTRA_PRIOR_NAMES = (LITERATURE,)
"""Named sets beyond the triad; the reanalysis's three-prior table keeps the triad."""

LITERATURE_TOPIC = "oxytocin-massage"
"""What the literature prior is about, as a study description declares it:
``[study] literature = "oxytocin-massage"`` (breast-milk output after oxytocin massage)."""


def literature_reason(study: Any) -> str:
    """Why ``study`` gets no literature prior, or ``""`` when the prior is about its outcome.

    The literature prior is the meta-analysis of oxytocin-massage studies measuring
    breast-milk output: it says something about an outcome only when that outcome is
    the same thing. It applies to

    - the bundled paper (its description is the paper's);
    - a volume in ml (the toolkit's own outcome: expressed breast milk);
    - any outcome whose study description declares ``[study] literature =
      "oxytocin-massage"`` (e.g. milk volume analysed on a continuous scale).

    A continuous or score outcome of unknown meaning (a headache score, hours of
    sleep) gets none: fitting a milk-volume prior on the SMD scale would carry the
    massage literature's belief into a study it is not about.

    Examples
    --------
    >>> import pandas as pd
    >>> from milkbayes.data.study import study_from_frame
    >>> s = study_from_frame(pd.DataFrame({"id": ["a", "b"], "pre": [1.0, 3.0],
    ...                                    "post": [2.0, 5.0]}))
    >>> literature_reason(s)  # doctest: +ELLIPSIS
    'the literature prior is about breast-milk volume after oxytocin massage; this ...'
    >>> from milkbayes.datasets import load_bundled
    >>> literature_reason(load_bundled("volume_ml"))
    ''
    """
    outcome = study.outcome
    description = getattr(study, "description", None)
    if outcome.kind == "score":
        return "no literature prior for score outcomes: the published studies report volumes (ml)"
    declared = getattr(description, "literature", None)
    if (
        getattr(description, "is_paper", False)
        or declared == LITERATURE_TOPIC
        or (outcome.kind == "volume" and outcome.unit == "ml")
    ):
        return ""
    return (
        "the literature prior is about breast-milk volume after oxytocin massage; this "
        f"study's outcome is {outcome.label}, not declared as that (a study description "
        f'with [study] literature = "{LITERATURE_TOPIC}" declares it)'
    )


def literature_prior(outcome: Outcome, model_name: str, path: str | Path | None = None) -> PriorSet:
    r"""The literature-informed prior set: the neutral set with its effect prior replaced.

    The effect prior comes from the Bayesian meta-analysis of the published
    oxytocin-massage studies (:mod:`milkbayes.meta_analysis`), stored in
    ``milkbayes/literature/derived_prior.toml`` (:func:`milkbayes.literature.derived_prior`):
    the predictive distribution of a new study, mixed half-and-half with a vague
    component (Normal(0, 40 ml), :data:`milkbayes.meta_analysis.priors.VAGUE_SD_ML`;
    on the SMD scale the neutral prior), robust and down-weighted for the studies'
    low quality (Schmidli et al. 2014),
    then summarised in the family each model takes, since the models cannot take a
    mixture:

    - ``prepost_hierarchical``, ``prepost_bivariate``, ``two_arm``, ``ancova``:
      ``effect_mu``, ``effect_sigma`` = the
      mixture's mean and SD (moment-matched normal), in ml for volumes and in SD
      units for continuous outcomes (the SMD scale);
    - ``paired_change``, ``signed_rank``: ``delta_loc``, ``delta_scale`` = the
      mixture's median and half its interquartile range on the SMD scale (a Cauchy).

    Every other hyperparameter (and the log-scale keys of the log-normal
    likelihood) keeps its neutral value.

    Raises
    ------
    PriorError
        For score outcomes (no published study reports a checklist score) and for
        volumes not in ml.

    Examples
    --------
    >>> from milkbayes.data.study import Outcome
    >>> prior = literature_prior(Outcome("volume", "ml"), "prepost_hierarchical")
    >>> prior.name, prior.values["effect_mu"] > 0, prior.values["effect_sigma"] > 10
    ('literature', True, True)
    """
    from milkbayes.literature import derived_prior

    _check_model(model_name)
    kind = _check_kind(outcome, model_name)
    if kind == "score":
        raise PriorError(
            "no literature prior for score outcomes: the published studies report "
            "volumes (ml); use a named set or a TOML file"
        )
    numbers = derived_prior(path)
    values = {k: float(v) for k, v in _named_values("neutral", kind, model_name).items()}
    weight = float(numbers["meta"]["weight"])
    if model_name in ("paired_change", "signed_rank"):
        values["delta_loc"] = float(numbers["smd"]["cauchy_loc"])
        values["delta_scale"] = float(numbers["smd"]["cauchy_scale"])
        how = "Cauchy with the median and half the IQR of the robust mixture (SMD scale)"
    else:
        section = "ml" if kind == "volume" else "smd"
        values["effect_mu"] = float(numbers[section]["mixture_mean"])
        values["effect_sigma"] = float(numbers[section]["mixture_sd"])
        how = f"moment-matched normal of the robust mixture ({section} scale)"
    # the volume beliefs are already stated against the literature MCID (ANCHORS)
    beliefs = _beliefs(values, kind, model_name, outcome)
    rationale = (
        f"From the Bayesian meta-analysis of the published oxytocin-massage studies "
        f"(milkbayes meta-analysis): the predictive distribution of a new study, mixed "
        f"{weight:g} : {1 - weight:g} with a vague prior (robust MAP prior, Schmidli "
        f"et al. 2014; down-weighted because the evidence is one RCT, two "
        f"non-randomised and one one-group study, read from abstracts), summarised as "
        f"a {how}. Other hyperparameters: neutral."
    )
    return PriorSet(
        name=LITERATURE,
        kind=kind,
        values=values,
        beliefs=beliefs,
        rationale=rationale,
        model_name=model_name,
        source="literature",
    )
