"""The report's sections as typed values: the contract between the reanalysis and the report.

:mod:`milkbayes.reanalysis.pipeline` computes one frozen dataclass per section of the
report; :class:`ReanalysisSummary` holds them all, and its :meth:`~ReanalysisSummary.to_dict`
is the JSON summary (``summary.json``) that :mod:`milkbayes.report.render` renders and
re-renders. The layout of that dict is versioned by
:data:`milkbayes.report.render.SCHEMA_VERSION`: a field renamed or removed here is a
breaking change of the schema.

Each section's ``to_dict`` gives its fields in declaration order, nested dataclasses
as dicts and tuples as lists; numbers stay numbers (NaN and infinity included), and
:mod:`milkbayes.jsonio` writes them to JSON.

Examples
--------
>>> hl = HodgesLehmann(estimate=9.5, low=7.0, high=12.0, method="exact")
>>> hl.to_dict()
{'estimate': 9.5, 'low': 7.0, 'high': 12.0, 'method': 'exact'}
>>> FigureEntry(file="figures/data.png", caption="Pre and post").to_dict()["file"]
'figures/data.png'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

__all__ = [
    "AuditRow",
    "BayesSection",
    "Coefficient",
    "ComparisonSection",
    "DataSection",
    "DiagnosticsSection",
    "EnsembleSection",
    "FigureEntry",
    "HodgesLehmann",
    "LevelCount",
    "ModifierSection",
    "Participant",
    "Provenance",
    "PriorSourcesSection",
    "PublishedFactsSection",
    "ReanalysisSummary",
    "ReproductionSection",
    "RunSettings",
    "SensitivityItem",
    "SpssRankRow",
    "SpssTestRow",
    "VariableSummary",
]


def _plain(value: Any) -> Any:
    """``value`` as dicts, lists and scalars: the shape of the JSON summary."""
    if is_dataclass(value) and not isinstance(value, type):
        return value.to_dict() if hasattr(value, "to_dict") else _fields(value)
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _fields(value: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}


class _Section:
    """Mixin: ``to_dict`` lists the dataclass fields in declaration order."""

    def to_dict(self) -> dict[str, Any]:
        """The section as it appears in the JSON summary."""
        return _fields(self)


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class VariableSummary(_Section):
    """One row of the summary table of the data.

    Attributes
    ----------
    variable : str
        ``pre``, ``post`` or ``change``.
    n : int
        Number of values.
    mean, sd, median, q1, q3 : float or None
        Mean, standard deviation (ddof = 1), median and quartiles; None where they
        cannot be computed (an sd of one value).
    """

    variable: str
    n: int
    mean: float | None
    sd: float | None
    median: float | None
    q1: float | None
    q3: float | None


@dataclass(frozen=True)
class LevelCount(_Section):
    """One row of the univariate table: a level of a categorical column.

    Attributes
    ----------
    column, level : str
        The column and its level.
    count : int
        Participants at that level.
    percent : float or None
        ``100 * count / n``.
    """

    column: str
    level: str
    count: int
    percent: float | None


@dataclass(frozen=True)
class Participant(_Section):
    """One participant's measurements.

    Attributes
    ----------
    id : str
        As in the file (user text: escaped when rendered).
    pre, post, change : float
        The measurements and ``post - pre``.
    """

    id: str
    pre: float
    post: float
    change: float


@dataclass(frozen=True)
class DataSection(_Section):
    """What was analysed: the file, its outcome and a description of it.

    Attributes
    ----------
    source : str
        The file (or the bundled dataset's name).
    sha256 : str
        SHA-256 of the file's bytes.
    n : int
        Participants (both arms).
    outcome : mapping
        ``kind``, ``unit`` and ``max_score`` of the outcome.
    columns : tuple of str
        The columns of the validated table.
    dropped_ids : tuple of str
        Participants dropped as incomplete cases.
    provenance : mapping of str to str
        The sidecar's provenance, nested values as compact JSON.
    summary : tuple of VariableSummary
        ``pre``, ``post`` and ``change``.
    univariate : tuple of LevelCount
        The paper's univariate table.
    notes : tuple of str
        Sentences a reader must see (undeclared outcome kind, drops, ignored columns).
    participants : tuple of Participant
        Every participant, in file order.
    """

    source: str
    sha256: str
    n: int
    outcome: Mapping[str, Any]
    columns: tuple[str, ...]
    dropped_ids: tuple[str, ...]
    provenance: Mapping[str, str]
    summary: tuple[VariableSummary, ...]
    univariate: tuple[LevelCount, ...]
    notes: tuple[str, ...]
    participants: tuple[Participant, ...]


# --------------------------------------------------------------------------- reproduction
@dataclass(frozen=True)
class HodgesLehmann(_Section):
    """The Hodges-Lehmann median change and its confidence interval.

    Attributes
    ----------
    estimate, low, high : float
        The estimate and its 95 % interval.
    method : str
        How the interval was computed (exact signed-rank quantile or its normal
        approximation).
    """

    estimate: float
    low: float
    high: float
    method: str


@dataclass(frozen=True)
class SpssRankRow(_Section):
    """One row of SPSS's "Ranks" table.

    Attributes
    ----------
    row : str
        ``Negative Ranks``, ``Positive Ranks``, ``Ties`` or ``Total``.
    n : int
        Participants in the row.
    mean_rank, sum_of_ranks : float or None
        None where SPSS leaves the cell blank.
    footnote : str
        SPSS's footnote letter.
    """

    row: str
    n: int
    mean_rank: float | None
    sum_of_ranks: float | None
    footnote: str


@dataclass(frozen=True)
class SpssTestRow(_Section):
    """One row of SPSS's "Test Statistics" table.

    Attributes
    ----------
    row : str
        ``Z`` or ``Asymp. Sig. (2-tailed)``.
    value : float
        The number.
    text : str
        As SPSS prints it (three decimals; ``.000`` for p < .0005).
    footnote : str
        "Based on ... ranks." for Z.
    """

    row: str
    value: float
    text: str
    footnote: str


@dataclass(frozen=True)
class AuditRow(_Section):
    """One check of the audit of the published numbers.

    Attributes
    ----------
    check : str
        Stable snake_case name.
    published : str
        What the paper (or arithmetic) says should hold.
    computed : str
        What was computed or read.
    status : str
        ``pass``, ``fail`` or ``info``.
    note : str
        The explanation.
    """

    check: str
    published: str
    computed: str
    status: str
    note: str


@dataclass(frozen=True)
class ReproductionSection(_Section):
    """The paper's Wilcoxon test reproduced, within the massage group.

    Built from :class:`milkbayes.frequentist.reproduce.Reproduction`, the same object
    ``milkbayes reproduce`` prints.

    Attributes
    ----------
    published_p_text : str or None
        The p as the study's description says it was printed ("0.000" for the
        bundled paper); None without a description (nothing was published).
    spss_p_text : str
        SPSS's asymptotic p as SPSS prints it.
    p_exact : float
        The exact conditional two-sided p-value of the signed-rank test.
    p_honest_text : str
        The exact p written as a bound a reader can use.
    p_asymptotic : float
        SPSS's asymptotic two-sided p.
    z_spss : float
        SPSS's Z (based on the smaller rank sum).
    w_plus, w_minus : float
        Sums of the ranks of the increases and of the decreases.
    n_zero : int
        Participants with no change.
    rank_biserial : float
        Matched-pairs rank-biserial correlation.
    hodges_lehmann : HodgesLehmann
        The median change with its interval.
    t_test : mapping of str to float or None
        The numeric fields of the paired t-test (``t``, ``df``, ``p_value``,
        ``mean_change``, ``mean_ci_low``, ``mean_ci_high``, ``cohens_dz``...); None
        for a value that is not finite.
    sign_test_p : float
        Exact two-sided p of the sign test.
    spss_ranks : tuple of SpssRankRow
        SPSS's "Ranks" table.
    spss_test : tuple of SpssTestRow
        SPSS's "Test Statistics" table.
    audit : tuple of AuditRow
        The audit of the published numbers.
    audit_note : str
        A note above the audit (empty when there is nothing to add).
    """

    published_p_text: str | None
    spss_p_text: str
    p_exact: float
    p_honest_text: str
    p_asymptotic: float
    z_spss: float
    w_plus: float
    w_minus: float
    n_zero: int
    rank_biserial: float
    hodges_lehmann: HodgesLehmann
    t_test: Mapping[str, float | None]
    sign_test_p: float
    spss_ranks: tuple[SpssRankRow, ...]
    spss_test: tuple[SpssTestRow, ...]
    audit: tuple[AuditRow, ...]
    audit_note: str


# --------------------------------------------------------------------------- bayes
@dataclass(frozen=True)
class BayesSection(_Section):
    """The main model's effect under three priors, beside the frequentist numbers.

    Attributes
    ----------
    model, likelihood : str
        The main model (:data:`~milkbayes.reanalysis.settings.MAIN_MODEL`) and the
        likelihood fitted.
    effect_variable : str
        The posterior variable of the effect.
    unit : str
        Unit of the effect (the outcome's unit, ``points`` for a score).
    mcid : float
        Minimal clinically important difference.
    rope : tuple of float
        The region of practical equivalence ``(low, high)``.
    reference_prior : str
        The prior of the frequentist-versus-Bayesian table.
    priors : tuple of mapping
        One row per prior (:class:`~milkbayes.comparison.PriorRow`
        fields: ``prior``, ``median``, ``ci95_low``, ``ci95_high``, ``p_gt_0``,
        ``p_gt_mcid``, ``p_in_rope``, ``rope_statement``), plus the prior's
        ``beliefs`` and ``rationale``.
    effect_median : float
        Posterior median of the effect under the reference prior.
    freq_vs_bayes : tuple of mapping
        Rows of :func:`~milkbayes.comparison.freq_vs_bayes_table`.
    bf10 : float
        The JZS Bayes factor of the paired model (infinite beyond the float range).
    log_bf10 : float
        Its natural logarithm.
    bf10_note : str
        What the Bayes factor tests.
    mcid_source : str
        Where the MCID comes from (:func:`milkbayes.models.priors.mcid_source`): every
        probability of the section depends on it. Empty in summaries written before
        it existed.
    benefit : {"increase", "decrease"}
        The direction of benefit: with ``"decrease"`` (lower is better) the prior
        rows' ``p_benefit``/``p_benefit_gt_mcid`` are P(effect < 0)/P(effect < -MCID)
        while the effect keeps its sign. ``"increase"`` in summaries written before
        it existed.
    """

    model: str
    likelihood: str
    effect_variable: str
    unit: str
    mcid: float
    rope: tuple[float, float]
    reference_prior: str
    priors: tuple[Mapping[str, Any], ...]
    effect_median: float
    freq_vs_bayes: tuple[Mapping[str, Any], ...]
    bf10: float
    log_bf10: float
    bf10_note: str
    mcid_source: str = ""
    benefit: str = "increase"


@dataclass(frozen=True)
class Coefficient(_Section):
    """One effect-modifier coefficient of the main model (reference prior).

    Attributes
    ----------
    name : str
        The posterior variable (``modifier_*``).
    median, ci95_low, ci95_high : float
        Posterior median and equal-tailed 95 % interval.
    """

    name: str
    median: float
    ci95_low: float
    ci95_high: float


@dataclass(frozen=True)
class ModifierSection(_Section):
    """Effect modifiers: the effect in each subgroup and the modifier coefficients.

    Attributes
    ----------
    subgroup_effects : mapping
        Covariate -> level -> summary of the effect in that subgroup.
    skipped : mapping
        Covariates the model left out, with the reason.
    coefficients : tuple of Coefficient
        The ``modifier_*`` coefficients.
    """

    subgroup_effects: Mapping[str, Any]
    skipped: Mapping[str, Any]
    coefficients: tuple[Coefficient, ...]


# --------------------------------------------------------------------------- diagnostics
@dataclass(frozen=True)
class DiagnosticsSection(_Section):
    """Convergence and predictive checks of the main fits.

    Attributes
    ----------
    overall : str
        The worst status of every check: ``pass``, ``warn`` or ``fail``.
    failing : tuple of mapping
        The failed convergence checks: ``fit``, ``check``, ``label``, ``detail``.
    fits : tuple of mapping
        One convergence table per fit: ``label``, ``status``, ``chains``,
        ``draws`` and its ``rows``.
    predictive : tuple of mapping
        Prior and posterior predictive checks of the reference fit.
    loo_pit : mapping
        The LOO-PIT uniformity test (``ks_statistic``, ``ks_p_value``, ``status``,
        ``note``).
    """

    overall: str
    failing: tuple[Mapping[str, Any], ...]
    fits: tuple[Mapping[str, Any], ...]
    predictive: tuple[Mapping[str, Any], ...]
    loo_pit: Mapping[str, Any]


# --------------------------------------------------------------------------- comparison
@dataclass(frozen=True)
class ComparisonSection(_Section):
    """Leave-one-mother-out comparison of the candidate models.

    Attributes
    ----------
    lomo : tuple of mapping
        One row per candidate
        (:class:`~milkbayes.comparison.ComparisonRow` fields) with
        how its elpd was computed: ``intercept_method``, ``n_divergent``,
        ``refit_seconds``, ``method`` (``"exact"``, ``"psis+refits"`` or
        ``"kfold"``, chosen by :func:`milkbayes.comparison.choice.choose_method`),
        ``method_text`` (its name in the report), ``n_folds`` (K of K-fold, else
        None), ``n_refitted``, ``refitted_ids``.
    psis : tuple of mapping
        PSIS-LOO by mother (and by observation for the models of the pair), with
        the Pareto k summary of each candidate.
    notes : tuple of str
        How to read the table, and which candidates were not compared.
    pointwise : tuple of mapping
        Each mother's held-out elpd under each candidate (``id`` and one key per
        candidate label).
    settings : mapping
        ``draws``, ``tune``, ``chains`` of the refits, ``reloo``, and the thresholds
        of the choice of method: ``max_exact_refits`` and ``kfold_k``.
    """

    lomo: tuple[Mapping[str, Any], ...]
    psis: tuple[Mapping[str, Any], ...]
    notes: tuple[str, ...]
    pointwise: tuple[Mapping[str, Any], ...]
    settings: Mapping[str, Any]


# --------------------------------------------------------------------------- sensitivity
@dataclass(frozen=True)
class SensitivityItem(_Section):
    """One highlight of the sensitivity analyses.

    Attributes
    ----------
    name : str
        The analysis.
    title : str
        Its heading (and its figure's caption).
    summary : mapping of str to number, text or None
        The headline numbers.
    notes : tuple of str
        How to read them.
    figure : str
        The key of its figure in :attr:`ReanalysisSummary.figures`.
    """

    name: str
    title: str
    summary: Mapping[str, Any]
    notes: tuple[str, ...]
    figure: str


# --------------------------------------------------------------------------- headline
@dataclass(frozen=True)
class PublishedFactsSection(_Section):
    """The headline: what the published facts alone support, without reconstructed values.

    Attributes
    ----------
    conditioning_event : str
        The published facts conditioned on, in words.
    delta_median, delta_ci95_low, delta_ci95_high : float
        Posterior median and equal-tailed 95 % interval of the standardised effect
        delta (mean change / SD of the changes) given only the published facts
        (rejection ABC over the reconstruction's assumptions).
    p_delta_gt_0_5, p_delta_gt_0_8 : float
        Posterior P(delta > 0.5) and P(delta > 0.8).
    prior_p_delta_gt_0_5, prior_p_delta_gt_0_8 : float
        The same under the prior, before the facts.
    bf10 : float
        Bayes factor of the published event, effect against none, under
        ``bf10_prior``.
    bf10_prior : str
        The prior on delta under H1 of ``bf10``.
    bf10_by_prior : mapping of str to float
        The Bayes factor under each prior computed.
    bf10_upper_bound : float
        ``1 / p_h0``: the largest Bayes factor any alternative can give.
    p_h0 : float
        P(published event | no effect), exact.
    critical_w_plus : int
        The smallest W+ SPSS reports as p < .0005 with n = 24.
    h0_ties : str
        How ties are treated under H0.
    volume_mean_change_ml : tuple of float
        Median and 95 % interval of the mean rise in ml among accepted volume
        reconstructions (what the facts leave open in ml).
    acceptance_by_scenario : mapping of str to float
        Share of proposals of each outcome reading that reproduced the facts.
    n_proposals, n_accepted, seed : int
        The ABC run.
    prior : mapping of str to str
        The prior on each assumption, in words.
    data_bf10 : float or None
        The Bayes factor from the reconstructed measurements, for comparison.
    bottom_line : str
        The headline paragraph in plain words.
    """

    conditioning_event: str
    delta_median: float
    delta_ci95_low: float
    delta_ci95_high: float
    p_delta_gt_0_5: float
    p_delta_gt_0_8: float
    prior_p_delta_gt_0_5: float
    prior_p_delta_gt_0_8: float
    bf10: float
    bf10_prior: str
    bf10_by_prior: Mapping[str, float]
    bf10_upper_bound: float
    p_h0: float
    critical_w_plus: int
    h0_ties: str
    volume_mean_change_ml: tuple[float, float, float]
    acceptance_by_scenario: Mapping[str, float]
    n_proposals: int
    n_accepted: int
    seed: int
    prior: Mapping[str, str]
    data_bf10: float | None
    bottom_line: str


# --------------------------------------------------------------------------- ensemble
@dataclass(frozen=True)
class EnsembleSection(_Section):
    """Every number that depends on individual measurements, across reconstructions.

    The bundled data are one reconstruction; its numbers in outcome units return the
    generator's assumptions. This section refits the main model to ``k``
    reconstructions drawn under varied assumptions that all match the paper
    (:func:`milkbayes.sensitivity.assumption_ensemble`) and says, for each number,
    whether it is data-driven (published facts only) or assumption-driven, and which
    assumption drives it.

    Attributes
    ----------
    scenario : str
        The generator's outcome scenario.
    k : int
        Reconstructions refitted.
    n_proposals, n_accepted : int
        Proposals of the rejection step, and how many matched the paper.
    acceptance_rate : float
        ``n_accepted / n_proposals``.
    varied : str
        The assumptions varied and their ranges, in words.
    model : str
        The model refitted (the main model).
    sampler : mapping
        ``draws``, ``tune``, ``chains`` of each refit.
    mcid : float
        The MCID of P(effect > MCID).
    unit : str
        Unit of the numbers in outcome units.
    rows : tuple of mapping
        One row per number: ``quantity``, ``label``, ``kind`` (``unit``, ``prob``
        or ``log10``), ``worked_example`` (its value on the data analysed above),
        ``median``, ``low``, ``high`` (across members), ``q10``, ``q90``, ``source``
        (``assumption-driven`` or ``data-driven``), ``driver`` (the assumption most
        rank-correlated with it, or the published facts), ``driver_rho``.
    members : tuple of mapping
        One row per reconstruction: its seed, assumption values and numbers.
    notes : tuple of str
        How to read the table.
    figure : str
        Key of its figure in :attr:`ReanalysisSummary.figures`.
    """

    scenario: str
    k: int
    n_proposals: int
    n_accepted: int
    acceptance_rate: float
    varied: str
    model: str
    sampler: Mapping[str, Any]
    mcid: float
    unit: str
    rows: tuple[Mapping[str, Any], ...]
    members: tuple[Mapping[str, Any], ...]
    notes: tuple[str, ...]
    figure: str


# --------------------------------------------------------------------------- prior sources
@dataclass(frozen=True)
class PriorSourcesSection(_Section):
    """Where each prior comes from, and the paper as one more study of the literature.

    Attributes
    ----------
    rows : tuple of mapping
        ``name`` (a prior set, ``MCID`` or ``natural trend``), ``what`` (the prior
        in numbers) and ``source`` (one line).
    literature_fitted : bool
        Whether the main model was also fitted under the literature prior (a row of
        the prior table).
    literature_note : str
        Why not, when it was not (score outcomes); else empty.
    meta_update : mapping or None
        :func:`milkbayes.reanalysis.prior_sources.paper_update` (rows before and after,
        the likelihood, notes); None when not computed (data not a reconstruction of
        the paper).
    """

    rows: tuple[Mapping[str, str], ...]
    literature_fitted: bool
    literature_note: str
    meta_update: Mapping[str, Any] | None = None


# --------------------------------------------------------------------------- provenance
@dataclass(frozen=True)
class RunSettings(_Section):
    """The settings the numbers were computed with.

    Attributes
    ----------
    fast : bool
        True for the :data:`~milkbayes.reanalysis.settings.FAST` settings.
    draws, tune, chains, seed : int
        Of each main fit.
    mcid : float
        The minimal clinically important difference.
    rope : tuple of float
        The region of practical equivalence.
    comparison : tuple of (model, likelihood)
        The candidates of the comparison.
    ci_prob : float
        Probability of the central credible intervals (keys ``*ci95_*`` keep their
        names in schema 1.x whatever the level).
    trend_stage : str
        Stage of lactation of the bias highlight's prior on the change without
        massage (``early``, ``established``, or ``none`` for the unsourced default);
        since schema 1.3.
    """

    fast: bool
    draws: int
    tune: int
    chains: int
    seed: int
    mcid: float
    rope: tuple[float, float]
    comparison: tuple[tuple[str, str], ...]
    ci_prob: float = 0.95
    trend_stage: str = "none"


@dataclass(frozen=True)
class Provenance:
    """Who made the summary, when, from what kind of data and with which settings.

    Attributes
    ----------
    schema_version : str
        :data:`milkbayes.report.render.SCHEMA_VERSION`.
    generator_name, generator_version : str
        ``milkbayes`` and its version.
    created_at : str
        UTC time, to the minute.
    reconstructed : bool
        True when the data are a reconstruction, not measurements.
    warning : str or None
        :data:`milkbayes.RECONSTRUCTED_WARNING` for reconstructed data.
    settings : RunSettings
        The settings of the run.
    """

    schema_version: str
    generator_name: str
    generator_version: str
    created_at: str
    reconstructed: bool
    warning: str | None
    settings: RunSettings

    def to_dict(self) -> dict[str, Any]:
        """The summary's leading keys: schema version, generator, time, data kind, settings."""
        return {
            "schema_version": self.schema_version,
            "generator": {"name": self.generator_name, "version": self.generator_version},
            "created_at": self.created_at,
            "reconstructed": self.reconstructed,
            "warning": self.warning,
            "settings": self.settings.to_dict(),
            # top level as well: every interval of the summary is at this level
            "ci_prob": self.settings.ci_prob,
        }


@dataclass(frozen=True)
class FigureEntry(_Section):
    """A figure of the report.

    Attributes
    ----------
    file : str
        Its path in the report folder (``figures/NAME.png``).
    caption : str
        The caption under it.
    """

    file: str
    caption: str


# --------------------------------------------------------------------------- design
@dataclass(frozen=True)
class DesignSection(_Section):
    """The study's design and, with a control arm, each arm's test and the comparison.

    Attributes
    ----------
    design : {"one_group", "two_arm"}
    n_massage, n_control : int
    main_model : str
        The model the report leads with (``ancova`` with a control arm).
    arms : tuple of dict
        :class:`milkbayes.frequentist.two_arm.ArmTest` of each arm (two-arm only).
    comparison : dict or None
        Difference in differences (Welch), ANCOVA and Mann-Whitney
        (:class:`milkbayes.frequentist.two_arm.TwoArmAnalysis`); None for one group.
    notes : tuple of str
        What the design changes in the report (which rows each analysis used).
    secondary : dict or None
        The secondary Bayesian analysis beside the main one (two-arm: the difference
        in differences, ``two_arm``, under the reference prior): model, likelihood,
        prior, effect median and 95 % interval, P(effect > 0), diagnostics status and
        the assumption it rests on. None for one group.
    """

    design: str
    n_massage: int
    n_control: int
    main_model: str
    arms: tuple[Mapping[str, Any], ...] = ()
    comparison: Mapping[str, Any] | None = None
    notes: tuple[str, ...] = ()
    secondary: Mapping[str, Any] | None = None


# --------------------------------------------------------------------------- summary
@dataclass(frozen=True)
class ReanalysisSummary:
    """Every section of the report; :meth:`to_dict` is ``summary.json``.

    Attributes
    ----------
    provenance : Provenance
        Schema version, generator, time, data kind and settings.
    data : DataSection
        The data analysed.
    reproduction : ReproductionSection
        The paper's test reproduced.
    bayes : BayesSection
        The main model's effect under three priors.
    modifiers : ModifierSection
        Effect modifiers.
    diagnostics : DiagnosticsSection
        Convergence and predictive checks.
    comparison : ComparisonSection
        The model comparison.
    sensitivity : tuple of SensitivityItem or None
        The sensitivity highlights; None when they were not computed.
    design_limits : tuple of (str, str)
        What the design cannot show: (title, text) pairs.
    figures : mapping of str to FigureEntry
        The figures, in report order.
    timings : mapping of str to float
        Seconds per stage, up to (not including) the rendering of the report.
    study : mapping or None
        The study's description (title, what was published) the data were audited
        against; None for a file without one.
    design : DesignSection or None
        The design, and each arm's analysis with a control arm.
    published_facts : PublishedFactsSection or None
        The headline (what the published facts alone support); None for data
        that are not a reconstruction of the paper.
    ensemble : EnsembleSection or None
        The numbers across reconstructions (reconstructed data only); None otherwise.
    prior_sources : PriorSourcesSection or None
        Where the priors come from, and the paper added to the literature.
    """

    provenance: Provenance
    data: DataSection
    reproduction: ReproductionSection
    bayes: BayesSection
    modifiers: ModifierSection
    diagnostics: DiagnosticsSection
    comparison: ComparisonSection
    sensitivity: tuple[SensitivityItem, ...] | None
    design_limits: tuple[tuple[str, str], ...]
    figures: Mapping[str, FigureEntry]
    timings: Mapping[str, float]
    study: Mapping[str, Any] | None = None
    design: DesignSection | None = None
    published_facts: PublishedFactsSection | None = None
    ensemble: EnsembleSection | None = None
    prior_sources: PriorSourcesSection | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary, in the layout of :data:`milkbayes.report.render.SCHEMA_VERSION`."""
        return {
            **self.provenance.to_dict(),
            "published_facts": _plain(self.published_facts),
            "data": self.data.to_dict(),
            "reproduction": self.reproduction.to_dict(),
            "bayes": self.bayes.to_dict(),
            "modifiers": self.modifiers.to_dict(),
            "diagnostics": self.diagnostics.to_dict(),
            "comparison": self.comparison.to_dict(),
            "sensitivity": _plain(self.sensitivity),
            "design_limits": [{"title": title, "text": text} for title, text in self.design_limits],
            "figures": _plain(self.figures),
            "timings": dict(self.timings),
            "study": _plain(self.study),
            "design": None if self.design is None else self.design.to_dict(),
            "ensemble": _plain(self.ensemble),
            "prior_sources": _plain(self.prior_sources),
        }
