"""The reconstruction's assumptions, conditioned on the published facts.

The bundled datasets (:mod:`milkbayes.datasets`) fix every unpublished quantity
(baseline, mean rise, its spread, the modifiers) at one assumed value, and the
published facts accept almost every draw of that generator: whatever the bundled
data say in millilitres is the assumption coming back. This subpackage puts priors
on those assumptions and keeps the assumption values (and the datasets) that
reproduce the published facts, by rejection: approximate Bayesian computation
whose acceptance event is exactly the published result (:mod:`.abc`).
"""

from milkbayes.reconstruction.abc import (
    DEFAULT_PROPOSALS,
    ReconstructionPosterior,
    ReconstructionPrior,
    abc_posterior,
    rejection_abc,
)

__all__ = [
    "DEFAULT_PROPOSALS",
    "ReconstructionPosterior",
    "ReconstructionPrior",
    "abc_posterior",
    "rejection_abc",
]
