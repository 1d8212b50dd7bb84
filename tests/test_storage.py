"""Tests of milkbayes.storage: whole files and whole folders, or nothing.

Faults are made, not waited for: a full disk is an ``OSError(ENOSPC)`` raised by a
writer that replaces the real file object, a failed rename is ``os.replace``
monkeypatched to raise. Each test then looks at the folder itself (old content
still there, no temporary file or folder left) rather than at the code's own
account of what it did.
"""

from __future__ import annotations

import errno
import os
import stat

import pytest

from milkbayes import storage
from milkbayes.errors import MilkbayesError, OutputError, RunExistsError
from milkbayes.storage import (
    atomic_write_bytes,
    atomic_write_text,
    check_writable_folder,
    current_umask,
    staged_folder,
)


def _names(folder):
    return sorted(path.name for path in folder.iterdir())


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


# ----------------------------------------------------------------------------- files
def test_atomic_write_text_writes_utf8_readable_as_the_umask_allows(tmp_path, umask_022):
    target = tmp_path / "deep" / "er" / "résumé.txt"
    atomic_write_text(target, "µl ≥ 5\n")
    assert target.read_bytes() == "µl ≥ 5\n".encode()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # 0o666 without the umask's 0o022
    assert _names(target.parent) == ["résumé.txt"]


def test_atomic_write_replaces_an_existing_file_whole(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("old")
    atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert _names(tmp_path) == ["a.json"]


def test_a_failed_rename_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    target.write_text("the earlier result")

    def full_disk(source, destination):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.os, "replace", full_disk)
    with pytest.raises(OutputError) as caught:
        atomic_write_text(target, "the new result")
    assert target.read_text() == "the earlier result"
    assert _names(tmp_path) == ["summary.json"]
    message = str(caught.value)
    assert str(target) in message
    assert "the disk is full" in message


class _FullDiskWriter:
    """A file object whose writes fail as on a full disk (it closes the real file)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, payload):
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.stream, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stream.close()
        return False


def test_a_full_disk_during_the_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("<p>earlier</p>")
    real_fdopen = os.fdopen
    monkeypatch.setattr(
        storage.os, "fdopen", lambda fd, *args, **kw: _FullDiskWriter(real_fdopen(fd, *args, **kw))
    )
    with pytest.raises(OutputError, match="the disk is full") as caught:
        atomic_write_text(target, "<p>new</p>")
    assert str(target) in str(caught.value)
    assert target.read_text() == "<p>earlier</p>"
    assert _names(tmp_path) == ["report.html"]
    assert isinstance(caught.value, MilkbayesError)  # the CLI prints one line, no traceback


def test_an_interrupt_during_the_write_removes_the_temporary_and_propagates(tmp_path, monkeypatch):
    target = tmp_path / "x.txt"
    target.write_text("kept")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(storage.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "lost")
    assert target.read_text() == "kept"
    assert _names(tmp_path) == ["x.txt"]


def test_a_file_in_the_way_of_the_folder_is_an_output_error_naming_the_path(tmp_path):
    (tmp_path / "out").write_text("a file, not a folder")
    target = tmp_path / "out" / "summary.json"
    with pytest.raises(OutputError) as caught:
        atomic_write_text(target, "{}")
    assert str(target) in str(caught.value)


def test_check_writable_folder_creates_the_folder_and_leaves_no_probe(tmp_path):
    folder = check_writable_folder(tmp_path / "new" / "results")
    assert folder.is_dir()
    assert _names(folder) == []


def test_check_writable_folder_refuses_a_file_in_the_way(tmp_path):
    (tmp_path / "results").write_text("")
    with pytest.raises(OutputError, match="exists and is not a folder") as caught:
        check_writable_folder(tmp_path / "results")
    assert str(tmp_path / "results") in str(caught.value)


def test_current_umask_reads_without_changing_it():
    previous = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert os.umask(0o027) == 0o027  # still set after the read
    finally:
        os.umask(previous)


# --------------------------------------------------------------------------- folders
def _mine(folder):
    return (folder / "MARKER").exists()


def _write_earlier_run(folder, *, marker=True):
    folder.mkdir()
    (folder / "old.txt").write_text("earlier")
    if marker:
        (folder / "MARKER").write_text("")


def test_staged_folder_appears_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "run"
    with staged_folder(target, force=False, is_replaceable=_mine) as stage:
        assert stage.parent == tmp_path
        assert not target.exists()  # nothing at the target until the work is complete
        atomic_write_text(stage / "summary.json", "{}")
        (stage / "MARKER").write_text("")
    assert _names(target) == ["MARKER", "summary.json"]
    assert _names(tmp_path) == ["run"]


def test_staged_folder_replaces_an_empty_folder_without_force(tmp_path):
    (tmp_path / "run").mkdir()
    with staged_folder(tmp_path / "run", force=False, is_replaceable=_mine) as stage:
        (stage / "a").write_text("1")
    assert _names(tmp_path / "run") == ["a"]


def test_staged_folder_refuses_an_earlier_result_without_force(tmp_path):
    _write_earlier_run(tmp_path / "run")
    with pytest.raises(RunExistsError, match="--force"):
        with staged_folder(tmp_path / "run", force=False, is_replaceable=_mine):
            pytest.fail("the work must not start")
    assert _names(tmp_path / "run") == ["MARKER", "old.txt"]
    assert _names(tmp_path) == ["run"]


def test_staged_folder_refuses_foreign_files_even_with_force(tmp_path):
    _write_earlier_run(tmp_path / "thesis", marker=False)
    with pytest.raises(RunExistsError, match="not a milkbayes run") as caught:
        with staged_folder(tmp_path / "thesis", force=True, is_replaceable=_mine):
            pytest.fail("the work must not start")
    assert str(tmp_path / "thesis") in str(caught.value)
    assert (tmp_path / "thesis" / "old.txt").read_text() == "earlier"
    assert _names(tmp_path) == ["thesis"]


@pytest.mark.parametrize("where", ["target", "inside"])
def test_staged_folder_refuses_the_current_directory_and_its_parents(tmp_path, monkeypatch, where):
    target = tmp_path / "run"
    _write_earlier_run(target)  # replaceable, and force is given: only the cwd rule refuses
    (target / "inside").mkdir()
    monkeypatch.chdir(target if where == "target" else target / "inside")
    with pytest.raises(RunExistsError, match="current folder"):
        with staged_folder(target, force=True, is_replaceable=_mine):
            pytest.fail("the work must not start")
    assert _names(target) == ["MARKER", "inside", "old.txt"]


def test_staged_folder_refuses_a_file_at_the_target(tmp_path):
    (tmp_path / "run").write_text("a file")
    with pytest.raises(RunExistsError, match="not a folder"):
        with staged_folder(tmp_path / "run", force=True, is_replaceable=_mine):
            pytest.fail("the work must not start")


def test_staged_folder_replaces_a_replaceable_result_with_force(tmp_path):
    _write_earlier_run(tmp_path / "run")
    with staged_folder(tmp_path / "run", force=True, is_replaceable=_mine) as stage:
        (stage / "new.txt").write_text("new")
        (stage / "MARKER").write_text("")
    assert _names(tmp_path / "run") == ["MARKER", "new.txt"]
    assert _names(tmp_path) == ["run"]  # neither the temporary nor the old copy is left


def test_staged_folder_removes_its_temporary_on_an_exception(tmp_path):
    _write_earlier_run(tmp_path / "run")
    with pytest.raises(ZeroDivisionError):
        with staged_folder(tmp_path / "run", force=True, is_replaceable=_mine) as stage:
            (stage / "partial.txt").write_text("half")
            _ = 1 / 0
    assert _names(tmp_path) == ["run"]
    assert _names(tmp_path / "run") == ["MARKER", "old.txt"]


def test_staged_folder_keeps_a_result_that_landed_meanwhile(tmp_path):
    """Another run writes the target during the work: its result wins, ours is dropped."""
    target = tmp_path / "run"
    with pytest.raises(RunExistsError):
        with staged_folder(target, force=False, is_replaceable=_mine) as stage:
            (stage / "ours.txt").write_text("ours")
            _write_earlier_run(target)  # the other writer
    assert _names(target) == ["MARKER", "old.txt"]
    assert _names(tmp_path) == ["run"]


def test_save_figure_writes_the_format_its_suffix_names_and_refuses_others(tmp_path):
    """PNG and PDF files start with their format's magic bytes; an unknown suffix is refused."""
    from matplotlib.figure import Figure

    from milkbayes.storage import save_figure

    figure = Figure(figsize=(1, 1))
    figure.subplots().plot([0, 1], [1, 0])
    assert save_figure(figure, tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert save_figure(figure, tmp_path / "a.pdf").read_bytes()[:5] == b"%PDF-"
    with pytest.raises(OutputError, match=r"\.docx is not a figure format"):
        save_figure(figure, tmp_path / "a.docx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf", "a.png"]


def test_a_file_in_the_way_is_named_in_the_error(tmp_path):
    """Writing below a file: the error names that file, not errno's "File exists"."""
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    with pytest.raises(OutputError, match=r"notes\.txt is a file, not a folder"):
        atomic_write_text(blocker / "sub" / "x.csv", "a")
    with pytest.raises(OutputError, match=r"notes\.txt is a file, not a folder"):
        with staged_folder(blocker / "run", force=False, is_replaceable=lambda p: False):
            pass
    assert blocker.read_text() == "mine"
