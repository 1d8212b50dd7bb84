"""The report's headline: what the published facts alone support, unit-free.

The paper publishes n = 24, five covariate percentages and SPSS's "p = 0.000" with
milk output rising; everything in millilitres, every effect modifier and every
Bayes factor computed from individual measurements comes from a reconstruction and
repeats its generator's assumptions. The headline therefore leads with two
quantities that need no reconstructed measurement:

- the posterior of the standardised effect delta given only the published facts,
  from the reconstruction posterior (:func:`milkbayes.reconstruction.abc_posterior`:
  priors on every assumption of the generator, rejection on the facts);
- the Bayes factor of the published event and its upper bound
  (:func:`milkbayes.sensitivity.published_p.published_facts_bayes_factor`).

Both are functions of the settings only (not of the study), so they are computed
once per process and settings (:func:`published_facts_evidence` is cached).

Examples
--------
>>> section = published_facts_section(fast=True)
>>> bool(section.bf10 < section.bf10_upper_bound), bool(section.p_delta_gt_0_5 > 0.9)
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from milkbayes.reanalysis.sections import PublishedFactsSection

__all__ = [
    "FAST_BF_SIMULATIONS",
    "FULL_BF_SIMULATIONS",
    "HEADLINE_BF_PRIOR",
    "HeadlineEvidence",
    "adopt",
    "bottom_line",
    "headline_evidence",
    "headline_posterior",
    "published_facts_evidence",
    "published_facts_posterior",
    "published_facts_section",
]

FULL_BF_SIMULATIONS = 20_000
"""Simulated samples of the power function of the Bayes factor (full run)."""

FAST_BF_SIMULATIONS = 5_000
"""The same under ``--fast``."""

HEADLINE_BF_PRIOR = "cauchy_0.707_one_sided"
"""The prior on delta under H1 of the headline Bayes factor: the default JZS Cauchy
(scale sqrt(2)/2), one-sided because the published event is a rise."""


@dataclass(frozen=True)
class HeadlineEvidence:
    """What the headline of one setting rests on (:func:`headline_evidence`).

    Attributes
    ----------
    settings : (int, int, int)
        ABC proposals, ABC seed and simulations of the Bayes factor's power curve.
    posterior : ReconstructionPosterior
        :func:`published_facts_posterior` of those settings.
    evidence : dict
        :func:`published_facts_evidence` of those settings.
    """

    settings: tuple[int, int, int]
    posterior: Any
    evidence: dict[str, Any]


_CACHE_SIZE = 4
"""Settings whose posterior and evidence a process keeps (the most recently stored)."""

_POSTERIORS: dict[tuple[int, int], Any] = {}
_EVIDENCE: dict[tuple[int, int, int], dict[str, Any]] = {}


def _remember(cache: dict, key: tuple, value: Any) -> Any:
    """Keep ``value`` under ``key``, dropping the oldest entries beyond :data:`_CACHE_SIZE`."""
    cache.pop(key, None)
    cache[key] = value
    while len(cache) > _CACHE_SIZE:
        cache.pop(next(iter(cache)))
    return value


def published_facts_posterior(n_proposals: int, seed: int):
    """The reconstruction posterior behind the headline (cached per process).

    One object per settings: the headline's delta and the report's ensemble
    (whose members are accepted datasets of this posterior) come from it, so the
    unit-free headline and the numbers in ml rest on the same draws.

    Examples
    --------
    >>> published_facts_posterior(2000, 1) is published_facts_posterior(2000, 1)
    True
    """
    key = (int(n_proposals), int(seed))
    posterior = _POSTERIORS.get(key)
    if posterior is None:
        from milkbayes.reconstruction import abc_posterior

        posterior = _remember(_POSTERIORS, key, abc_posterior(n_proposals=n_proposals, seed=seed))
    return posterior


def headline_posterior(*, fast: bool, seed: int | None = None):
    """The posterior :func:`published_facts_section` summarises, for the same settings.

    Examples
    --------
    >>> headline_posterior(fast=True) is headline_posterior(fast=True)
    True
    """
    n_proposals, seed, _ = _settings(fast, seed)
    return published_facts_posterior(n_proposals, seed)


def published_facts_evidence(n_proposals: int, seed: int, n_sim: int) -> dict[str, Any]:
    """The ABC summary and the published-facts Bayes factor (cached per process).

    Examples
    --------
    >>> evidence = published_facts_evidence(2000, 1, 1000)
    >>> sorted(evidence)
    ['abc', 'bf']
    """
    key = (int(n_proposals), int(seed), int(n_sim))
    evidence = _EVIDENCE.get(key)
    if evidence is None:
        from milkbayes.sensitivity.published_p import published_facts_bayes_factor

        posterior = published_facts_posterior(n_proposals, seed)
        bf = published_facts_bayes_factor(n_sim=n_sim)
        evidence = _remember(_EVIDENCE, key, {"abc": posterior.to_dict(), "bf": bf.to_dict()})
    return evidence


def _settings(fast: bool, seed: int | None) -> tuple[int, int, int]:
    """``(n_proposals, seed, n_sim)`` of the headline under these settings."""
    from milkbayes.reconstruction.abc import DEFAULT_PROPOSALS, DEFAULT_SEED, FAST_PROPOSALS

    return (
        FAST_PROPOSALS if fast else DEFAULT_PROPOSALS,
        DEFAULT_SEED if seed is None else int(seed),
        FAST_BF_SIMULATIONS if fast else FULL_BF_SIMULATIONS,
    )


def headline_evidence(*, fast: bool, seed: int | None = None) -> HeadlineEvidence:
    """Everything :func:`published_facts_section` computes, as one picklable value.

    For another process to compute (:func:`milkbayes.reanalysis.pipeline`'s helper
    forked at the start of a reanalysis) and this one to :func:`adopt`: after that,
    :func:`published_facts_section` and :func:`headline_posterior` of the same
    settings return it without computing anything.

    Examples
    --------
    >>> evidence = headline_evidence(fast=True)
    >>> evidence.posterior is headline_posterior(fast=True)
    True
    """
    n_proposals, seed, n_sim = _settings(fast, seed)
    return HeadlineEvidence(
        settings=(n_proposals, seed, n_sim),
        posterior=published_facts_posterior(n_proposals, seed),
        evidence=published_facts_evidence(n_proposals, seed, n_sim),
    )


def adopt(computed: HeadlineEvidence) -> None:
    """Cache ``computed`` (from :func:`headline_evidence`, perhaps of another process) here.

    Examples
    --------
    >>> import copy
    >>> twin = copy.deepcopy(headline_evidence(fast=True, seed=7))
    >>> adopt(twin)
    >>> headline_posterior(fast=True, seed=7) is twin.posterior
    True
    """
    n_proposals, seed, n_sim = computed.settings
    _remember(_POSTERIORS, (n_proposals, seed), computed.posterior)
    _remember(_EVIDENCE, (n_proposals, seed, n_sim), computed.evidence)


def published_facts_section(
    *, fast: bool, data_bf10: float | None = None, seed: int | None = None
) -> PublishedFactsSection:
    """The headline section: delta given the published facts, the Bayes factor, its bound.

    Parameters
    ----------
    fast : bool
        Fewer ABC proposals and power simulations (``reanalyze --fast``).
    data_bf10 : float, optional
        The Bayes factor computed from the reconstructed measurements, for the
        bottom line to set against the bound.
    seed : int, optional
        Seed of the ABC (default :data:`milkbayes.reconstruction.abc.DEFAULT_SEED`).
    """
    evidence = published_facts_evidence(*_settings(fast, seed))
    abc, bf = evidence["abc"], evidence["bf"]
    delta = abc["delta"]
    volume = abc["volume_mean_change_ml"]
    section = PublishedFactsSection(
        conditioning_event=abc["conditioning_event"],
        delta_median=delta["median"],
        delta_ci95_low=delta["ci95_low"],
        delta_ci95_high=delta["ci95_high"],
        p_delta_gt_0_5=delta["p_gt_0_5"],
        p_delta_gt_0_8=delta["p_gt_0_8"],
        prior_p_delta_gt_0_5=delta["prior_p_gt_0_5"],
        prior_p_delta_gt_0_8=delta["prior_p_gt_0_8"],
        bf10=bf["bf10"][HEADLINE_BF_PRIOR],
        bf10_prior=HEADLINE_BF_PRIOR,
        bf10_by_prior=dict(bf["bf10"]),
        bf10_upper_bound=bf["upper_bound"],
        p_h0=bf["p_h0"],
        critical_w_plus=bf["critical_w_plus"],
        h0_ties=bf["h0_ties"],
        volume_mean_change_ml=(volume["median"], volume["ci95_low"], volume["ci95_high"]),
        acceptance_by_scenario=dict(abc["acceptance_by_scenario"]),
        n_proposals=abc["n_proposals"],
        n_accepted=abc["n_accepted"],
        seed=abc["seed"],
        prior=dict(abc["prior"]),
        data_bf10=data_bf10,
        bottom_line="",
    )
    return PublishedFactsSection(**{**section.to_dict(), "bottom_line": bottom_line(section)})


def _big(x: float) -> str:
    """A large positive number in words a reader can take in: 4,906 or 8.9 x 10^4."""
    if not math.isfinite(x):
        return "infinite"
    if x < 100_000:
        return f"{x:,.0f}"
    exponent = math.floor(math.log10(x))
    return f"{x / 10**exponent:.1f} × 10^{exponent}"


def bottom_line(section: PublishedFactsSection) -> str:
    """The headline paragraph, in plain words (no table needed to read it).

    Examples
    --------
    >>> text = bottom_line(published_facts_section(fast=True))
    >>> "cannot" in text and "reconstruct" in text
    True
    """
    s = section
    low, high = s.volume_mean_change_ml[1], s.volume_mean_change_ml[2]
    contrast = ""
    if s.data_bf10 is not None and math.isfinite(s.data_bf10) and s.data_bf10 > s.bf10_upper_bound:
        contrast = (
            f" The Bayes factor of {_big(s.data_bf10)} computed further down from the "
            "reconstructed measurements is above that bound: the excess is information "
            "the paper does not contain. It comes from the reconstruction's assumptions, "
            "not from the study."
        )
    return (
        "The paper gives only n = 24, five "
        'percentages and SPSS\'s "p = 0.000" with milk output rising. Those facts rule '
        "out a fall and a small change, but not much more: given them, the standardised "
        f"effect (mean change divided by the SD of the changes) has a median of "
        f"{s.delta_median:.1f}, with 95 % probability between {s.delta_ci95_low:.2f} and "
        f"{s.delta_ci95_high:.0f}; the probability that it exceeds 0.5 is "
        f"{s.p_delta_gt_0_5:.3f} and that it exceeds 0.8 is {s.p_delta_gt_0_8:.2f}. The "
        "upper end is set by the prior, not by the paper: a tiny p-value cannot tell a "
        "large effect from a huge one. Nor do the facts fix any size in millilitres: "
        "reconstructions that match every published fact have a mean rise anywhere from "
        f"{low:.0f} to {high:.0f} ml (95 %). As evidence for a rise against no change, "
        f"the published result is worth a Bayes factor of about {_big(s.bf10)} (default "
        "Cauchy prior on the effect); whatever the alternative, it cannot exceed "
        f"{_big(s.bf10_upper_bound)}, one over the chance of such a result when nothing "
        f"changes ({s.p_h0:.2g}).{contrast} Every number below in millilitres, every "
        "effect modifier and every Bayes factor from individual measurements comes from "
        "one reconstruction and repeats its generator's assumptions. And none of it says "
        "the massage caused the rise: there was no control group."
    )
