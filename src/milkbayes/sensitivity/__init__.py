"""Sensitivity analyses: prior grids, Bayes-factor robustness, likelihood variants,
the influence of each mother, the reconstruction ensemble, inference from the
published result alone, and the bias analysis of the one-group design.
"""
