"""Writing results safely: whole files and whole folders, or nothing.

Every file and folder milkbayes writes (run folders, reports, reconstructed data,
simulation checkpoints, figures) goes through this module, so that one set of
promises holds everywhere:

- a reader never sees half a file: a file is written beside its target under a
  hidden temporary name, flushed to disk, then renamed onto the target
  (``os.replace`` is atomic on POSIX within one file system);
- a folder of results is built under a hidden temporary name and renamed into place
  when complete (:func:`staged_folder`);
- an earlier result is never overwritten unless the caller was told to (``force``),
  and even then only a folder that this toolkit wrote (the caller's
  ``is_replaceable`` test) is replaced: never a folder of other files, never the
  current directory;
- when the disk is full or the place is not writable, the error names the path and
  the temporary file is removed (:class:`~milkbayes.errors.OutputError`).

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> atomic_write_text(folder / "a.txt", "hello")
>>> (folder / "a.txt").read_text()
'hello'
>>> with staged_folder(folder / "run", force=False, is_replaceable=lambda p: False) as stage:
...     atomic_write_text(stage / "x.txt", "1")
>>> sorted(p.name for p in (folder / "run").iterdir())
['x.txt']
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from milkbayes.errors import OutputError, RunExistsError


def current_umask() -> int:
    """The process's umask (read without changing it for longer than one call)."""
    current = os.umask(0)
    os.umask(current)
    return current


def _explain(error: OSError, path: Path, what: str) -> OutputError:
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "the file system is read-only",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EISDIR: "the path is a folder",
    }
    reason = reasons.get(error.errno, error.strerror or type(error).__name__)
    blocking = _file_in_the_way(path)
    if blocking is not None:  # mkdir says "File exists" when a parent is a file
        reason = f"{blocking} is a file, not a folder"
    return OutputError(f"cannot write {what} {path}: {reason}; nothing was left behind")


def _file_in_the_way(path: Path) -> Path | None:
    """The first existing ancestor of ``path`` that is not a folder, if any."""
    for ancestor in reversed(Path(path).parents):
        if ancestor.exists() and not ancestor.is_dir():
            return ancestor
    return None


def check_writable_folder(folder: str | Path, *, what: str = "output") -> Path:
    """Fail early, before any long computation, if ``folder`` cannot be created or written.

    Creates ``folder`` (and its parents) if missing and writes and removes a probe file.

    Raises
    ------
    OutputError
        Naming the folder and the reason (a file in the way, permission, full disk).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".milkbayes-probe-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except FileExistsError:
        raise OutputError(
            f"cannot write {what} in {folder}: it exists and is not a folder"
        ) from None
    except OSError as error:
        raise _explain(error, folder, f"{what} in") from None
    return folder


def atomic_write_bytes(path: str | Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` whole, or leave ``path`` as it was.

    The file is readable as the umask allows (``mkstemp`` alone would make it 0600).

    Raises
    ------
    OutputError
        When the folder cannot be created or the disk refuses the write.
    """
    path = Path(path)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    except OSError as error:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise _explain(error, path, "file") from None
    except BaseException:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    r"""Write ``text`` as UTF-8 with ``\n`` line ends, whole or not at all."""
    atomic_write_bytes(path, text.encode("utf-8"))


def rename_or_refuse(temporary: Path, target: Path, *, what: str = "run") -> None:
    """Rename ``temporary`` onto ``target``, or refuse if another writer got there first.

    POSIX ``rename`` onto a non-empty folder fails with ENOTEMPTY or EEXIST: that is
    another run that landed between our check and the rename. Its result is kept.

    Raises
    ------
    RunExistsError
        When ``target`` was written by someone else meanwhile.
    """
    try:
        os.rename(temporary, target)
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
            raise _explain(error, target, what) from None
        raise RunExistsError(
            f"{target} was written by another run meanwhile; it is kept "
            f"and this {what} was not saved"
        ) from error


def _holds_files(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def check_target(
    target: Path, *, force: bool, is_replaceable: Callable[[Path], bool], what: str = "run"
) -> None:
    """Refuse a ``target`` that holds an earlier result, unless it may be replaced.

    Raises
    ------
    RunExistsError
        ``target`` is a file; or it holds files and ``force`` is false; or it holds
        files that this toolkit did not write; or it is the current directory or one
        of its parents.
    """
    if target.exists() and not target.is_dir():
        raise RunExistsError(f"{target} exists and is not a folder")
    if not _holds_files(target):
        return
    if not force:
        raise RunExistsError(
            f"{target} already holds files; pass --force to replace a "
            f"{what}, or choose another folder"
        )
    if Path.cwd().resolve().is_relative_to(target.resolve()):
        raise RunExistsError(
            f"refusing to replace {target}: it is the current folder or one of its parents"
        )
    if not is_replaceable(target):
        raise RunExistsError(
            f"{target} holds files that are not a milkbayes {what}; "
            "refusing to replace it even with --force"
        )


@contextlib.contextmanager
def staged_folder(
    target: str | Path, *, force: bool, is_replaceable: Callable[[Path], bool], what: str = "run"
) -> Iterator[Path]:
    """Build a folder of results under a temporary name; put it in place when complete.

    Parameters
    ----------
    target : path
        Where the folder belongs.
    force : bool
        Replace an earlier result at ``target`` (only if ``is_replaceable(target)``).
    is_replaceable : callable
        True for a folder that this toolkit wrote and may replace.
    what : str
        What the folder holds, for messages ("run", "report").

    Yields
    ------
    Path
        The temporary folder to write into, beside ``target``.

    Raises
    ------
    RunExistsError
        See :func:`check_target`; checked before and again after the work, since
        another run may land meanwhile.
    OutputError
        When the folder cannot be written.
    """
    target = Path(target)
    check_target(target, force=force, is_replaceable=is_replaceable, what=what)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        temporary.chmod(0o777 & ~current_umask())  # mkdtemp makes 0700; results are shared
    except OSError as error:
        raise _explain(error, target, what) from None
    try:
        yield temporary
        _publish(temporary, target, force=force, is_replaceable=is_replaceable, what=what)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _publish(
    temporary: Path, target: Path, *, force: bool, is_replaceable: Callable[[Path], bool], what: str
) -> None:
    if not _holds_files(target):
        rename_or_refuse(temporary, target, what=what)  # an empty folder is replaced
        return
    check_target(target, force=force, is_replaceable=is_replaceable, what=what)
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(target, old)
    try:
        rename_or_refuse(temporary, target, what=what)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def figure_bytes(figure: Any, *, format: str = "png", dpi: int = 100) -> bytes:
    r"""A matplotlib figure, or an arviz_plots ``PlotCollection``, rendered in memory.

    Every figure milkbayes writes or inlines passes through here, so a file on disk
    and a figure embedded in the HTML report are the same bytes. A figure managed by
    pyplot is closed afterwards (a long reanalysis must not accumulate open figures).

    Parameters
    ----------
    figure : matplotlib.figure.Figure or arviz_plots.PlotCollection
        What to render.
    format : str
        A matplotlib output format ("png", "pdf", "svg", ...).
    dpi : int
        Resolution of raster formats.

    Returns
    -------
    bytes
        The rendered file.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(1, 1))
    >>> _ = fig.subplots().plot([0, 1], [0, 1])
    >>> figure_bytes(fig)[:8]
    b'\x89PNG\r\n\x1a\n'
    """
    import io

    if hasattr(figure, "get_viz"):  # arviz_plots PlotCollection
        figure = figure.get_viz("figure")
    buffer = io.BytesIO()
    figure.savefig(buffer, format=format, dpi=dpi)
    import matplotlib.pyplot as plt

    if plt.fignum_exists(getattr(figure, "number", -1)):
        plt.close(figure)
    return buffer.getvalue()


FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
"""The figure files milkbayes writes: a raster for screens, two vector formats for print."""


def check_figure_path(path: str | Path, *, option: str | None = None) -> Path:
    """Refuse a figure path before any computation: its suffix, and its folder.

    The folder is created if missing and probed for writing, so that a read-only or
    impossible place is reported at once, not after minutes of work.

    Parameters
    ----------
    path : path
        Where the figure is to be written.
    option : str, optional
        The command-line option that gave ``path`` (e.g. ``"--figure"``), named at the
        start of the error.

    Raises
    ------
    OutputError
        For a suffix not in :data:`FIGURE_SUFFIXES`, a path that is a folder, or a
        folder that cannot be written.
    """
    path = Path(path)
    try:
        if path.suffix.lower() not in FIGURE_SUFFIXES:
            raise OutputError(
                f"cannot write a figure to {path}: the suffix {path.suffix or '(none)'} is "
                f"not a figure format; use one of {', '.join(FIGURE_SUFFIXES)}"
            )
        if path.is_dir():
            raise OutputError(f"cannot write a figure to {path}: it is a folder; give a file name")
        check_writable_folder(path.parent, what="the figure")
    except OutputError as error:
        if option is None:
            raise
        raise OutputError(f"{option}: {error}") from None
    return path


def save_figure(figure: Any, path: str | Path, *, dpi: int = 120) -> Path:
    """Write ``figure`` to ``path`` whole, in the format its suffix names.

    Raises
    ------
    OutputError
        See :func:`check_figure_path`; or a place that cannot be written.
    """
    path = check_figure_path(path)
    fmt = path.suffix.lstrip(".").lower()
    atomic_write_bytes(path, figure_bytes(figure, format=fmt, dpi=dpi))
    return path
