"""Helpers shared by the model scripts: the inputs container, prior data, weights, CLI.

Every model module follows the same contract (see ``docs/architecture.md``). What they
have in common lives here once, so that the four scripts differ only in their maths.

Examples
--------
>>> import numpy as np
>>> inputs = ModelInputs(data={"d": np.array([1.0, 2.0])}, coords={"mother": ["a", "b"]},
...                      meta={"n": 2})
>>> sorted(inputs.data), inputs.coords["mother"]
(['d'], ['a', 'b'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from milkbayes.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pymc as pm

    from milkbayes.data.study import Study
    from milkbayes.models.priors import PriorSet


@dataclass(frozen=True)
class ModelInputs:
    """What a model needs from a study, as arrays.

    Attributes
    ----------
    data : dict of str to numpy.ndarray
        Exactly the ``pm.Data`` names of the model (prior hyperparameters excluded).
    coords : dict of str to list
        The model's coordinates.
    meta : dict
        Anything else a summary needs (e.g. ``n``, the outcome unit, the coding).
    """

    data: dict[str, np.ndarray]
    coords: dict[str, list]
    meta: dict[str, Any] = field(default_factory=dict)


def check_likelihood(likelihood: str | None, allowed: tuple[str, ...], model: str) -> str:
    """Return ``likelihood`` (the first allowed one when None) or raise ModelError.

    Examples
    --------
    >>> check_likelihood(None, ("normal", "student_t"), "paired_change")
    'normal'
    >>> check_likelihood("gamma", ("normal",), "paired_change")
    Traceback (most recent call last):
    ...
    milkbayes.errors.ModelError: model paired_change has no likelihood 'gamma'; allowed: normal
    """
    if likelihood is None:
        return allowed[0]
    if likelihood not in allowed:
        raise ModelError(
            f"model {model} has no likelihood {likelihood!r}; allowed: {', '.join(allowed)}"
        )
    return likelihood


ONE_GROUP = "one_group"
TWO_ARM = "two_arm"


def model_design(module: Any) -> str:
    """The design a model module fits: two arms when it says so, else one group.

    A module says so with ``DESIGN = "two_arm"`` or ``NEEDS_CONTROL_ARM = True``.
    """
    if getattr(module, "DESIGN", ONE_GROUP) == TWO_ARM or getattr(
        module, "NEEDS_CONTROL_ARM", False
    ):
        return TWO_ARM
    return ONE_GROUP


def design_rows(module: Any, study: Study) -> tuple[Study, str | None]:
    """The participants a model fits, and a sentence when that is not all of them.

    A one-group model (its effect is the mean pre-to-post change) fitted to data with
    a control arm would pool the two arms and report a mixture of the massage arm's
    change and the control arm's: a number that is no one's effect. It is fitted to
    the massage arm alone, and the note says so; the arms are compared by a two-arm
    model (``DESIGN = "two_arm"``), which gets every participant.

    Examples
    --------
    >>> import pandas as pd
    >>> from types import SimpleNamespace
    >>> from milkbayes.data.study import study_from_frame
    >>> s = study_from_frame(pd.DataFrame({"id": list("abcd"), "pre": [1.0, 2, 3, 4],
    ...     "post": [5.0, 6, 3, 4], "group": ["massage", "massage", "control", "control"]}))
    >>> rows, note = design_rows(SimpleNamespace(NAME="paired_change"), s)
    >>> rows.n, note.split(":")[0]
    (2, 'paired_change is a one-group model')
    """
    if model_design(module) == TWO_ARM or not study.has_control:
        return study, None
    arm = study.arm("massage")
    return arm, (
        f"{module.NAME} is a one-group model: fitted to the {arm.n} participants of the "
        f"massage arm only; the {study.n - arm.n} control participants are not used "
        "(its effect is the massage arm's pre-to-post change; a two-arm model compares "
        "the arms)"
    )


def require_both_arms(massage: np.ndarray, message: str) -> None:
    """Raise ``ModelError(message)`` unless both arms are present.

    ``massage`` holds 1 for a massaged mother and 0 for a control; ``message`` is the
    model's own explanation of why it needs a control arm, with ``{arm}`` for the one
    arm found.
    """
    massage = np.asarray(massage, dtype=float)
    if massage.min() == massage.max():
        raise ModelError(message.format(arm="massage" if massage[0] else "control"))


def outcome_scaling(study: Study) -> tuple[float, float]:
    """Centre and scale that turn prior values into outcome units.

    Named prior sets are written once per outcome kind (see :mod:`milkbayes.models.priors`):
    volumes in ml (centre 0, scale 1), scores per 10 checklist points (scale
    ``max_score / 10``) and continuous outcomes in standard deviations of the pre
    measurement (centre = mean of ``pre``, scale = its SD). The models multiply
    location and scale hyperparameters by this scale, so the posterior stays in the
    outcome's own units.

    Examples
    --------
    >>> import pandas as pd
    >>> from milkbayes.data.study import study_from_frame
    >>> s = study_from_frame(pd.DataFrame({"id": ["a", "b"], "pre": [1.0, 3.0],
    ...                                    "post": [2.0, 5.0]}))
    >>> s.outcome.kind, outcome_scaling(s)
    ('continuous', (2.0, 1.4142135623730951))
    """
    kind = study.outcome.kind
    if kind == "score":
        return 0.0, study.outcome.max_score / 10.0
    if kind == "continuous":
        pre = study.table["pre"].to_numpy(dtype=float)
        scale = float(np.std(pre, ddof=1)) if pre.size > 1 else 0.0
        if not np.isfinite(scale) or scale <= 0:
            raise ModelError(
                "the pre measurements have no spread, so a continuous outcome "
                "cannot be put on the standardised prior scale"
            )
        return float(np.mean(pre)), scale
    return 0.0, 1.0


def prior_data(prior: PriorSet) -> dict[str, Any]:
    """Register every prior value as ``pm.Data("prior_<name>")`` in the current model.

    All values of the set become data, used or not by the chosen likelihood, so the
    fitting engine can swap any prior set into one compiled model.
    """
    import pymc as pm

    return {
        name: pm.Data(f"prior_{name}", np.asarray(float(value)))
        for name, value in sorted(prior.values.items())
    }


def weight_likelihood(observed_rv, observed_value, weight, name: str = "mother_weight_term"):
    """Make each observation's log-likelihood count ``weight`` times.

    The observed variable keeps its ordinary, unweighted log-likelihood (so
    ``pm.compute_log_likelihood`` and predictive sampling see the plain model); a
    potential adds ``(w - 1) * log p(y)``, so the total is ``w * log p(y)``. A held-out
    mother (``w = 0``) therefore contributes nothing to the posterior, and the same
    compiled model serves every leave-one-mother-out refit.
    """
    import pymc as pm

    return pm.Potential(name, ((weight - 1.0) * pm.logp(observed_rv, observed_value)).sum())


def build_model(
    model_module, study: Study, prior: PriorSet, likelihood: str | None = None
) -> pm.Model:
    """``build(inputs(study))`` with the default likelihood: a convenience for tests."""
    likelihood = check_likelihood(likelihood, model_module.LIKELIHOODS, model_module.NAME)
    return model_module.build(model_module.inputs(study, likelihood), prior, likelihood)


def rao_blackwell_log_density_at_zero(
    centre, n: float, loc: float, scale: float, nodes: int = 80
) -> tuple[float, float]:
    r"""Log posterior density of delta at 0, averaged over full conditionals.

    When, given the other parameters of a draw :math:`s`, the likelihood of
    :math:`\delta` is :math:`\exp(-n(\delta - m_s)^2/2)` and the prior is
    :math:`\mathrm{Cauchy}(\delta_0, r)`, the full conditional density at zero is

    .. math::

        p(0 \mid m_s) = \frac{e^{-n m_s^2/2}\, c(0)}{\sqrt{2\pi/n}\;
            \mathrm{E}_{Z}[c(m_s + Z/\sqrt n)]}, \qquad Z \sim N(0, 1),

    with :math:`c` the Cauchy density; the expectation uses Gauss-Hermite quadrature
    (``numpy.polynomial.hermite_e``). The posterior density at zero is the average of
    :math:`p(0 \mid m_s)` over draws (Gelfand & Smith 1990), taken in log space. It
    stays a valid estimate however far the posterior lies from zero, but then few
    draws carry the average: the second value returned is the effective number of
    draws, :math:`(\sum_s p_s)^2 / \sum_s p_s^2`.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> log_p, ess = rao_blackwell_log_density_at_zero(np.zeros(4), 1e6, 0.0, 1.0)
    >>> round(float(np.exp(log_p)), 1), ess  # huge n: conditional is N(0, 1/n) at 0
    (398.9, 4.0)
    """
    from numpy.polynomial.hermite_e import hermegauss
    from scipy import special, stats

    centre = np.asarray(centre, dtype=float).ravel()
    x, w = hermegauss(nodes)
    w = w / np.sqrt(2 * np.pi)
    prior = stats.cauchy(loc, scale)
    mean_prior = (prior.pdf(centre[:, None] + x[None, :] / np.sqrt(n)) * w).sum(axis=1)
    log_p = (
        -0.5 * n * centre**2 + prior.logpdf(0.0) - 0.5 * np.log(2 * np.pi / n) - np.log(mean_prior)
    )
    log_mean = float(special.logsumexp(log_p) - np.log(log_p.size))
    weights = np.exp(log_p - log_p.max())
    ess = float(weights.sum() ** 2 / (weights**2).sum())
    return log_mean, ess
