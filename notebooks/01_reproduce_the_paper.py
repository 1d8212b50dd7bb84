# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Reproducing the paper
#
# **The study.** Twenty-four working mothers at a public health centre in Kubu Raya
# (West Kalimantan, Indonesia) received *oxytocin massage* along the spine, 3 minutes
# twice a day for 3 days, mostly from their husbands. Milk production was recorded
# on an observation sheet before and after. There was **one group and no control
# group**. The paper (Erwhani et al.) reports a Wilcoxon signed-rank test computed
# in SPSS with "p = 0.000" and concludes that the massage increases milk production.
#
# **What was published.** Only n = 24, five percentages describing the mothers, the
# name of the test and "p = 0.000". No means, no medians, no test statistic, not
# even the unit of the outcome. The raw data were never published.
#
# **What this notebook does.** It lists what the paper says, checks those numbers
# against each other, and re-runs the paper's analysis, SPSS tables included, on a
# dataset. By default that dataset is a *reconstruction*: synthetic data built to
# match every published number (see `milkbayes.datasets`). A reconstruction can
# show what the analysis does, but its numbers are not the study's measurements.
# Pass your own file as `DATA` to analyse real data of the same shape.

# %% tags=["parameters"]
# Parameters (papermill style: change them here or with `papermill -p NAME VALUE`).
# DATA: path to a study CSV (one row per mother: id, pre, post, ...);
# None = the bundled reconstruction.
DATA = None
# SCENARIO: the bundled dataset when DATA is None, "volume_ml" or "score".
SCENARIO = "volume_ml"
# PRIOR: skeptical, neutral, enthusiastic, or the path of a TOML prior file.
PRIOR = "neutral"
# MCID: minimal clinically important difference, a number >= 0 in outcome units;
# None = the default for the outcome (6.3 ml for volumes: half the SD of one feed,
# Kent et al. 2006, by Norman et al. 2003's half-SD rule; printed with its source).
MCID = None
SEED = 20241
# FAST: True runs tiny samplers and grids (the test suite uses it).
FAST = False

# %%
# %matplotlib inline
import warnings

import matplotlib.pyplot as plt
import pandas as pd

import milkbayes
from milkbayes.data import load_study
from milkbayes.datasets import load_bundled
from milkbayes.models.priors import mcid_statement, resolve_mcid

warnings.filterwarnings("ignore", category=FutureWarning)
pd.set_option("display.precision", 3)
pd.set_option("display.width", 140)
pd.set_option("display.max_colwidth", 100)

study = load_bundled(SCENARIO) if DATA is None else load_study(DATA)
# None: the outcome's default; a negative or non-finite MCID stops here with its reason.
MCID = resolve_mcid(study, MCID)
UNIT = study.outcome.unit or "points"
if study.reconstructed:
    print(milkbayes.RECONSTRUCTED_WARNING)
print(f"{study.source}: n = {study.n}, outcome {study.outcome.label}")
print(mcid_statement(study, MCID))

# %% [markdown]
# ## 1.1 Every published fact, with where it stands in the paper
#
# `milkbayes.published` is the single source of truth for what the paper says. Each
# fact carries a quote (the paper is in Indonesian) and its location.

# %%
from milkbayes import published

facts = pd.DataFrame(
    [{"fact": f.key, "statement": f.statement, "where": f.where} for f in published.FACTS]
    + [
        {"fact": f.key, "statement": f.statement, "where": f.where}
        for f in published.COVARIATE_FACTS.values()
    ]
)
facts

# %% [markdown]
# The paper also contradicts itself in places. These inconsistencies are facts about
# the report, and a reanalysis should state them:

# %%
pd.DataFrame([{"issue": f.key, "statement": f.statement} for f in published.INCONSISTENCIES])

# %% [markdown]
# ## 1.2 The data and the paper's univariate table
#
# The paper's "univariate analysis" is a frequency table of the covariates. Below,
# the counts in the data sit next to the published percentages. For a
# reconstruction they agree by construction.

# %%
from milkbayes.data import describe

description = describe(study)
description.univariate

# %%
description.summary

# %%
fig, ax = plt.subplots(figsize=(5, 4))
for pre, post in zip(study.table["pre"], study.table["post"], strict=True):
    ax.plot([0, 1], [pre, post], marker="o", color="tab:blue", alpha=0.5)
ax.set_xticks([0, 1], ["pre", "post"])
ax.set_ylabel(study.outcome.label)
ax.set_title("Each mother's measurement before and after three days of massage")
plt.show()

# %% [markdown]
# ## 1.3 The paper's test, as SPSS prints it
#
# SPSS runs the Wilcoxon signed-rank test with its normal approximation: zero
# changes dropped, average ranks for ties, a tie-corrected variance and no
# continuity correction. It prints p to three decimals, so any p below .0005 shows
# as ".000". The tables below copy SPSS's layout. Under them, the same p is given
# honestly ("p < .001") and unrounded.

# %%
from milkbayes.frequentist import format_spss_text, wilcoxon_signed_rank

spss = wilcoxon_signed_rank(study.table["pre"], study.table["post"], method="spss")
print(format_spss_text(spss))

# %% [markdown]
# SPSS's p-value comes from a normal approximation. With 24 pairs the exact null
# distribution of W+ is easy to enumerate, so the exact p can be computed as well:

# %%
exact = wilcoxon_signed_rank(study.table["pre"], study.table["post"], method="exact")
table = pd.DataFrame({"SPSS (asymptotic)": spss.to_dict(), "exact": exact.to_dict()}).loc[
    ["w_plus", "w_minus", "z", "p_value", "method"]
]
table.loc["p_value"] = [f"{p:.2e}" for p in table.loc["p_value"]]  # not rounded to 0.000
table

# %% [markdown]
# ## 1.4 Auditing the published numbers
#
# Each percentage must be a whole number of mothers out of 24. "p = 0.000" also
# constrains the data. Under the SPSS procedure it means |Z| > 3.48, which with 24
# untied non-zero changes allows a smaller rank sum of at most 28 out of 300. The
# audit checks these facts, says whether the data at hand meet them, and lists the
# contradictions above as checks.

# %%
from milkbayes.frequentist import audit_published

audit_published(study)[["check", "expected", "found", "status"]]

# %% [markdown]
# ## 1.5 What the paper did not report: the size of the change
#
# A p-value says nothing about *how much* milk production changed. The quantities
# below are the ones the paper should have reported: the Hodges-Lehmann median
# change with its exact 95 % confidence interval (the estimate that goes with the
# Wilcoxon test), the mean change with its t interval, Cohen's d_z, and the
# rank-biserial correlation. The paired t-test and the sign test are shown for
# comparison.

# %%
from milkbayes.frequentist import paired_t_test, sign_test

t_test = paired_t_test(study.table["pre"], study.table["post"])
signs = sign_test(study.table["pre"], study.table["post"])
pd.Series(
    {
        f"Hodges-Lehmann median change ({UNIT})": spss.hodges_lehmann,
        "  95 % CI (exact)": (round(spss.hl_ci_low, 2), round(spss.hl_ci_high, 2)),
        f"mean change ({UNIT})": t_test.mean_change,
        "  95 % CI (t)": (round(t_test.mean_ci_low, 2), round(t_test.mean_ci_high, 2)),
        "Cohen's d_z": t_test.cohens_dz,
        "  95 % CI": (round(t_test.dz_ci_low, 2), round(t_test.dz_ci_high, 2)),
        "rank-biserial correlation": spss.rank_biserial,
        "paired t-test p": f"{t_test.p_value:.2e}",
        "sign test p": f"{signs.p_value:.2e}",
    },
    dtype=object,
)

# %% [markdown]
# ## 1.6 What the reproduction shows, and what it cannot
#
# * The published numbers are internally consistent where they can be checked: each
#   percentage is a whole number of mothers out of 24. The text contradicts itself
#   about occupation, age and the design label.
# * "p = 0.000" is a rounding artefact of SPSS. It means p < .0005, and with n = 24
#   that only bounds the rank sums (at most 28 of 300 for the negative changes).
# * On a reconstruction, the test reproduces "p = 0.000" *because the
#   reconstruction was built to*. The effect sizes above are therefore illustrations
#   of the method, not findings about the mothers. How much they depend on the
#   unknown raw data is the subject of notebook 3 (the reconstruction ensemble),
#   and what "p = 0.000" alone implies about the size of the effect is the subject
#   of notebook 4.
# * Nothing in a one-group pre/post design separates the massage from the natural
#   rise in milk output over three days or from regression to the mean. Notebooks
#   3 and 4 return to this.
