"""Running nutpie so that an interrupted sampler can never pass for a finished one.

On Ctrl-C, ``nutpie.sample`` (blocking mode) catches ``KeyboardInterrupt`` and
*returns* the draws made so far, which look like a finished trace (one chain) or are
NaN-padded (several chains); PyMC's ``sample_posterior_predictive`` likewise catches
it and returns a partly uninitialised buffer. Everything here turns an interrupt
(Ctrl-C, or SIGTERM from ``kill``) back into ``KeyboardInterrupt`` in the caller, so
that no partial result is summarised or saved.

Examples
--------
>>> check_sampler_settings(draws=10, tune=1, chains=1, seed=0)
>>> with interrupts_reraised():
...     pass
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from milkbayes.errors import MilkbayesError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import xarray as xr


def check_sampler_settings(**settings: int) -> None:
    """Refuse sampler settings nutpie cannot run.

    Parameters
    ----------
    **settings : int
        Any of ``draws``, ``tune``, ``chains`` (each at least 1) and ``seed``
        (0 to ``2**63 - 1``).

    Raises
    ------
    MilkbayesError
        Naming the first setting that is not an integer in its range.

    Notes
    -----
    ``tune`` must be at least 1: nutpie 0.16 panics ("early_end < num_tune") with 0.

    Examples
    --------
    >>> check_sampler_settings(draws=10, tune=0, chains=1, seed=1)
    Traceback (most recent call last):
    ...
    milkbayes.errors.MilkbayesError: tune must be an integer >= 1, not 0
    """
    minimum = {"draws": 1, "tune": 1, "chains": 1, "seed": 0}
    for name, value in settings.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or value < minimum[name]
        ):
            raise MilkbayesError(f"{name} must be an integer >= {minimum[name]}, not {value!r}")
    if settings.get("seed", 0) >= 2**63:
        raise MilkbayesError(f"seed must be below 2**63, not {settings['seed']}")


def sample_uninterrupted(compiled: Any, **settings: Any) -> xr.DataTree:
    """``nutpie.sample(compiled, **settings)``, except that Ctrl-C raises KeyboardInterrupt.

    The sampler runs in nutpie's non-blocking mode, so the interrupt reaches this
    function: the sampler is cancelled and the interrupt re-raised.

    Parameters
    ----------
    compiled : nutpie compiled model
        With its data already set (``compiled.with_data(...)``).
    **settings
        Passed to ``nutpie.sample`` (``draws``, ``tune``, ``chains``, ``seed``, ...).

    Returns
    -------
    xarray.DataTree
        nutpie's trace.
    """
    return sample_timed(compiled, **settings)[0]


def sample_timed(
    compiled: Any, *, while_sampling: Sequence[Callable[[], Any]] = (), **settings: Any
) -> tuple[xr.DataTree, float]:
    """:func:`sample_uninterrupted`, and the seconds the sampler ran.

    The seconds run from the call of ``nutpie.sample`` to the end of the last chain
    (initial points, warm-up, draws), without the conversion of nutpie's Arrow trace
    into a DataTree, as PyMC's own ``sampling_time`` leaves out the packaging of its
    draws. nutpie's ``wait()`` is exactly those two steps (wait for the chains, then
    extract); they are called one after the other here (private names of nutpie
    0.16, pinned in ``constraints.txt``) to put the clock between them.

    Parameters
    ----------
    compiled : nutpie compiled model
    while_sampling : sequence of callables
        Work that does not need the draws, run one after the other in this thread
        while the chains run in nutpie's own threads (which do not need Python's
        lock: the log-density and its gradient are compiled callbacks). Ctrl-C or
        SIGTERM during this work cancels the sampler as during the wait. When the
        work outlasts the chains, the seconds end at the first check of
        ``is_finished`` after the chains ended (checked after each callable).
    **settings
        Passed to ``nutpie.sample``.

    Returns
    -------
    tree : xarray.DataTree
    seconds : float
    """
    import time

    import nutpie

    start = time.perf_counter()
    sampler = nutpie.sample(compiled, blocking=False, **settings)
    try:
        chains = getattr(sampler, "_sampler", None)
        if chains is None or not hasattr(sampler, "_extract"):  # another nutpie: whole wait
            for work in while_sampling:
                work()
            tree = sampler.wait()
            return tree, time.perf_counter() - start
        finished = None
        for work in while_sampling:
            work()
            if finished is None and _chains_finished(chains):
                finished = time.perf_counter() - start
        chains.wait(None)
        seconds = time.perf_counter() - start if finished is None else finished
        return sampler._extract(chains.take_results()), seconds
    except BaseException:
        sampler.cancel()
        raise


def _chains_finished(chains: Any) -> bool:
    """Whether nutpie's chains have ended (its ``is_finished`` raises TimeoutError until then)."""
    try:
        return bool(chains.is_finished())
    except TimeoutError:
        return False


def sample_draws(
    compiled: Any, names: Sequence[str], *, draws: int, chains: int, **settings: Any
) -> tuple[dict[str, np.ndarray], int]:
    """Posterior draws of ``names`` as arrays, and the number of divergent transitions.

    The same run as :func:`sample_uninterrupted` (Ctrl-C raises KeyboardInterrupt),
    read from nutpie's raw Arrow trace instead of the DataTree nutpie builds from it:
    the arrays are the very values the tree would hold (the same Arrow columns, copied
    in the same way), without packaging every variable, statistic and warm-up group
    into xarray objects, which costs more than the sampling itself in the short refits
    of cross-validation (one per held-out mother).

    Parameters
    ----------
    compiled : nutpie compiled model
        With its data already set (``compiled.with_data(...)``).
    names : sequence of str
        The posterior variables to return.
    draws, chains : int
        Draws kept per chain and the number of chains.
    **settings
        Passed to ``nutpie.sample`` (``tune``, ``seed``, ...); warm-up draws are not kept.

    Returns
    -------
    values : dict of str to numpy.ndarray
        Each of shape ``(chains, draws, *shape)``, as ``tree["posterior"][name].values``.
    n_divergent : int
        Divergent transitions among the kept draws (``sample_stats.diverging``).

    Raises
    ------
    KeyboardInterrupt
        When the sampler was interrupted or returned fewer chains or draws than asked.
    MilkbayesError
        When a variable of ``names`` is not in the trace.
    """
    import nutpie

    sampler = nutpie.sample(
        compiled, draws=draws, chains=chains, blocking=False, return_raw_trace=True, **settings
    )
    try:
        results = sampler.wait()
    except BaseException:
        sampler.cancel()
        raise
    draw_batches, stat_batches = results.get_arrow_trace()
    if len(draw_batches) != chains:
        raise KeyboardInterrupt(
            f"sampling stopped early: {len(draw_batches)} chains instead of {chains}"
        )
    import pyarrow

    values: dict[str, list[np.ndarray]] = {name: [] for name in names}
    n_divergent = 0
    for draw, stat in zip(draw_batches, stat_batches, strict=True):
        n_tune = int(pyarrow.array(stat.column("tuning")).to_numpy(False).sum())
        kept = draw.num_rows - n_tune
        if kept != draws:
            raise KeyboardInterrupt(
                f"sampling stopped early: {kept} draws instead of {draws} in a chain"
            )
        kept_draws, kept_stats = draw.slice(n_tune, kept), stat.slice(n_tune, kept)
        diverging = pyarrow.array(kept_stats.column("diverging")).to_numpy(False)
        n_divergent += int(np.asarray(diverging, dtype=bool).sum())
        for name in names:
            if name not in kept_draws.column_names:
                raise MilkbayesError(f"the trace has no variable {name!r}")
            values[name].append(_arrow_values(kept_draws.column(name), kept))
    return {name: np.stack(chunks) for name, chunks in values.items()}, n_divergent


def _arrow_values(column: Any, n_draws: int) -> np.ndarray:
    """One chain's draws of one variable, shaped ``(draws, *shape)``, as nutpie copies them.

    nutpie stores a vector or array variable as a list column whose field metadata
    give the shape; this reads it as ``nutpie.sample._add_arrow_data`` does.
    """
    import pyarrow

    text = (column.field.metadata or {}).get(b"shape", b"")
    shape = tuple(int(s) for s in text.decode().split(",")) if text else ()
    array = pyarrow.array(column)
    if array.null_count:
        raise KeyboardInterrupt("sampling stopped early: a draw is missing")
    if hasattr(array, "flatten"):
        array = array.flatten()
    return np.asarray(array.to_numpy(False)).reshape((n_draws, *shape))


def sample_complete(
    compiled: Any,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    progress: bool,
    target_accept: float,
    while_sampling: Sequence[Callable[[], Any]] = (),
) -> tuple[xr.DataTree, float]:
    """The draws of a fit (no warm-up draws kept), and the seconds the sampler ran.

    ``while_sampling``: see :func:`sample_timed`.

    Raises
    ------
    KeyboardInterrupt
        When the sampler was interrupted, or returned fewer chains or draws than asked.
    """
    tree, seconds = sample_timed(
        compiled,
        while_sampling=while_sampling,
        **_nutpie_settings(draws, tune, chains, seed, progress, target_accept),
    )
    check_complete(tree, draws=draws, chains=chains)
    return tree, seconds


def _nutpie_settings(
    draws: int, tune: int, chains: int, seed: int, progress: bool, target_accept: float
) -> dict[str, Any]:
    """The ``nutpie.sample`` settings of a fit: the same in every way a fit is read.

    ``cores`` is at most ``chains``: the draws do not depend on it, only timings do.
    """
    return {
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "cores": min(chains, os.cpu_count() or 1),
        "seed": int(seed),
        "progress_bar": progress,
        "target_accept": float(target_accept),
        "save_warmup": False,
    }


def sample_posterior(
    compiled: Any,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    progress: bool,
    target_accept: float,
) -> tuple[xr.DataTree, float]:
    """:func:`sample_complete`'s run, in a tree that holds only its ``posterior`` group.

    The same sampler call and settings as :func:`sample_complete`, so the same draws
    (nutpie's trace does not depend on how it is read). Its ``posterior`` is built
    from nutpie's raw Arrow trace: each variable's array is copied by nutpie's own
    ``_add_arrow_data`` (the function nutpie's DataTree is filled with), and the
    variable names, dimensions and coordinates are those nutpie gives it
    (:func:`arviz_base.base.generate_dims_coords`, nutpie's coordinates, the
    unconstrained copies of reparameterised variables left out), so the group
    equals nutpie's. Left out are ``sample_stats`` and the packaging of the other
    groups into xarray objects, which cost more than the sampling itself in the
    many short refits of the sensitivity analyses, read only through their
    posterior (:func:`milkbayes.sensitivity.common.fit_quiet`). Under a nutpie
    release without ``_add_arrow_data`` the posterior of :func:`sample_complete`'s
    tree is returned.

    Parameters
    ----------
    compiled : nutpie compiled model
        With its data already set (``compiled.with_data(...)``).
    draws, tune, chains, seed, progress, target_accept
        As :func:`sample_complete` takes them.

    Returns
    -------
    tree : xarray.DataTree
        With the one child ``posterior``.
    seconds : float
        From the call of ``nutpie.sample`` to the end of the last chain.

    Raises
    ------
    KeyboardInterrupt
        When the sampler was interrupted or returned fewer chains or draws than asked.
    """
    import importlib
    import time

    import nutpie
    import xarray as xr

    settings = _nutpie_settings(draws, tune, chains, seed, progress, target_accept)
    add_arrow_data = getattr(importlib.import_module("nutpie.sample"), "_add_arrow_data", None)
    if add_arrow_data is None:  # another nutpie: its own tree's posterior
        tree, seconds = sample_complete(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            progress=progress,
            target_accept=target_accept,
        )
        return xr.DataTree.from_dict({"posterior": tree["posterior"].to_dataset()}), seconds
    start = time.perf_counter()
    sampler = nutpie.sample(compiled, blocking=False, return_raw_trace=True, **settings)
    try:
        results = sampler.wait()
    except BaseException:
        sampler.cancel()
        raise
    seconds = time.perf_counter() - start
    posterior = _posterior_dataset(results, compiled, add_arrow_data, draws=draws, chains=chains)
    tree = xr.DataTree.from_dict({"posterior": posterior})
    check_complete(tree, draws=draws, chains=chains)
    return tree, seconds


def _posterior_dataset(
    results: Any, compiled: Any, add_arrow_data: Callable[..., None], *, draws: int, chains: int
) -> xr.Dataset:
    """The ``posterior`` group nutpie would build from ``results`` (its raw trace)."""
    import pandas as pd
    import pyarrow
    import xarray as xr
    from arviz_base.base import generate_dims_coords

    draw_batches, stat_batches = results.get_arrow_trace()
    if len(draw_batches) != chains:
        raise KeyboardInterrupt(
            f"sampling stopped early: {len(draw_batches)} chains instead of {chains}"
        )
    # nutpie leaves these unconstrained copies out of the posterior (store_unconstrained=False)
    skipped = list(getattr(compiled, "reparameterized_names", None) or ())
    data: dict[str, np.ndarray] = {}
    dims: dict[str, list[str]] = {}
    for chain, (draw, stat) in enumerate(zip(draw_batches, stat_batches, strict=True)):
        n_tune = int(pyarrow.array(stat.column("tuning")).to_numpy(False).sum())
        kept = draw.num_rows - n_tune
        if kept != draws:
            raise KeyboardInterrupt(
                f"sampling stopped early: {kept} draws instead of {draws} in a chain"
            )
        add_arrow_data(data, draws, draw.slice(n_tune, kept), chain, chains, dims, skipped)
    coords = {name: pd.Index(values) for name, values in compiled.coords.items()}
    variables = {}
    all_coords: dict[str, Any] = {}
    for name, values in data.items():
        named = ["chain", "draw", *dims.get(name, [])]
        var_dims, var_coords = generate_dims_coords(
            values.shape,
            var_name=name,
            dims=named,
            # its own coordinates only: the function copies what it is given
            coords={dim: coords[dim] for dim in named if dim in coords},
        )
        variables[name] = (tuple(var_dims), values)
        all_coords.update(var_coords)
    return xr.Dataset(variables, coords=all_coords)


def check_complete(tree: xr.DataTree, *, draws: int, chains: int) -> None:
    """Refuse a posterior with fewer chains or draws than asked for.

    A second line of defence behind :func:`sample_uninterrupted`: a sampler that
    stopped early in a way nutpie swallowed must not be saved as a complete run.

    Raises
    ------
    KeyboardInterrupt
        Naming the chains and draws found.
    """
    posterior = tree["posterior"]
    got = (posterior.sizes.get("chain", 0), posterior.sizes.get("draw", 0))
    if got != (chains, draws):
        raise KeyboardInterrupt(
            f"sampling stopped early: {got[0]} chains x {got[1]} "
            f"draws instead of {chains} x {draws}"
        )


def with_data(compiled: Any, values: dict[str, np.ndarray]) -> Any:
    """``compiled.with_data`` for the values its graph uses.

    A ``pm.Data`` that no log-density term needs (e.g. the Student-t prior of a model
    fitted with the normal likelihood) is not part of the compiled graph, so it cannot
    hold stale values either.

    Parameters
    ----------
    compiled : nutpie compiled model
    values : dict of str to array
        Values by ``pm.Data`` name; names the graph does not use are skipped.

    Returns
    -------
    nutpie compiled model
        A copy holding ``values``.
    """
    known = {var.name for var in compiled.shared_var_keys}
    return compiled.with_data(
        **{name: np.asarray(value) for name, value in values.items() if name in known}
    )


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def sigterm_as_keyboard_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt within the block.

    Cleanup code written for Ctrl-C (removing a half-written run folder) then runs on
    ``kill`` too. Main thread only: Python installs signal handlers nowhere else.
    """
    if not _in_main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def interrupts_reraised() -> Iterator[None]:
    """Re-raise, at the end of the block, a Ctrl-C or SIGTERM that the block swallowed.

    Within the block SIGINT and SIGTERM are recorded and raised as
    ``KeyboardInterrupt`` (so a loop stops at once); if code inside catches it and
    returns normally (as PyMC's ``sample_posterior_predictive`` does, with a partly
    filled buffer), ``KeyboardInterrupt`` is raised again when the block ends.
    Outside the main thread the block runs unguarded (no handlers can be installed).

    Raises
    ------
    KeyboardInterrupt
        When a signal arrived during the block.

    Examples
    --------
    >>> import os, signal
    >>> try:
    ...     with interrupts_reraised():
    ...         try:
    ...             os.kill(os.getpid(), signal.SIGTERM)
    ...         except KeyboardInterrupt:
    ...             pass  # swallowed, as PyMC does
    ... except KeyboardInterrupt as interrupt:
    ...     print("re-raised:", interrupt)
    re-raised: interrupted by signal 15
    """
    if not _in_main_thread():
        yield
        return
    received: list[int] = []

    def record(signum: int, frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, record) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt(f"interrupted by signal {received[0]}")
