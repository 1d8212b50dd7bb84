r"""The reconstruction ensemble: datasets that all fit the paper, under VARIED assumptions.

The generator (:mod:`milkbayes.datasets`) fills what the paper did not publish with
stated assumptions: the mean rise in ml, the sizes of the two modifiers, the spread
of the rise, the baseline. The published constraint (n, the counts, SPSS p < .0005
and a rise) accepts most of its draws at the default assumptions, so estimates in ml
from one reconstruction mostly return those assumptions. Refitting many seeds at
the SAME assumptions (:func:`reconstruction_ensemble`) shows only the part of the
uncertainty that comes from the unpublished individual values; :func:`assumption_ensemble`
varies the assumptions themselves.

Procedure (rejection ABC with the published facts as an exact match)
------------------------------------------------------------------------
For proposal :math:`j = 1, 2, \dots`:

1. draw the varied assumptions :math:`\theta_j` from their ranges (:class:`Vary`:
   uniform on ``LOW:HIGH`` or uniform over a list of values), the others fixed;
2. draw ONE dataset from the generator at :math:`\theta_j`
   (:func:`milkbayes.datasets.propose`);
3. keep the pair when the dataset matches every published fact.

The kept :math:`\theta_j` are draws from :math:`p(\theta \mid \text{published facts})
\propto \pi(\theta)\,a(\theta)` with :math:`a(\theta)` the generator's acceptance
probability, and each kept dataset is a draw given its :math:`\theta_j` and the
facts. Assumptions the paper rules out (a fall in output, an effect too small for
p < .0005) are rejected in proportion to how strongly it rules them out. The
acceptance table shows :math:`a(\theta)` by proposal.

When the assumptions come from a posterior already (``assumption_draws``: e.g. the
ABC reconstruction posterior), each :math:`\theta_j` is taken as given and its
dataset is drawn with retries (:func:`milkbayes.datasets.reconstruct`): conditioning
on the facts a second time would weight :math:`\theta` by :math:`a(\theta)^2`.

Every kept dataset is refitted with the flagship model compiled ONCE, the one the
main fits compiled: its covariate codings are swapped in as data, never frozen into
the graph (:func:`lean_model`), so a member costs one short sampler run (about 0.2 s),
not a compilation.

Which assumption drives a number: the Spearman rank correlation of the number with
each varied assumption across the kept members; the assumption with the largest
absolute correlation is named (:func:`drivers`).

Examples
--------
>>> Vary.parse("effect_ml=4:20")
Vary(name='effect_ml', low=4.0, high=20.0, values=())
>>> Vary.parse("change_sd_ml=3, 5,8").values
(3.0, 5.0, 8.0)
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from milkbayes.errors import MilkbayesError, finite_number
from milkbayes.models.priors import default_mcid
from milkbayes.sensitivity.common import (
    SamplerOptions,
    SensitivityResult,
    fit_quiet,
    forest_figure,
    massage_changes,
    require,
    summary_row,
)

__all__ = [
    "ASSUMPTION_LABELS",
    "DEFAULT_VARY",
    "ENSEMBLE_MODEL",
    "ENSEMBLE_QUANTITIES",
    "ENSEMBLE_SAMPLER",
    "Vary",
    "assumption_ensemble",
    "drivers",
    "lean_model",
    "propose_reconstructions",
    "reconstruction_ensemble",
]

ENSEMBLE_SAMPLER = SamplerOptions(draws=300, tune=200, chains=2)
"""Each member is one dataset among many: shorter runs than one full analysis."""

ENSEMBLE_MODEL = "prepost_hierarchical"
"""The model refitted to every member: the flagship, whose numbers the report shows."""


@dataclass(frozen=True)
class Vary:
    """How one assumption of the generator varies across the ensemble.

    Attributes
    ----------
    name : str
        A field of the scenario's assumptions (``effect_ml``, ``change_sd_ml``...).
    low, high : float or None
        Uniform on ``[low, high]`` (both None when ``values`` is given).
    values : tuple of float
        Uniform over these values (empty for a range).
    """

    name: str
    low: float | None = None
    high: float | None = None
    values: tuple[float, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Vary:
        """``NAME=LOW:HIGH`` or ``NAME=v1,v2,...``; a clear error otherwise.

        Examples
        --------
        >>> Vary.parse("effect_ml=20:4")
        Traceback (most recent call last):
        ...
        milkbayes.errors.MilkbayesError: --vary effect_ml=20:4: LOW must be below HIGH
        """
        name, sep, spec = str(text).partition("=")
        name, spec = name.strip(), spec.strip()
        if not sep or not name or not spec:
            raise MilkbayesError(
                f"--vary takes NAME=LOW:HIGH or NAME=v1,v2,... (got {text!r}), "
                "e.g. --vary effect_ml=4:20"
            )

        def number(item: str) -> float:
            return finite_number(item, f"--vary {text}")

        if ":" in spec:
            parts = spec.split(":")
            if len(parts) != 2:
                raise MilkbayesError(f"--vary {text}: a range is LOW:HIGH")
            low, high = number(parts[0]), number(parts[1])
            if not low < high:
                raise MilkbayesError(f"--vary {text}: LOW must be below HIGH")
            return cls(name, low, high)
        return cls(name, values=tuple(number(item) for item in spec.split(",")))

    def draw(self, rng: np.random.Generator) -> float:
        """One value: uniform on the range, or one of the values with equal chance."""
        if self.values:
            return float(self.values[int(rng.integers(len(self.values)))])
        return float(rng.uniform(self.low, self.high))

    def text(self) -> str:
        """How the report writes it: ``effect_ml in [4, 24]`` or ``effect_ml in {2, 14}``."""
        if self.values:
            return f"{self.name} in {{{', '.join(f'{v:g}' for v in self.values)}}}"
        return f"{self.name} in [{self.low:g}, {self.high:g}]"


DEFAULT_VARY: Mapping[str, tuple[Vary, ...]] = types.MappingProxyType(
    {
        "volume_ml": (
            Vary("effect_ml", 0.0, 28.0),
            Vary("long_work_modifier_ml", -12.0, 6.0),
            Vary("primipara_modifier_ml", -12.0, 6.0),
            Vary("change_sd_ml", 1.0, 15.0),
            Vary("pre_median_ml", 2.0, 15.0),
            Vary("pre_log_sd", 0.2, 1.0),
        ),
        "score": (
            Vary("effect_logit", 0.0, 3.5),
            Vary("long_work_modifier_logit", -1.5, 1.0),
            Vary("primipara_modifier_logit", -1.5, 1.0),
            Vary("ability_sd_logit", 0.2, 1.5),
            Vary("pre_proportion", 0.15, 0.6),
        ),
    }
)
"""The ranges the report's ensemble draws the assumptions from (uniform), per scenario.

Wide on purpose: each range spans the generator's default and values no published
fact excludes (a rise from nothing up to 28 ml, twice the default; modifiers of either
sign, since their signs come from the paper's discussion, not from data; spreads of the
rise from 1 to 15 ml; baselines from 2 to 15 ml). The published facts then prune the
ranges by rejection; what survives is what the paper allows.
"""

ASSUMPTION_LABELS: Mapping[str, str] = types.MappingProxyType(
    {
        "effect_ml": "the assumed mean rise (effect_ml)",
        "long_work_modifier_ml": "the assumed long-work modifier (long_work_modifier_ml)",
        "primipara_modifier_ml": "the assumed primipara modifier (primipara_modifier_ml)",
        "change_sd_ml": "the assumed spread of the rise (change_sd_ml)",
        "pre_median_ml": "the assumed baseline volume (pre_median_ml)",
        "pre_log_sd": "the assumed spread of the baseline (pre_log_sd)",
        "effect_logit": "the assumed rise in log-odds (effect_logit)",
        "long_work_modifier_logit": "the assumed long-work modifier (long_work_modifier_logit)",
        "primipara_modifier_logit": "the assumed primipara modifier (primipara_modifier_logit)",
        "ability_sd_logit": "the assumed spread between mothers (ability_sd_logit)",
        "pre_proportion": "the assumed baseline share of items met (pre_proportion)",
        "delta": "the standardised effect of the reconstruction (delta)",
        "baseline_change_correlation": (
            "the assumed correlation of baseline and rise (baseline_change_correlation)"
        ),
    }
)
"""How the report names each assumption of the generator when it drives a number."""

ENSEMBLE_QUANTITIES: tuple[tuple[str, str, str], ...] = (
    ("effect_median", "massage effect, posterior median", "unit"),
    ("effect_ci95_low", "lower end of its 95 % interval", "unit"),
    ("effect_ci95_high", "upper end of its 95 % interval", "unit"),
    ("p_effect_gt_0", "P(effect > 0)", "prob"),
    ("p_effect_gt_mcid", "P(effect > MCID)", "prob"),
    ("modifier_work_duration", "modifier: long minus short work duration", "unit"),
    ("modifier_parity", "modifier: multipara minus primipara", "unit"),
    ("log10_bf10", "log10 BF10 (JZS, paired t of the individual changes)", "log10"),
)
"""The numbers that depend on the individual measurements: (column, label, kind)."""


# --------------------------------------------------------------------------- proposals
def _vary_list(vary: Sequence[Vary | str] | Mapping[str, str] | None) -> tuple[Vary, ...]:
    if vary is None:
        return ()
    if isinstance(vary, Mapping):
        vary = [f"{name}={spec}" for name, spec in vary.items()]
    out = tuple(v if isinstance(v, Vary) else Vary.parse(v) for v in vary)
    names = [v.name for v in out]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    require(not duplicated, f"--vary names an assumption twice: {', '.join(duplicated)}")
    return out


def propose_reconstructions(
    scenario: str = "volume_ml",
    n_proposals: int = 200,
    seed: int = 0,
    *,
    vary: Sequence[Vary | str] | Mapping[str, str] | None = None,
    k: int | None = None,
    **fixed: object,
) -> tuple[list, pd.DataFrame]:
    """Rejection ABC over the generator's assumptions: propose, draw once, keep matches.

    Parameters
    ----------
    scenario : {"volume_ml", "score"}
    n_proposals : int
        The most proposals to make.
    seed : int
        Seed of the assumption draws and of every proposal's dataset.
    vary : sequence of Vary or "NAME=SPEC" strings, or mapping NAME -> SPEC
        The assumptions that vary (see :class:`Vary`); none: only the data vary.
    k : int, optional
        Stop as soon as this many proposals are accepted.
    **fixed
        Other assumptions, held at these values (defaults otherwise).

    Returns
    -------
    members : list of (Study, dict)
        The accepted datasets with the assumption values they were drawn at.
    proposals : pandas.DataFrame
        One row per proposal: ``proposal``, ``seed``, each varied assumption,
        ``accepted``, ``spss_z``, ``spss_p``, ``missed`` (what it missed, or "") and
        one flag per kind of miss: ``fell``, ``p_not_below``, ``out_of_range``.

    Raises
    ------
    MilkbayesError
        For an unknown or impossible assumption (named by the generator).

    Examples
    --------
    >>> members, proposals = propose_reconstructions(
    ...     "volume_ml", 6, 1, vary=["effect_ml=-2,14"])
    >>> bool(proposals.loc[proposals.effect_ml == -2, "accepted"].any())
    False
    """
    from milkbayes.datasets import ensemble_seeds, make_assumptions, propose

    require(
        int(n_proposals) == n_proposals and n_proposals >= 1,
        f"n_proposals must be a whole number >= 1, got {n_proposals!r}",
    )
    varied = _vary_list(vary)
    clash = sorted({v.name for v in varied} & set(fixed))
    require(not clash, f"{', '.join(clash)} both varied and fixed")
    for v in varied:  # an unknown name or a value out of bounds is refused before drawing
        make_assumptions(scenario, **fixed, **{v.name: (v.values or (v.low,))[0]})
    seeds = ensemble_seeds(seed, int(n_proposals))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7]))
    members, rows = [], []
    for j, member_seed in enumerate(seeds):
        theta = {v.name: v.draw(rng) for v in varied}
        study, check = propose(scenario, int(member_seed), **fixed, **theta)
        rows.append(
            {
                "proposal": j,
                "seed": int(member_seed),
                **theta,
                "accepted": study is not None,
                "spss_z": check.spss_z,
                "spss_p": check.spss_p,
                "missed": "; ".join(check.failures()),
                "fell": not check.direction_ok,
                "p_not_below": not check.p_below_threshold,
                "out_of_range": not check.outcome_valid,
            }
        )
        if study is not None:
            members.append((study, theta))
            if k is not None and len(members) >= k:
                break
    return members, pd.DataFrame(rows)


def _from_posterior(
    scenario: str, k: int, seed: int, draws: Sequence[Mapping[str, float]], fixed: Mapping
) -> tuple[list, pd.DataFrame]:
    """Members at given assumption draws (a posterior), each dataset drawn with retries."""
    from milkbayes.datasets import ensemble_seeds, reconstruct

    require(len(draws) >= 1, "the assumption draws are empty")
    seeds = ensemble_seeds(seed, int(k))
    members, rows = [], []
    for j, member_seed in enumerate(seeds):
        theta = {name: float(value) for name, value in dict(draws[j % len(draws)]).items()}
        study = reconstruct(scenario, int(member_seed), **fixed, **theta)
        members.append((study, theta))
        rows.append({"proposal": j, "seed": int(member_seed), **theta, "accepted": True})
    return members, pd.DataFrame(rows)


def abc_members(
    scenario: str,
    k: int,
    *,
    n_proposals: int | None = None,
    seed: int | None = None,
    posterior=None,
) -> tuple[list, pd.DataFrame]:
    """K accepted reconstructions of the ABC reconstruction posterior, with their assumptions.

    The posterior (:func:`milkbayes.reconstruction.abc_posterior`) holds pairs of
    assumption values and datasets already conditioned on the published facts, so
    its datasets are used as they are (no second conditioning). The members are K
    rows of the scenario spread evenly over its accepted draws. ``posterior`` (a
    :class:`~milkbayes.reconstruction.ReconstructionPosterior` computed already,
    e.g. the report's headline's) is used as it is; else one is run with
    ``n_proposals`` and ``seed``.

    Raises
    ------
    SensitivityError
        When :mod:`milkbayes.reconstruction` is not installed, or the posterior has
        fewer than 2 draws of the scenario.
    """
    if posterior is None:
        try:
            from milkbayes import reconstruction
        except ImportError:  # the ABC posterior lives in its own area
            require(False, "the ABC reconstruction posterior (milkbayes.reconstruction) is missing")
        options = {}
        if n_proposals is not None:
            options["n_proposals"] = int(n_proposals)
        if seed is not None:
            options["seed"] = int(seed)
        posterior = reconstruction.abc_posterior(**options)
    draws = posterior.draws
    rows_of_scenario = np.flatnonzero((draws["scenario"] == scenario).to_numpy())
    require(
        rows_of_scenario.size >= 2,
        f"the ABC posterior has {rows_of_scenario.size} accepted {scenario} draws; "
        "use more proposals",
    )
    spaced = np.linspace(0, rows_of_scenario.size - 1, min(k, rows_of_scenario.size))
    picked = rows_of_scenario[spaced.astype(int)]
    names = [
        c
        for c in draws.columns
        # assumptions only: the accepted datasets' own statistics are outcomes
        if c not in ("proposal", "chunk", "row", "scenario", "mean_change_ml")
        and not c.startswith(("sample_", "spss_"))
        and c.endswith(("_ml", "_sd", "_logit", "_proportion", "_correlation", "delta"))
        and draws.loc[draws["scenario"] == scenario, c].notna().all()
    ]
    members = [
        (posterior.dataset(int(i)), {n: float(draws.iloc[int(i)][n]) for n in names})
        for i in picked
    ]
    table = draws.iloc[picked][["proposal", *names]].assign(accepted=True).reset_index(drop=True)
    # the rejection step is the posterior's, not a pick of K rows: keep its counts
    table.attrs["n_proposals"] = int((np.asarray(posterior.prior_scenario) == scenario).sum())
    table.attrs["n_accepted"] = int(rows_of_scenario.size)
    return members, table


# --------------------------------------------------------------------------- refits
LAYOUT_DATA = ("mother_idx", "time")
"""Design data that only the number of mothers fixes (the long layout), kept frozen."""


def lean_model(model: str = ENSEMBLE_MODEL) -> types.ModuleType:
    """The model with its covariate codings as data and no extra summary: one compilation.

    A model may freeze design arrays into its compiled graph (``DESIGN_DATA``), and
    every reconstruction has its own arrangement of covariates: frozen codings would
    compile the model anew for each member. This copy keeps frozen only the layout
    (:data:`LAYOUT_DATA`: which mother and which occasion each measurement is, the
    same in every dataset of the paper's size), so the engine's cache compiles it
    once and every member is a ``with_data`` refit. The copy keeps the module's name
    and file (the engine's cache key and the provenance hash),
    its extra summary is dropped (the ensemble reads the posterior directly).
    """
    from milkbayes.models.registry import load_model

    module = load_model(model)
    lean = types.ModuleType(module.__name__, module.__doc__)
    lean.__dict__.update(
        {key: value for key, value in vars(module).items() if not key.startswith("__")}
    )
    lean.__file__ = module.__file__
    declared = getattr(module, "DESIGN_DATA", ())
    if isinstance(declared, Mapping):  # by likelihood
        declared = {pattern for patterns in declared.values() for pattern in patterns}
    lean.DESIGN_DATA = tuple(pattern for pattern in LAYOUT_DATA if pattern in declared)
    lean.extra_summary = lambda posterior, inputs, prior: {}
    return lean


def _member_row(result, study, theta: Mapping[str, float], index: int) -> dict[str, object]:
    from milkbayes.models.paired_change import jzs_log_bf10

    change = massage_changes(study)
    row = summary_row(
        result,
        member=index,
        seed=int(study.provenance["seed"]),
        sha256=study.sha256[:12],
        **theta,
        change_mean=float(change.mean()),
        change_sd=float(change.std(ddof=1)),
    )
    row.pop("log_bf10", None)
    posterior = result.tree["posterior"]
    for name in ("modifier_work_duration", "modifier_parity"):
        row[name] = (
            float(np.median(np.asarray(posterior[name].values)))
            if name in posterior.data_vars
            else float("nan")
        )
    sd = float(change.std(ddof=1))
    t = float(change.mean() / (sd / math.sqrt(change.size))) if sd > 0 else float("inf")
    log_bf = jzs_log_bf10(t, int(change.size)) if math.isfinite(t) else float("inf")
    row["log_bf10"] = log_bf
    row["log10_bf10"] = log_bf / math.log(10)
    return row


def drivers(table: pd.DataFrame, varied: Sequence[str], quantity: str) -> tuple[str, float]:
    """The varied assumption most rank-correlated with ``quantity`` across members.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per member: the assumption columns and the quantity's.
    varied : sequence of str
        The assumption columns.
    quantity : str

    Returns
    -------
    name : str
        The assumption with the largest absolute Spearman correlation; ``""`` when
        nothing varied, fewer than 3 members, or the quantity is constant.
    rho : float
        Its correlation (NaN when no name).

    Examples
    --------
    >>> t = pd.DataFrame({"a": [1, 2, 3, 4], "b": [4, 1, 3, 2], "y": [2, 4, 6, 9]})
    >>> drivers(t, ["a", "b"], "y")
    ('a', 1.0)
    """
    from scipy import stats

    best, best_rho = "", float("nan")
    y = table[quantity].to_numpy(dtype=float)
    ok = np.isfinite(y)
    if ok.sum() < 3 or np.ptp(y[ok]) == 0:
        return best, best_rho
    for name in varied:
        x = table[name].to_numpy(dtype=float)[ok]
        if np.ptp(x) == 0:
            continue
        rho = float(stats.spearmanr(x, y[ok]).statistic)
        if math.isfinite(rho) and (best == "" or abs(rho) > abs(best_rho)):
            best, best_rho = name, rho
    return best, best_rho


def _spread(table: pd.DataFrame, varied: Sequence[str]) -> pd.DataFrame:
    rows = []
    for column, label, kind in ENSEMBLE_QUANTITIES:
        if column not in table or not np.isfinite(table[column].to_numpy(dtype=float)).any():
            continue
        values = table[column].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        driver, rho = drivers(table, varied, column)
        # a number that does not move across reconstructions is fixed by the facts
        constant = bool(np.ptp(values) == 0)
        rows.append(
            {
                "quantity": column,
                "label": label,
                "kind": kind,
                "median": float(np.median(values)),
                "low": float(values.min()),
                "high": float(values.max()),
                "q10": float(np.quantile(values, 0.1)),
                "q90": float(np.quantile(values, 0.9)),
                "driver": driver,
                "driver_rho": rho,
                "source": "data-driven" if constant else "assumption-driven",
            }
        )
    return pd.DataFrame(rows)


def assumption_ensemble(
    scenario: str = "volume_ml",
    k: int = 20,
    seed: int = 0,
    *,
    vary: Sequence[Vary | str] | Mapping[str, str] | None = None,
    assumption_draws: Sequence[Mapping[str, float]] | None = None,
    from_abc: bool = False,
    max_proposals: int | None = None,
    posterior=None,
    model: str = ENSEMBLE_MODEL,
    prior: str = "neutral",
    likelihood: str | None = None,
    mcid: float | None = None,
    sampler: SamplerOptions = ENSEMBLE_SAMPLER,
    progress=None,
    **fixed: object,
) -> SensitivityResult:
    """Refit K reconstructions drawn under varied assumptions, all matching the paper.

    Parameters
    ----------
    scenario : {"volume_ml", "score"}
    k : int
        Members wanted (>= 2).
    seed : int
        Seed of the assumption draws and the datasets.
    vary : sequence of Vary or "NAME=SPEC", or mapping, optional
        What varies; default :data:`DEFAULT_VARY` of the scenario. An empty list
        varies nothing but the unpublished individual values (the seed).
    assumption_draws : sequence of mapping, optional
        Assumption values to use instead of ``vary`` (e.g. draws of a posterior over
        them); member j takes draw ``j mod len(draws)`` and its dataset is drawn with
        retries (see the module notes).
    from_abc : bool
        Take the members from the ABC reconstruction posterior instead
        (:func:`abc_members`; ``max_proposals`` is then its number of proposals).
    max_proposals : int, optional
        Proposal budget of the rejection step; default ``50 * k``.
    posterior : ReconstructionPosterior, optional
        With ``from_abc``: the ABC posterior to take the members from, instead of
        running one (the report passes its headline's, so both rest on one posterior).
    model, prior, likelihood, mcid, sampler
        The refit of every member (the flagship, neutral prior by default).
    progress : callable(done, total), optional
        Called after each refit.
    **fixed
        Assumptions held at other values than the defaults.

    Returns
    -------
    SensitivityResult
        ``table``: one row per member (seed, hash, assumption values, mean and sd of
        the changes, effect median and interval, P(effect > 0), P(effect > MCID), the
        modifiers' medians, ``log_bf10`` (natural log) and ``log10_bf10``);
        ``extra_tables["spread"]``: per number its median, range, 10-90 % range and
        the assumption that drives it; ``extra_tables["proposals"]``: every proposal
        of the rejection step, accepted or not, and what it missed.

    Raises
    ------
    SensitivityError
        When fewer than 2 proposals are accepted within the budget (the message
        gives the acceptance rate and what the rejected draws missed).
    """
    require(int(k) == k and k >= 2, f"k must be a whole number >= 2, got {k!r}")
    k = int(k)
    if from_abc:
        members, proposals = abc_members(
            scenario, k, n_proposals=max_proposals, seed=seed, posterior=posterior
        )
        varied = [c for c in proposals.columns if c not in ("proposal", "accepted")]
        how = "the ABC reconstruction posterior (milkbayes.reconstruction)"
    elif assumption_draws is not None:
        members, proposals = _from_posterior(scenario, k, seed, assumption_draws, fixed)
        varied = sorted({name for draw in assumption_draws for name in draw})
        how = f"assumption draws given ({len(assumption_draws)} of them)"
    else:
        chosen = DEFAULT_VARY.get(scenario, ()) if vary is None else _vary_list(vary)
        budget = 50 * k if max_proposals is None else int(max_proposals)
        members, proposals = propose_reconstructions(
            scenario, budget, seed, vary=chosen, k=k, **fixed
        )
        varied = [v.name for v in chosen]
        rate = float(proposals.accepted.mean())
        if len(members) < 2:
            reasons = ", ".join(
                f"{int(proposals[column].sum())} {text}"
                for column, text in (
                    ("fell", "had an output that FELL (Z < 0; the paper reports a rise)"),
                    ("p_not_below", "had p >= .0005"),
                    ("out_of_range", "had values outside the outcome's range"),
                )
                if proposals[column].any()
            )
            require(
                False,
                f"only {len(members)} of {len(proposals)} proposals matched the paper "
                f"(acceptance {rate:.3f}); the rejected draws missed: {reasons}",
            )
        how = ", ".join(v.text() for v in chosen) if chosen else "the seed only (assumptions fixed)"
    study0 = members[0][0]
    mcid = default_mcid(study0) if mcid is None else float(mcid)
    module = lean_model(model)
    rows = []
    for index, (member, theta) in enumerate(members):
        result = fit_quiet(
            module, member, prior=prior, likelihood=likelihood, mcid=mcid, sampler=sampler
        )
        rows.append(_member_row(result, member, theta, index))
        if progress is not None:
            progress(index + 1, len(members))
    table = pd.DataFrame(rows)
    spread = _spread(table, varied)
    accepted = int(proposals.accepted.sum())
    n_proposals = len(proposals)
    if from_abc:  # the ABC's own counts (the members are K of its accepted draws)
        accepted = int(proposals.attrs.get("n_accepted", accepted))
        n_proposals = int(proposals.attrs.get("n_proposals", n_proposals))
    summary: dict[str, object] = {
        "scenario": scenario,
        "k": len(members),
        "seed": int(seed),
        "model": model,
        "mcid": mcid,
        "varied": how,
        "n_proposals": n_proposals,
        "n_accepted": accepted,
        "acceptance_rate": accepted / n_proposals,
    }
    for row in spread.itertuples():
        summary[f"{row.quantity}_median"] = row.median
        summary[f"{row.quantity}_low"] = row.low
        summary[f"{row.quantity}_high"] = row.high
        summary[f"{row.quantity}_driver"] = row.driver
    summary["share_p_effect_gt_mcid_above_half"] = float((table.p_effect_gt_mcid > 0.5).mean())
    ordered = table.sort_values("effect_median").reset_index(drop=True)
    label_of = (
        (lambda r: f"{varied[0]} = {getattr(r, varied[0]):.3g}")
        if varied
        else (lambda r: f"seed {r.seed}")
    )
    figure = forest_figure(
        ordered.assign(label=[label_of(r) for r in ordered.itertuples()]),
        label_column="label",
        mcid=mcid,
        title=f"{len(members)} reconstructions that all match the paper",
    )
    return SensitivityResult(
        name="ensemble",
        title="Reconstruction ensemble: the numbers in ml across assumptions the paper allows",
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=True,
        extra_tables={"spread": spread, "proposals": proposals},
        notes=(
            f"Assumptions varied: {how}. Each member matches n, the covariate counts, "
            "SPSS p < .0005 and a rise; the assumptions are kept in proportion to how "
            "often their datasets match the paper (rejection ABC).",
            f"{accepted} of {n_proposals} proposals matched the paper "
            f"({100 * accepted / n_proposals:.0f} %).",
        ),
    )


def reconstruction_ensemble(
    scenario: str = "volume_ml",
    k: int = 20,
    seed: int = 0,
    *,
    model: str = "paired_change",
    prior: str = "neutral",
    likelihood: str | None = None,
    mcid: float | None = None,
    sampler: SamplerOptions = ENSEMBLE_SAMPLER,
) -> SensitivityResult:
    """Refit K reconstructions at the SAME assumptions, differing only by seed.

    Parameters
    ----------
    scenario : {"volume_ml", "score"}
        Outcome scenario of :func:`milkbayes.datasets.ensemble`.
    k : int
        Number of reconstructed datasets.
    seed : int
        Seed of the ensemble (member seeds come from it).
    model, prior, likelihood, mcid, sampler
        As in :func:`influence`.

    Returns
    -------
    SensitivityResult
        One row per member (its seed, data hash, mean and sd of the changes, the
        effect's median and interval, P(effect > 0), P(effect > MCID)); ``summary``
        gives the spread of the conclusions over the ensemble.

    Notes
    -----
    Every member has n = 24, the published covariate counts and SPSS p < .0005, so
    the paper cannot tell them apart. This spread is only the part of the uncertainty
    that comes from the unpublished individual values at fixed assumptions; it leaves
    out the assumptions themselves, which :func:`assumption_ensemble` varies.
    """
    from milkbayes.datasets import ensemble, ensemble_seeds

    require(int(k) == k and k >= 2, f"k must be a whole number >= 2, got {k!r}")
    members = ensemble(scenario, int(k), seed)
    seeds = ensemble_seeds(seed, int(k))
    mcid = default_mcid(members[0]) if mcid is None else float(mcid)
    rows = []
    for index, (member, member_seed) in enumerate(zip(members, seeds, strict=True)):
        change = massage_changes(member)
        result = fit_quiet(
            model, member, prior=prior, likelihood=likelihood, mcid=mcid, sampler=sampler
        )
        rows.append(
            summary_row(
                result,
                member=index,
                seed=int(member_seed),
                sha256=member.sha256[:12],
                change_mean=float(change.mean()),
                change_sd=float(change.std(ddof=1)),
            )
        )
    table = pd.DataFrame(rows)
    summary = {
        "scenario": scenario,
        "k": int(k),
        "seed": int(seed),
        "model": model,
        "mcid": mcid,
        "effect_median_min": float(table.effect_median.min()),
        "effect_median_max": float(table.effect_median.max()),
        "effect_ci95_low_min": float(table.effect_ci95_low.min()),
        "effect_ci95_high_max": float(table.effect_ci95_high.max()),
        "p_effect_gt_0_min": float(table.p_effect_gt_0.min()),
        "p_effect_gt_mcid_min": float(table.p_effect_gt_mcid.min()),
        "p_effect_gt_mcid_max": float(table.p_effect_gt_mcid.max()),
        "share_p_effect_gt_mcid_above_half": float((table.p_effect_gt_mcid > 0.5).mean()),
    }
    ordered = table.sort_values("effect_median").reset_index(drop=True)
    figure = forest_figure(
        ordered.assign(label=[f"seed {s}" for s in ordered.seed]),
        label_column="label",
        mcid=mcid,
        title=f"{k} reconstructions that all match the paper",
    )
    return SensitivityResult(
        name="ensemble",
        title="Reconstruction ensemble: how much hinges on the unknown raw data",
        table=table,
        figure=figure,
        summary=summary,
        reconstructed=True,
        notes=(
            "Every member matches n, the covariate counts and p < .0005; they differ only "
            "in the unpublished individual values, at the SAME assumptions: this spread "
            "leaves out the assumptions (see assumption_ensemble).",
        ),
    )
