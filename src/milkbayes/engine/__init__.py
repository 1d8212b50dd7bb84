"""The fitting engine: compile each model once, sample with nutpie, save run folders.

=====================  ===========================================================
module                 idea
=====================  ===========================================================
``fit``                fit a model to a study; the summary of a fit; run folders
``compile_cache``      nutpie's compiled models, cached on disk across processes
``script``             what ``python models/NAME.py`` runs
=====================  ===========================================================
"""
