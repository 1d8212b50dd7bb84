"""The reanalysis: data, reproduction, fits, diagnostics, comparison, figures, sensitivity.

:mod:`~milkbayes.reanalysis.pipeline` runs the stages with the sampler sizes of
:mod:`~milkbayes.reanalysis.settings`, draws :mod:`~milkbayes.reanalysis.figures`
and hands :mod:`milkbayes.report` the typed sections of
:mod:`~milkbayes.reanalysis.sections`.
"""
