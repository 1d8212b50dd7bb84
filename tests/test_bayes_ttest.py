"""The JASP-style Bayesian paired t-test, checked against pingouin and quadrature."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from milkbayes.data import study_from_frame
from milkbayes.sensitivity.bayes_ttest import bayes_ttest, sequential_bf10


def _study(change):
    change = np.asarray(change, dtype=float)
    ids = [f"m{i}" for i in range(change.size)]
    frame = pd.DataFrame({"id": ids, "pre": np.full(change.size, 20.0), "post": 20.0 + change})
    return study_from_frame(frame, outcome={"kind": "volume", "unit": "ml"})


def _one_sided_by_quad(t, n, r):
    """BF+0 = int_0^inf nct(t; n-1, d sqrt(n)) 2 Cauchy(d; 0, r) dd / t(t; n-1)."""
    value = integrate.quad(
        lambda d: stats.nct.pdf(t, n - 1, d * math.sqrt(n)) * 2 * stats.cauchy(0, r).pdf(d),
        0,
        np.inf,
        limit=200,
    )[0]
    return value / stats.t.pdf(t, n - 1)


@pytest.mark.parametrize(("seed", "effect", "r"), [(1, 0.5, 0.7071067811865476), (2, 0.1, 1.0)])
def test_bayes_factors_match_pingouin_and_an_independent_quadrature(seed, effect, r):
    pg = pytest.importorskip("pingouin")
    change = np.round(np.random.default_rng(seed).normal(effect, 1.0, 20), 2)
    row = bayes_ttest(_study(change), r=r).table.iloc[0]
    t = stats.ttest_1samp(change, 0.0).statistic
    # two-sided: pingouin (this pingouin refuses one-sided alternatives)
    assert row.bf10 == pytest.approx(float(pg.bayesfactor_ttest(t, 20, paired=True, r=r)), rel=1e-3)
    assert row.bf01 == pytest.approx(1 / row.bf10)
    # one-sided: a direct quadrature over delta > 0
    assert row.bf_plus0 == pytest.approx(_one_sided_by_quad(t, 20, r), rel=2e-3)
    # with a symmetric prior, BF10 is the average of BF+0 and BF-0
    assert row.bf10 == pytest.approx((row.bf_plus0 + row.bf_minus0) / 2, rel=1e-3)
    assert row.error_percent < 0.1
    # Savage-Dickey: the density ratio at 0 is BF01
    ratio = row.posterior_density_at_0 / row.prior_density_at_0
    assert ratio == pytest.approx(row.bf01, rel=5e-3)


def test_sequential_analysis_is_the_bf_of_the_first_k_mothers():
    pg = pytest.importorskip("pingouin")
    change = np.random.default_rng(3).normal(0.8, 1.0, 10)
    table = sequential_bf10(change)
    assert table.n.tolist() == list(range(3, 11))
    for k, bf in zip(table.n, table.bf10, strict=True):
        t = stats.ttest_1samp(change[:k], 0.0).statistic
        assert bf == pytest.approx(float(pg.bayesfactor_ttest(t, k, paired=True)), rel=1e-3)


def test_bayes_ttest_figure_and_tables(tmp_path):
    from milkbayes.datasets import load_bundled

    result = bayes_ttest(load_bundled("volume_ml"))
    assert len(result.figure.axes) == 3
    assert set(result.extra_tables) == {"sequential", "robustness"}
    assert result.reconstructed and result.warning
    result.figure.savefig(tmp_path / "bt.png")
    assert (tmp_path / "bt.png").stat().st_size > 1000


def test_cli_bayes_ttest_json(capsys):
    import json

    from milkbayes.cli import main

    assert main(["bayes-ttest", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["summary"]["bf10"] > 100
    assert main(["bayes-ttest", "--r", "-1"]) == 2
