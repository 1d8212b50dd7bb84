"""Write the four notebooks of notebooks/ from the cells below (run it after editing).

The committed .ipynb files are the source of truth and are stored without outputs;
this script only saves typing JSON by hand. ``python notebooks/_build.py`` rewrites
all four; ``tests/test_notebooks.py`` checks that they are clean and that they run.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

PARAMETERS = """\
# Parameters (papermill style: change them here or with `papermill -p NAME VALUE`).
DATA = None            # path to a study CSV (one row per mother: id, pre, post, ...);
                       # None = the bundled reconstruction
SCENARIO = "volume_ml" # bundled dataset when DATA is None: "volume_ml" or "score"
PRIOR = "neutral"      # skeptical, neutral, enthusiastic, or a TOML prior file
MCID = None            # minimal clinically important difference (outcome units);
                       # None = the default for the outcome (10 ml for volumes)
SEED = 20241
FAST = False           # True: tiny samplers and grids (the test suite uses it)
"""

LOAD = """\
%matplotlib inline
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import milkbayes
from milkbayes.data import load_study
from milkbayes.datasets import load_bundled
from milkbayes.models.priors import default_mcid

warnings.filterwarnings("ignore", category=FutureWarning)
pd.set_option("display.precision", 3)
pd.set_option("display.width", 140)
pd.set_option("display.max_colwidth", 100)

study = load_bundled(SCENARIO) if DATA is None else load_study(DATA)
MCID = default_mcid(study) if MCID is None else float(MCID)
UNIT = study.outcome.unit or "points"
if study.reconstructed:
    print(milkbayes.RECONSTRUCTED_WARNING)
print(f"{study.source}: n = {study.n}, outcome {study.outcome.label}, MCID = {MCID:g} {UNIT}")
"""


def notebook(cells: list) -> nbformat.NotebookNode:
    """A notebook with the venv's python3 kernel and the parameters cell tagged."""
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        cell.metadata = {}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if cell.cell_type == "code" and cell.source.startswith("# Parameters"):
            cell.metadata["tags"] = ["parameters"]
    for index, cell in enumerate(nb.cells):  # stable ids keep the diffs quiet
        cell["id"] = f"cell-{index:02d}"
    return nb


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


# --------------------------------------------------------------------------- 01
REPRODUCE = [
    md("""
# 1. Reproducing the paper

**The study.** Twenty-four working mothers at a public health centre in Kubu Raya
(West Kalimantan, Indonesia) received *oxytocin massage* along the spine, 3 minutes
twice a day for 3 days, mostly from their husbands. Milk production was recorded
on an observation sheet before and after. There was **one group and no control
group**. The paper (Erwhani et al.) reports a Wilcoxon signed-rank test computed
in SPSS with "p = 0.000" and concludes that the massage increases milk production.

**What was published.** Only n = 24, five percentages describing the mothers, the
name of the test and "p = 0.000". No means, no medians, no test statistic, not
even the unit of the outcome. The raw data were never published.

**What this notebook does.** It lists what the paper says, checks those numbers
against each other, and re-runs the paper's analysis, SPSS tables included, on a
dataset. By default that dataset is a *reconstruction*: synthetic data built to
match every published number (see `milkbayes.datasets`). A reconstruction can
show what the analysis does, but its numbers are not the study's measurements.
Pass your own file as `DATA` to analyse real data of the same shape.
"""),
    code(PARAMETERS),
    code(LOAD),
    md("""
## 1.1 Every published fact, with where it stands in the paper

`milkbayes.published` is the single source of truth for what the paper says. Each
fact carries a quote (the paper is in Indonesian) and its location.
"""),
    code("""
from milkbayes import published

facts = pd.DataFrame(
    [{"fact": f.key, "statement": f.statement, "where": f.where} for f in published.FACTS]
    + [{"fact": f.key, "statement": f.statement, "where": f.where}
       for f in published.COVARIATE_FACTS.values()])
facts
"""),
    md("""
The paper also contradicts itself in places. These inconsistencies are facts about
the report, and a reanalysis should state them:
"""),
    code("""
pd.DataFrame([{"issue": f.key, "statement": f.statement} for f in published.INCONSISTENCIES])
"""),
    md("""
## 1.2 The data and the paper's univariate table

The paper's "univariate analysis" is a frequency table of the covariates. Below,
the counts in the data sit next to the published percentages. For a
reconstruction they agree by construction.
"""),
    code("""
from milkbayes.data import describe

description = describe(study)
description.univariate
"""),
    code("""
description.summary
"""),
    code("""
fig, ax = plt.subplots(figsize=(5, 4))
for pre, post in zip(study.table["pre"], study.table["post"]):
    ax.plot([0, 1], [pre, post], marker="o", color="tab:blue", alpha=0.5)
ax.set_xticks([0, 1], ["pre", "post"])
ax.set_ylabel(study.outcome.label)
ax.set_title("Each mother's measurement before and after three days of massage")
plt.show()
"""),
    md("""
## 1.3 The paper's test, as SPSS prints it

SPSS runs the Wilcoxon signed-rank test with its normal approximation: zero
changes dropped, average ranks for ties, a tie-corrected variance and no
continuity correction. It prints p to three decimals, so any p below .0005 shows
as ".000". The tables below copy SPSS's layout. Under them, the same p is given
honestly ("p < .001") and unrounded.
"""),
    code("""
from milkbayes.frequentist.paired_tests import format_spss_text, wilcoxon_signed_rank

spss = wilcoxon_signed_rank(study.table["pre"], study.table["post"], method="spss")
print(format_spss_text(spss))
"""),
    md("""
SPSS's p-value comes from a normal approximation. With 24 pairs the exact null
distribution of W+ is easy to enumerate, so the exact p can be computed as well:
"""),
    code("""
exact = wilcoxon_signed_rank(study.table["pre"], study.table["post"], method="exact")
table = pd.DataFrame({"SPSS (asymptotic)": spss.to_dict(), "exact": exact.to_dict()}).loc[
    ["w_plus", "w_minus", "z", "p_value", "method"]]
table.loc["p_value"] = [f"{p:.2e}" for p in table.loc["p_value"]]   # not rounded to 0.000
table
"""),
    md("""
## 1.4 Auditing the published numbers

Each percentage must be a whole number of mothers out of 24. "p = 0.000" also
constrains the data. Under the SPSS procedure it means |Z| > 3.48, which with 24
untied non-zero changes allows a smaller rank sum of at most 28 out of 300. The
audit checks these facts, says whether the data at hand meet them, and lists the
contradictions above as checks.
"""),
    code("""
from milkbayes.frequentist.audit import audit_published

audit_published(study)[["check", "expected", "found", "status"]]
"""),
    md("""
## 1.5 What the paper did not report: the size of the change

A p-value says nothing about *how much* milk production changed. The quantities
below are the ones the paper should have reported: the Hodges-Lehmann median
change with its exact 95 % confidence interval (the estimate that goes with the
Wilcoxon test), the mean change with its t interval, Cohen's d_z, and the
rank-biserial correlation. The paired t-test and the sign test are shown for
comparison.
"""),
    code("""
from milkbayes.frequentist.paired_tests import paired_t_test, sign_test

t_test = paired_t_test(study.table["pre"], study.table["post"])
signs = sign_test(study.table["pre"], study.table["post"])
pd.Series({
    f"Hodges-Lehmann median change ({UNIT})": spss.hodges_lehmann,
    "  95 % CI (exact)": (round(spss.hl_ci_low, 2), round(spss.hl_ci_high, 2)),
    f"mean change ({UNIT})": t_test.mean_change,
    "  95 % CI (t)": (round(t_test.mean_ci_low, 2), round(t_test.mean_ci_high, 2)),
    "Cohen's d_z": t_test.cohens_dz,
    "  95 % CI": (round(t_test.dz_ci_low, 2), round(t_test.dz_ci_high, 2)),
    "rank-biserial correlation": spss.rank_biserial,
    "paired t-test p": f"{t_test.p_value:.2e}",
    "sign test p": f"{signs.p_value:.2e}",
}, dtype=object)
"""),
    md("""
## 1.6 What the reproduction shows, and what it cannot

* The published numbers are internally consistent where they can be checked: each
  percentage is a whole number of mothers out of 24. The text contradicts itself
  about occupation, age and the design label.
* "p = 0.000" is a rounding artefact of SPSS. It means p < .0005, and with n = 24
  that only bounds the rank sums (at most 28 of 300 for the negative changes).
* On a reconstruction, the test reproduces "p = 0.000" *because the
  reconstruction was built to*. The effect sizes above are therefore illustrations
  of the method, not findings about the mothers. How much they depend on the
  unknown raw data is the subject of notebook 3 (the reconstruction ensemble),
  and what "p = 0.000" alone implies about the size of the effect is the subject
  of notebook 4.
* Nothing in a one-group pre/post design separates the massage from the natural
  rise in milk output over three days or from regression to the mean. Notebooks
  3 and 4 return to this.
"""),
]

# --------------------------------------------------------------------------- 02
FLAGSHIP_PARAMETER = PARAMETERS + (
    "FLAGSHIP = True        # fit the hierarchical model of section 2.6 (about a minute to\n"
    "                       # compile; the quick test run sets it False)\n"
)

REANALYSIS = [
    md("""
# 2. A Bayesian reanalysis

The paper asks only whether milk production changed ("p = 0.000"). A reanalysis
should ask **how much** it changed, **how sure** we can be, and **whether the
change is large enough to matter**. Bayesian models answer these directly. The
posterior distribution of the massage effect gives a median, a 95 % credible
interval, P(effect > 0) and P(effect > MCID), where the MCID (minimal
clinically important difference) is the smallest change a clinician would care
about.

The data are the bundled reconstruction unless `DATA` points to a file. The
models are plain PyMC scripts in `models/`, and every fit goes through
`milkbayes.engine.fit.fit`, which compiles each model once and reuses it.
"""),
    code(FLAGSHIP_PARAMETER),
    code(LOAD),
    code("""
from milkbayes.engine.fit import fit

SAMPLER = (dict(draws=200, tune=200, chains=2) if FAST
           else dict(draws=1000, tune=1000, chains=4))
SAMPLER
"""),
    md("""
## 2.1 The model of the change: `paired_change`

For mother *i*, d_i = post_i − pre_i. The model is

* d_i ~ Normal(μ, σ), μ = δ σ (μ in outcome units, δ standardised),
* δ ~ Cauchy(δ₀, r), σ ~ HalfNormal.

This is the Bayesian paired t-test of Rouder et al. (2009). Its Bayes factor
BF10 (the JZS Bayes factor) comes in closed form.

## 2.2 Three priors: sceptical, neutral, enthusiastic

The usual triad of a Bayesian reanalysis (Spiegelhalter, Freedman & Parmar 1994):

* a **sceptic** doubts that three days of massage do much;
* a **neutral** reader is weakly informed;
* an **enthusiast** expects an effect about the size of the MCID.

If all three reach the same conclusion, the conclusion does not hinge on the
prior. Each set states its beliefs in words:
"""),
    code("""
from milkbayes.models.priors import PRIOR_NAMES, get_prior

for name in PRIOR_NAMES:
    prior = get_prior(name, study.outcome, "paired_change")
    print(f"{name:>12}: {prior.values}")
    for belief in prior.beliefs:
        print(f"{'':>14}{belief}")
"""),
    code("""
fits = {name: fit("paired_change", study, prior=name, mcid=MCID, seed=SEED, **SAMPLER)
        for name in PRIOR_NAMES}
if PRIOR not in fits:   # a user prior file given as a parameter
    fits[PRIOR] = fit("paired_change", study, prior=PRIOR, mcid=MCID, seed=SEED, **SAMPLER)
"""),
    md("""
## 2.3 Did the sampler converge?

nutpie runs no convergence checks of its own, so `milkbayes.diagnostics` applies
explicit thresholds: R-hat ≤ 1.01, bulk and tail ESS ≥ 400, no divergences,
E-BFMI ≥ 0.3, and no saturated tree depth. (In `FAST` mode the runs are too short
to pass the ESS threshold. That is expected there and not a problem of the model.)
"""),
    code("""
pd.DataFrame({name: {"status": r.diagnostics.status, "chains x draws":
                     f"{r.diagnostics.chains} x {r.diagnostics.draws}"}
              for name, r in fits.items()}).T
"""),
    code("""
fits[PRIOR].diagnostics.to_frame()[["label", "value", "threshold", "status"]]
"""),
    md("""
## 2.4 The posterior of the effect under each prior
"""),
    code("""
from milkbayes.comparison.cross_validation import three_prior_table

rows = three_prior_table(
    {name: np.asarray(r.tree["posterior"]["effect"]).ravel() for name, r in fits.items()},
    mcid=MCID, rope=(-MCID / 2, MCID / 2))
prior_table = pd.DataFrame([vars(row) for row in rows]).set_index("prior")
prior_table
"""),
    code("""
fig, ax = plt.subplots(figsize=(7, 4))
for name, r in fits.items():
    draws = np.asarray(r.tree["posterior"]["effect"]).ravel()
    ax.hist(draws, bins=60, density=True, histtype="step", lw=1.5, label=name)
ax.axvline(0, color="black", lw=0.8)
ax.axvline(MCID, color="tab:red", ls="--", label=f"MCID = {MCID:g} {UNIT}")
ax.set(xlabel=f"massage effect: mean change ({UNIT})", ylabel="posterior density",
       title="The three posteriors of the effect")
ax.legend()
plt.show()
"""),
    md("""
Read the table from left to right. The effect is almost certainly positive
(P(effect > 0) ≈ 1 under every prior), but *whether it exceeds the MCID* is far
less certain. That second question is the one the paper could not ask.

## 2.5 Frequentist and Bayesian answers side by side
"""),
    code("""
from milkbayes.comparison.cross_validation import freq_vs_bayes_table
from milkbayes.frequentist.paired_tests import paired_t_test, wilcoxon_signed_rank

wilcoxon = wilcoxon_signed_rank(study.table["pre"], study.table["post"], method="exact")
t_test = paired_t_test(study.table["pre"], study.table["post"])
reference = fits[PRIOR].summary
side_by_side = freq_vs_bayes_table(
    hodges_lehmann=wilcoxon.hodges_lehmann, hl_ci=(wilcoxon.hl_ci_low, wilcoxon.hl_ci_high),
    mean_change=t_test.mean_change, t_ci=(t_test.mean_ci_low, t_test.mean_ci_high),
    p_wilcoxon=wilcoxon.p_value, p_t=t_test.p_value,
    effect_median=reference["effect_median"],
    effect_ci=(reference["effect_ci95_low"], reference["effect_ci95_high"]),
    p_effect_gt_0=reference["p_effect_gt_0"], p_effect_gt_mcid=reference["p_effect_gt_mcid"],
    mcid=MCID, bf10=reference.get("bf10_jzs"))
table = pd.DataFrame([vars(row) for row in side_by_side])
evidence = table["quantity"] == "evidence"   # show p-values unrounded, not as 0.000
table.loc[evidence, "frequentist_value"] = [f"{p:.2e}" for p in
                                            table.loc[evidence, "frequentist_value"]]
table
"""),
    md("""
The point estimates and intervals agree closely. With this much data relative to
a weak prior, Bayesian and frequentist estimates usually do. The difference lies
in the questions answered. A p-value is the probability of data at least this
extreme *if the effect were zero*. The posterior gives the probability of the
effect being larger than any threshold that matters, here the MCID.

## 2.6 The flagship model: mothers, time and effect modifiers

`prepost_hierarchical` models both measurements of each mother (long format): a
per-mother intercept (non-centred), a time effect, and modifiers of it by work
duration, parity and (partially pooled) occupation, education and age group. It
answers a question the paired model cannot: does the effect differ between
subgroups? With 24 mothers the subgroup estimates are necessarily vague, and the
model shrinks them towards the average effect rather than over-interpreting them.
It is also harder to sample than the paired model, so read its convergence table
first.
"""),
    code("""
flagship = None
if FLAGSHIP:
    likelihood = "ordered_logistic" if study.outcome.kind == "score" else "normal"
    flagship = fit("prepost_hierarchical", study, prior=PRIOR, likelihood=likelihood,
                   mcid=MCID, seed=SEED, **SAMPLER)
    display(pd.Series({key: value for key, value in flagship.summary.items()
                       if isinstance(value, (int, float)) and not isinstance(value, bool)}))
else:
    print("FLAGSHIP = False: the hierarchical model is skipped in this run.")
"""),
    code("""
if flagship is not None:
    # Check before reading: a failing row means the flagship numbers are not to be trusted
    # (`milkbayes fit --strict` would exit with status 3).
    print("convergence:", flagship.diagnostics.status)
    display(flagship.diagnostics.to_frame()[["label", "value", "threshold", "status"]])
    subgroups = flagship.summary.get("subgroup_effects", {})
    display(pd.DataFrame([{"covariate": column, "level": level, **numbers}
                          for column, levels in subgroups.items()
                          for level, numbers in levels.items()]))
"""),
    md("""
## 2.7 Conclusions of the reanalysis

* The Bayesian estimate of the change matches the frequentist one. What it adds
  is a direct statement of uncertainty on the scale that matters: P(effect > MCID)
  is well short of certainty, even though "p = 0.000".
* The conclusion "the change is positive" does not depend on the prior. The
  conclusion "the change matters clinically" is much weaker.
* All of this estimates the **change** over three days. In a one-group design,
  the change is not the **massage effect**: a natural rise in milk output and
  regression to the mean are part of it. Notebook 3 asks how large that part
  would have to be to overturn the conclusion.
"""),
]

# --------------------------------------------------------------------------- 03
SENSITIVITY = [
    md("""
# 3. Sensitivity analysis: how much does the conclusion depend on what we assumed?

A reanalysis of a study whose raw data are unpublished rests on four kinds of
assumption:

1. **the prior**: we vary its location and scale over a grid, and show the Bayes
   factor against the prior width;
2. **the likelihood**: normal, Student-t and log-normal;
3. **the data**: how much does each mother matter (leave one out), and how much
   do the *unknown raw data* matter (many reconstructions that all match the
   paper)?
4. **the design**: one group, no control. What if milk output rises by itself?

A fifth analysis uses *no data at all*: what does "n = 24, Wilcoxon p < .0005"
alone say about the effect?

Every analysis is one call of `milkbayes.sensitivity.analyses` and returns a tidy table, a
figure and a few headline numbers (`result.table`, `result.figure`,
`result.summary`). The same analyses run from the command line as
`milkbayes sensitivity prior-grid|likelihood|influence|ensemble|published-p|bias`.
"""),
    code(PARAMETERS),
    code(LOAD),
    code("""
import math

from milkbayes.sensitivity import analyses as sensitivity
from milkbayes.sensitivity.analyses import FAST_SAMPLER, SamplerOptions

SAMPLER = FAST_SAMPLER if FAST else SamplerOptions(seed=SEED)
GRID_SAMPLER = FAST_SAMPLER if FAST else SamplerOptions(draws=200, tune=150, chains=2, seed=SEED)
"""),
    md("""
## 3.1 Prior grid and Bayes-factor robustness

The paired-change model puts a Cauchy(location, scale) prior on the standardised
effect δ. The grid below ranges from narrow priors centred on *harm* (δ₀ = −1) to
wide priors centred on a large benefit. The full grid has 7 × 8 = 56 settings, each a
short refit of one compiled model. The heat map shows P(effect > MCID) for each
setting. The curve on the right is the JZS Bayes factor BF10 as a function of the
prior width r, with the three widths JASP names (default √2/2, wide 1, ultrawide √2).
"""),
    code("""
grid_options = (dict(locations=(-0.5, 0.0, 0.5), scales=(0.2, math.sqrt(2) / 2, 1.4))
                if FAST else {})
grid = sensitivity.prior_grid(study, mcid=MCID, sampler=GRID_SAMPLER, **grid_options)
print(f"{grid.summary['n_settings']} settings refitted in {grid.summary['refit_seconds']:.1f} s "
      f"(after {grid.summary['compile_seconds']:.0f} s of compiling the model once)")
grid.figure
"""),
    code("""
pd.Series(grid.summary)
"""),
    md("""
How to read it: under every prior on the grid the posterior probability of a
positive effect stays at about 1. P(effect > MCID) moves with the prior, but it
never approaches certainty. The Bayes factor is enormous for every reasonable r:
the evidence that *something* changed is overwhelming and insensitive to the
prior width. What is fragile is the claim that the change is *large*.

## 3.2 Likelihood variants

The same data under a normal, a Student-t (robust to outlying mothers) and, for
volumes, a log-normal likelihood (a multiplicative effect, reported as a
percentage change). The flagship model `prepost_hierarchical` offers all three.
`FAST` mode uses the paired model (normal and Student-t) to keep the test suite quick.
"""),
    code("""
likelihood_model = "paired_change" if FAST else None   # None: prepost_hierarchical
variants = sensitivity.likelihood_variants(study, likelihood_model, mcid=MCID, sampler=SAMPLER)
variants.table
"""),
    code("""
variants.figure
"""),
    md("""
## 3.3 The influence of each mother

Each mother is left out in turn by setting her likelihood weight to 0 and
refitting the same compiled model. A conclusion that rests on one or two mothers
is fragile. The left panel plots the effect without each mother against her
own change.
"""),
    code("""
influence = sensitivity.influence(study, mcid=MCID, sampler=SAMPLER)
influence.figure
"""),
    code("""
influence.table.sort_values("shift", key=abs, ascending=False).head(5)
"""),
    md("""
## 3.4 The reconstruction ensemble: how much hinges on the unpublished raw data?

The bundled data are *one* reconstruction. Here *K* reconstructions are drawn,
each matching every published number (n = 24, the covariate counts, SPSS p <
.0005), and each is refitted. The paper cannot tell them apart, so the spread of
their conclusions is uncertainty that no reanalysis of the published report can
remove.
"""),
    code("""
ensemble = sensitivity.reconstruction_ensemble(SCENARIO, k=3 if FAST else 20, seed=SEED,
                                               mcid=MCID, sampler=SAMPLER)
ensemble.figure
"""),
    code("""
pd.Series(ensemble.summary)
"""),
    md("""
All members agree that the change is positive. Their estimates of its *size*
spread noticeably, and so does P(effect > MCID). In the volume scenario some
members put the effect above the MCID and others below it. The published "p =
0.000" is compatible with all of them.

## 3.5 Inference from the published result alone

Suppose all we knew were "n = 24, Wilcoxon p < .0005". That fact is an event, and
its likelihood is the test's **power function** P(p < .0005 | δ, n = 24). We
compute it by simulating the SPSS procedure, for normal changes and for
heavier-tailed ones (t with 3 degrees of freedom, rescaled to the same δ). With
a Cauchy prior on δ, the posterior follows on a grid.
"""),
    code("""
published = sensitivity.published_p_posterior(n_sim=2000 if FAST else 20_000, seed=SEED)
published.figure
"""),
    code("""
published.table
"""),
    md("""
The published result rules out small effects (δ below about 0.5 is very
unlikely), but the **upper end of the 95 % interval is set by the prior**. A
small p cannot tell a large effect from a huge one, because the power is already
1 for both. Under heavier tails the Wilcoxon test is more powerful, so smaller
effects explain the same p.

## 3.6 Bias analysis of the single-group design

Observed change = massage effect + natural trend + regression to the mean. Milk
output can rise over three days without any massage. Lactation may still be
establishing, mothers get better at expressing, and mothers enrolled for low
output drift back towards their usual level. One group cannot separate these
parts. We put a prior on the natural change and ask at what size the conclusion
tips:

* P(massage effect > 0) falls below 0.95, or
* P(massage effect > MCID) falls below 0.5.
"""),
    code("""
bias = sensitivity.bias_analysis(study, mcid=MCID, sampler=SAMPLER)
bias.figure
"""),
    code("""
for note in bias.notes:
    print("-", note)
pd.Series({key: value for key, value in bias.summary.items() if isinstance(value, float)})
"""),
    md("""
## 3.7 Summary

| assumption | what moves | verdict |
|---|---|---|
| prior (56 settings) | P(effect > MCID) | "positive" robust, "clinically important" not |
| likelihood | little | robust |
| single mothers | a little | no single mother carries the result |
| unpublished raw data | the size of the effect | the largest source of uncertainty besides the design |
| one-group design | everything, once the natural trend is a few units | the conclusion is only as good as the assumption of no natural rise |

The last line is the decisive one. The claim that the massage increased milk
production rests on an assumption the study could not test: that output would
not have risen without massage. Only a control arm can test it (notebook 4).
"""),
]

# --------------------------------------------------------------------------- 04
TEACHING = [
    md("""
# 4. Teaching effect estimation with one small study

*"p = 0.000, so oxytocin massage increases breast-milk production."*

This notebook takes that sentence apart, using the oxytocin-massage study (24
working mothers, one group, Wilcoxon test, SPSS p printed as "0.000"). It is for
readers who know what a p-value is and want to see, on a concrete case, why a
p-value says little about the **size** of an effect, and what a better design and
a better report would look like.

Sections:
1. what "p = 0.000" with n = 24 does and does not tell us;
2. the estimate and its uncertainty;
3. regression to the mean;
4. Type S and Type M errors;
5. what a control arm buys.
"""),
    code(PARAMETERS),
    code(LOAD),
    md("""
## 4.1 "p = 0.000" is not zero, and it is not an effect size

SPSS prints p to three decimals, so "0.000" means p < .0005. For the Wilcoxon
signed-rank test with 24 untied changes, SPSS's normal approximation turns this
into a bound on the ranks: W+ ≥ 272 of a possible 300, so the negative changes
add up to a rank sum of at most 28.
"""),
    code("""
from milkbayes.sensitivity.analyses import (pitman_power, power_curve, published_p_posterior,
                                   wilcoxon_critical_w_plus)

critical = wilcoxon_critical_w_plus(24)
print(f"p < .0005 needs W+ >= {critical}, i.e. a negative rank sum <= {300 - critical}")
"""),
    md("""
How large must the effect be for such a result to be *likely*? The power function
answers this. It gives the probability of p < .0005 for each standardised effect δ
(mean change divided by the SD of the changes). We simulate the SPSS procedure:
"""),
    code("""
n_sim = 2000 if FAST else 20_000
delta = np.linspace(0, 2, 81)
fig, ax = plt.subplots(figsize=(6, 4))
for shape in ("normal", "t3"):
    ax.plot(delta, power_curve(delta, 24, distribution=shape, n_sim=n_sim, seed=SEED),
            label=f"simulated, {shape} changes")
ax.plot(delta, pitman_power(delta, 24), ":", label="large-sample formula (normal)")
ax.set(xlabel="standardised effect δ", ylabel="P(p < .0005)",
       title="Power of the paper's test with n = 24")
ax.legend()
plt.show()
"""),
    md("""
The power is near 0 for δ < 0.4 and near 1 for δ > 1.5. (The dotted
large-sample formula, 1 − Φ(z − δ√(3n/π)) from the test's Pitman efficiency 3/π,
is too optimistic at n = 24 for normal changes. The simulation is exact up to
Monte Carlo error.) So "p < .0005" tells us
that δ is probably not small. It does not tell us *how large*: δ = 1.5 and
δ = 15 produce it equally surely. Treating the published result as data and
combining it with a prior on δ makes this precise:
"""),
    code("""
only_p = published_p_posterior(n_sim=n_sim, seed=SEED)
only_p.table
"""),
    md("""
The 95 % interval for δ runs from about 0.6 to far beyond any plausible effect,
and its upper end is whatever the prior says. **A tiny p-value from a small
study is strong evidence that an effect is not zero, and weak evidence about its
size.** The reported result should have been an estimate with an interval.

## 4.2 The estimate and its uncertainty

On the data (by default, the reconstruction), the estimate and its 95 % interval
can be computed:
"""),
    code("""
from milkbayes.frequentist.paired_tests import paired_t_test, wilcoxon_signed_rank

w = wilcoxon_signed_rank(study.table["pre"], study.table["post"], method="exact")
t = paired_t_test(study.table["pre"], study.table["post"])
pd.DataFrame({
    "estimate": [w.hodges_lehmann, t.mean_change, t.cohens_dz],
    "95 % CI low": [w.hl_ci_low, t.mean_ci_low, t.dz_ci_low],
    "95 % CI high": [w.hl_ci_high, t.mean_ci_high, t.dz_ci_high],
}, index=[f"Hodges-Lehmann median change ({UNIT})", f"mean change ({UNIT})", "Cohen's d_z"])
"""),
    md("""
The interval is wide relative to the MCID (10 ml for volumes). It contains values
below the MCID and values well above it. Yet the data are a reconstruction, and
other datasets that match the paper equally well give different estimates.
Compare the means and SDs of several reconstructions. Every one of them gives
p < .0005:
"""),
    code("""
from milkbayes.datasets import ensemble

members = ensemble(SCENARIO, k=5 if FAST else 20, seed=SEED)
pd.DataFrame([{"mean change": m.change.mean(), "sd of change": m.change.std(ddof=1),
               "p (SPSS)": wilcoxon_signed_rank(m.table["pre"], m.table["post"],
                                                method="spss").p_value}
              for m in members]).describe().loc[["mean", "min", "max"]]
"""),
    md("""
## 4.3 Regression to the mean

Studies of "mothers with insufficient milk" enrol mothers *because* their
output is low. Part of a low reading is bad luck (measurement error, a bad
day), and bad luck does not repeat. So even with **no massage effect and no
natural trend**, the second measurement is higher on average. A one-group study
reads this as an effect. The simulation below enrols mothers whose noisy pre
measurement falls below a cut-off, with a true effect of exactly zero.
"""),
    code("""
from milkbayes.simulate.dgp import DGPSettings
from milkbayes.simulate.rtm import regression_to_mean

no_effect = DGPSettings(distribution="normal", effect=0.0, trend=0.0, baseline_mean=10.0,
                        between_sd=4.0, measurement_sd=3.0, within_sd=1.0, n=24,
                        n_control=24)
rtm = regression_to_mean(no_effect, cutoff=8.0, n_sims=500 if FAST else 4000, seed=SEED)
pd.Series({
    "true massage effect": rtm.true_effect,
    "mean pre/post change in the massage group": rtm.mean_change_massage,
    "expected change from regression to the mean (closed form)": rtm.expected_change,
    "share of one-group studies with p < .05": rtm.rejection_one_group,
    "mean difference, massage minus control": rtm.mean_difference,
    "share of two-arm studies with p < .05": rtm.rejection_two_arm,
})
"""),
    md("""
With zero true effect, the one-group study "finds" a significant increase in most
replications. The control arm, enrolled the same way, regresses just as much, so
the difference between the arms is about zero, and the two-arm test rejects at
about its nominal rate.

## 4.4 Type S and Type M errors

Gelman and Carlin (2014) ask two questions about *significant* results. How
often do they have the wrong **sign** (Type S)? By how much do they
**exaggerate** the true effect (Type M, the exaggeration ratio)? Small studies
of small true effects that pass a significance filter overstate them. With the
standard error of this study's mean change, the closed form gives:
"""),
    code("""
from milkbayes.simulate.design import retrodesign

se = t.mean_change / t.t   # standard error of the mean change
rows = []
for true_effect in (0.5, 1.0, 2.0, 4.0, 8.0):
    r = retrodesign(true_effect, se, alpha=0.05)
    rows.append({"true effect": true_effect, "power": r.power, "Type S": r.type_s,
                 "exaggeration (Type M)": r.exaggeration})
pd.DataFrame(rows).set_index("true effect")
"""),
    md("""
When the true change is small compared with the standard error (the first rows),
a significant result overstates it several-fold and now and then gets its sign
wrong. A large observed change
with p = 0.000 is what such a study reports *when it is lucky*. The simulation
below checks the formula with the paper's own test (Wilcoxon), on simulated
studies with a small true change:
"""),
    code("""
from milkbayes.simulate.design import type_sm

small = DGPSettings(distribution="normal", effect=1.0, trend=0.0)
simulated = type_sm(small, n_sims=2000 if FAST else 20_000, test="wilcoxon", seed=SEED,
                    workers=1)
pd.Series(simulated.to_dict())
"""),
    md("""
## 4.5 What a control arm buys

In a one-group study, the pre/post change estimates **massage effect + natural
trend + regression to the mean**. A concurrent control group, enrolled the same
way and measured at the same times, experiences the same trend and the same
regression. The difference between the arms' changes estimates the massage
effect alone. The simulation below gives the truth a natural trend of 3 units
and a massage effect of 0:
"""),
    code("""
from scipy import stats

from milkbayes.frequentist.paired_tests import wilcoxon_many
from milkbayes.simulate.dgp import simulate

trend_only = DGPSettings(distribution="normal", effect=0.0, trend=3.0, n=24, n_control=24)
sims = simulate(trend_only, 500 if FAST else 4000, np.random.default_rng(SEED))
massage, control = sims.massage_change, sims.control_change

one_group_estimate = massage.mean(axis=1)             # what the paper's design estimates
two_arm_estimate = massage.mean(axis=1) - control.mean(axis=1)
_, p_one_group = wilcoxon_many(massage)                # the paper's test
p_two_arm = stats.ttest_ind(massage, control, axis=1, equal_var=False).pvalue
pd.DataFrame({
    "mean estimate": [one_group_estimate.mean(), two_arm_estimate.mean()],
    "sd of the estimate": [one_group_estimate.std(ddof=1), two_arm_estimate.std(ddof=1)],
    "share with p < .05": [np.mean(p_one_group < 0.05), np.mean(p_two_arm < 0.05)],
}, index=["one group, pre vs post (Wilcoxon)", "two arms, difference in changes (Welch)"])
"""),
    code("""
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.hist(one_group_estimate, bins=50, alpha=0.6, label="one group: pre/post change")
ax.hist(two_arm_estimate, bins=50, alpha=0.6, label="two arms: difference in changes")
ax.axvline(0, color="black", lw=1, label="true massage effect = 0")
ax.set(xlabel=f"estimated massage effect ({UNIT})", ylabel="simulated studies",
       title="A natural trend of 3 units, no massage effect")
ax.legend()
plt.show()
"""),
    md("""
The one-group design "detects" the trend as a massage effect almost every time.
The two-arm design is centred on the truth. Its price is a wider sampling
distribution: the difference of two means is noisier than one mean, and a
two-arm study needs more mothers for the same precision. In return, it
estimates the quantity we care about, which no number of one-group mothers can
deliver.

## 4.6 What the paper should have reported

1. The **estimate** of the change with a **confidence or credible interval**, in
   the outcome's units, with the unit stated.
2. The **exact p-value** (or "p < .001"), never "0.000", and the statistic it
   came from.
3. A comparison with a **clinically important difference**, for example
   P(effect > MCID) from a Bayesian analysis (notebook 2).
4. A **control arm**, or at least an honest statement that the pre/post change
   includes the natural trend and regression to the mean (notebook 3, bias
   analysis).
5. The **raw data**, so that others need not reconstruct them.
"""),
]


def main() -> None:
    for name, cells in (
        ("01_reproduce_the_paper", REPRODUCE),
        ("02_bayesian_reanalysis", REANALYSIS),
        ("03_sensitivity_analysis", SENSITIVITY),
        ("04_teaching_effect_estimation", TEACHING),
    ):
        nbformat.write(notebook(cells), HERE / f"{name}.ipynb")


if __name__ == "__main__":
    main()
