"""The literature in the reanalysis: a fourth prior, its sources, the paper as one more study.

The report is the shared tiny reanalysis of the bundled reconstruction (conftest). Its
literature prior is checked against :func:`milkbayes.models.priors.literature_prior`
called directly; its sources against the literature package's own references; the
before column of the update against the bundled draws summarised with numpy; the ABC
likelihood of delta against a simulation with a known acceptance curve.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from milkbayes.errors import DataError


def _pages(report):
    return (
        report.html.read_text(encoding="utf-8"),
        report.markdown.read_text(encoding="utf-8"),
    )


def test_report_renders_where_the_priors_come_from_with_each_source(tiny_bundled_report):
    from milkbayes.literature import PAPER_STAGE, literature_mcid, load_references, stage_trend
    from milkbayes.reanalysis.prior_sources import short_citation

    sources = tiny_bundled_report.summary["prior_sources"]
    names = [row["name"] for row in sources["rows"]]
    assert names == [
        "skeptical",
        "neutral",
        "enthusiastic",
        "literature",
        "MCID",
        "natural trend",
        "regression to the mean",
        "change without massage (bias analysis)",
    ]
    references = load_references()
    cited = {
        short_citation(references[i]["citation"])
        for i in (*literature_mcid()["sources"], *stage_trend(PAPER_STAGE, 15.0)["sources"])
    }
    assert {"Kent et al. 2006", "Norman et al. 2003"} <= cited
    html, markdown = _pages(tiny_bundled_report)
    assert 'id="prior-sources"' in html and 'href="#prior-sources"' in html
    assert "## Where the priors come from" in markdown
    for page in (html, markdown):
        assert "Where the priors come from" in page
        for name in names:
            assert name in page
        # the named sets' and the literature prior's sources
        for source in ("Spiegelhalter", "Rouder et al. 2009", "Schmidli et al. 2014"):
            assert source in page
        for citation in cited:  # the MCID's and the natural trend's, from the literature
            assert citation.replace("&", "&amp;") in page or citation in page
        assert "16.6 % of the level" in page  # Kent's coefficient of variation of one feed
    # the MCID row: half the SD of one feed (Kent et al. 2006: 12.6 g), its source as in
    # the Bayesian section's MCID line (one owner: models.priors.mcid_source)
    mcid_row = next(r for r in sources["rows"] if r["name"] == "MCID")
    assert mcid_row["what"] == f"{0.5 * 12.6:.3g} ml"
    assert mcid_row["source"] == tiny_bundled_report.summary["bayes"]["mcid_source"]
    assert "Kent et al. 2006" in mcid_row["source"]


def test_literature_prior_in_the_report_equals_literature_prior_called_directly(
    tiny_bundled_report, bundled_study
):
    from milkbayes.models.priors import literature_prior

    direct = literature_prior(bundled_study.outcome, "prepost_hierarchical")
    summary = tiny_bundled_report.summary
    rows = {p["prior"]: p for p in summary["bayes"]["priors"]}
    assert list(rows) == ["skeptical", "neutral", "enthusiastic", "literature"]
    assert rows["literature"]["beliefs"] == list(direct.beliefs)
    assert rows["literature"]["rationale"] == direct.rationale
    source = next(r for r in summary["prior_sources"]["rows"] if r["name"] == "literature")
    mu, sigma = direct.values["effect_mu"], direct.values["effect_sigma"]
    assert source["what"] == f"effect ~ Normal({mu:.3g}, {sigma:.3g}) ml"
    assert summary["prior_sources"]["literature_fitted"] is True
    html, markdown = _pages(tiny_bundled_report)
    for page in (html, markdown):
        assert f"Normal({mu:.3g}, {sigma:.3g})" in page
    # a fourth row of the prior table, with its own posterior
    assert '<tr><th>literature</th><td class="num">' in html
    assert "| literature | " in markdown
    assert rows["literature"]["ci95_low"] < rows["literature"]["median"]


def test_meta_update_table_before_is_the_bundled_meta_analysis(tiny_bundled_report):
    from milkbayes.literature import meta_draws

    update = tiny_bundled_report.summary["prior_sources"]["meta_update"]
    rows = {row["quantity"]: row for row in update["rows"]}
    assert list(rows) == ["mu", "theta_new", "paper_delta", "p_mu_gt_0"]
    draws = meta_draws()
    for key in ("mu", "theta_new"):
        low, median, high = np.quantile(draws[key], [0.025, 0.5, 0.975])
        before = rows[key]["before"]
        assert before["median"] == pytest.approx(median, abs=0.01)
        assert before["low"] == pytest.approx(low, abs=0.05)
        assert before["high"] == pytest.approx(high, abs=0.05)
    assert rows["p_mu_gt_0"]["before"] == pytest.approx(np.mean(draws["mu"] > 0))
    # a rise with p < .0005 favours larger effects, whichever likelihood of delta
    for column in ("after", "after_power"):
        assert rows["p_mu_gt_0"][column] >= rows["p_mu_gt_0"]["before"]
        assert rows["paper_delta"][column]["median"] > rows["paper_delta"]["before"]["median"]
    # the two likelihoods (ABC acceptance, normal-changes power) agree on mu
    assert rows["mu"]["after"]["median"] == pytest.approx(
        rows["mu"]["after_power"]["median"], abs=0.05
    )
    assert "ABC reconstruction posterior" in update["likelihood"]
    assert 0 < update["ess"] <= update["n_draws"] == len(draws["mu"])
    html, markdown = _pages(tiny_bundled_report)
    assert 'id="meta-update-table"' in html
    for page in (html, markdown):
        assert "This study's published facts as one more study" in page
        assert "not from the reconstructed measurements" in page


def test_abc_likelihood_of_delta_recovers_a_known_acceptance_curve():
    """Proposals uniform on [-2, 6], accepted with probability Phi(2 (delta - 1))."""
    from types import SimpleNamespace

    import pandas as pd

    from milkbayes.reanalysis.prior_sources import abc_delta_likelihood

    rng = np.random.default_rng(11)
    proposed = rng.uniform(-2, 6, 200_000)
    accepted = proposed[rng.uniform(size=proposed.size) < stats.norm.cdf(2 * (proposed - 1))]
    fake = SimpleNamespace(prior_delta=proposed, draws=pd.DataFrame({"delta": accepted}))
    edges = np.linspace(-2, 6, 33)
    grid, rate = abc_delta_likelihood(fake, edges)
    # the bin average of Phi, computed by quadrature
    width = edges[1] - edges[0]
    truth = np.array(
        [np.mean(stats.norm.cdf(2 * (np.linspace(a, a + width, 201) - 1))) for a in edges[:-1]]
    )
    per_bin = proposed.size / (len(edges) - 1)
    se = np.sqrt(np.clip(truth * (1 - truth), 1e-12, None) / per_bin)
    assert np.all(np.abs(rate - truth) <= 4 * se + 1e-9)
    assert np.allclose(grid, edges[:-1] + width / 2)


def test_score_outcomes_get_no_literature_prior_and_say_why():
    from milkbayes.data.study import Outcome
    from milkbayes.reanalysis.pipeline import _literature_prior_or_reason
    from milkbayes.reanalysis.prior_sources import prior_source_rows

    class _Score:
        outcome = Outcome("score", None, max_score=10)

    prior, reason = _literature_prior_or_reason(_Score())
    assert prior is None and "score" in reason
    rows = {
        r["name"]: r
        for r in prior_source_rows(
            kind="score", unit="points", mcid=2.0, literature=None, literature_note=reason
        )
    }
    assert rows["literature"]["what"] == f"not fitted: {reason}"
    assert rows["MCID"]["what"] == "2 points"
    assert rows["MCID"]["source"].startswith("a convention")  # the score MCID has no paper


def test_bundled_meta_draws_refuse_a_bad_file_naming_row_and_column(tmp_path):
    from milkbayes.literature import META_DRAW_COLUMNS, meta_draws

    good = tmp_path / "draws.csv"
    good.write_text(",".join(META_DRAW_COLUMNS) + "\n1,0.5,0,0.2,1.1\n", encoding="utf-8")
    assert meta_draws(good)["tau"].tolist() == [0.5]
    bad = tmp_path / "bad.csv"
    bad.write_text(
        ",".join(META_DRAW_COLUMNS) + "\n1,0.5,0,0.2,1.1\n1,abc,0,0.2,1.1\n", encoding="utf-8"
    )
    with pytest.raises(DataError, match=r'bad\.csv, row 3, column "tau"'):
        meta_draws(bad)
    missing = tmp_path / "missing.csv"
    missing.write_text("mu,tau\n1,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="one_group_bias"):
        meta_draws(missing)


@pytest.mark.slow
def test_bundled_meta_draws_are_the_default_meta_analysis_thinned():
    """A fresh default fit (same seed) gives the bundled draws, to their 6 digits."""
    import io

    import pandas as pd

    from milkbayes.literature import load_studies, meta_draws
    from milkbayes.meta_analysis.effects import study_effects
    from milkbayes.meta_analysis.model import fit_meta_analysis
    from milkbayes.meta_analysis.update import bundle_draws

    fit = fit_meta_analysis(study_effects(load_studies(), scale="smd"))
    fresh = pd.read_csv(io.StringIO(bundle_draws(fit)))
    bundled = meta_draws()
    for column, values in bundled.items():
        np.testing.assert_allclose(fresh[column].to_numpy(), values, rtol=1e-5, atol=1e-6)
