"""Model comparison: exact leave-one-mother-out refits, PSIS-LOO with its Pareto k,
stacking weights, and the frequentist-versus-Bayesian and three-prior tables.
"""
