# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. Teaching effect estimation with one small study
#
# *"p = 0.000, so oxytocin massage increases breast-milk production."*
#
# This notebook takes that sentence apart, using the oxytocin-massage study (24
# working mothers, one group, Wilcoxon test, SPSS p printed as "0.000"). It is for
# readers who know what a p-value is and want to see, on a concrete case, why a
# p-value says little about the **size** of an effect, and what a better design and
# a better report would look like.
#
# Sections:
# 1. what "p = 0.000" with n = 24 does and does not tell us;
# 2. the estimate and its uncertainty;
# 3. regression to the mean;
# 4. Type S and Type M errors;
# 5. what a control arm buys.

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
# None = the default for the outcome (10 ml for volumes).
MCID = None
SEED = 20241
# FAST: True runs tiny samplers and grids (the test suite uses it).
FAST = False

# %%
# %matplotlib inline
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import milkbayes
from milkbayes.data import load_study
from milkbayes.datasets import load_bundled
from milkbayes.models.priors import resolve_mcid

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
print(f"{study.source}: n = {study.n}, outcome {study.outcome.label}, MCID = {MCID:g} {UNIT}")

# %% [markdown]
# ## 4.1 "p = 0.000" is not zero, and it is not an effect size
#
# SPSS prints p to three decimals, so "0.000" means p < .0005. For the Wilcoxon
# signed-rank test with 24 untied changes, SPSS's normal approximation turns this
# into a bound on the ranks: W+ ≥ 272 of a possible 300, so the negative changes
# add up to a rank sum of at most 28.

# %%
from milkbayes.sensitivity import (
    pitman_power,
    power_curve,
    published_p_posterior,
    wilcoxon_critical_w_plus,
)

critical = wilcoxon_critical_w_plus(24)
print(f"p < .0005 needs W+ >= {critical}, i.e. a negative rank sum <= {300 - critical}")

# %% [markdown]
# How large must the effect be for such a result to be *likely*? The power function
# answers this. It gives the probability of p < .0005 for each standardised effect δ
# (mean change divided by the SD of the changes). We simulate the SPSS procedure:

# %%
n_sim = 2000 if FAST else 20_000
delta = np.linspace(0, 2, 81)
fig, ax = plt.subplots(figsize=(6, 4))
for shape in ("normal", "t3"):
    ax.plot(
        delta,
        power_curve(delta, 24, distribution=shape, n_sim=n_sim, seed=SEED),
        label=f"simulated, {shape} changes",
    )
ax.plot(delta, pitman_power(delta, 24), ":", label="large-sample formula (normal)")
ax.set(
    xlabel="standardised effect δ",
    ylabel="P(p < .0005)",
    title="Power of the paper's test with n = 24",
)
ax.legend()
plt.show()

# %% [markdown]
# The power is near 0 for δ < 0.4 and near 1 for δ > 1.5. (The dotted
# large-sample formula, 1 − Φ(z − δ√(3n/π)) from the test's Pitman efficiency 3/π,
# is too optimistic at n = 24 for normal changes. The simulation is exact up to
# Monte Carlo error.) So "p < .0005" tells us
# that δ is probably not small. It does not tell us *how large*: δ = 1.5 and
# δ = 15 produce it equally surely. Treating the published result as data and
# combining it with a prior on δ makes this precise:

# %%
only_p = published_p_posterior(n_sim=n_sim, seed=SEED)
only_p.table

# %% [markdown]
# The 95 % interval for δ runs from about 0.6 to far beyond any plausible effect,
# and its upper end is whatever the prior says. **A tiny p-value from a small
# study is strong evidence that an effect is not zero, and weak evidence about its
# size.** The reported result should have been an estimate with an interval.
#
# ## 4.2 The estimate and its uncertainty
#
# On the data (by default, the reconstruction), the estimate and its 95 % interval
# can be computed:

# %%
from milkbayes.frequentist import paired_t_test, wilcoxon_signed_rank

w = wilcoxon_signed_rank(study.table["pre"], study.table["post"], method="exact")
t = paired_t_test(study.table["pre"], study.table["post"])
pd.DataFrame(
    {
        "estimate": [w.hodges_lehmann, t.mean_change, t.cohens_dz],
        "95 % CI low": [w.hl_ci_low, t.mean_ci_low, t.dz_ci_low],
        "95 % CI high": [w.hl_ci_high, t.mean_ci_high, t.dz_ci_high],
    },
    index=[f"Hodges-Lehmann median change ({UNIT})", f"mean change ({UNIT})", "Cohen's d_z"],
)

# %% [markdown]
# The interval is wide relative to the MCID (10 ml for volumes). It contains values
# below the MCID and values well above it. Yet the data are a reconstruction, and
# other datasets that match the paper equally well give different estimates.
# Compare the means and SDs of several reconstructions. Every one of them gives
# p < .0005:

# %%
from milkbayes.datasets import ensemble

members = ensemble(SCENARIO, k=5 if FAST else 20, seed=SEED)
pd.DataFrame(
    [
        {
            "mean change": m.change.mean(),
            "sd of change": m.change.std(ddof=1),
            "p (SPSS)": wilcoxon_signed_rank(
                m.table["pre"], m.table["post"], method="spss"
            ).p_value,
        }
        for m in members
    ]
).describe().loc[["mean", "min", "max"]]

# %% [markdown]
# ## 4.3 Regression to the mean
#
# Studies of "mothers with insufficient milk" enrol mothers *because* their
# output is low. Part of a low reading is bad luck (measurement error, a bad
# day), and bad luck does not repeat. So even with **no massage effect and no
# natural trend**, the second measurement is higher on average. A one-group study
# reads this as an effect. The simulation below enrols mothers whose noisy pre
# measurement falls below a cut-off, with a true effect of exactly zero.

# %%
from milkbayes.simulate import DGPSettings, regression_to_mean

no_effect = DGPSettings(
    distribution="normal",
    effect=0.0,
    trend=0.0,
    baseline_mean=10.0,
    between_sd=4.0,
    measurement_sd=3.0,
    within_sd=1.0,
    n=24,
    n_control=24,
)
rtm = regression_to_mean(no_effect, cutoff=8.0, n_sims=500 if FAST else 4000, seed=SEED)
pd.Series(
    {
        "true massage effect": rtm.true_effect,
        "mean pre/post change in the massage group": rtm.mean_change_massage,
        "expected change from regression to the mean (closed form)": rtm.expected_change,
        "share of one-group studies with p < .05": rtm.rejection_one_group,
        "mean difference, massage minus control": rtm.mean_difference,
        "share of two-arm studies with p < .05": rtm.rejection_two_arm,
    }
)

# %% [markdown]
# With zero true effect, the one-group study "finds" a significant increase in most
# replications. The control arm, enrolled the same way, regresses just as much, so
# the difference between the arms is about zero, and the two-arm test rejects at
# about its nominal rate.
#
# ## 4.4 Type S and Type M errors
#
# Gelman and Carlin (2014) ask two questions about *significant* results. How
# often do they have the wrong **sign** (Type S)? By how much do they
# **exaggerate** the true effect (Type M, the exaggeration ratio)? Small studies
# of small true effects that pass a significance filter overstate them. With the
# standard error of this study's mean change, the closed form gives:

# %%
from milkbayes.simulate import retrodesign

se = t.mean_change / t.t  # standard error of the mean change
rows = []
for true_effect in (0.5, 1.0, 2.0, 4.0, 8.0):
    r = retrodesign(true_effect, se, alpha=0.05)
    rows.append(
        {
            "true effect": true_effect,
            "power": r.power,
            "Type S": r.type_s,
            "exaggeration (Type M)": r.exaggeration,
        }
    )
pd.DataFrame(rows).set_index("true effect")

# %% [markdown]
# When the true change is small compared with the standard error (the first rows),
# a significant result overstates it several-fold and now and then gets its sign
# wrong. A large observed change
# with p = 0.000 is what such a study reports *when it is lucky*. The simulation
# below checks the formula with the paper's own test (Wilcoxon), on simulated
# studies with a small true change:

# %%
from milkbayes.simulate import type_sm

small = DGPSettings(distribution="normal", effect=1.0, trend=0.0)
simulated = type_sm(small, n_sims=2000 if FAST else 20_000, test="wilcoxon", seed=SEED, workers=1)
pd.Series(simulated.to_dict())

# %% [markdown]
# ## 4.5 What a control arm buys
#
# In a one-group study, the pre/post change estimates **massage effect + natural
# trend + regression to the mean**. A concurrent control group, enrolled the same
# way and measured at the same times, experiences the same trend and the same
# regression. The difference between the arms' changes estimates the massage
# effect alone. The simulation below gives the truth a natural trend of 3 units
# and a massage effect of 0:

# %%
from scipy import stats

from milkbayes.frequentist import wilcoxon_many
from milkbayes.simulate import simulate

trend_only = DGPSettings(distribution="normal", effect=0.0, trend=3.0, n=24, n_control=24)
sims = simulate(trend_only, 500 if FAST else 4000, np.random.default_rng(SEED))
massage, control = sims.massage_change, sims.control_change

one_group_estimate = massage.mean(axis=1)  # what the paper's design estimates
two_arm_estimate = massage.mean(axis=1) - control.mean(axis=1)
_, p_one_group = wilcoxon_many(massage)  # the paper's test
p_two_arm = stats.ttest_ind(massage, control, axis=1, equal_var=False).pvalue
pd.DataFrame(
    {
        "mean estimate": [one_group_estimate.mean(), two_arm_estimate.mean()],
        "sd of the estimate": [one_group_estimate.std(ddof=1), two_arm_estimate.std(ddof=1)],
        "share with p < .05": [np.mean(p_one_group < 0.05), np.mean(p_two_arm < 0.05)],
    },
    index=["one group, pre vs post (Wilcoxon)", "two arms, difference in changes (Welch)"],
)

# %%
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.hist(one_group_estimate, bins=50, alpha=0.6, label="one group: pre/post change")
ax.hist(two_arm_estimate, bins=50, alpha=0.6, label="two arms: difference in changes")
ax.axvline(0, color="black", lw=1, label="true massage effect = 0")
ax.set(
    xlabel=f"estimated massage effect ({UNIT})",
    ylabel="simulated studies",
    title="A natural trend of 3 units, no massage effect",
)
ax.legend()
plt.show()

# %% [markdown]
# The one-group design "detects" the trend as a massage effect almost every time.
# The two-arm design is centred on the truth. Its price is a wider sampling
# distribution: the difference of two means is noisier than one mean, and a
# two-arm study needs more mothers for the same precision. In return, it
# estimates the quantity we care about, which no number of one-group mothers can
# deliver.
#
# How many mothers does that take? Below, the power of each rule over the size of
# each arm, for a modest massage effect of 1.5 above a natural trend of 0.5. A
# success counts only when it is significant *and* favourable (more milk). The
# one-group rules (t, Wilcoxon, BF10) detect trend + effect; only the between-arm
# rules (`t_between`, `mann_whitney`) detect the massage effect itself, and they need
# far more mothers for the same power.

# %%
from milkbayes.simulate.design import power_curve
from milkbayes.simulate.figures import plot_power_curve

modest = DGPSettings(effect=1.5, trend=0.5, n=24, n_control=24)
curve = power_curve(modest, [12, 24, 48, 96], n_sims=300 if FAST else 4000, seed=SEED, workers=1)
plot_power_curve(curve)

# %%
curve.pivot(index="n", columns="rule", values="power")

# %% [markdown]
# ## 4.6 What the paper should have reported
#
# 1. The **estimate** of the change with a **confidence or credible interval**, in
#    the outcome's units, with the unit stated.
# 2. The **exact p-value** (or "p < .001"), never "0.000", and the statistic it
#    came from.
# 3. A comparison with a **clinically important difference**, for example
#    P(effect > MCID) from a Bayesian analysis (notebook 2).
# 4. A **control arm**, or at least an honest statement that the pre/post change
#    includes the natural trend and regression to the mean (notebook 3, bias
#    analysis).
# 5. The **raw data**, so that others need not reconstruct them.
