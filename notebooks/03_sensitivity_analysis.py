# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. Sensitivity analysis: how much does the conclusion depend on what we assumed?
#
# A reanalysis of a study whose raw data are unpublished rests on four kinds of
# assumption:
#
# 1. **the prior**: we vary its location and scale over a grid, and show the Bayes
#    factor against the prior width;
# 2. **the likelihood**: normal, Student-t and log-normal;
# 3. **the data**: how much does each mother matter (leave one out), and how much
#    do the *unknown raw data* matter (many reconstructions that all match the
#    paper)?
# 4. **the design**: one group, no control. What if milk output rises by itself?
#
# A fifth analysis uses *no data at all*: what does "n = 24, Wilcoxon p < .0005"
# alone say about the effect?
#
# Every analysis is one call of `milkbayes.sensitivity` and returns a tidy table, a
# figure and a few headline numbers (`result.table`, `result.figure`,
# `result.summary`). The same analyses run from the command line as
# `milkbayes sensitivity prior-grid|likelihood|influence|ensemble|published-p|bias`.

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

# %%
import math

from milkbayes import sensitivity
from milkbayes.sensitivity import FAST_SAMPLER, SamplerOptions

SAMPLER = FAST_SAMPLER if FAST else SamplerOptions(seed=SEED)
GRID_SAMPLER = FAST_SAMPLER if FAST else SamplerOptions(draws=200, tune=150, chains=2, seed=SEED)

# %% [markdown]
# ## 3.1 Prior grid and Bayes-factor robustness
#
# The paired-change model puts a Cauchy(location, scale) prior on the standardised
# effect δ. The grid below ranges from narrow priors centred on *harm* (δ₀ = −1) to
# wide priors centred on a large benefit. The full grid has 7 × 8 = 56 settings, each a
# short refit of one compiled model. The heat map shows P(effect > MCID) for each
# setting. The curve on the right is the JZS Bayes factor BF10 as a function of the
# prior width r, with the three widths JASP names (default √2/2, wide 1, ultrawide √2).

# %%
grid_options = dict(locations=(-0.5, 0.0, 0.5), scales=(0.2, math.sqrt(2) / 2, 1.4)) if FAST else {}
grid = sensitivity.prior_grid(study, mcid=MCID, sampler=GRID_SAMPLER, **grid_options)
print(
    f"{grid.summary['n_settings']} settings refitted in {grid.summary['refit_seconds']:.1f} s "
    f"(after {grid.summary['compile_seconds']:.0f} s of compiling the model once)"
)
grid.figure

# %%
pd.Series(grid.summary)

# %% [markdown]
# How to read it: under every prior on the grid the posterior probability of a
# positive effect stays at about 1. P(effect > MCID) moves with the prior more than
# P(effect > 0) does, and far more with the MCID: on the bundled volume
# reconstruction it stays above 0.9 over the whole grid at the sourced 6.3 ml, and
# below 0.4 at 10 ml. The Bayes factor is enormous for every reasonable r:
# the evidence that *something* changed is overwhelming and insensitive to the
# prior width. What is fragile is the claim that the change is *large*.
#
# ## 3.2 Likelihood variants
#
# The same data under a normal, a Student-t (robust to outlying mothers) and, for
# volumes, a log-normal likelihood (a multiplicative effect, reported as a
# percentage change). The flagship model `prepost_hierarchical` offers all three.
# `FAST` mode uses the paired model (normal and Student-t) to keep the test suite quick.

# %%
likelihood_model = "paired_change" if FAST else None  # None: prepost_hierarchical
variants = sensitivity.likelihood_variants(study, likelihood_model, mcid=MCID, sampler=SAMPLER)
variants.table

# %%
variants.figure

# %% [markdown]
# ## 3.3 The influence of each mother
#
# Each mother is left out in turn by setting her likelihood weight to 0 and
# refitting the same compiled model. A conclusion that rests on one or two mothers
# is fragile. The left panel plots the effect without each mother against her
# own change.

# %%
influence = sensitivity.influence(study, mcid=MCID, sampler=SAMPLER)
influence.figure

# %%
influence.table.sort_values("shift", key=abs, ascending=False).head(5)

# %% [markdown]
# ## 3.4 The reconstruction ensemble: how much hinges on the unpublished raw data?
#
# The bundled data are *one* reconstruction. Here *K* reconstructions are drawn,
# each matching every published number (n = 24, the covariate counts, SPSS p <
# .0005), and each is refitted. The paper cannot tell them apart, so the spread of
# their conclusions is uncertainty that no reanalysis of the published report can
# remove.

# %%
ensemble = sensitivity.reconstruction_ensemble(
    SCENARIO, k=3 if FAST else 20, seed=SEED, mcid=MCID, sampler=SAMPLER
)
ensemble.figure

# %%
pd.Series(ensemble.summary)

# %% [markdown]
# All members agree that the change is positive. Their estimates of its *size*
# spread noticeably, and so does P(effect > MCID). In the volume scenario some
# members put the effect above the MCID and others below it. The published "p =
# 0.000" is compatible with all of them.
#
# ## 3.5 Inference from the published result alone
#
# Suppose all we knew were "n = 24, Wilcoxon p < .0005". That fact is an event, and
# its likelihood is the test's **power function** P(p < .0005 | δ, n = 24). We
# compute it by simulating the SPSS procedure, for normal changes and for
# heavier-tailed ones (t with 3 degrees of freedom, rescaled to the same δ). With
# a Cauchy prior on δ, the posterior follows on a grid.

# %%
published = sensitivity.published_p_posterior(n_sim=2000 if FAST else 20_000, seed=SEED)
published.figure

# %%
published.table

# %% [markdown]
# The published result rules out small effects (δ below about 0.5 is very
# unlikely), but the **upper end of the 95 % interval is set by the prior**. A
# small p cannot tell a large effect from a huge one, because the power is already
# 1 for both. Under heavier tails the Wilcoxon test is more powerful, so smaller
# effects explain the same p.
#
# ## 3.6 Bias analysis of the single-group design
#
# Observed change = massage effect + natural trend + regression to the mean. Milk
# output can rise over three days without any massage. Lactation may still be
# establishing, mothers get better at expressing, and mothers enrolled for low
# output drift back towards their usual level. One group cannot separate these
# parts. We put a prior on the natural change and ask at what size the conclusion
# tips:
#
# * P(massage effect > 0) falls below 0.95, or
# * P(massage effect > MCID) falls below 0.5.
#
# The prior on the change without massage is, by default, that of the paper's stage
# of lactation (established: no natural trend on average, Kent et al. 2006) plus a
# regression-to-the-mean term worked out from the data (0 under the paper's
# consecutive sampling, a closed form had the mothers been enrolled for low output;
# `sensitivity.bias.nonmassage_prior`); `stage="none"` gives the older, unsourced
# Normal(3, 3) ml, and `trend_mean`/`trend_sd` set your own.

# %%
bias = sensitivity.bias_analysis(study, mcid=MCID, sampler=SAMPLER)
bias.figure

# %%
for note in bias.notes:
    print("-", note)
pd.Series({key: value for key, value in bias.summary.items() if isinstance(value, float)})

# %% [markdown]
# ## 3.7 Summary
#
# | assumption | what moves | verdict |
# |---|---|---|
# | prior (56 settings) | P(effect > MCID) | > 0 robust; > MCID robust at 6.3 ml, not at 10 ml |
# | likelihood | little | robust |
# | single mothers | a little | no single mother carries the result |
# | unpublished raw data | the size of the effect | largest uncertainty besides the design |
# | one-group design | everything, once the natural trend is a few units | assumes no natural rise |
#
# The last line is the decisive one. The claim that the massage increased milk
# production rests on an assumption the study could not test: that output would
# not have risen without massage. Only a control arm can test it (notebook 4).
