"""Tests of milkbayes.datasets against milkbayes.published.

Counts are recomputed from the bundled CSV bytes with the standard-library csv
module (not through the loader), and the SPSS p-value is recomputed twice: with
scipy.stats.wilcoxon(zero_method="wilcox", correction=False, method="asymptotic")
and with the textbook formula (zeros dropped, average ranks, tie-corrected
variance n(n+1)(2n+1)/24 - sum(t^3 - t)/48, no continuity correction).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from milkbayes import RECONSTRUCTED_WARNING, published
from milkbayes.data import Outcome, load_study
from milkbayes.datasets import (
    BUNDLED_SEEDS,
    SCENARIOS,
    CovariateAssumptions,
    ScoreAssumptions,
    VolumeAssumptions,
    bundled_path,
    check_constraints,
    draw_covariates,
    draw_volume,
    ensemble,
    ensemble_seeds,
    load_bundled,
    make_assumptions,
    reconstruct,
    reconstruction_csv,
    spss_wilcoxon,
    write_reconstruction,
)
from milkbayes.errors import DataError, MilkbayesError, RunExistsError


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def textbook_spss_p(change: np.ndarray) -> tuple[float, float]:
    """|Z| and two-sided p by the formula, independent of scipy.stats.wilcoxon."""
    d = change[change != 0]
    n = d.size
    ranks = stats.rankdata(np.abs(d))  # average ranks for ties
    t_plus = ranks[d > 0].sum()
    _, ties = np.unique(np.abs(d), return_counts=True)
    variance = n * (n + 1) * (2 * n + 1) / 24 - (ties**3 - ties).sum() / 48
    z = (t_plus - n * (n + 1) / 4) / math.sqrt(variance)
    return abs(z), 2 * stats.norm.sf(abs(z))


def assert_published(rows: list[dict[str, str]]) -> None:
    assert len(rows) == published.N_PARTICIPANTS
    for column, fact in published.COVARIATE_FACTS.items():
        count = sum(row[column] == fact.level for row in rows)
        assert count == fact.count, column
        # the published percentage is what that count rounds to
        assert round(100 * count / published.N_PARTICIPANTS, 1) == fact.percent
        assert all(row[column] in published.CATEGORY_LEVELS[column] for row in rows)
    change = np.array([float(r["post"]) - float(r["pre"]) for r in rows])
    scipy_p = stats.wilcoxon(
        change[change != 0], zero_method="wilcox", correction=False, method="asymptotic"
    ).pvalue
    z, p = textbook_spss_p(change)
    assert scipy_p == pytest.approx(p, rel=1e-12)
    assert p < published.SPSS_P_THRESHOLD
    assert f"{p:.3f}" == published.REPORTED_P_TEXT  # what SPSS would have printed
    assert z > 3.48  # p < .0005 two-sided needs |z| > 3.48 (docs/design.md)


# ----------------------------------------------------------------------------- bundled files
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_bundled_file_matches_every_published_number(scenario):
    assert_published(rows_of(bundled_path(scenario).read_text(encoding="utf-8")))


def test_bundled_volume_values_are_non_negative_ml_with_one_decimal():
    text = bundled_path("volume_ml").read_text()
    for row in rows_of(text):
        for column in ("pre", "post"):
            assert float(row[column]) >= 0
            assert len(row[column].split(".")[1]) == 1


def test_bundled_score_values_are_integers_in_range_with_ties():
    rows = rows_of(bundled_path("score").read_text())
    values = [int(row[c]) for row in rows for c in ("pre", "post")]  # int() rejects "3.0"
    assert min(values) >= 0 and max(values) <= 10
    changes = [int(r["post"]) - int(r["pre"]) for r in rows]
    assert 0 in changes  # zero differences occur
    assert len(set(map(abs, changes))) < len(changes)  # tied |differences| occur


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_bundled_sidecar_marks_reconstruction(scenario):
    sidecar = json.loads(bundled_path(scenario).with_suffix(".json").read_text())
    assert sidecar["reconstructed"] is True
    assert sidecar["warning"] == RECONSTRUCTED_WARNING
    assert sidecar["generator"] == "milkbayes.datasets.reconstruct"
    assert sidecar["seed"] == BUNDLED_SEEDS[scenario]
    assert sidecar["csv_sha256"] == hashlib.sha256(bundled_path(scenario).read_bytes()).hexdigest()
    # every assumption of the scenario is recorded, with its default value
    defaults = make_assumptions(scenario)
    for part in (defaults.covariates, defaults.outcome):
        for f in dataclasses.fields(part):
            value = getattr(part, f.name)
            assert sidecar["assumptions"][f.name] == (
                dict(value) if isinstance(value, dict) or hasattr(value, "keys") else value
            )
    assert sidecar["assumptions"]["max_attempts"] == defaults.max_attempts


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_load_bundled(scenario):
    study = load_bundled(scenario)
    assert study.source == f"bundled:{scenario}"
    assert study.reconstructed and study.warning == RECONSTRUCTED_WARNING
    assert study.outcome == (
        Outcome("volume", unit="ml") if scenario == "volume_ml" else Outcome("score", max_score=10)
    )
    assert study.outcome_origin == "sidecar"
    assert study.covariates == ("work_duration", "parity", "occupation", "education", "age_group")
    assert not study.has_control


# ----------------------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_reconstruct_recreates_the_bundled_bytes(scenario, tmp_path):
    study = reconstruct(scenario, BUNDLED_SEEDS[scenario])
    assert study.sha256 == hashlib.sha256(bundled_path(scenario).read_bytes()).hexdigest()
    csv_path, sidecar = write_reconstruction(study, tmp_path / "x.csv")
    assert csv_path.read_bytes() == bundled_path(scenario).read_bytes()
    assert sidecar.read_bytes() == bundled_path(scenario).with_suffix(".json").read_bytes()
    assert b"\r\n" not in csv_path.read_bytes()


def test_same_seed_same_bytes_other_seed_other_bytes():
    a, b, c = (reconstruct("volume_ml", s) for s in (11, 11, 12))
    assert reconstruction_csv(a.table, "volume_ml") == reconstruction_csv(b.table, "volume_ml")
    assert a.sha256 == b.sha256 != c.sha256


def test_write_refuses_to_overwrite(tmp_path):
    study = reconstruct("score", 3)
    write_reconstruction(study, tmp_path / "s.csv")
    with pytest.raises(RunExistsError, match="--force"):
        write_reconstruction(study, tmp_path / "s.csv")
    write_reconstruction(study, tmp_path / "s.csv", force=True)
    with pytest.raises(MilkbayesError, match=r"\.csv"):
        write_reconstruction(study, tmp_path / "s.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.json"]  # no temp files


def test_written_file_loads_back_with_its_sidecar(tmp_path):
    study = reconstruct("score", 9, effect_logit=2.5)
    write_reconstruction(study, tmp_path / "s.csv")
    again = load_study(tmp_path / "s.csv")
    assert again.reconstructed and again.outcome == study.outcome
    pd.testing.assert_frame_equal(again.table, study.table)
    assert again.provenance["assumptions"]["effect_logit"] == 2.5
    assert "non-default assumptions" in again.provenance["command"]


# ----------------------------------------------------------------------------- ensemble
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_ensemble_members_all_satisfy_the_constraints(scenario):
    members = ensemble(scenario, k=8, seed=123)
    assert len({m.sha256 for m in members}) == 8
    for member, seed in zip(members, ensemble_seeds(123, 8), strict=True):
        assert_published(rows_of(reconstruction_csv(member.table, scenario)))
        assert member.provenance["seed"] == seed
        assert reconstruct(scenario, seed).sha256 == member.sha256  # recreatable alone


def test_ensemble_rejects_bad_k():
    with pytest.raises(MilkbayesError, match="k must be"):
        ensemble("volume_ml", k=0)


# ----------------------------------------------------------------------------- rejection
def test_rejection_sampling_rejects_and_what_it_accepts_is_valid():
    # A weak effect (mean rise 3 ml, sd 5 ml) rarely gives p < .0005 with n = 24:
    # several seeds must need more than one attempt, and every accepted draw holds.
    weak = dict(
        effect_ml=3.0, long_work_modifier_ml=0.0, primipara_modifier_ml=0.0, change_sd_ml=5.0
    )
    studies = [reconstruct("volume_ml", s, **weak) for s in range(5)]
    assert max(s.provenance["accepted_attempt"] for s in studies) > 1
    for study in studies:
        assert_published(rows_of(reconstruction_csv(study.table, "volume_ml")))


def test_impossible_assumptions_fail_loudly():
    with pytest.raises(MilkbayesError, match="no volume_ml draw satisfied"):
        reconstruct(
            "volume_ml",
            1,
            effect_ml=0.0,
            long_work_modifier_ml=0.0,
            primipara_modifier_ml=0.0,
            change_sd_ml=0.01,
            max_attempts=20,
        )


def test_check_constraints_detects_a_miss():
    study = load_bundled("volume_ml")
    table = study.table.copy()
    table["parity"] = table["parity"].astype(str)
    table.loc[table["parity"] == "primipara", "parity"] = "multipara"  # 24 multipara
    check = check_constraints(table, study.outcome)
    assert check.counts["parity"] == 24 and not check.counts_match and not check.satisfied
    flat = study.table.assign(post=study.table["pre"] + 0.1 * np.resize([1, -1], 24))
    check = check_constraints(flat, study.outcome)
    assert check.counts_match and not check.p_below_threshold and not check.satisfied


def _falling_volume_changes(rng, effect_ml, n_sets):
    """Changes drawn by the volume formula, written out here (not through the generator)."""
    n, long_work, primipara = 24, 13, 3
    out = []
    for _ in range(n_sets):
        is_long = rng.permutation(np.r_[np.ones(long_work), np.zeros(n - long_work)])
        is_primi = rng.permutation(np.r_[np.ones(primipara), np.zeros(n - primipara)])
        pre = np.round(np.exp(np.log(6.0) + 0.5 * rng.standard_normal(n)), 1)
        change = effect_ml - 5.0 * is_long - 4.0 * is_primi + 5.0 * rng.standard_normal(n)
        out.append(np.round(pre + change, 1) - pre)
    return out


def test_a_fall_in_output_is_refused_even_with_p_below_threshold():
    # Independently (scipy, SPSS settings): with effect_ml = -2 every draw that reaches
    # p < .0005 does so because the output FELL (more rank sum below zero than above).
    rng = np.random.default_rng(11)
    significant = []
    for change in _falling_volume_changes(rng, -2.0, 300):
        test = stats.wilcoxon(change, zero_method="wilcox", correction=False, method="asymptotic")
        if test.pvalue < published.SPSS_P_THRESHOLD:
            d = change[change != 0]
            ranks = stats.rankdata(np.abs(d))
            significant.append(ranks[d > 0].sum() - ranks[d < 0].sum())
    assert len(significant) > 50 and max(significant) < 0
    with pytest.raises(MilkbayesError) as caught:
        reconstruct("volume_ml", 2024, effect_ml=-2.0)
    message = str(caught.value)
    assert "FELL" in message and "paper reports a rise" in message


def test_check_constraints_refuses_a_fall():
    study = load_bundled("volume_ml")
    swapped = study.table.assign(pre=study.table["post"], post=study.table["pre"])
    check = check_constraints(swapped, study.outcome)
    assert check.counts_match and check.p_below_threshold  # "p = 0.000" alone is met
    assert not check.direction_ok and not check.satisfied and check.spss_z < 0
    assert any("output fell" in reason for reason in check.failures())
    assert check_constraints(study).failures() == []


def test_spss_wilcoxon_matches_textbook_formula_with_ties_and_zeros():
    change = np.array([0, 0, 1, 1, 2, -1, 3, 3, 3, 4, 5, -2, 6, 6, 7, 8.0])
    z, p, m = spss_wilcoxon(change)
    z_ref, p_ref = textbook_spss_p(change)
    assert (abs(z), p, m) == (pytest.approx(z_ref), pytest.approx(p_ref), 14)
    assert z > 0
    assert spss_wilcoxon(-change)[0] == pytest.approx(-z)
    assert math.isnan(spss_wilcoxon(np.zeros(5))[1])


# ----------------------------------------------------------------------------- assumptions
def test_other_levels_follow_the_assumed_counts():
    counts = {"entrepreneur": 1, "private_employee": 1, "civil_servant": 12, "other": 1}
    study = reconstruct("volume_ml", 4, occupation_other_counts=counts)
    observed = study.table["occupation"].value_counts().to_dict()
    assert observed == {"farm_labourer": 9, **counts}
    assert check_constraints(study).satisfied


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"occupation_other_counts": {"entrepreneur": 20}}, "must sum to 15"),
        ({"parity_other_counts": {"multipara": 3}}, "published level 'multipara' is fixed"),
        ({"latent_correlation": 1.0}, "latent_correlation must be in [0, 1)"),
        ({"pre_median_ml": -1.0}, "pre_median_ml must be > 0"),
        ({"effect_logit": 1.0}, "unknown assumption 'effect_logit' for scenario volume_ml"),
    ],
)
def test_invalid_assumptions(overrides, needle):
    with pytest.raises(MilkbayesError) as caught:
        make_assumptions("volume_ml", **overrides)
    assert needle in str(caught.value)


def test_unknown_scenario_and_bad_seed():
    with pytest.raises(MilkbayesError, match="unknown scenario"):
        reconstruct("litres", 1)
    with pytest.raises(MilkbayesError, match="seed must be"):
        reconstruct("score", -1)


def test_documented_defaults_are_the_real_defaults():
    # VolumeAssumptions' docstring derives the default mean rise: 14 - 5*13/24 - 4*3/24
    v = VolumeAssumptions()
    assert (v.pre_median_ml, v.effect_ml, v.long_work_modifier_ml, v.primipara_modifier_ml) == (
        6.0,
        14.0,
        -5.0,
        -4.0,
    )
    assert (
        v.effect_ml + v.long_work_modifier_ml * 13 / 24 + v.primipara_modifier_ml * 3 / 24
        == pytest.approx(10.8, abs=0.05)
    )
    # ... and its SD of the rise over mothers with the published covariate mix:
    # sqrt(sigma^2 + beta_long^2 p_long (1 - p_long) + beta_primi^2 p_primi (1 - p_primi))
    p_long, p_primi = 13 / 24, 3 / 24
    sd = math.sqrt(
        v.change_sd_ml**2
        + v.long_work_modifier_ml**2 * p_long * (1 - p_long)
        + v.primipara_modifier_ml**2 * p_primi * (1 - p_primi)
    )
    assert sd == pytest.approx(5.7, abs=0.05)
    assert ScoreAssumptions().max_score == 10
    assert CovariateAssumptions().counts("age_group") == {"under_20": 1, "adult": 23, "over_35": 0}


def test_effect_modification_is_recovered_by_simulation():
    # Known truth: the rise differs by long_work_modifier_ml and primipara_modifier_ml.
    rng = np.random.default_rng(0)
    n = 40_000
    covariates = pd.DataFrame(
        {
            "work_duration": rng.choice(["short", "long"], n),
            "parity": rng.choice(["primipara", "multipara"], n),
        }
    )
    a = VolumeAssumptions(
        effect_ml=14.0, long_work_modifier_ml=-5.0, primipara_modifier_ml=-4.0, change_sd_ml=5.0
    )
    pre, post = draw_volume(rng, covariates, a)
    change = pd.Series(post - pre)
    long = covariates["work_duration"] == "long"
    primi = covariates["parity"] == "primipara"
    # SE of a difference of means with sd ~5 and n/2 per arm is ~0.05 ml; 0.2 is 4 SE
    assert change[long].mean() - change[~long].mean() == pytest.approx(-5.0, abs=0.2)
    assert change[primi].mean() - change[~primi].mean() == pytest.approx(-4.0, abs=0.2)


def test_latent_correlation_controls_the_joint_structure():
    def mean_spearman(rho: float) -> float:
        rng = np.random.default_rng(1)
        codes = []
        for _ in range(200):
            t = draw_covariates(rng, CovariateAssumptions(latent_correlation=rho))
            work = t["work_duration"].map({"short": 0, "long": 1})
            edu = t["education"].map(
                {lv: i for i, lv in enumerate(published.CATEGORY_LEVELS["education"])}
            )
            codes.append(stats.spearmanr(work, edu).statistic)
        return float(np.mean(codes))

    assert abs(mean_spearman(0.0)) < 0.05  # independent: ~0 (SE ~ 0.015)
    assert mean_spearman(0.8) > 0.4  # strongly linked ranks


def test_bundled_loader_refuses_an_unmarked_file(tmp_path, monkeypatch):
    import milkbayes.datasets as datasets

    (tmp_path / "volume_ml.csv").write_bytes(bundled_path("volume_ml").read_bytes())
    (tmp_path / "volume_ml.json").write_text('{"reconstructed": false}')
    monkeypatch.setattr(
        datasets, "bundled_path", lambda scenario="volume_ml": tmp_path / f"{scenario}.csv"
    )
    with pytest.raises(DataError, match="not marked reconstructed"):
        datasets.load_bundled("volume_ml")


def test_score_defaults_match_their_description():
    # ScoreAssumptions says: 3-4 of 10 indicators before and about 7 after, with ties.
    # Expected values by numerical integration of the latent normal (independent of
    # the sampler): E[K expit(a)] and E[K expit(a + shift)], a ~ N(logit 0.35, 0.6).
    from scipy import integrate, special

    a = ScoreAssumptions()

    def expected(shift: float) -> float:
        return (
            a.max_score
            * integrate.quad(
                lambda x: (
                    special.expit(special.logit(a.pre_proportion) + a.ability_sd_logit * x + shift)
                    * stats.norm.pdf(x)
                ),
                -10,
                10,
            )[0]
        )

    # multiparous mothers, 13 of 24 with a long work duration
    after = 13 / 24 * expected(a.effect_logit + a.long_work_modifier_logit) + 11 / 24 * expected(
        a.effect_logit
    )
    assert 3.0 < expected(0.0) < 4.0
    assert 6.5 < after < 7.5
    rng = np.random.default_rng(2)
    n = 20_000
    covariates = pd.DataFrame(
        {"work_duration": np.where(rng.random(n) < 13 / 24, "long", "short"), "parity": "multipara"}
    )
    from milkbayes.datasets import draw_score

    pre, post = draw_score(rng, covariates, a)
    assert pre.mean() == pytest.approx(expected(0.0), abs=0.05)
    assert post.mean() == pytest.approx(after, abs=0.06)  # SE ~0.016
