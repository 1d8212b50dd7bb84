"""The fitting engine: compile each model once, sample with nutpie, save run folders.

=====================  ===========================================================
module                 idea
=====================  ===========================================================
``fit``                fit a model to a study; the summary of a fit
``cache``              the in-process cache of compiled models, and their data
``compile_cache``      nutpie's compiled callbacks, cached on disk across processes
``sampling``           running nutpie so that an interrupt is never a result
``deterministics``     a model's deterministics, computed after sampling
``predictive``         the prior predictive and the posterior predictive
``runs``               run folders: save, load, provenance
``script``             what ``python models/NAME.py`` runs
=====================  ===========================================================
"""
