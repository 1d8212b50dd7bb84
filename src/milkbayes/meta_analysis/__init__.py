"""Bayesian meta-analysis of the oxytocin-massage literature and the priors it gives.

- :mod:`~milkbayes.meta_analysis.effects`: each published study as an estimate and a
  standard error (Hedges' g or ml);
- :mod:`~milkbayes.meta_analysis.model`: the random-effects model with design bias and
  a PET small-study term, in PyMC, sampled by nutpie and diagnosed with ArviZ;
- :mod:`~milkbayes.meta_analysis.priors`: the robust literature-informed prior;
- :mod:`~milkbayes.meta_analysis.run`: both scales, the report, the folder
  (``milkbayes meta-analysis``).
"""
