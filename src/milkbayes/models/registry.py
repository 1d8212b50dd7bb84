"""The model registry: the one list of the models milkbayes knows.

Every command, the reanalysis, the sensitivity tools, the simulations and the tests
take the list of models from :data:`MODEL_NAMES`, and load a model by name through
:func:`load_model`, which also checks that the module keeps the model contract
(``docs/model-contract.md``). Adding a model means adding its file to this package
and its name here.

Examples
--------
>>> MODEL_NAMES
('paired_change', 'signed_rank', 'prepost_hierarchical', 'two_arm')
>>> load_model("paired_change").EFFECT
'effect'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from milkbayes.errors import ModelError

MODEL_NAMES = ("paired_change", "signed_rank", "prepost_hierarchical", "two_arm")
"""Every model, in the order the documentation lists them (simplest first)."""

CONTRACT = ("NAME", "LIKELIHOODS", "EFFECT", "inputs", "build", "extra_summary")
"""What every model module defines (see ``docs/model-contract.md``)."""

ONE_OBSERVATION_PER_MOTHER = ("paired_change", "signed_rank")
"""Models of the change ``post - pre``: one observation per mother, no covariates."""


def available_models() -> tuple[str, ...]:
    """Names of the models, as :data:`MODEL_NAMES`.

    Examples
    --------
    >>> "two_arm" in available_models()
    True
    """
    return MODEL_NAMES


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
