"""Run folders: a fit saved to disk with everything needed to redo it, and read back.

A run folder holds :data:`RUN_FILES`: ``posterior.nc`` (the whole DataTree,
h5netcdf, with the prior, log-prior and constant-data groups of
:func:`milkbayes.engine.fit.arviz_tree` that ArviZ's prior tools read),
``summary.json``, ``diagnostics.json`` and ``provenance.json``. It is
written through :func:`milkbayes.storage.staged_folder`: built under a hidden
temporary name and renamed into place when complete, so no half-written run ever
appears; an earlier run is replaced only with ``force``, and never a folder that
holds anything but a run (:func:`is_run_folder`), nor the current folder. JSON is
written under the policy of :mod:`milkbayes.jsonio`.

Examples
--------
>>> safe_run_name("paired_change_normal_my prior_seed1")
'paired_change_normal_my_prior_seed1'
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from milkbayes import RECONSTRUCTED_WARNING
from milkbayes.engine.sampling import sigterm_as_keyboard_interrupt
from milkbayes.errors import MilkbayesError, RunExistsError
from milkbayes.jsonio import dumps
from milkbayes.storage import atomic_write_bytes, atomic_write_text, check_target, staged_folder

if TYPE_CHECKING:  # pragma: no cover - typing only
    import xarray as xr

    from milkbayes.engine.fit import FitResult

RUN_FILES = ("posterior.nc", "summary.json", "diagnostics.json", "provenance.json")
"""The files of a run folder, in the order they are written."""

PROVENANCE_PACKAGES = (
    "milkbayes",
    "pymc",
    "pytensor",
    "nutpie",
    "numba",
    "arviz",
    "arviz-base",
    "arviz-stats",
    "numpy",
    "scipy",
    "pandas",
    "xarray",
    "h5netcdf",
    "h5py",
)
"""Packages whose versions every run records."""


def is_run_folder(folder: Path) -> bool:
    """True when ``folder`` holds a milkbayes run and nothing else.

    Only such a folder may be replaced by ``save_run(..., force=True)``: a folder with
    any other file in it belongs to someone else.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in RUN_FILES:
    ...     _ = (folder / name).write_text("x")
    >>> is_run_folder(folder)
    True
    >>> _ = (folder / "thesis.docx").write_text("mine")
    >>> is_run_folder(folder)
    False
    """
    folder = Path(folder)
    if not folder.is_dir():
        return False
    names = {path.name for path in folder.iterdir()}
    return bool(names) and names <= set(RUN_FILES) and "provenance.json" in names


def check_run_target(target: str | Path, *, force: bool) -> Path:
    """Fail before sampling, not after, when a run cannot be saved in ``target``.

    Parameters
    ----------
    target : path
        The run folder to create.
    force : bool
        Whether an earlier run there may be replaced.

    Returns
    -------
    Path
        ``target`` as an absolute path.

    Raises
    ------
    RunExistsError
        When ``target`` is the current folder or one of its parents, is a file, holds
        a run and ``force`` is false, or holds anything but a run.
    OutputError
        When its parent cannot be created or written (a file in the way, permissions).
    """
    from milkbayes.storage import check_writable_folder

    target = Path(target).absolute()
    if Path.cwd().resolve().is_relative_to(target.resolve()):
        raise RunExistsError(
            f"refusing to write a run into {target}: it is the current folder or one of "
            "its parents; choose a new folder with --out"
        )
    if not force and is_run_folder(target):
        raise RunExistsError(
            f"{target} already holds a run; pass --force to replace it "
            "or --out to choose another folder"
        )
    check_target(target, force=force, is_replaceable=is_run_folder, what="run")
    check_writable_folder(target.parent, what="the run folder")
    return target


def provenance(
    result: FitResult, *, command_line: list[str] | str | dict | None = None
) -> dict[str, Any]:
    """Everything needed to redo a run: versions, seed, hashes, prior, settings.

    Parameters
    ----------
    result : FitResult
    command_line : list, str or dict, optional
        What was asked; ``sys.argv`` by default.

    Returns
    -------
    dict
        JSON-ready by :func:`milkbayes.jsonio.to_jsonable`.
    """
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in PROVENANCE_PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    versions["python"] = platform.python_version()
    if command_line is None:
        command_line = list(sys.argv)
    study = result.study
    prior = result.prior
    return {
        "model": result.model_name,
        "likelihood": result.likelihood,
        "model_script_sha256": result.model_script_sha256,
        "prior": {
            "name": str(prior.name),
            "values": {k: float(v) for k, v in prior.values.items()},
            "source": str(getattr(prior, "source", "named")),
        },
        "sampler": {"name": "nutpie", **result.settings.as_dict()},
        "seed": result.seed,
        "data": {
            "source": str(getattr(study, "source", "")),
            "sha256": str(getattr(study, "sha256", "")),
            "n": int(getattr(study, "n", 0)),
            "dropped_ids": list(getattr(study, "dropped_ids", ())),
        },
        "reconstructed": result.reconstructed,
        "warning": RECONSTRUCTED_WARNING if result.reconstructed else None,
        "command_line": command_line,
        "packages": versions,
        "platform": platform.platform(),
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "compile_seconds": result.compile_seconds,
        "sample_seconds": result.sample_seconds,
        "sampler_seconds": result.sampler_seconds,
    }


def import_writer() -> None:
    """Import what the first NetCDF write of a process imports.

    ``DataTree.to_netcdf(engine="h5netcdf")`` imports h5netcdf and h5py and asks dask
    which scheduler is active (xarray's ``get_dask_scheduler``, which imports
    ``dask.distributed`` when dask is installed, as it is for ``simulate``): about
    0.3 s that :func:`milkbayes.engine.fit.fit` spends while the chains run when
    the fit will be saved, instead of after them.
    """
    import h5netcdf  # noqa: F401
    from xarray.backends.locks import get_dask_scheduler

    get_dask_scheduler()


def netcdf_ready(tree: xr.DataTree) -> xr.DataTree:
    """A copy of ``tree`` that NetCDF can store.

    Object-dtype variables (nutpie's ``divergence_message``) become fixed strings,
    ``None`` and NaN becoming ``""``.

    Parameters
    ----------
    tree : xarray.DataTree

    Returns
    -------
    xarray.DataTree
    """
    out = tree.copy()
    for path, node in tree.subtree_with_keys:
        dataset = node.to_dataset()
        objects = [name for name, var in dataset.data_vars.items() if var.dtype == object]
        if not objects:
            continue
        for name in objects:
            text = np.vectorize(_message_text, otypes=[str])(dataset[name].values)
            dataset[name] = dataset[name].copy(data=text.astype(str))
        out[path] = dataset
    return out


def _message_text(value: Any) -> str:
    """The text of one divergence message: nutpie's None (sampling) and NaN (warm-up) mean none."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def safe_run_name(text: str) -> str:
    """A folder name made from user text: letters, digits, ``-``, ``_`` and ``.`` only.

    Examples
    --------
    >>> safe_run_name("../../etc/my prior.toml")
    'etc_my_prior.toml'
    """
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return name or "run"


def save_run(
    result: FitResult,
    out_dir: str | Path,
    *,
    force: bool = False,
    command_line: list[str] | str | dict | None = None,
) -> Path:
    """Write a run folder atomically and return its path.

    Everything is written into a hidden temporary sibling that is renamed into place
    at the end; on any error, Ctrl-C or SIGTERM the temporary folder is removed, so
    no half-written run remains.

    Parameters
    ----------
    result : FitResult
    out_dir : path
    force : bool
        Replace an earlier run in ``out_dir`` (never a folder holding other files).
    command_line : list, str or dict, optional
        Recorded in ``provenance.json``.

    Returns
    -------
    Path
        The absolute path of the run folder.

    Raises
    ------
    RunExistsError
        See :func:`check_run_target`.
    OutputError
        When the disk refuses the write.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "taken"
    >>> _ = folder.mkdir()
    >>> for name in RUN_FILES:
    ...     _ = (folder / name).write_text("an earlier run")
    >>> save_run(None, folder)
    Traceback (most recent call last):
    ...
    milkbayes.errors.RunExistsError: ... already holds a run; pass --force ...
    """
    target = check_run_target(out_dir, force=force)
    with (
        sigterm_as_keyboard_interrupt(),
        staged_folder(target, force=force, is_replaceable=is_run_folder, what="run") as stage,
    ):
        _write_run_files(result, stage, command_line)
    return target


def _inside(folder: Path, name: str) -> Path:
    """``folder / name``, refusing any name that would leave ``folder``."""
    path = (folder / name).resolve()
    if path.parent != folder.resolve():
        raise MilkbayesError(f"refusing to write {name!r} outside {folder}")
    return path


def _write_run_files(result: FitResult, folder: Path, command_line: Any) -> None:
    # The NetCDF file is built in memory and written by storage: h5py writing straight
    # to a full disk can crash the process (no exception, no cleanup), while a plain
    # write that fails raises OutputError and the staged folder is removed.
    from milkbayes.engine.fit import RUN_PRIOR_DRAWS, arviz_tree, run_tree_parts

    parts = result.run_parts
    writer = None if parts is None else parts.writer
    try:
        if writer is not None and parts.prior_draws == RUN_PRIOR_DRAWS:
            # the helper encodes the file while the diagnostics are computed here
            writer.send(run_tree_parts(result, log_prior=False))
        documents = _documents(result, command_line)
        netcdf = None if writer is None else writer.receive()
    finally:
        if writer is not None:
            writer.close()  # one file per helper: a second save builds its own
            parts.writer = None
    if netcdf is None:
        netcdf = netcdf_ready(arviz_tree(result)).to_netcdf(engine="h5netcdf")
    atomic_write_bytes(_inside(folder, "posterior.nc"), netcdf)
    for name, document in documents.items():
        atomic_write_text(_inside(folder, name), dumps(document) + "\n")


def _documents(result: FitResult, command_line: Any) -> dict[str, dict]:
    """The JSON files of a run folder, by name, in the order they are written."""
    summary = {
        **result.summary,
        "model": result.model_name,
        "likelihood": result.likelihood,
        "prior": str(result.prior.name),
        "reconstructed": result.reconstructed,
        "warning": RECONSTRUCTED_WARNING if result.reconstructed else None,
    }
    return {
        "summary.json": summary,
        "diagnostics.json": result.diagnostics.to_dict(),
        "provenance.json": provenance(result, command_line=command_line),
    }


@dataclass(frozen=True)
class SavedRun:
    """A run folder read back: the DataTree and its JSON files."""

    path: Path
    tree: Any
    summary: dict
    diagnostics: dict
    provenance: dict


def load_run(run_dir: str | Path) -> SavedRun:
    """Read a run folder written by :func:`save_run`.

    Parameters
    ----------
    run_dir : path

    Returns
    -------
    SavedRun

    Raises
    ------
    MilkbayesError
        If the folder or one of its files is missing or unreadable.
    """
    import xarray as xr

    folder = Path(run_dir)
    if not folder.is_dir():
        raise MilkbayesError(f"{folder}: no such run folder")
    missing = [name for name in RUN_FILES if not (folder / name).is_file()]
    if missing:
        raise MilkbayesError(f"{folder}: not a milkbayes run folder (missing {', '.join(missing)})")
    try:
        tree = xr.open_datatree(folder / "posterior.nc", engine="h5netcdf").load()
    except (OSError, ValueError) as error:
        raise MilkbayesError(f"{folder / 'posterior.nc'}: cannot be read ({error})") from error
    loaded = {}
    for name in ("summary.json", "diagnostics.json", "provenance.json"):
        try:
            loaded[name] = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise MilkbayesError(f"{folder / name}: cannot be read ({error})") from error
    return SavedRun(
        path=folder,
        tree=tree,
        summary=loaded["summary.json"],
        diagnostics=loaded["diagnostics.json"],
        provenance=loaded["provenance.json"],
    )
