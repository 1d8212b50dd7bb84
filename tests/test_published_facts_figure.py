"""The headline's figure: prior and posterior of delta given the published facts alone.

The drawn curves are checked against the ABC draws themselves: the probability mass a
reader sees above delta = 0.8 (the area under the drawn posterior plus the share the
caption states beyond the axis) must be P(delta > 0.8) counted directly in the accepted
proposals, and likewise for the prior sample.
"""

from __future__ import annotations

import base64
import html as html_module
import re

import numpy as np
import pytest

from milkbayes.reanalysis.figures import (
    DELTA_RANGE,
    delta_density_curves,
    published_facts_caption,
    published_facts_figure,
)
from milkbayes.reanalysis.headline import headline_posterior

# The KDE's bandwidth (about 0.13 on delta) spreads the posterior's steep left edge
# (the facts rule out delta below about 0.75) a little across 0.8, and the grid's
# bin centres leave half a bin out at each end: about 0.01 of mass in all.
MASS_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def posterior():
    """The posterior of a fast headline (the one the tiny report uses)."""
    return headline_posterior(fast=True)


@pytest.fixture(scope="module")
def curves(posterior):
    return delta_density_curves(posterior)


def _drawn_mass_above(curves, name: str, threshold: float) -> float:
    grid, density = curves["grid"], curves[name]
    keep = grid >= threshold
    return float(np.trapezoid(density[keep], grid[keep])) + curves[f"{name}_above"]


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_drawn_posterior_mass_above_a_threshold_matches_the_abc_draws(posterior, curves, threshold):
    direct = float((posterior.draws["delta"].to_numpy() > threshold).mean())
    assert _drawn_mass_above(curves, "posterior", threshold) == pytest.approx(
        direct, abs=MASS_TOLERANCE
    )


def test_drawn_prior_mass_above_large_matches_the_prior_sample(posterior, curves):
    direct = float((posterior.prior_delta > 0.8).mean())
    assert _drawn_mass_above(curves, "prior", 0.8) == pytest.approx(direct, abs=MASS_TOLERANCE)


def test_shares_beyond_the_axis_are_counted_from_the_draws(posterior, curves):
    delta = posterior.draws["delta"].to_numpy()
    low, high = DELTA_RANGE
    assert curves["grid"].min() >= low and curves["grid"].max() <= high
    assert curves["posterior_above"] == pytest.approx(np.mean(delta > high), abs=1e-12)
    assert curves["posterior_below"] == pytest.approx(np.mean(delta < low), abs=1e-12)
    # the facts rule out a fall: nothing of the posterior is below -1, much of the prior is
    assert curves["posterior_below"] == 0.0 and curves["prior_below"] > 0.1
    caption = published_facts_caption(curves)
    assert f"{100 * np.mean(delta > high):.1f} % of the posterior" in caption
    assert published_facts_figure(curves)[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_shows_the_published_facts_figure(tiny_bundled_report, posterior):
    report = tiny_bundled_report
    html = report.html.read_text(encoding="utf-8")
    markdown = report.markdown.read_text(encoding="utf-8")
    png = (report.out_dir / "figures" / "published_facts.png").read_bytes()
    section = html.split('id="published-facts"', 1)[1].split("</section>", 1)[0]
    sources = re.findall(r'<img[^>]*src="([^"]+)"', section)
    assert sources == ["data:image/png;base64," + base64.b64encode(png).decode()]
    md_section = markdown.split("## What the published facts alone support", 1)[1]
    md_section = md_section.split("## 1.", 1)[0]
    assert "](figures/published_facts.png)" in md_section
    caption = report.summary["figures"]["published_facts"]["caption"]
    share = float((posterior.draws["delta"].to_numpy() > DELTA_RANGE[1]).mean())
    assert f"{100 * share:.1f} % of the posterior and" in caption
    assert caption in html_module.unescape(section)
