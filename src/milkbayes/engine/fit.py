r"""Fit a model to a study with nutpie, and summarise the fit.

:func:`fit` is the one fitting path of milkbayes (the CLI, the reanalysis, the
sensitivity analyses and ``python models/NAME.py`` all call it). It takes the model's
compiled form from :mod:`milkbayes.engine.cache` (compiling it at most once per
process), swaps in this fit's data and prior values, samples
(:mod:`milkbayes.engine.sampling`), adds the deterministics
(:mod:`milkbayes.engine.deterministics`), the pointwise log-likelihood and the
posterior predictive (:mod:`milkbayes.engine.predictive`), and summarises the
effect. Run folders are :mod:`milkbayes.engine.runs`.

Notes
-----
**Summary.** With :math:`\theta^{(s)}` the posterior draws of the model's ``EFFECT``:
the median, the equal-tailed interval at ``ci_prob`` P (quantiles (1 - P)/2 and
(1 + P)/2, 0.025 and 0.975 by default, from
``arviz.summary(..., ci_kind="eti", ci_prob=P)``), :math:`P(\theta > 0) \approx
S^{-1}\sum_s 1[\theta^{(s)} > 0]` and, when an MCID :math:`m` is given,
:math:`P(\theta > m)`.

**Reproducibility.** Same data, prior, settings and seed give bit-identical draws,
whatever the process fitted before and whatever the on-disk compile cache holds
(see :mod:`milkbayes.engine.compile_cache` for the latter).

Examples
--------
>>> import types
>>> resolve_target_accept(types.ModuleType("m"), 0.95)
0.95
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from milkbayes import RECONSTRUCTED_WARNING
from milkbayes.engine.cache import CacheEntry, is_ready, prepared_model
from milkbayes.engine.deterministics import Deterministics
from milkbayes.engine.log_density import log_density, prepare_log_density
from milkbayes.engine.predictive import add_posterior_predictive
from milkbayes.engine.run_writer import RunWriter
from milkbayes.engine.sampling import (
    check_sampler_settings,
    sample_complete,
    sample_posterior,
    with_data,
)
from milkbayes.errors import MilkbayesError, ModelError
from milkbayes.models.contract import design_rows
from milkbayes.models.registry import load_model

if TYPE_CHECKING:  # pragma: no cover - typing only
    import xarray as xr

    from milkbayes.diagnostics import ConvergenceReport

DEFAULT_SEED = 20241
"""The seed used when none is given (the contract in ``docs/architecture.md``)."""

DEFAULT_DRAWS = 1000
"""Draws per chain unless the model sets ``DRAWS`` (the flagship: 2000)."""

DEFAULT_TARGET_ACCEPT = 0.9
"""nutpie's step-size adaptation target unless the model sets ``TARGET_ACCEPT``.

nutpie's own default, 0.8, leaves divergent transitions (``signed_rank``,
``prepost_hierarchical``) in 4 x 1000 draws on the bundled data at the default seed.
A model that needs more sets its own (``prepost_hierarchical``: 0.95).
"""


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SamplerSettings:
    """What nutpie was asked to do."""

    draws: int
    tune: int
    chains: int
    seed: int
    target_accept: float = DEFAULT_TARGET_ACCEPT

    def as_dict(self) -> dict[str, int | float]:
        """JSON-ready form."""
        return {
            "draws": self.draws,
            "tune": self.tune,
            "chains": self.chains,
            "seed": self.seed,
            "target_accept": self.target_accept,
        }


RUN_PRIOR_DRAWS = 1000
"""Draws of the ``prior`` and ``prior_predictive`` groups of a run folder."""


@dataclass
class RunParts:
    """What :func:`arviz_tree` adds to a fit, made before the draws exist.

    Attributes
    ----------
    prior_tree : xarray.DataTree or None
        :func:`milkbayes.engine.predictive.prior_predictive` of the fit's model, prior,
        inputs and seed, with ``prior_draws`` draws.
    prior_draws : int
    log_prior : xarray.Dataset or None
        The ``log_prior`` group, computed with the log-likelihood by one function
        compiled while the chains ran (None: :func:`arviz_tree` computes it).
    writer : milkbayes.engine.run_writer.RunWriter or None
        The helper process that draws the prior groups (then ``prior_tree`` stays
        None here) and builds the NetCDF file for
        :func:`milkbayes.engine.runs.save_run` (None: this process does both).
    """

    prior_tree: Any = None
    prior_draws: int = RUN_PRIOR_DRAWS
    log_prior: Any = None
    writer: RunWriter | None = None


@dataclass(frozen=True)
class FitResult:
    """One fitted model.

    Attributes
    ----------
    tree : xarray.DataTree
        ``posterior``, ``sample_stats``, ``log_likelihood``,
        ``posterior_predictive``, ``observed_data``; the prior name and values, model,
        likelihood, seed and reconstructed flag are in ``tree.attrs``.
    summary : dict
        Effect median and 95 % interval, P(effect > 0), P(effect > MCID) when an MCID
        was given (``"mcid": None`` otherwise) and the model's ``extra_summary``.
    diagnostics : milkbayes.diagnostics.ConvergenceReport
        A property: R-hat, ESS and the sampler's checks of ``tree``, computed on first
        access and kept (:func:`milkbayes.diagnostics.convergence_report`). The many
        refits of the sensitivity analyses and of cross-validation read only their
        summary, and the ESS and R-hat of every variable cost more than their sampling.
    model_name, likelihood : str
    prior : milkbayes.models.priors.PriorSet
    seed : int
    study : milkbayes.data.study.Study
    settings : SamplerSettings
    inputs : ModelInputs
        The arrays actually fitted.
    compile_seconds, sample_seconds : float
        Compilation time (0 when the cache served) and the wall time of the refit's
        sampling step: swapping the data in, running the sampler, and packaging its
        draws into ``tree``.
    sampler_seconds : float
        The part of ``sample_seconds`` the sampler ran (warm-up and draws of all
        chains), without the packaging of the draws: the measure PyMC records as its
        own ``sampling_time``, which benchmarks compare with.
    model_module : module, optional
        The model module fitted (also one outside the registry), for
        :func:`arviz_tree`.
    run_parts : RunParts, optional
        What :func:`arviz_tree` adds, prepared while the chains ran
        (``fit(..., run_folder=True)``); None otherwise.
    """

    tree: xr.DataTree
    summary: dict
    model_name: str
    likelihood: str
    prior: Any
    seed: int
    study: Any
    settings: SamplerSettings
    inputs: Any
    compile_seconds: float = 0.0
    sample_seconds: float = 0.0
    model_script_sha256: str = ""
    sampler_seconds: float = 0.0
    model_module: ModuleType | None = None
    run_parts: RunParts | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def diagnostics(self) -> ConvergenceReport:
        """The convergence report of ``tree`` (computed once, on first access)."""
        from milkbayes.diagnostics import convergence_report

        return convergence_report(self.tree)

    @property
    def reconstructed(self) -> bool:
        """True when the fitted data are a reconstruction, not measurements."""
        return bool(getattr(self.study, "reconstructed", False))


# ----------------------------------------------------------------------------- models
def resolve_likelihood(module: ModuleType, likelihood: str | None) -> str:
    """``likelihood``, or the model's default; ModelError if the model lacks it."""
    if likelihood is None:
        return module.LIKELIHOODS[0]
    if likelihood not in module.LIKELIHOODS:
        raise ModelError(
            f"model {module.NAME} has no likelihood {likelihood!r}; "
            f"allowed: {', '.join(module.LIKELIHOODS)}"
        )
    return likelihood


def resolve_draws(module: ModuleType, draws: int | None) -> int:
    """``draws``, else the model's ``DRAWS``, else :data:`DEFAULT_DRAWS`.

    Examples
    --------
    >>> import types
    >>> resolve_draws(types.ModuleType("m"), None), resolve_draws(types.ModuleType("m"), 50)
    (1000, 50)
    """
    return draws if draws is not None else getattr(module, "DRAWS", DEFAULT_DRAWS)


def resolve_target_accept(module: ModuleType, target_accept: float | None) -> float:
    """``target_accept``, else the model's ``TARGET_ACCEPT``, else the engine default.

    Examples
    --------
    >>> import types
    >>> resolve_target_accept(types.ModuleType("m"), None)
    0.9
    >>> resolve_target_accept(types.ModuleType("m"), 1.0)
    Traceback (most recent call last):
    ...
    milkbayes.errors.MilkbayesError: target_accept must lie strictly between 0 and 1, not 1.0
    """
    value = (
        target_accept
        if target_accept is not None
        else getattr(module, "TARGET_ACCEPT", DEFAULT_TARGET_ACCEPT)
    )
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0.0 < float(value) < 1.0
    ):
        raise MilkbayesError(f"target_accept must lie strictly between 0 and 1, not {value!r}")
    return float(value)


def resolve_prior(prior: Any, study: Any, model_name: str) -> Any:
    """A prior set from its name or TOML path (via :func:`milkbayes.models.priors.get_prior`).

    Anything with ``name`` and ``values`` attributes is used as it is.
    """
    if hasattr(prior, "values") and hasattr(prior, "name"):
        return prior
    from milkbayes.models.priors import LITERATURE, get_prior, literature_reason

    if str(prior) == LITERATURE:
        reason = literature_reason(study)
        if reason:
            from milkbayes.errors import PriorError

            raise PriorError(reason)
    return get_prior(prior, study.outcome, model_name)


def model_script_sha256(module: ModuleType) -> str:
    """SHA-256 of the model script's bytes (what provenance records)."""
    path = inspect.getsourcefile(module)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else ""


# ----------------------------------------------------------------------------- fit
def fit(
    model_name: str | ModuleType,
    study: Any,
    *,
    prior: Any = "neutral",
    likelihood: str | None = None,
    mcid: float | None = None,
    draws: int | None = None,
    tune: int = 1000,
    chains: int = 4,
    seed: int = DEFAULT_SEED,
    progress: bool = False,
    log_likelihood: bool = True,
    posterior_predictive: bool = True,
    inputs: Any = None,
    target_accept: float | None = None,
    stage_progress: Any = None,
    ci_prob: float = 0.95,
    run_folder: bool = False,
    posterior_only: bool = False,
) -> FitResult:
    """Fit a model to a study with nutpie, compiling the model at most once per process.

    Parameters
    ----------
    model_name : str or module
        A model of :mod:`milkbayes.models` (``paired_change``, ``signed_rank``,
        ``prepost_hierarchical``, ``two_arm``) or a module following the model contract.
    study : milkbayes.data.study.Study
    prior : str, path or PriorSet
        A named set (``skeptical``, ``neutral``, ``enthusiastic``) or a TOML file.
    likelihood : str, optional
        One of the model's ``LIKELIHOODS``; its first by default.
    mcid : float, optional
        Minimal clinically important difference, in outcome units. Without it the
        summary holds ``"mcid": None`` and no ``p_effect_gt_mcid``.
    draws : int, optional
        Draws kept per chain; default the model's ``DRAWS`` or :data:`DEFAULT_DRAWS`.
    tune, chains : int
        Warm-up draws per chain, and the number of chains.
    seed : int
        Same seed, same data, same settings: bit-identical draws.
    progress : bool
        Show nutpie's progress bar.
    log_likelihood, posterior_predictive : bool
        Add these groups (both needed by LOO and the predictive checks; leave-one-out
        loops that only need the posterior can switch them off).
    inputs : ModelInputs, optional
        Arrays to fit instead of ``model.inputs(study, likelihood)`` (e.g. with a
        held-out mother's ``mother_weight`` set to 0).
    target_accept : float, optional
        Step-size adaptation target in (0, 1); default the model's ``TARGET_ACCEPT``
        or :data:`DEFAULT_TARGET_ACCEPT`.
    stage_progress : callable(stage, done, total), optional
        Told ``("fit", done, 100)`` as the fit moves through its steps, weighted by
        their usual share of a fit's time (:data:`FIT_STEPS`), so that a progress
        reporter (:func:`milkbayes.progress.progress_reporter`) can estimate the
        time left.
    ci_prob : float
        Probability of the summary's central interval of the effect, in (0, 1);
        the keys stay ``effect_ci95_low``/``effect_ci95_high`` (summary schema 1.x).
    run_folder : bool
        The fit will be saved (:func:`milkbayes.engine.runs.save_run`): while the
        chains run in nutpie's threads, this thread does the work that does not
        need the draws (:func:`_while_sampling`): it compiles the deterministics and
        log-density functions, draws the run folder's prior groups
        (``result.run_parts``) and imports the NetCDF writer. The values are those
        of the serial path; only ``sample_seconds`` (and ``sampler_seconds``, if the
        work outlasts the chains) then include that work.
    posterior_only : bool
        Keep only the ``posterior`` group (with the deterministics): the same draws
        and summary, without nutpie's ``sample_stats`` and its packaging of them
        (:func:`milkbayes.engine.sampling.sample_posterior`), for the many refits
        that are read only through their posterior (the sensitivity analyses). Needs
        ``log_likelihood``, ``posterior_predictive`` and ``run_folder`` False; the
        result's ``diagnostics`` then lack the sampler's checks.

    Returns
    -------
    FitResult

    Examples
    --------
    >>> from milkbayes.datasets import load_bundled
    >>> result = fit("paired_change", load_bundled(), draws=200, tune=200, chains=2,
    ...              seed=1)  # doctest: +SKIP
    >>> result.summary["effect_median"] > 0  # doctest: +SKIP
    True
    """
    import time

    module = load_model(model_name)
    draws = resolve_draws(module, draws)
    check_sampler_settings(draws=draws, tune=tune, chains=chains, seed=seed)
    target_accept = resolve_target_accept(module, target_accept)
    likelihood = resolve_likelihood(module, likelihood)
    prior_set = resolve_prior(prior, study, module.NAME)
    if mcid is not None and not np.isfinite(mcid):
        raise MilkbayesError(f"the MCID must be a finite number, not {mcid!r}")
    if posterior_only and (log_likelihood or posterior_predictive or run_folder):
        raise MilkbayesError(
            "posterior_only keeps the posterior alone: it needs log_likelihood, "
            "posterior_predictive and run_folder all False"
        )
    design_note = None
    if inputs is None:
        study, design_note = design_rows(module, study)
        inputs = module.inputs(study, likelihood)
    # Before sampling: nutpie's initial point (each prior's support point, jittered) is
    # computed from the PyMC model's data, so they must be this fit's, not the
    # previous fit's; otherwise a fit's draws would depend on what the process ran before.
    step = _step_reporter(stage_progress)
    step("start")
    entry, values, compile_seconds = prepared_model(module, inputs, prior_set, likelihood)
    step("compile")
    run_parts = RunParts() if run_folder else None
    prepared: dict[str, Any] = {}
    work: Any = ()
    if run_folder:

        def prior_tree() -> xr.DataTree:
            return _prior_tree(module, study, prior_set, likelihood, seed, inputs)

        def log_prior() -> Any:
            function = prepare_log_density(entry.model, "prior")
            return lambda tree: log_density(tree, entry.model, "prior", prepared=function)

        # before the chains start their threads (see milkbayes.engine.run_writer)
        run_parts.writer = RunWriter.start(prior_tree, log_prior)
        work = _while_sampling(
            entry,
            prepared,
            run_parts,
            log_likelihood=log_likelihood,
            prior_tree=None if run_parts.writer is not None else prior_tree,
        )
    try:
        start = time.perf_counter()
        # both give the same draws; a posterior-only tree skips nutpie's packaging
        sample = (
            sample_posterior
            if posterior_only
            else functools.partial(sample_complete, while_sampling=work)
        )
        tree, sampler_seconds = sample(
            with_data(entry.compiled, values),
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            progress=progress,
            target_accept=target_accept,
        )
        sample_seconds = time.perf_counter() - start
        step("sample")
        tree = _add_deterministics(tree, entry)
        tree = _relabel(tree, inputs.coords)
        if run_folder:
            tree = _add_log_densities(
                tree, entry.model, prepared.get("log_density"), run_parts, log_likelihood
            )
        elif log_likelihood:
            tree = _add_log_likelihood(tree, entry.model)
        step("log-likelihood")
        if posterior_predictive:
            tree = add_posterior_predictive(tree, entry.model, seed)
        step("predictive")
        tree.attrs.update(tree_attrs(module, likelihood, prior_set, seed, study))
        summary = summarise(
            tree,
            module,
            inputs,
            prior_set,
            mcid,
            ci_prob=ci_prob,
            benefit=getattr(getattr(study, "outcome", None), "benefit", "increase"),
        )
    except BaseException:
        if run_parts is not None and run_parts.writer is not None:
            run_parts.writer.close()
        raise
    if design_note is not None:
        summary["design_note"] = design_note
    step("summary")
    return FitResult(
        tree=tree,
        summary=summary,
        model_name=module.NAME,
        likelihood=likelihood,
        prior=prior_set,
        seed=seed,
        study=study,
        settings=SamplerSettings(
            draws=draws, tune=tune, chains=chains, seed=seed, target_accept=target_accept
        ),
        inputs=inputs,
        compile_seconds=compile_seconds,
        sample_seconds=sample_seconds,
        sampler_seconds=sampler_seconds,
        model_script_sha256=model_script_sha256(module),
        model_module=module,
        run_parts=run_parts,
    )


def prepare_model(
    model_name: str | ModuleType,
    study: Any,
    *,
    prior: Any = "neutral",
    likelihood: str | None = None,
    ready_only: bool = False,
) -> CacheEntry | None:
    """Put in this process's model cache what :func:`fit` of the same arguments will use.

    The steps of :func:`fit` before the sampler: the model's inputs from the study
    (its design rows), its compiled form (from the compile cache, compiled on a
    miss) and this fit's data set on it. A fit with the same model, study, prior and
    likelihood then finds the entry; its draws do not depend on whether it did
    (:mod:`milkbayes.engine.compile_cache`). The reanalysis calls it before it forks
    its worker, so that both processes have the main model without loading it twice.

    Parameters
    ----------
    model_name, study, prior, likelihood
        As :func:`fit` takes them.
    ready_only : bool
        Do nothing (return None) when the model would have to be compiled in full,
        i.e. it is neither in this process's cache nor recorded on disk
        (:func:`milkbayes.engine.cache.is_ready`): a head start that costs a
        compilation is no head start when a process waits for it.

    Returns
    -------
    milkbayes.engine.cache.CacheEntry or None
    """
    module = load_model(model_name)
    likelihood = resolve_likelihood(module, likelihood)
    prior_set = resolve_prior(prior, study, module.NAME)
    study, _ = design_rows(module, study)
    inputs = module.inputs(study, likelihood)
    if ready_only and not is_ready(module, inputs, prior_set, likelihood):
        return None
    entry, _, _ = prepared_model(module, inputs, prior_set, likelihood)
    return entry


FIT_STEPS = (
    ("start", 0),
    ("compile", 35),
    ("sample", 55),
    ("log-likelihood", 65),
    ("predictive", 85),
    ("summary", 100),
)
"""Steps of :func:`fit` and the share of the fit done at the end of each (of 100).

From profiles of ``milkbayes fit`` on the bundled data with warm caches (benchmarks/
bench_cli_latency.py --profile): loading the compiled model dominates, then the
sampling, the posterior predictive draws, the log-likelihood and the summary with
its diagnostics. Only the estimate of the time left depends on these shares."""


def _step_reporter(stage_progress: Any):
    """``step(name)``: tell ``stage_progress`` that step ``name`` of :data:`FIT_STEPS` ended."""
    done = dict(FIT_STEPS)

    def step(name: str) -> None:
        if stage_progress is not None:
            stage_progress("fit", done[name], 100)

    return step


def _add_deterministics(tree: xr.DataTree, entry: CacheEntry) -> xr.DataTree:
    """The model's deterministics, computed from the draws with the data just set."""
    if entry.deterministics is None:
        entry.deterministics = Deterministics(entry.model)
    tree["posterior"] = entry.deterministics.add_to(tree["posterior"].to_dataset())
    return tree


def _relabel(tree: xr.DataTree, coords: dict) -> xr.DataTree:
    """Put the current coordinate labels (e.g. participant ids) on every group."""
    for path, node in tree.subtree_with_keys:
        dataset = node.to_dataset()
        new = {
            dim: list(labels)
            for dim, labels in coords.items()
            if dim in dataset.dims and dataset.sizes[dim] == len(labels)
        }
        if new:
            tree[path] = node.to_dataset().assign_coords(new)
    return tree


def _add_log_likelihood(tree: xr.DataTree, model: Any) -> xr.DataTree:
    """``pm.compute_log_likelihood``'s group, computed for all draws at once."""
    tree["log_likelihood"] = log_density(tree, model, "likelihood")
    return tree


def _add_log_densities(
    tree: xr.DataTree, model: Any, function: Any, run_parts: RunParts, log_likelihood: bool
) -> xr.DataTree:
    """The log-likelihood group, and the run folder's log-prior, from one prepared call.

    ``function`` (compiled while the chains ran, both kinds in one graph) gives the
    values :func:`milkbayes.engine.log_density.log_density` gives for each kind;
    when it is missing or fails, the log-likelihood is computed as without a run
    folder and the log-prior is left to :func:`arviz_tree`.
    """
    groups: dict[str, Any] = {}
    if function is not None:
        try:
            groups = function.groups(tree)
        except KeyboardInterrupt:
            raise
        except Exception:  # noqa: BLE001 - computed kind by kind below and in arviz_tree
            groups = {}
    if log_likelihood:
        if "likelihood" in groups:
            tree["log_likelihood"] = groups["likelihood"]
        else:
            tree = _add_log_likelihood(tree, model)
    run_parts.log_prior = groups.get("prior")
    return tree


def _while_sampling(
    entry: CacheEntry,
    prepared: dict[str, Any],
    run_parts: RunParts,
    *,
    log_likelihood: bool,
    prior_tree: Any,
) -> list[Any]:
    """The steps :func:`fit` runs while the chains run (``run_folder=True``).

    None needs the draws, and each is what the serial path would compute after the
    chains: the deterministics' function (kept in ``entry``), one function of the
    log-likelihood and the log-prior (:func:`milkbayes.engine.log_density.
    prepare_log_density`; the data it reads are already this fit's; the run folder's
    log-prior is then computed with the log-likelihood), the run folder's prior groups
    (their own model, built afresh, and their own seed), and the modules the NetCDF
    writer imports on its first call. Without ``prior_tree`` the run folder's helper
    process (:mod:`milkbayes.engine.run_writer`) does the last two and the log-prior,
    and the function here is the log-likelihood's alone (one graph of both kinds was
    measured to cost more to build than the two apart). A step that fails leaves its
    part to the
    serial path, which raises the same error where it always did.
    """

    def deterministics() -> None:
        if entry.deterministics is None:
            entry.deterministics = Deterministics(entry.model)

    def log_densities() -> None:
        kinds = ("likelihood",) if log_likelihood else ()
        if prior_tree is not None:  # else the helper computes the log-prior
            kinds += ("prior",)
        if kinds:
            prepared["log_density"] = prepare_log_density(entry.model, kinds)

    def prior() -> None:
        run_parts.prior_tree = prior_tree()

    def writer() -> None:
        from milkbayes.engine.runs import import_writer

        import_writer()

    def guarded(step: Any) -> Any:
        def while_sampling_step() -> None:  # the name the latency benchmark's profile finds
            try:
                step()
            except KeyboardInterrupt:
                raise
            except Exception:  # noqa: BLE001, S110 - the serial path redoes it and raises
                pass

        return while_sampling_step

    steps = [deterministics, log_densities]
    if prior_tree is not None:  # else the run folder's helper process draws the prior
        steps += [prior, writer]
    return [guarded(step) for step in steps]


def _prior_tree(
    module: ModuleType, study: Any, prior: Any, likelihood: str, seed: int, inputs: Any
) -> xr.DataTree:
    """The prior and prior predictive draws of a run folder (:func:`arviz_tree`)."""
    from milkbayes.engine.predictive import prior_predictive

    return prior_predictive(
        module,
        study,
        prior=prior,
        likelihood=likelihood,
        draws=RUN_PRIOR_DRAWS,
        seed=seed,
        inputs=inputs,
    )


def arviz_tree(result: FitResult, *, prior_draws: int = RUN_PRIOR_DRAWS) -> xr.DataTree:
    """A copy of ``result.tree`` with the groups ArviZ's prior tools read.

    Added to the fit's groups (``posterior``, ``sample_stats``, ``log_likelihood``,
    ``posterior_predictive``, ``observed_data``):

    * ``prior`` and ``prior_predictive``: ``prior_draws`` draws of
      :func:`milkbayes.engine.predictive.prior_predictive` on the fit's own inputs
      (for ``arviz.plot_prior_posterior``);
    * ``log_prior``: the log prior density of every free variable at every posterior
      draw (the values of ``pymc.stats.compute_log_prior``, computed by
      :mod:`milkbayes.engine.log_density`), which with ``log_likelihood`` is what
      power-scaling sensitivity (``arviz.psense``, ``arviz.psense_summary``; Kallioinen
      et al. 2024) perturbs;
    * ``constant_data``: every ``pm.Data`` value of the fit, the prior values
      (``prior_<name>``) and the outcome scale (``y_scale``) among them, so the tree
      says on which scale its priors were set;
    * labelled observations: in long format (one row per mother and time) the
      observation dimension ``obs`` gets the coordinates ``mother`` (her id) and
      ``time`` (``"pre"``/``"post"``) in the groups indexed by observation.

    The fit itself does not carry these: they cost a prior simulation and a compiled
    log-prior function, which the many refits of cross-validation and of the
    sensitivity analyses do not need. :func:`milkbayes.engine.runs.save_run` saves
    this tree.

    Parameters
    ----------
    result : FitResult
    prior_draws : int
        Draws of the prior and prior predictive groups.

    Returns
    -------
    xarray.DataTree

    References
    ----------
    Kallioinen N, Paananen T, Bürkner P-C, Vehtari A (2024). Detecting and diagnosing
    prior and likelihood sensitivity with power-scaling. Stat Comput 34, 57.
    """
    from milkbayes.engine.predictive import prior_predictive

    parts = result.run_parts or RunParts(prior_draws=-1)
    prior_tree = parts.prior_tree
    if prior_tree is None or parts.prior_draws != prior_draws:
        prior_tree = prior_predictive(
            load_model(result.model_module or result.model_name),
            result.study,
            prior=result.prior,
            likelihood=result.likelihood,
            draws=prior_draws,
            seed=result.seed,
            inputs=result.inputs,
        )
    return complete_run_tree(run_tree_parts(result), prior_tree)


@dataclass
class RunTree:
    """:func:`arviz_tree` but for its prior groups (picklable: no model, no module).

    Attributes
    ----------
    fit_tree : xarray.DataTree
        A copy of the fit's tree.
    after_prior : dict of str to xarray.Dataset
        The groups that follow the prior groups, in order (``log_likelihood`` when
        the fit has none, ``log_prior``, ``constant_data``).
    coords : dict
        The current coordinate labels (:func:`_relabel`).
    observation_labels : dict or None
        ``mother`` and ``time`` coordinates along ``obs`` (:func:`_observation_labels`).
    """

    fit_tree: Any
    after_prior: dict
    coords: dict
    observation_labels: dict | None


def run_tree_parts(result: FitResult, *, log_prior: bool = True) -> RunTree:
    """Everything of :func:`arviz_tree` that comes from the fit itself (not its prior).

    :func:`complete_run_tree` adds the prior groups; the two may run in different
    processes (:mod:`milkbayes.engine.run_writer`). With ``log_prior=False`` the
    ``log_prior`` group is left None, for :func:`complete_run_tree` to compute.
    """
    import xarray as xr

    from milkbayes.engine.predictive import _quiet_pymc

    module = load_model(result.model_module or result.model_name)
    entry, values, _ = prepared_model(module, result.inputs, result.prior, result.likelihood)
    tree = result.tree.copy()
    after_prior = {}
    if "log_likelihood" not in tree.children:
        after_prior["log_likelihood"] = log_density(tree, entry.model, "likelihood")
    prior_group = result.run_parts.log_prior if result.run_parts is not None else None
    if prior_group is None and log_prior:
        with _quiet_pymc():
            prior_group = log_density(tree, entry.model, "prior")
    dims = entry.model.named_vars_to_dims
    constant_data = xr.Dataset(
        {
            name: (tuple(dims.get(name) or ()), np.asarray(value))
            for name, value in sorted(values.items())
        }
    )
    after_prior |= {"log_prior": prior_group, "constant_data": constant_data}
    return RunTree(
        fit_tree=tree,
        after_prior=after_prior,
        coords=dict(result.inputs.coords),
        observation_labels=_observation_labels(result.inputs, result.study),
    )


def complete_run_tree(
    parts: RunTree, prior_tree: xr.DataTree, log_prior: Any = None
) -> xr.DataTree:
    """:func:`arviz_tree` from :func:`run_tree_parts` and the prior draws' tree.

    ``log_prior(tree)`` computes the ``log_prior`` group when ``parts`` leaves it None
    (:func:`milkbayes.engine.log_density.log_density` of the fit's model).
    """
    tree = parts.fit_tree.copy()
    for group in ("prior", "prior_predictive"):
        if group in prior_tree.children:
            tree[group] = prior_tree[group].to_dataset()
    for group, dataset in parts.after_prior.items():
        if dataset is None and group == "log_prior":
            dataset = log_prior(parts.fit_tree)
        tree[group] = dataset
    tree = _relabel(tree, parts.coords)
    return _label_observations(tree, parts.observation_labels)


def _observation_labels(inputs: Any, study: Any) -> dict | None:
    """``mother`` and ``time`` coordinates along ``obs`` for long-format models (else None)."""
    data = inputs.data
    if "mother_idx" not in data or "time" not in data:
        return None
    ids = np.asarray(list(study.ids), dtype=str)
    return {
        "mother": ("obs", ids[np.asarray(data["mother_idx"], dtype=int)]),
        "time": ("obs", np.where(np.asarray(data["time"]) > 0, "post", "pre")),
    }


def _label_observations(tree: xr.DataTree, labels: dict | None) -> xr.DataTree:
    """Put the ``mother`` and ``time`` labels on the groups indexed by observation."""
    if labels is None:
        return tree
    for path, node in tree.subtree_with_keys:
        dataset = node.to_dataset()
        if "obs" in dataset.dims and not {"mother", "time"} & (
            set(dataset.dims) | set(dataset.variables)
        ):
            tree[path] = dataset.assign_coords(labels)
    return tree


def tree_attrs(
    module: ModuleType, likelihood: str, prior: Any, seed: int, study: Any
) -> dict[str, Any]:
    """Flat attributes (NetCDF stores no nested dicts)."""
    attrs: dict[str, Any] = {
        "milkbayes_model": module.NAME,
        "milkbayes_likelihood": likelihood,
        "milkbayes_prior": str(prior.name),
        "milkbayes_seed": int(seed),
        "milkbayes_reconstructed": int(bool(getattr(study, "reconstructed", False))),
        "milkbayes_data_sha256": str(getattr(study, "sha256", "")),
    }
    attrs.update({f"milkbayes_prior_{name}": float(value) for name, value in prior.values.items()})
    if attrs["milkbayes_reconstructed"]:
        attrs["milkbayes_warning"] = RECONSTRUCTED_WARNING
    return attrs


# ----------------------------------------------------------------------------- summary
def summarise(
    tree: xr.DataTree,
    module: ModuleType,
    inputs: Any,
    prior: Any,
    mcid: float | None,
    *,
    ci_prob: float = 0.95,
    benefit: str = "increase",
) -> dict[str, Any]:
    """The decision quantities of the effect, plus the model's own summary.

    The effect keeps the outcome's own sign (post - pre), so ``p_effect_gt_0`` is
    P(effect > 0) whatever the direction of benefit. ``benefit`` (``"increase"``
    or ``"decrease"``, the outcome's) says which side is the benefit:
    ``p_benefit`` = P(effect > 0) or P(effect < 0), and ``p_benefit_gt_mcid`` =
    P(effect > MCID) or P(effect < -MCID). For a rise they equal ``p_effect_gt_0``
    and ``p_effect_gt_mcid``.

    Raises
    ------
    ModelError
        If the effect variable is missing, not scalar per draw, or not finite.
    """
    posterior = tree["posterior"]
    if module.EFFECT not in posterior.data_vars:
        raise ModelError(
            f"model {module.NAME}: the posterior has no effect variable {module.EFFECT!r}"
        )
    effect = posterior[module.EFFECT]
    if set(effect.dims) != {"chain", "draw"}:
        raise ModelError(
            f"model {module.NAME}: the effect {module.EFFECT!r} must be one "
            f"number per draw, not dims {effect.dims}"
        )
    values = np.asarray(effect.values, dtype=float).ravel()
    if not np.all(np.isfinite(values)):
        raise ModelError(
            f"model {module.NAME}: {int((~np.isfinite(values)).sum())} draws "
            f"of {module.EFFECT!r} are not finite"
        )
    lower, upper = _equal_tailed(tree, module.EFFECT, ci_prob)
    summary: dict[str, Any] = {
        "effect_variable": module.EFFECT,
        "effect_median": float(np.median(values)),
        "effect_mean": float(np.mean(values)),
        "effect_ci95_low": lower,
        "effect_ci95_high": upper,
        "p_effect_gt_0": float(np.mean(values > 0)),
        "mcid": None if mcid is None else float(mcid),
    }
    if mcid is not None:
        summary["p_effect_gt_mcid"] = float(np.mean(values > mcid))
    sign = -1.0 if benefit == "decrease" else 1.0
    summary["benefit"] = "decrease" if sign < 0 else "increase"
    summary["p_benefit"] = float(np.mean(sign * values > 0))
    if mcid is not None:
        summary["p_benefit_gt_mcid"] = float(np.mean(sign * values > mcid))
    extra = module.extra_summary(tree, inputs, prior)
    clash = sorted(set(extra) & set(summary))
    if clash:
        raise ModelError(f"model {module.NAME}: extra_summary() redefines {clash}")
    summary.update(extra)
    return summary


def _equal_tailed(tree: xr.DataTree, variable: str, ci_prob: float) -> tuple[float, float]:
    """Equal-tailed interval at ``ci_prob``: ArviZ's ETI, as ``arviz.summary`` computes it.

    ``arviz.summary(..., kind="stats", ci_kind="eti")`` takes its ``eti<P>_lb/ub``
    columns from ``Dataset.azstats.eti(prob=P, dim=("chain", "draw"), skipna=False)``;
    that call alone gives the same numbers without the mean, the sd and the table,
    which cost ten times as much in the hundreds of refits of a sensitivity grid.
    """
    import arviz_stats  # noqa: F401  (registers the ``azstats`` accessor)

    dataset = tree["posterior"].to_dataset()[[variable]]
    bounds = dataset.azstats.eti(prob=ci_prob, dim=["chain", "draw"], skipna=False)[variable]
    lower, upper = np.asarray(bounds.values, dtype=float)
    return float(lower), float(upper)
