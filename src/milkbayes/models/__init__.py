"""The Bayesian models: one plain-PyMC script per model.

The top-level ``models/`` folder of the repository is a link to this package, so
``python models/paired_change.py --help`` runs the very definition that the library
and the CLI import. There is no second copy.
"""
