"""The Bayesian models: one plain-PyMC script per model.

The top-level ``models/`` folder of the repository is a link to this package, so
``python models/paired_change.py --help`` runs the very definition that the library
and the CLI import. There is no second copy.

=========================  ==================================================  ==========
module                     model                                               EFFECT
=========================  ==================================================  ==========
``paired_change``          change ~ Normal / Student-t, Cauchy prior on delta  ``effect``
``signed_rank``            Bayesian Wilcoxon signed-rank (latent normal)       ``delta``
``prepost_hierarchical``   long format, mother intercepts, modified effect     ``effect``
``prepost_bivariate``      (pre, post) bivariate normal, sd per time, LKJ       ``effect``
``two_arm``                group x time (difference in differences)            ``effect``
``ancova``                 post ~ pre + arm (baseline-adjusted)                ``effect``
=========================  ==================================================  ==========

How to add a model
------------------
1. Copy the smallest sibling (``paired_change.py``) to ``models/<name>.py`` and write
   the maths in LaTeX in the module docstring (Notes), with References.
2. Define ``NAME`` (the file name), ``LIKELIHOODS`` (the first is the default) and
   ``EFFECT`` (the posterior variable holding the massage effect, in outcome units
   where the model has them).
3. ``inputs(study, likelihood) -> ModelInputs``: every array the model reads, keyed
   by its ``pm.Data`` name (and nothing else), plus ``coords`` and ``meta``.
   Include ``mother_weight`` (ones, one per mother). Optionally list in
   ``DESIGN_DATA`` (``fnmatch`` patterns) the arrays that describe the design, never
   outcomes or weights: the engine compiles them in as constants, which makes
   indexing cheaper, and compiles anew for another design (so a model refitted to
   other designs, as the flagship is by the assumption ensemble, lists only what
   every such design shares: its long layout).
4. ``build(inputs, prior, likelihood) -> pm.Model``: blocks marked ``# data``,
   ``# priors``, ``# likelihood``; ``dims=`` on every variable; call
   :func:`milkbayes.models.contract.prior_data` so each prior value becomes
   ``pm.Data("prior_<name>")``, and
   :func:`milkbayes.models.contract.weight_likelihood` so each mother's
   log-likelihood counts ``mother_weight`` times. Deterministics cost nothing while
   sampling (the engine computes them from the draws afterwards). Raise
   :class:`milkbayes.errors.ModelError` for data the model cannot fit.
5. ``extra_summary(posterior, inputs, prior) -> dict`` of model-specific numbers, and
   ``main(argv=None)`` returning
   ``milkbayes.engine.script.run_model_script(sys.modules[__name__], argv)``,
   with ``if __name__ == "__main__": raise SystemExit(main())``.
6. Add its name to :data:`milkbayes.models.registry.MODEL_NAMES` (the only list of
   models) and give it prior values in :mod:`milkbayes.models.priors`
   (``_named_values``), so that every named set and every user TOML file covers it.
7. Add it to ``tests/test_models.py``: the structural test (names, dims, finite log
   density and gradient) and a recovery test on data simulated with known truth.

Examples
--------
>>> from milkbayes.models import paired_change
>>> paired_change.NAME, paired_change.LIKELIHOODS, paired_change.EFFECT
('paired_change', ('normal', 'student_t'), 'effect')
"""
