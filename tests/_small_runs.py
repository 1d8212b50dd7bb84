"""Reanalysis settings small enough for the test suite, shared by the tests that run one.

Two chains of 100 draws are too few to pass the convergence checks, so the tests that
use these settings check structure, escaping and bookkeeping, never the diagnostics'
verdict.
"""

from milkbayes.reanalysis.settings import ReanalysisSettings

TINY = ReanalysisSettings(
    draws=100,
    tune=150,
    chains=2,
    lomo_draws=100,
    lomo_tune=150,
    lomo_chains=2,
    comparison=(("paired_change", "normal"),),
    sensitivity_fast=True,
    ensemble_k=3,
    ensemble_draws=50,
    ensemble_tune=50,
)
"""Two short chains, one comparison candidate, fast sensitivity highlights, 3 reconstructions."""
