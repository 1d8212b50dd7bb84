"""Where the report's priors come from, and the paper as one more study of the literature.

Two parts of the report section "Where the priors come from":

- one line per prior set (sceptical, neutral, enthusiastic, literature), for the MCID
  and for the natural-trend prior, naming its source: the anchors of
  :mod:`milkbayes.models.priors`, the meta-analysis behind
  :func:`milkbayes.models.priors.literature_prior`, and the references of
  :mod:`milkbayes.literature`;
- the meta-analytic prediction before and after adding this study's published facts
  (:func:`milkbayes.meta_analysis.update.update_with_paper`). Its likelihood of the
  paper's standardised effect delta is the acceptance rate by delta of the
  headline's ABC reconstruction posterior (:func:`abc_delta_likelihood`): the same
  posterior as the headline and the ensemble, carrying the generator's floor,
  modifiers and both outcome readings; the power of the test with normal changes
  (the ``published_p`` likelihood) is shown beside it as a check. The meta-analysis
  draws are the bundled ones (:func:`milkbayes.literature.meta_draws`), so this costs
  no fit.

Examples
--------
>>> from milkbayes.reanalysis.headline import headline_posterior
>>> grid, rate = abc_delta_likelihood(headline_posterior(fast=True))
>>> bool(rate[grid < 0].max() == 0.0), bool(rate[grid > 3].min() > 0.9)
(True, True)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "ABC_LIKELIHOOD_NAME",
    "LIKELIHOOD_EDGES",
    "abc_delta_likelihood",
    "paper_update",
    "prior_source_rows",
    "short_citation",
]

LIKELIHOOD_EDGES = np.arange(-2.0, 6.0 + 1e-9, 0.25)
"""Bins of delta for the ABC's acceptance rate: wide enough for ~50+ proposals per bin
under ``--fast`` where the meta-analysis puts the paper's delta (0 to 4)."""

ABC_LIKELIHOOD_NAME = (
    "acceptance rate by delta of the headline's ABC reconstruction posterior "
    "(P(published facts | delta), generator's assumptions integrated over their priors)"
)


def abc_delta_likelihood(
    posterior: Any, edges: np.ndarray = LIKELIHOOD_EDGES
) -> tuple[np.ndarray, np.ndarray]:
    r"""P(published facts | delta), estimated from a rejection-ABC run: accepted / proposed per bin.

    With zero-tolerance rejection, a proposal with standardised effect
    :math:`\delta` is accepted with probability :math:`P(\text{facts} \mid \delta)`
    (the generator's other assumptions drawn from their priors given :math:`\delta`), so
    the share accepted among the proposals in a bin of :math:`\delta` estimates the
    likelihood there (Beaumont 2010). Bins without proposals are dropped.

    Parameters
    ----------
    posterior : ReconstructionPosterior
        Its ``prior_delta`` (every proposal) and ``draws["delta"]`` (the accepted).
    edges : array
        Bin edges of delta.

    Returns
    -------
    grid, rate : numpy.ndarray
        Bin centres and acceptance rates (for ``numpy.interp``).
    """
    proposed, _ = np.histogram(np.asarray(posterior.prior_delta, dtype=float), edges)
    accepted, _ = np.histogram(posterior.draws["delta"].to_numpy(dtype=float), edges)
    keep = proposed > 0
    centres = 0.5 * (edges[:-1] + edges[1:])
    return centres[keep], accepted[keep] / proposed[keep]


def paper_update(posterior: Any, *, n_sim: int) -> dict[str, Any]:
    """The meta-analytic prediction before and after adding the paper's published facts.

    Returns
    -------
    dict
        ``rows`` (quantity, label, before, after with the ABC likelihood, after with
        the power likelihood; each a mean/median/low/high mapping or a probability),
        ``likelihood`` (the ABC one's name), ``check_likelihood`` (the power's),
        ``ess`` of the ABC weights, ``n_draws``, ``notes``.
    """
    from milkbayes.literature import meta_draws
    from milkbayes.meta_analysis.update import update_with_paper

    draws = meta_draws()
    abc = update_with_paper(
        draws,
        likelihood=abc_delta_likelihood(posterior),
        likelihood_name=ABC_LIKELIHOOD_NAME,
    )
    power = update_with_paper(draws, n_sim=n_sim)
    rows = []
    for key, label in (
        ("mu", "pooled mean effect μ (SMD)"),
        ("theta_new", "prediction for a new study θ_new (SMD)"),
        ("paper_delta", "this study's own effect δ (SMD; with the one-group bias)"),
    ):
        rows.append(
            {
                "quantity": key,
                "label": label,
                "kind": "interval",
                "before": abc[f"{key}_before"],
                "after": abc[f"{key}_after"],
                "after_power": power[f"{key}_after"],
            }
        )
    rows.append(
        {
            "quantity": "p_mu_gt_0",
            "label": "P(μ > 0)",
            "kind": "prob",
            "before": abc["p_mu_gt_0_before"],
            "after": abc["p_mu_gt_0_after"],
            "after_power": power["p_mu_gt_0_after"],
        }
    )
    return {
        "rows": rows,
        "likelihood": abc["likelihood"],
        "check_likelihood": power["likelihood"],
        "ess": abc["ess"],
        "n_draws": abc["n_draws"],
        "abc_n_proposals": int(posterior.n_proposals),
        "abc_seed": int(posterior.seed),
        "notes": (
            "The bundled meta-analysis of the published oxytocin-massage studies (SMD "
            "scale, from milkbayes meta-analysis) is reweighted by the likelihood of this "
            "study's published facts (n = 24, SPSS p < .0005, a rise) at its own effect "
            "δ = μ + τz + one-group bias + PET term (importance sampling; Kish effective "
            f"sample size {abc['ess']:.0f} of {abc['n_draws']}).",
            "Likelihood: the acceptance rate by δ of the same ABC reconstruction "
            "posterior as the headline; the last column uses the power of the test "
            "with normal changes instead (the published_p likelihood), as a check.",
            "The paper's δ is a standardised mean change; the meta-analysis's unit is "
            "Hedges' g (the same for change-score studies, close otherwise). "
            "Computed from the published facts and the literature, not from the "
            "reconstructed measurements.",
        ),
    }


def short_citation(citation: str) -> str:
    """'Saint L, Smith M, ... (1984). Title' -> 'Saint et al. 1984'.

    Examples
    --------
    >>> short_citation("Kent JC, Mitoulas LR, Cregan MD (2006). Volume and frequency.")
    'Kent et al. 2006'
    >>> short_citation("Norman GR (2003). Title")
    'Norman 2003'
    >>> short_citation("Summary of Kent JC et al., patterns (secondary source).")
    'Summary of Kent JC et al.'
    """
    match = re.match(r"\s*([^\s,]+)[^(]*?(,[^(]*)?\((\d{4})\)", citation)
    if not match:  # a secondary summary without a year: its own words up to the comma
        return citation.split(",")[0].strip()
    return f"{match.group(1)}{' et al.' if match.group(2) else ''} {match.group(3)}"


def _cite(references: Mapping[str, Mapping[str, Any]], ids: Any) -> str:
    return ", ".join(
        short_citation(str(references[i]["citation"])) if i in references else str(i) for i in ids
    )


def prior_source_rows(
    *,
    kind: str,
    unit: str,
    mcid: float,
    literature: Any | None,
    literature_note: str,
    mcid_source: str | None = None,
    nonmassage: Any | None = None,
    bias_shown: bool = True,
    benefit: str = "increase",
) -> tuple[dict[str, str], ...]:
    """One row per prior set, the MCID and the natural-trend prior: what it is, where from.

    Parameters
    ----------
    kind : str
        The outcome's kind (``volume``, ``score``, ``continuous``).
    unit : str
        The outcome's unit, for the MCID.
    mcid : float
        The MCID the report uses.
    literature : PriorSet or None
        The literature prior set fitted (None when it was not: ``literature_note``
        says why).
    literature_note : str
    mcid_source : str, optional
        Where the MCID comes from (:func:`milkbayes.models.priors.mcid_source`, which
        also knows a user's or a study description's MCID); default: the source of
        the outcome kind's default MCID.
    nonmassage : NonMassagePrior, optional
        The bias analysis's prior on the change without massage
        (:func:`milkbayes.sensitivity.bias.nonmassage_prior`, the same call as the
        highlight's). With a stage of lactation it adds the rows ``regression to the
        mean`` and ``change without massage (bias analysis)``, and the
        ``natural trend`` row is the stage's; without one (or None) the
        ``natural trend`` row is the unsourced default, with the literature's value
        for the paper's stage beside it.
    bias_shown : bool
        Whether the report shows the bias highlight (not on two-arm data, whose
        control arm measures the change without massage).
    benefit : {"increase", "decrease"}
        The direction of benefit: for a fall the sceptic's 5 % is P(effect < -MCID)
        and the enthusiast is centred on -MCID.
    """
    from milkbayes.literature import (
        PAPER_STAGE,
        derived_prior,
        load_references,
        stage_trend,
    )
    from milkbayes.models.priors import ANCHORS
    from milkbayes.sensitivity.bias import TREND_PRIORS

    references = load_references()
    numbers = derived_prior()
    rows = [
        {
            "name": "skeptical",
            "what": (
                "effect centred on 0, P(effect < -MCID) = 5 % (lower is better)"
                if benefit == "decrease"
                else "effect centred on 0, P(effect > MCID) = 5 %"
            ),
            "source": "Spiegelhalter, Freedman & Parmar 1994 (sceptical prior), scaled "
            "by the MCID below",
        },
        {
            "name": "neutral",
            "what": "centred on 0, SD four MCIDs (Cauchy scale √2/2 on a standardised effect)",
            "source": "weakly informative by construction; the JZS default of Rouder et al. "
            "2009 for standardised effects",
        },
        {
            "name": "enthusiastic",
            "what": (
                "centred on -MCID (lower is better), P(harm) = P(effect > 0) = 5 %"
                if benefit == "decrease"
                else "centred on the MCID, P(harm) = 5 %"
            ),
            "source": "Spiegelhalter, Freedman & Parmar 1994 (enthusiastic prior), scaled "
            "by the MCID below",
        },
    ]
    if literature is not None:
        values = literature.values
        if "effect_mu" in values:
            what = (
                f"effect ~ Normal({values['effect_mu']:.3g}, {values['effect_sigma']:.3g}) {unit}"
            )
        else:
            what = f"delta ~ Cauchy({values['delta_loc']:.3g}, {values['delta_scale']:.3g})"
    else:
        what = f"not fitted: {literature_note}"
    rows.append(
        {
            "name": "literature",
            "what": what,
            "source": (
                "Bayesian random-effects meta-analysis of 4 published oxytocin-massage "
                "studies (milkbayes.literature studies.toml; design bias and PET terms), "
                f"its prediction for a new study mixed {numbers['meta']['weight']:g} : "
                f"{1 - numbers['meta']['weight']:g} with a vague prior (Schmidli et al. "
                "2014)"
            ),
        }
    )
    # one owner for the MCID's source: models.priors (the value itself: literature)
    source = mcid_source if mcid_source is not None else ANCHORS[kind].mcid_source
    rows.append({"name": "MCID", "what": f"{mcid:.3g} {unit}", "source": source})
    if nonmassage is not None and nonmassage.rtm is not None:
        return (*rows, *_nonmassage_rows(nonmassage, references, bias_shown))
    trend = TREND_PRIORS[kind]
    trend_source = (
        "a stated assumption of milkbayes.sensitivity.bias (TREND_PRIORS): "
        + (trend.rationale.split(":")[0])
    )
    if kind == "volume":
        level = ANCHORS["volume"].level  # the typical pre level the priors are written on
        established = stage_trend(PAPER_STAGE, level)
        trend_source += (
            f"; for {PAPER_STAGE} lactation (the paper's working mothers) the literature "
            f"gives Normal({established['mean']:g}, {established['sd'] / level:.1%} of the "
            f"level) ({_cite(references, established['sources'])}; "
            "milkbayes reanalyze --stage established, sensitivity bias --stage established)"
        )
    rows.append(
        {
            "name": "natural trend",
            "what": f"Normal({trend.mean:g}, {trend.sd:g}) {trend.unit} over the three days",
            "source": trend_source,
        }
    )
    return tuple(rows)


def _nonmassage_rows(
    nonmassage: Any, references: Mapping[str, Mapping[str, Any]], bias_shown: bool
) -> tuple[dict[str, str], ...]:
    """The natural trend of a stage, the regression to the mean and their sum, with sources."""
    from milkbayes.literature import stage_trend

    trend, rtm, combined = nonmassage.trend, nonmassage.rtm, nonmassage.combined
    unit = combined.unit
    sources = stage_trend(nonmassage.stage, 1.0)["sources"]
    used = (
        "the prior the bias analysis (sensitivity highlights) subtracts from the observed change"
        if bias_shown
        else "not used here: the control arm measures the change without massage, and "
        "the bias analysis (one group) is not run"
    )
    return (
        {
            "name": "natural trend",
            "what": (
                f"Normal({trend.mean:.2f}, {trend.sd:.2f}) {unit} over the three days "
                f"({nonmassage.stage} lactation)"
            ),
            "source": f"{_cite(references, sources)}: {trend.rationale}",
        },
        {
            "name": "regression to the mean",
            "what": (
                f"Normal({rtm.mean:.2f}, {rtm.sd:.2f}) {unit}: 0 or "
                f"{rtm.if_selected:.2f} {unit}, probability {rtm.p_selected:g} each"
                if rtm.p_selected == 0.5
                else f"Normal({rtm.mean:.2f}, {rtm.sd:.2f}) {unit}"
            ),
            "source": (
                "closed form of Barnett, van der Pols & Dobson 2005 on this study's data "
                f"(milkbayes.sensitivity.bias.rtm_prior): {rtm.rationale}"
            ),
        },
        {
            "name": "change without massage (bias analysis)",
            "what": (
                f"Normal({combined.mean:.2f}, {combined.sd:.2f}) {unit} = natural trend + "
                "regression to the mean (independent)"
            ),
            "source": f"the sum of the two rows above; {used}",
        },
    )
