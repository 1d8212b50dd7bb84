"""Tests of the bundled literature and the priors sourced from it.

Every number against its quoted source, the loader's errors, the effect sizes against
statsmodels and scipy, and the literature prior, MCID and trend by stage.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import effectsize_smd

from milkbayes.data.study import Outcome
from milkbayes.errors import DataError, PriorError
from milkbayes.literature import (
    NUMERIC_FIELDS,
    PAPER_STAGE,
    bundled_path,
    derived_prior,
    literature_mcid,
    load_references,
    load_studies,
    numbers_in,
    stage_trend,
)
from milkbayes.meta_analysis.effects import hedges_g, study_effects
from milkbayes.models.priors import get_prior

STUDIES = load_studies()
REFERENCES = load_references()
PROVENANCES = ("abstract", "as quoted in the review, unverified")


def _present(value: float, quote: str) -> bool:
    return any(math.isclose(value, found, rel_tol=0, abs_tol=1e-9) for found in numbers_in(quote))


# --------------------------------------------------------------- numbers vs their sources
@pytest.mark.parametrize("study_id", list(STUDIES.index))
def test_every_bundled_number_appears_in_its_quote(study_id):
    """A number is in the quoted source text, or declared imputed or derived (with a reason)."""
    row = STUDIES.loc[study_id]
    declared = set(row["imputed"]) | set(row["derived"])
    checked = 0
    for field in NUMERIC_FIELDS:
        value = row[field]
        if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            continue
        if field in declared:
            assert row["imputed"].get(field, row["derived"].get(field, "")).strip()
            continue
        assert _present(float(value), row["quote"]), (
            f"{study_id}.{field} = {value} is not in its quote: {row['quote']!r}"
        )
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("ref_id", list(REFERENCES))
def test_every_reference_value_appears_in_its_quote(ref_id):
    reference = REFERENCES[ref_id]
    words = reference.get("words", {})
    for key, value in reference["values"].items():
        if key in words:
            assert words[key] in reference["quote"]
        else:
            assert _present(float(value), reference["quote"]), (ref_id, key, value)


def test_every_entry_says_where_its_quote_comes_from():
    for study_id, row in STUDIES.iterrows():
        assert row["provenance"] in PROVENANCES, study_id
        assert row["citation"] and row["quote"]
    for ref_id, reference in REFERENCES.items():
        assert reference["provenance"] == "abstract" or "unverified" in reference["provenance"]
        assert reference["citation"], ref_id


def test_the_unverifiable_study_is_marked_so():
    """Fara et al. could not be checked: the file must say so, not pass it off as read."""
    assert STUDIES.loc["fara2022", "provenance"] == "as quoted in the review, unverified"


def test_numbers_in_reads_commas_and_decimals():
    assert numbers_in("1,099 participants; SMD= 1.42; CI 95%= 0.98 to 1.86") == [
        1099.0,
        1.42,
        95.0,
        0.98,
        1.86,
    ]


def test_the_loader_types_and_indexes_the_table():
    assert STUDIES.index.is_unique
    assert str(STUDIES["n_total"].dtype) == "Int64"
    assert STUDIES.loc["anggorowati2016", "stage"] == "established"
    assert PAPER_STAGE == "established"


# --------------------------------------------------------------- loader errors
GOOD = """
[[study]]
id = "a"
citation = "c"
provenance = "abstract"
design = "rct"
role = "primary"
intervention = "massage"
stage = "early"
outcome = "o"
unit = "ml"
measure = "change"
n_total = 20
n_treat = 10
n_control = 10
mean_treat = 5.0
sd_treat = 2.0
mean_control = 1.0
sd_control = 2.0
p_reported = "p<0.05"
quote = "10 and 10, 5.0 (2.0) vs 1.0 (2.0), 20 in all"
"""


def test_a_good_file_loads(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_studies(path).loc["a", "mean_treat"] == 5.0


@pytest.mark.parametrize(
    ("old", "new", "column", "words"),
    [
        ('citation = "c"\n', "", "citation", "missing required field"),
        ('design = "rct"', 'design = "cohort"', "design", "not one of"),
        ("sd_treat = 2.0", "sd_treat = -2.0", "sd_treat", "must be > 0"),
        ("sd_treat = 2.0", 'sd_treat = "2"', "sd_treat", "must be a number"),
        ("n_total = 20", "n_total = 21", "n_total", "n_treat + n_control"),
        ("n_treat = 10", "n_treat = 10.5", "n_treat", "whole number"),
        ('unit = "ml"', 'unit = "ml"\ncolour = "red"', "colour", "unknown field"),
        ('stage = "early"', 'stage = "late"', "stage", "not one of"),
    ],
)
def test_bad_input_names_file_row_and_column(tmp_path, old, new, column, words):
    path = tmp_path / "bad.toml"
    text = GOOD + GOOD.replace('id = "a"', 'id = "b"')
    # the second entry is the bad one: the error must say row 2
    head, tail = text[: len(GOOD)], text[len(GOOD) :]
    assert old in tail
    path.write_text(head + tail.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(DataError) as error:
        load_studies(path)
    message = str(error.value)
    assert str(path) in message and "row 2" in message and f'column "{column}"' in message
    assert words in message


def test_repeated_id_and_unreadable_files(tmp_path):
    path = tmp_path / "dup.toml"
    path.write_text(GOOD + GOOD, encoding="utf-8")
    with pytest.raises(DataError, match=r'row 2, column "id": study id .a. repeats entry 1'):
        load_studies(path)
    broken = tmp_path / "broken.toml"
    broken.write_text("[[study]\n", encoding="utf-8")
    with pytest.raises(DataError, match="not valid TOML"):
        load_studies(broken)
    with pytest.raises(DataError, match="not found"):
        load_studies(tmp_path / "missing.toml")
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="no \\[\\[study\\]\\] entries"):
        load_studies(empty)


def test_a_study_missing_what_its_measure_needs_is_named(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(GOOD.replace("sd_control = 2.0\n", ""), encoding="utf-8")
    with pytest.raises(DataError, match='row 1, column "sd_control"'):
        study_effects(load_studies(path))


# --------------------------------------------------------------- effect sizes
def test_hedges_g_of_change_scores_matches_statsmodels():
    """Rahayuningsih et al.: statsmodels' effectsize_smd (Hedges' g, its variance)."""
    row = STUDIES.loc["rahayuningsih2016"]
    smd, var = effectsize_smd(
        row["mean_treat"],
        row["sd_treat"],
        int(row["n_treat"]),
        row["mean_control"],
        row["sd_control"],
        int(row["n_control"]),
    )
    table = study_effects(STUDIES, scale="smd")
    assert table.loc["rahayuningsih2016", "y"] == pytest.approx(float(smd), rel=1e-9)
    assert table.loc["rahayuningsih2016", "se"] == pytest.approx(math.sqrt(var), rel=0.02)


def test_hedges_g_closed_form():
    g, se = hedges_g(0.5, 20, 20)
    j = 1 - 3 / (4 * 40 - 9)
    assert g == pytest.approx(j * 0.5)
    assert se == pytest.approx(j * math.sqrt(40 / 400 + 0.25 / 80))


def test_the_se_derived_from_a_p_value_gives_that_p_back():
    """Sulaeman et al.: the recovered pooled SD reproduces the reported t-test p (scipy)."""
    row = STUDIES.loc["sulaeman"]
    table = study_effects(STUDIES, scale="ml")
    pooled = table.loc["sulaeman", "sd"]
    result = stats.ttest_ind_from_stats(
        row["mean_treat"],
        pooled,
        int(row["n_treat"]),
        row["mean_control"],
        pooled,
        int(row["n_control"]),
    )
    assert result.pvalue == pytest.approx(row["p_value"], rel=1e-6)


def test_one_group_and_adjusted_effects_use_the_imputed_sd():
    table = study_effects(STUDIES, scale="ml")
    assert table.loc["fara2022", "y"] == pytest.approx(16.75 - 5.59)
    assert table.loc["fara2022", "se"] == pytest.approx(9.70 / math.sqrt(20))
    assert table.loc["anggorowati2016", "se"] == pytest.approx(9.70 * math.sqrt(1 / 46 + 1 / 47))
    assert "sd_change" in table.loc["fara2022", "flags"]


def test_effects_refuse_other_units_and_scales():
    with pytest.raises(DataError, match="unknown effect scale"):
        study_effects(STUDIES, scale="percent")
    with pytest.raises(DataError, match="meta-analysis pools ml"):
        study_effects(STUDIES, roles=("pooled_review",))


# --------------------------------------------------------------- sourced priors
def test_the_mcid_is_half_the_sd_of_a_feed():
    """Norman et al. (half an SD) x Kent et al. (SD of a feed 12.6 g)."""
    mcid = literature_mcid()
    assert mcid["value"] == pytest.approx(0.5 * 12.6)
    assert set(mcid["sources"]) <= set(REFERENCES)


def test_trend_by_stage_from_the_sources():
    established = stage_trend("established", 15.0)
    assert established["mean"] == 0.0
    assert established["sd"] == pytest.approx(15.0 * 12.6 / 76.0)
    early = stage_trend("early", 15.0)
    assert early["mean"] == pytest.approx(15.0 * (705.4 / 408.0 - 1.0))
    assert early["mean"] > 4 * established["sd"]  # a rise the established prior rules out
    with pytest.raises(DataError, match="unknown stage"):
        stage_trend("late", 15.0)


def test_the_literature_prior_set_reads_the_derived_numbers():
    numbers = derived_prior()
    volume = get_prior("literature", Outcome("volume", "ml"), "prepost_hierarchical")
    assert volume.values["effect_mu"] == numbers["ml"]["mixture_mean"]
    assert volume.values["effect_sigma"] == numbers["ml"]["mixture_sd"]
    neutral = get_prior("neutral", Outcome("volume", "ml"), "prepost_hierarchical")
    assert {k: v for k, v in volume.values.items() if not k.startswith("effect_")} == {
        k: v for k, v in neutral.values.items() if not k.startswith("effect_")
    }
    delta = get_prior("literature", Outcome("volume", "ml"), "paired_change")
    assert delta.values["delta_loc"] == numbers["smd"]["cauchy_loc"]
    assert "Schmidli" in delta.rationale
    continuous = get_prior("literature", Outcome("continuous"), "prepost_hierarchical")
    assert continuous.values["effect_sigma"] == numbers["smd"]["mixture_sd"]
    with pytest.raises(PriorError, match="no literature prior for score"):
        get_prior("literature", Outcome("score", max_score=10), "prepost_hierarchical")


def test_the_moment_matched_prior_is_wider_than_the_predictive():
    """Robustness: the vague component can only widen the informative one."""
    numbers = derived_prior()
    for scale in ("ml", "smd"):
        assert numbers[scale]["mixture_sd"] > numbers[scale]["predictive_sd"]
        assert numbers[scale]["mixture_mean"] == pytest.approx(
            numbers["meta"]["weight"] * numbers[scale]["predictive_mean"]
        )


def test_a_malformed_derived_prior_names_the_key(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("[meta]\nweight = 0.5\n[ml]\nmixture_mean = 1.0\n", encoding="utf-8")
    with pytest.raises(DataError, match='column "ml.mixture_sd"'):
        derived_prior(path)


def test_the_bundled_file_is_where_the_loader_looks():
    assert bundled_path().name == "studies.toml" and bundled_path().is_file()
    assert np.isfinite(STUDIES["effect"].dropna()).all()


# --------------------------------------------------------------- where the priors are used
def test_fit_with_the_literature_prior():
    """``fit --prior literature`` goes through get_prior; the fit records the set."""
    from milkbayes.datasets import load_bundled
    from milkbayes.engine.fit import fit

    result = fit(
        "paired_change",
        load_bundled("volume_ml"),
        prior="literature",
        draws=200,
        tune=200,
        chains=2,
        seed=1,
    )
    assert result.prior.name == "literature"
    assert result.prior.values["delta_loc"] == derived_prior()["smd"]["cauchy_loc"]


def test_stage_trend_prior_in_the_bias_analysis():
    from milkbayes.datasets import load_bundled
    from milkbayes.sensitivity.bias import bias_analysis, stage_trend_prior

    prior = stage_trend_prior("established", 8.0)
    assert (prior.mean, prior.sd) == (0.0, pytest.approx(8.0 * 12.6 / 76.0))
    assert "Kent" in prior.rationale
    with pytest.raises(PriorError, match="trend prior for volumes"):
        bias_analysis(load_bundled("score"), stage="established")


def test_the_prior_grid_places_the_literature_prior_among_its_settings():
    from milkbayes.datasets import load_bundled
    from milkbayes.sensitivity.common import SamplerOptions
    from milkbayes.sensitivity.prior_robustness import prior_grid

    numbers = derived_prior()["smd"]
    result = prior_grid(
        load_bundled("volume_ml"),
        base_prior="literature",
        locations=[0.0],
        scales=[0.2],
        sampler=SamplerOptions(draws=100, tune=100, chains=1, seed=1),
    )
    assert result.summary["n_settings"] == 4  # {0, loc} x {0.2, scale}
    assert result.summary["literature_location"] == numbers["cauchy_loc"]
    assert result.summary["literature_scale"] == numbers["cauchy_scale"]
    assert 0.0 <= result.summary["literature_p_effect_gt_mcid"] <= 1.0
