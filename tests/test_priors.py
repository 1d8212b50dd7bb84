"""Tests of the prior sets: computed beliefs, TOML validation, prior predictive."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats

from milkbayes.data.study import Outcome
from milkbayes.engine.predictive import prior_predictive
from milkbayes.errors import PriorError
from milkbayes.models.priors import (
    MODEL_NAMES,
    PRIOR_NAMES,
    get_prior,
    implied_effect_exceedance,
)

VOLUME = Outcome("volume", "ml")
SCORE = Outcome("score", max_score=20)
CONTINUOUS = Outcome("continuous")


def _percent_in(sentence: str) -> float:
    return float(re.search(r"= ([0-9.]+) %", sentence).group(1)) / 100


@pytest.mark.parametrize("name", PRIOR_NAMES)
def test_normal_effect_beliefs_are_the_distribution_numbers(name):
    prior = get_prior(name, VOLUME, "prepost_hierarchical")
    dist = stats.norm(prior.values["effect_mu"], prior.values["effect_sigma"])
    above, below = prior.beliefs[0], prior.beliefs[1]
    assert above.startswith("P(effect > 10 ml)")
    assert _percent_in(above) == pytest.approx(dist.sf(10.0), abs=5e-4)
    assert _percent_in(below) == pytest.approx(dist.cdf(0.0), abs=5e-4)


def test_triad_is_anchored_on_the_mcid():
    # Spiegelhalter et al. (1994): sceptic P(effect > MCID) = 5 %, enthusiast P(harm) = 5 %
    skeptic = get_prior("skeptical", VOLUME, "two_arm")
    enthusiast = get_prior("enthusiastic", VOLUME, "two_arm")
    assert stats.norm(0, skeptic.values["effect_sigma"]).sf(10.0) == pytest.approx(0.05)
    assert stats.norm(enthusiast.values["effect_mu"], enthusiast.values["effect_sigma"]).cdf(
        0.0
    ) == pytest.approx(0.05)
    assert skeptic.beliefs[0] == "P(effect > 10 ml) = 5.0 %"


def test_score_beliefs_use_the_checklist_points_of_the_data():
    prior = get_prior("skeptical", SCORE, "prepost_hierarchical")
    # a 20-point checklist doubles the 10-point MCID of 2 points
    assert prior.beliefs[0] == "P(effect > 4 points) = 5.0 %"


def test_cauchy_beliefs_match_scipy():
    prior = get_prior("neutral", CONTINUOUS, "signed_rank")
    r = prior.values["delta_scale"]
    assert r == pytest.approx(math.sqrt(2) / 2)
    assert _percent_in(prior.beliefs[0]) == pytest.approx(stats.cauchy(0, r).sf(0.5), abs=5e-4)


def test_implied_effect_exceedance_matches_monte_carlo():
    rng = np.random.default_rng(1)
    delta = stats.cauchy(0.3, 0.7).rvs(400_000, random_state=rng)
    sigma = np.abs(rng.normal(0, 20.0, 400_000))
    expected = np.mean(delta * sigma > 10.0)
    se = math.sqrt(expected * (1 - expected) / 400_000)
    assert implied_effect_exceedance(0.3, 0.7, 20.0, 10.0) == pytest.approx(expected, abs=4 * se)


@pytest.mark.parametrize("model", MODEL_NAMES)
@pytest.mark.parametrize("outcome", [VOLUME, SCORE, CONTINUOUS], ids=["volume", "score", "cont"])
def test_every_named_set_exists_with_positive_scales(model, outcome):
    for name in PRIOR_NAMES:
        prior = get_prior(name, outcome, model)
        assert prior.model_name == model and prior.kind == outcome.kind and prior.beliefs
        for key, value in prior.values.items():
            assert math.isfinite(value)
            if key.endswith(("_sigma", "_sd", "_scale", "_rate")) or key == "sigma":
                assert value > 0, key


def test_volume_not_in_ml_is_refused():
    with pytest.raises(PriorError, match="written in ml, but the data are in 'l'"):
        get_prior("neutral", Outcome("volume", "l"), "paired_change")


def write(tmp_path, text, name="p.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_user_toml_overrides_a_base_set(tmp_path):
    path = write(
        tmp_path,
        'name = "mine"\nmodel = "paired_change"\nkind = "volume"\n'
        'base = "skeptical"\nrationale = "test"\n[values]\ndelta_scale = 0.5\n',
    )
    prior = get_prior(str(path), VOLUME, "paired_change")
    skeptic = get_prior("skeptical", VOLUME, "paired_change")
    assert prior.values == {**skeptic.values, "delta_scale": 0.5}
    assert prior.name == "mine" and prior.source == str(path)
    assert _percent_in(prior.beliefs[0]) == pytest.approx(stats.cauchy(0, 0.5).sf(0.5), abs=5e-4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('model = "paired_change"\nkind = "volume"\ncolour = 1\n', 'unknown key "colour"'),
        ('kind = "volume"\n', 'missing key "model"'),
        ('model = "two_arm"\nkind = "volume"\n', "key \"model\" is 'two_arm'"),
        ('model = "paired_change"\nkind = "score"\n', "key \"kind\" is 'score'"),
        (
            'model = "paired_change"\nkind = "volume"\n[values]\nbeta = 1.0\n',
            'key "values.beta" is not a hyperparameter',
        ),
        (
            'model = "paired_change"\nkind = "volume"\n[values]\ndelta_scale = -1.0\n',
            'key "values.delta_scale" is a scale and must be > 0',
        ),
        (
            'model = "paired_change"\nkind = "volume"\n[values]\ndelta_loc = "big"\n',
            'key "values.delta_loc" must be a number',
        ),
        (
            'model = "paired_change"\nkind = "volume"\n[values]\ndelta_loc = nan\n',
            'key "values.delta_loc" must be finite',
        ),
        ('model = "paired_change"\nkind = "volume"\nbase = "wild"\n', 'key "base" must be one of'),
        ('model = "paired_change"\nkind = \n', "not valid TOML"),
    ],
)
def test_user_toml_errors_name_the_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(PriorError) as error:
        get_prior(str(path), VOLUME, "paired_change")
    assert str(path) in str(error.value) and message in str(error.value)


def test_missing_prior_file_is_a_prior_error(tmp_path):
    with pytest.raises(PriorError, match="prior file not found"):
        get_prior(str(tmp_path / "absent.toml"), VOLUME, "paired_change")


def test_prior_predictive_matches_the_prior_set(bundled_study):
    """Prior draws of the effect follow the set's Normal(mu, sigma) (KS test)."""
    prior = get_prior("enthusiastic", bundled_study.outcome, "two_arm")
    tree = prior_predictive(
        "prepost_hierarchical", bundled_study, prior="enthusiastic", draws=400, seed=3
    )
    effect = np.asarray(tree.prior["effect"]).ravel()
    assert (
        stats.kstest(
            effect, stats.norm(prior.values["effect_mu"], prior.values["effect_sigma"]).cdf
        ).pvalue
        > 0.001
    )
    assert tree.prior_predictive["y_obs"].shape[-1] == 2 * bundled_study.n


def test_paired_change_prior_predictive_matches_its_belief_sentence(bundled_study):
    """The model's own prior of mu = delta * sigma gives the belief's probability.

    The belief sentence states that probability, computed there by quadrature.
    """
    prior = get_prior("enthusiastic", bundled_study.outcome, "paired_change")
    tree = prior_predictive("paired_change", bundled_study, prior=prior, draws=4000, seed=5)
    effect = np.asarray(tree.prior["effect"]).ravel()
    stated = _percent_in(prior.beliefs[-1])
    se = math.sqrt(stated * (1 - stated) / effect.size)
    assert np.mean(effect > 10.0) == pytest.approx(stated, abs=4 * se + 5e-4)
    assert tree.prior_predictive["change_obs"].shape[-1] == bundled_study.n


def test_signed_rank_prior_predictive_draws_delta_only(bundled_study):
    tree = prior_predictive("signed_rank", bundled_study, prior="skeptical", draws=2000, seed=6)
    delta = np.asarray(tree.prior["delta"]).ravel()
    # the sceptic's Cauchy: 5 % beyond delta = 0.5 (tan(0.45 pi) = 6.3138)
    assert stats.kstest(delta, stats.cauchy(0, 0.5 / 6.313751514675044).cdf).pvalue > 0.001


TRIAD_MODELS = ("paired_change", "signed_rank", "prepost_hierarchical", "two_arm")


@pytest.mark.parametrize("model", TRIAD_MODELS)
@pytest.mark.parametrize("outcome", [VOLUME, SCORE, Outcome("continuous")])
def test_the_prior_triad_means_the_same_in_every_model(model, outcome):
    """Sceptic P(effect > MCID) = 5 %, enthusiast 50 % and P(harm) = 5 %, every model.

    Computed with scipy from each model's own effect prior and its MCID on that
    scale: delta (Cauchy) against half an SD (Norman et al. 2003), outcome units
    (normal) against the anchors' MCID, log ratio against +50 %, log-odds against 1.
    """
    expected = {"skeptical": (0.05, None), "enthusiastic": (0.50, 0.05)}
    for name, (above, harm) in expected.items():
        values = get_prior(name, outcome, model).values
        effect_priors = []
        if "delta_loc" in values:
            effect_priors.append((stats.cauchy(values["delta_loc"], values["delta_scale"]), 0.5))
        if "effect_mu" in values:
            mcid = {"volume": 10.0, "score": 2.0, "continuous": 0.5}[outcome.kind]
            effect_priors.append((stats.norm(values["effect_mu"], values["effect_sigma"]), mcid))
        if "log_effect_mu" in values:
            dist = stats.norm(values["log_effect_mu"], values["log_effect_sigma"])
            effect_priors.append((dist, math.log(1.5)))
        if "logit_effect_mu" in values:
            dist = stats.norm(values["logit_effect_mu"], values["logit_effect_sigma"])
            effect_priors.append((dist, 1.0))
        assert effect_priors, values
        for dist, mcid in effect_priors:
            assert dist.sf(mcid) == pytest.approx(above, abs=1e-6), (name, values)
            if harm is not None:
                assert dist.cdf(0.0) == pytest.approx(harm, abs=1e-6), (name, values)


def test_default_mcid_is_half_an_sd_of_pre_for_a_continuous_outcome():
    """One MCID for every caller: 0.5 x SD(pre) on the data's own scale, not a bare 0.5.

    The reanalysis and the sensitivity tools once disagreed (one multiplied by the SD,
    the other did not); the anchors' 0.5 is in SD units, so the SD wins.
    """
    import numpy as np
    import pandas as pd

    from milkbayes.data.study import study_from_frame
    from milkbayes.models.priors import default_mcid

    pre = np.array([10.0, 14.0, 22.0, 30.0, 9.0])
    study = study_from_frame(pd.DataFrame({"id": list("abcde"), "pre": pre, "post": pre + 5.0}))
    assert study.outcome.kind == "continuous"
    assert default_mcid(study) == pytest.approx(0.5 * np.std(pre, ddof=1))


def test_default_mcid_of_volumes_and_scores():
    import pandas as pd

    from milkbayes.data.study import Outcome, study_from_frame
    from milkbayes.models.priors import default_mcid

    frame = pd.DataFrame({"id": ["a", "b"], "pre": [1.0, 3.0], "post": [2.0, 5.0]})
    assert default_mcid(study_from_frame(frame, outcome=Outcome("volume", unit="ml"))) == 10.0
    score = study_from_frame(frame, outcome=Outcome("score", max_score=20))
    assert default_mcid(score) == pytest.approx(2.0 * 20 / 10)
