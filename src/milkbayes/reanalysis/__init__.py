"""The reanalysis pipeline: data, reproduction, fits, diagnostics, comparison,
figures and sensitivity, handed to :mod:`milkbayes.report` as typed sections.
"""
