"""Teaching simulations with known truth, simulation-based calibration, and scale-out.

Submodules, one idea each:

- :mod:`~milkbayes.simulate.dgp`: the data-generating process (volume or score
  outcomes, optional control arm, natural trend, effect modification, measurement
  error);
- :mod:`~milkbayes.simulate.rules`: vectorised decision rules (Wilcoxon, paired t,
  JZS Bayes factor without sampling);
- :mod:`~milkbayes.simulate.design`: power, assurance, Type S/M errors and the
  sample size for a chosen precision;
- :mod:`~milkbayes.simulate.rtm`: regression to the mean under selective enrolment;
- :mod:`~milkbayes.simulate.sbc`: simulation-based calibration of every model;
- :mod:`~milkbayes.simulate.runner`: local processes or Dask, seeds per task,
  checkpoints, progress bars;
- :mod:`~milkbayes.simulate.figures`: matplotlib figures for reports and notebooks.
"""

from milkbayes.simulate.design import (
    assurance,
    bayes_power,
    power,
    precision_curve,
    retrodesign,
    sample_size_for_precision,
    type_sm,
)
from milkbayes.simulate.dgp import DGPSettings, SimulatedData, SimulationError, change_sd, simulate
from milkbayes.simulate.rtm import expected_rtm_change, regression_to_mean
from milkbayes.simulate.runner import StudyRun, run_study
from milkbayes.simulate.sbc import MODELS, SBCResult, sbc

__all__ = [
    "MODELS",
    "DGPSettings",
    "SBCResult",
    "SimulatedData",
    "SimulationError",
    "StudyRun",
    "assurance",
    "bayes_power",
    "change_sd",
    "expected_rtm_change",
    "power",
    "precision_curve",
    "regression_to_mean",
    "retrodesign",
    "run_study",
    "sample_size_for_precision",
    "sbc",
    "simulate",
    "type_sm",
]
