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

from milkbayes.simulate.dgp import DGPSettings, SimulatedData, SimulationError, change_sd, simulate
from milkbayes.simulate.runner import StudyRun, run_study

__all__ = ["DGPSettings", "SimulatedData", "SimulationError", "StudyRun", "change_sd",
           "run_study", "simulate"]
