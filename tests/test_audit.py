"""Tests of milkbayes.frequentist.audit: bounds recomputed independently; every check can fail."""

from __future__ import annotations

import dataclasses
import math
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from milkbayes import published
from milkbayes.frequentist.audit import (
    AUDIT_COLUMNS,
    audit_published,
    counts_rounding_to,
    exact_p_of_smaller_rank_sum,
)
from milkbayes.frequentist.spss import largest_smaller_rank_sum, spss_z_threshold


def by_check(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index("check")


def changes_with_smaller_rank_sum(n: int, t: int) -> np.ndarray:
    """N untied changes 1..n whose negative ones have ranks summing to t (greedy)."""
    change = np.arange(1.0, n + 1)
    remaining = t
    for rank in range(n, 0, -1):
        if rank <= remaining:
            change[rank - 1] *= -1
            remaining -= rank
    assert remaining == 0
    return change


# ----------------------------------------------------------------------------- percentages


@pytest.mark.parametrize("percent", [37.5, 45.8, 87.5, 95.8, 54.2, 45.9, 12.5, 4.2, 4.1])
def test_counts_rounding_to_matches_decimal_half_up(percent):
    expected = tuple(
        k
        for k in range(25)
        if (Decimal(100 * k) / Decimal(24)).quantize(Decimal("0.1"), ROUND_HALF_UP)
        == Decimal(str(percent))
    )
    assert counts_rounding_to(percent) == expected


def test_every_published_percentage_is_exactly_its_count_of_24():
    table = by_check(audit_published())
    for column, fact in published.COVARIATE_FACTS.items():
        row = table.loc[f"percent_{column}"]
        assert row["status"] == "pass"
        assert row["found"] == f"{fact.count}/24"
        # closed form: count/24 rounds to the published value
        assert round(100 * fact.count / 24, 1) == fact.percent


def test_percentage_no_count_reaches_is_flagged(monkeypatch):
    bad = dataclasses.replace(published.COVARIATE_FACTS["education"], percent=45.9)
    facts = dict(published.COVARIATE_FACTS, education=bad)
    monkeypatch.setattr(published, "COVARIATE_FACTS", MappingProxyType(facts))
    row = by_check(audit_published()).loc["percent_education"]
    assert row["status"] == "fail"
    assert "no count out of 24" in row["found"]


# ----------------------------------------------------------------------------- p = 0.000


def test_z_threshold_is_the_normal_quantile():
    z_star = spss_z_threshold()
    assert 2 * stats.norm.sf(z_star) == pytest.approx(0.0005, rel=1e-10)
    assert round(z_star, 2) == 3.48
    assert by_check(audit_published()).loc["p_zero_implies_z", "found"] == f"|Z| > {z_star:.4f}"


def test_largest_rank_sum_is_28_of_300_and_scipy_agrees_at_the_boundary():
    assert largest_smaller_rank_sum(24) == 28
    at_bound = stats.wilcoxon(changes_with_smaller_rank_sum(24, 28), method="asymptotic")
    beyond = stats.wilcoxon(changes_with_smaller_rank_sum(24, 29), method="asymptotic")
    assert at_bound.pvalue < 0.0005 <= beyond.pvalue
    assert by_check(audit_published()).loc["p_zero_implies_rank_sum", "found"] == "T <= 28 of 300"


@pytest.mark.parametrize("n", [9, 12, 16, 30])
def test_rank_sum_bound_for_other_n_matches_scipy(n):
    bound = largest_smaller_rank_sum(n)
    if bound < 0:
        p = stats.wilcoxon(changes_with_smaller_rank_sum(n, 0), method="asymptotic").pvalue
        assert p >= 0.0005
        return
    inside = stats.wilcoxon(changes_with_smaller_rank_sum(n, bound), method="asymptotic").pvalue
    outside = stats.wilcoxon(
        changes_with_smaller_rank_sum(n, bound + 1), method="asymptotic"
    ).pvalue
    assert inside < 0.0005 <= outside


def test_exact_p_of_rank_sum_matches_scipy_exact():
    p = exact_p_of_smaller_rank_sum(28, 24)
    ref = stats.wilcoxon(changes_with_smaller_rank_sum(24, 28), method="exact").pvalue
    assert p == pytest.approx(ref, rel=1e-12)


# ----------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def bundled():
    from milkbayes.datasets import load_bundled

    return load_bundled("volume_ml")


def test_bundled_data_meet_every_published_bound(bundled):
    table = by_check(audit_published(bundled))
    data_rows = table[table.index.str.startswith("data_") & (table.index != "data_groups")]
    assert len(data_rows) == 8  # n, SPSS p, rank sum and the five counts
    assert (data_rows["status"].isin(["pass", "info"])).all(), data_rows
    assert table.loc["data_spss_p", "status"] == "pass"
    for column in published.COVARIATE_FACTS:
        assert table.loc[f"data_count_{column}", "status"] == "pass"


def test_data_that_miss_the_counts_and_the_p_bound_fail(bundled):
    from milkbayes.data.study import study_from_frame

    frame = bundled.table.copy()
    frame["parity"] = frame["parity"].astype(str)
    first_multi = frame.index[frame["parity"] == "multipara"][0]
    frame.loc[first_multi, "parity"] = "primipara"
    # no effect: changes centred on zero, so SPSS p is far above .0005
    rng = np.random.default_rng(5)
    frame["post"] = frame["pre"] + np.round(rng.normal(0.0, 1.0, len(frame)), 2)
    study = study_from_frame(frame)
    table = by_check(audit_published(study))
    assert table.loc["data_count_parity", "status"] == "fail"
    assert table.loc["data_count_parity", "found"] == "20 of 24"
    assert table.loc["data_spss_p", "status"] == "fail"


def test_rank_sum_check_with_24_untied_changes():
    from milkbayes.data.study import study_from_frame

    for t, status in ((28, "pass"), (29, "fail")):
        change = changes_with_smaller_rank_sum(24, t)
        frame = pd.DataFrame(
            {"id": [f"m{i}" for i in range(24)], "pre": 100.0, "post": 100.0 + change}
        )
        row = by_check(audit_published(study_from_frame(frame))).loc["data_rank_sum"]
        assert (row["found"], row["status"]) == (f"{t:g}", status)


# ----------------------------------------------------------------------------- paper


def test_every_inconsistency_is_reported_with_its_quote():
    table = audit_published()
    assert tuple(table.columns) == AUDIT_COLUMNS
    for fact in published.INCONSISTENCIES:
        matches = table[table["explanation"].str.contains(fact.quote, regex=False)]
        assert len(matches) == 1, fact.key
    rows = by_check(table)
    for check in (
        "design_label",
        "univariate_mislabel",
        "occupation_contradiction",
        "aged_14",
        "mean_vs_rank_wording",
    ):
        assert rows.loc[check, "status"] == "fail"
    assert set(table["status"]) <= {"pass", "fail", "info"}
    assert not table.isna().any().any()
    assert math.isfinite(spss_z_threshold())
