"""The model registry: the one list of the models milkbayes knows.

Every command, the reanalysis, the sensitivity tools, the simulations and the tests
take the list of models from :data:`MODEL_NAMES`, and load a model by name through
:func:`load_model`, which also checks that the module keeps the model contract
(``docs/model-contract.md``). Adding a model means adding its file to this package
and its name here.

Examples
--------
>>> MODEL_NAMES
('paired_change', 'signed_rank', 'prepost_hierarchical', 'prepost_bivariate', 'two_arm', 'ancova')
>>> load_model("paired_change").EFFECT
'effect'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from milkbayes.errors import ModelError

MODEL_NAMES = (
    "paired_change",
    "signed_rank",
    "prepost_hierarchical",
    "prepost_bivariate",
    "two_arm",
    "ancova",
)
"""Every model, in the order the documentation lists them (simplest first)."""

CONTRACT = ("NAME", "LIKELIHOODS", "EFFECT", "inputs", "build", "extra_summary")
"""What every model module defines (see ``docs/model-contract.md``)."""

ONE_OBSERVATION_PER_MOTHER = ("paired_change", "signed_rank")
"""Models of the change ``post - pre``: one observation per mother, no covariates."""

PREDICTED = ("change", "pre_post", "post_given_pre")
"""What a model's log-likelihood is the density of, per mother (optional ``PREDICTS``).

``"change"``: her change, marginally (``paired_change``, ``signed_rank``);
``"pre_post"``: both her measurements (``prepost_hierarchical``, ``prepost_bivariate``,
``two_arm``); ``"post_given_pre"``: her post value given her pre value (``ancova``).
Cross-validation compares only models that predict the same thing. The last is a
target of its own: p(post | pre) equals p(change | pre), a conditional density that uses the
pre value as information, so its elpd is larger than that of the marginal
p(change) whenever pre predicts the change (regression to the mean),
without the model predicting anything better; ranking the two, or either against a
joint density of (pre, post), would compare densities of different things.
"""


def available_models() -> tuple[str, ...]:
    """Names of the models, as :data:`MODEL_NAMES`.

    Examples
    --------
    >>> "two_arm" in available_models()
    True
    """
    return MODEL_NAMES


def predicts(model: str | ModuleType) -> str:
    """What the model's per-mother log-likelihood is the density of (see :data:`PREDICTED`).

    A model module says so in ``PREDICTS``; without it, the models of
    :data:`ONE_OBSERVATION_PER_MOTHER` predict the change and the others both
    measurements.

    Examples
    --------
    >>> predicts("paired_change"), predicts("prepost_bivariate"), predicts("ancova")
    ('change', 'pre_post', 'post_given_pre')
    """
    module = load_model(model)
    default = "change" if module.NAME in ONE_OBSERVATION_PER_MOTHER else "pre_post"
    value = getattr(module, "PREDICTS", default)
    if value not in PREDICTED:
        raise ModelError(
            f"model {module.NAME}: PREDICTS must be one of {', '.join(PREDICTED)}, not {value!r}"
        )
    return value


def check_model_name(name: str) -> str:
    """``name`` if it is a model of the registry, else a :class:`ModelError` listing them.

    Examples
    --------
    >>> check_model_name("signed_rank")
    'signed_rank'
    """
    if name not in MODEL_NAMES:
        raise ModelError(f"unknown model {name!r}; available: {', '.join(MODEL_NAMES)}")
    return name


def load_model(model: str | ModuleType) -> ModuleType:
    """The model module named ``model`` (or ``model`` itself, if it is a module).

    Raises
    ------
    ModelError
        For an unknown name, listing the models there are, or for a module that lacks
        part of the model contract.
    """
    if isinstance(model, ModuleType):
        module = model
    else:
        module = importlib.import_module(f"milkbayes.models.{check_model_name(str(model))}")
    missing = [name for name in CONTRACT if not hasattr(module, name)]
    if missing:
        raise ModelError(
            f"model module {module.__name__} lacks {', '.join(missing)} "
            "(see the model contract in docs/model-contract.md)"
        )
    return module
