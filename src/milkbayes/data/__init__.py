"""Study data: loading and validating a user's file, the :class:`Study` it becomes,
and the paper's univariate description.

Examples
--------
>>> from milkbayes.data import load_study, Study
>>> Study.__name__
'Study'
"""

from milkbayes.data.study import Outcome, Study, describe, load_study, study_from_frame

__all__ = ["Outcome", "Study", "describe", "load_study", "study_from_frame"]
