"""Reliability under bad input: messy files against the loader and every CLI command.

A user's spreadsheet may be truncated, binary, huge, in the wrong encoding or
delimiter, hold HTML or spreadsheet formulas in its ids, or numbers at the edge of
floating point. Each case must end in a clear error that names the file (and the
row and column where there is one) with exit status 2, or in a correct result; never
a traceback and never a hang.

Most cases call :func:`milkbayes.cli.main` in-process (fast; an unexpected exception
fails the test with its traceback). The cases where a hang or a crash of the
process itself is the risk (a 200 000-row file) run the installed console script in
a subprocess with a timeout. The cases table is ``tests/README.md``.

Expected values are worked out independently: line numbers by counting the lines
we wrote, Wilcoxon statistics with :func:`scipy.stats.wilcoxon` on changes that
are rank-equivalent but cannot overflow.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from milkbayes.cli import main
from milkbayes.data import load_study
from milkbayes.errors import EXIT_USER_ERROR, DataError

BUNDLED_CSV = Path(__file__).parents[1] / "src" / "milkbayes" / "datasets" / "volume_ml.csv"
ALLOWED_EXIT = {0, EXIT_USER_ERROR, 3}
ENTRY_POINT = Path(sys.executable).with_name("milkbayes")

# Commands that read a study file given as an argument or --data. Sampling commands
# are included: every bad file below is refused while loading, before any sampling.
READERS = {
    "data validate": lambda f: ["data", "validate", f],
    "data describe": lambda f: ["data", "describe", f],
    "reproduce": lambda f: ["reproduce", "--data", f],
    "wilcoxon": lambda f: ["wilcoxon", "--data", f],
    "fit": lambda f: [
        "fit",
        "paired_change",
        "--data",
        f,
        "--draws",
        "10",
        "--tune",
        "10",
        "--chains",
        "1",
        "--out",
        f + ".run",
    ],
    "reanalyze": lambda f: ["reanalyze", "--fast", "--data", f, "--out", f + ".report"],
    "sensitivity influence": lambda f: [
        "sensitivity",
        "influence",
        "--data",
        f,
        "--draws",
        "10",
        "--tune",
        "10",
        "--chains",
        "1",
    ],
    "sensitivity bias": lambda f: [
        "sensitivity",
        "bias",
        "--data",
        f,
        "--draws",
        "10",
        "--tune",
        "10",
        "--chains",
        "1",
    ],
}


# ----------------------------------------------------------------------------- helpers
def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` in-process: (exit status, stdout, stderr).

    Any escaping exception other than SystemExit is what a user would see as a
    traceback, so it fails the test.
    """
    try:
        code = main(argv)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    except Exception as error:  # noqa: BLE001 - that is exactly the failure we look for
        out, err = capsys.readouterr()
        pytest.fail(
            f"traceback from `milkbayes {' '.join(argv)}`: {type(error).__name__}: "
            f"{error}\nstderr: {err[-500:]}"
        )
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert code in ALLOWED_EXIT, f"exit {code}; stderr: {err[-500:]}"
    return code, out, err


def error_line(err: str) -> str:
    """The one ``error: ...`` line a refused input must produce."""
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    return lines[0]


def write(path: Path, text: str | bytes, encoding: str = "utf-8") -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_bytes(text.encode(encoding))
    return path


def bundled_lines() -> list[str]:
    return BUNDLED_CSV.read_text(encoding="utf-8").splitlines()


# ----------------------------------------------------------------------------- files
def truncated_file(folder: Path) -> tuple[Path, str]:
    """Header + 4 rows + row 6 cut after its ``pre`` cell (a download cut short)."""
    lines = bundled_lines()
    cut = ",".join(lines[5].split(",")[:2])  # "M05,<pre>"
    return write(folder / "truncated.csv", "\n".join(lines[:5] + [cut])), "row 6"


def binary_file(folder: Path) -> tuple[Path, str]:
    noise = bytes(random.Random(3).randrange(256) for _ in range(4000))
    return write(folder / "garbage.csv", noise), ""


def zip_file(folder: Path) -> tuple[Path, str]:
    return write(folder / "study.csv", b"PK\x03\x04\x14\x00\x00\x00" + bytes(range(256)) * 8), ""


def latin1_file(folder: Path) -> tuple[Path, str]:
    text = "id,pre,post\nJos\u00e9,1.5,4.0\nRen\u00e9e,2.0,5.5\nAna,3.0,3.5\n"
    return write(folder / "latin1.csv", text, "latin-1"), "row 2"


def utf16_file(folder: Path) -> tuple[Path, str]:
    return write(folder / "utf16.csv", BUNDLED_CSV.read_text(), "utf-16"), "row 1"


def nul_in_number_file(folder: Path) -> tuple[Path, str]:
    return write(
        folder / "nul.csv", b"id,pre,post\na,1,2\nb,2\x00,3\nc,3,5\n"
    ), 'row 3, column "pre"'


def formula_in_number_file(folder: Path) -> tuple[Path, str]:
    text = "id,pre,post\na,1,2\nb,=1+2,3\nc,3,5\n"
    return write(folder / "formula_number.csv", text), 'row 3, column "pre"'


def at_in_number_file(folder: Path) -> tuple[Path, str]:
    text = "id,pre,post\na,1,2\nb,2,3\nc,3,@SUM(A1)\n"
    return write(folder / "at_number.csv", text), 'row 4, column "post"'


def single_participant_file(folder: Path) -> tuple[Path, str]:
    return write(folder / "one.csv", "id,pre,post\nonly,1.0,2.0\n"), "fewer than 2"


BAD_FILES = {
    "truncated": truncated_file,
    "binary": binary_file,
    "zip": zip_file,
    "latin1": latin1_file,
    "utf16": utf16_file,
    "nul_in_number": nul_in_number_file,
    "formula_in_number": formula_in_number_file,
    "at_in_number": at_in_number_file,
    "single_participant": single_participant_file,
}


@pytest.mark.parametrize("command", sorted(READERS))
@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_one_clear_error_from_every_command(capsys, tmp_path, case, command):
    path, where = BAD_FILES[case](tmp_path)
    code, out, err = run_cli(capsys, READERS[command](str(path)))
    assert code == EXIT_USER_ERROR
    line = error_line(err)
    assert str(path) in line and where in line
    assert out == ""
    # a refused input leaves nothing behind: no run folder, no report, no temporary
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_error_for_garbage_stays_short(capsys, tmp_path):
    """A binary file's 'header' must not be echoed back in full (4 kB of noise)."""
    path, _ = binary_file(tmp_path)
    _, _, err = run_cli(capsys, ["data", "validate", str(path)])
    assert len(error_line(err)) < 600


# ----------------------------------------------------------------------------- encodings
def test_latin1_loads_with_the_encoding_it_suggests(capsys, tmp_path):
    path, _ = latin1_file(tmp_path)
    _, _, err = run_cli(capsys, ["data", "validate", str(path)])
    assert "--encoding" in err
    study = load_study(path, encoding="latin-1")
    assert list(study.table["id"]) == ["Jos\u00e9", "Ren\u00e9e", "Ana"]
    np.testing.assert_array_equal(study.change, [2.5, 3.5, 0.5])


def test_utf16_with_its_encoding_equals_the_utf8_file(tmp_path):
    path, _ = utf16_file(tmp_path)
    reference = load_study(BUNDLED_CSV)
    study = load_study(path, encoding="utf-16")
    assert study.table.equals(reference.table)


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_other_delimiters_give_the_same_study(tmp_path, sep):
    path = write(tmp_path / "study.txt", BUNDLED_CSV.read_text().replace(",", sep))
    assert load_study(path).table.equals(load_study(BUNDLED_CSV).table)


def test_forced_wrong_delimiter_names_the_header_row(capsys, tmp_path):
    path = write(tmp_path / "semi.csv", BUNDLED_CSV.read_text().replace(",", ";"))
    code, _, err = run_cli(capsys, ["data", "validate", str(path), "--sep", ","])
    assert code == EXIT_USER_ERROR and "row 1" in error_line(err) and str(path) in err


# ----------------------------------------------------------------------------- strings
HOSTILE_IDS = [
    "<script>alert(1)</script>",
    "<b onmouseover=x>",
    "a&b\"'",
    '=HYPERLINK("x")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "../../etc/passwd",
]


def hostile_id_file(folder: Path) -> Path:
    rows = [
        f'"{i.replace(chr(34), chr(34) * 2)}",{k + 1},{2 * k + 3}'
        for k, i in enumerate(HOSTILE_IDS)
    ]
    return write(folder / "hostile.csv", "id,pre,post\n" + "\n".join(rows) + "\n")


def test_hostile_ids_are_kept_verbatim_not_run_or_altered(tmp_path):
    """Ids are data: kept exactly (neither executed nor silently rewritten)."""
    study = load_study(hostile_id_file(tmp_path))
    assert list(study.table["id"]) == HOSTILE_IDS
    np.testing.assert_array_equal(study.change, [k + 2 for k in range(len(HOSTILE_IDS))])


def test_hostile_ids_through_describe_and_wilcoxon_json(capsys, tmp_path):
    path = hostile_id_file(tmp_path)
    code, out, _ = run_cli(capsys, ["wilcoxon", "--data", str(path), "--json"])
    assert code == 0
    payload = json.loads(out)
    expected = scipy.stats.wilcoxon(np.arange(2, 2 + len(HOSTILE_IDS)), method="exact")
    assert payload["p_value"] == pytest.approx(expected.pvalue, rel=1e-12)
    code, out, _ = run_cli(capsys, ["data", "describe", str(path), "--json"])
    assert code == 0 and json.loads(out)["n"] == len(HOSTILE_IDS)


def exported_first_cell(cell: str) -> list[str]:
    """Write one row through :func:`milkbayes.report.render.write_csv`, read it back.

    It is read as a spreadsheet would (newline="" keeps carriage returns inside cells).
    """
    import csv
    import tempfile

    from milkbayes.report.render import write_csv

    with tempfile.TemporaryDirectory() as folder:
        path = write_csv([{"id": cell, "x": 1.5}], Path(folder) / "t.csv")
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.reader(handle))[1]


@given(cell=st.text(alphabet=st.sampled_from("=+-@\t\r,;\"' <>&abc123"), min_size=1, max_size=12))
@settings(max_examples=150, deadline=None)
def test_csv_export_neutralises_formula_prefixes(cell):
    """Cells that a spreadsheet would run as formulas are exported guarded.

    A text cell starting with = + - @, tab or carriage return (OWASP's list) reaches
    the CSV whole, with a leading quote (so a spreadsheet shows it instead of running
    it); other text and numbers are unchanged.
    """
    row = exported_first_cell(cell)
    assert row[0] == ("'" + cell if cell[0] in "=+-@\t\r" else cell)
    assert row[1] == "1.5"


@pytest.mark.parametrize("cell", ["\r=1+2", "M01\rM02", "=1\r@2"])
def test_csv_export_keeps_a_carriage_return_inside_its_cell(tmp_path, cell):
    """A bare carriage return inside a cell must not split the row.

    Otherwise the guarding quote would end up alone in its cell and the formula in
    the next row, unguarded.
    """
    import csv

    from milkbayes.report.render import csv_safe, write_csv

    path = write_csv([{"id": cell, "x": 1.5}], tmp_path / "t.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[1] == [csv_safe(cell), "1.5"]


MARKUP_CASES = {
    # (file name, content, extra options): a dropped id, an ignored column, a file name
    "dropped id": (
        "drop.csv",
        "id,pre,post\n[/],1,\nb,2,5\nc,3,4.5\nd,3,3.5\n",
        ["--complete-case"],
        "[/]",
    ),
    "ignored column": (
        "col.csv",
        "id,pre,post,extra[/]\na,1,2,x\nb,2,5,y\nc,3,4.5,z\n",
        [],
        "extra[/]",
    ),
    "file name": ("[bold]y.csv", "id,pre,post\na,1,2\nb,2,5\nc,3,4.5\n", [], "[bold]y.csv"),
}


@pytest.mark.parametrize("command", ["validate", "describe"])
@pytest.mark.parametrize("case", sorted(MARKUP_CASES))
def test_rich_markup_in_user_text_is_printed_literally(capsys, tmp_path, case, command):
    name, text, options, shown = MARKUP_CASES[case]
    path = write(tmp_path / name, text)
    code, out, _ = run_cli(capsys, ["data", command, str(path), *options])
    assert code == 0 and shown in out


def test_influence_prints_an_id_like_a_markup_tag_literally(capsys, tmp_path):
    """Ids "[/]" and "[bold]b" in the influence table are shown literally, exit 0.

    Read as rich markup, "[/]" would raise rich.errors.MarkupError (a traceback) and
    "[bold]b" would lose its text.
    """
    path = tmp_path / "ids.csv"
    path.write_text("id,pre,post\n[/],1,2\n[bold]b,2,5\nc,3,4.5\nd,3,3.5\n")
    code, out, err = run_cli(
        capsys,
        [
            "sensitivity",
            "influence",
            "--data",
            str(path),
            "--draws",
            "20",
            "--tune",
            "20",
            "--chains",
            "1",
        ],
    )
    assert code == 0, err[-500:]
    assert "[/]" in out and "[bold]b" in out


def test_rich_markup_in_a_run_folder_name_through_fit_and_diagnose(capsys, tmp_path):
    """A run folder named "[/]run[bold]" is printed literally by `fit` and `diagnose`.

    The folder name, a path, reaches rich tables and status lines.
    """
    run_dir = tmp_path / "[/]run[bold]"
    code, out, err = run_cli(
        capsys,
        [
            "fit",
            "paired_change",
            "--draws",
            "20",
            "--tune",
            "20",
            "--chains",
            "1",
            "--out",
            str(run_dir),
        ],
    )
    assert code == 0 and f"run folder: {run_dir}" in out, err[-400:]
    code, out, err = run_cli(capsys, ["diagnose", str(run_dir)])
    assert code == 0 and str(run_dir) in out + err


# ----------------------------------------------------------------------------- numbers
def test_extreme_but_representable_values_give_scipy_s_result(capsys, tmp_path):
    """Volumes near the top of the float range whose changes do not overflow."""
    pre = [1e300, 2e300, 3e300, 4e300, 5e300]
    post = [1e308, 5e307, 1e300, 7e305, 4e300]
    text = "id,pre,post\n" + "".join(
        f"p{i},{a!r},{b!r}\n" for i, (a, b) in enumerate(zip(pre, post, strict=True))
    )
    path = write(tmp_path / "extreme.csv", text)
    code, out, _ = run_cli(capsys, ["wilcoxon", "--data", str(path), "--json"])
    assert code == 0
    change = np.asarray(post) - np.asarray(pre)
    expected = scipy.stats.wilcoxon(change, method="exact")
    payload = json.loads(out)
    assert payload["n_zero"] == 0 and payload["n_negative"] == 2
    assert payload["p_value"] == pytest.approx(expected.pvalue, rel=1e-12)


def test_values_beyond_float_range_are_refused_where_they_are(capsys, tmp_path):
    path = write(tmp_path / "inf.csv", "id,pre,post\na,1,2\nb,1e309,3\nc,2,4\n")
    code, _, err = run_cli(capsys, ["data", "validate", str(path)])
    assert code == EXIT_USER_ERROR and 'row 3, column "pre"' in error_line(err)


def csv_of(tmp_path: Path, name: str, pre, post) -> Path:
    return write(
        tmp_path / name,
        "id,pre,post\n"
        + "".join(f"p{i},{a!r},{b!r}\n" for i, (a, b) in enumerate(zip(pre, post, strict=True))),
    )


def check_wilcoxon_or_clear_error(capsys, path: Path, pre, post):
    """A correct signed-rank result, or exit 2 naming the file and the row."""
    code, out, err = run_cli(capsys, ["wilcoxon", "--data", str(path), "--json"])
    assert code in ALLOWED_EXIT and "Traceback" not in err
    if code == EXIT_USER_ERROR:
        assert str(path) in error_line(err) and "row" in error_line(err)
        return
    # post/2 - pre/2 (or a power-of-two rescaling) keeps order, signs and ties exactly
    changes = np.asarray(post) / 2 - np.asarray(pre) / 2
    if np.max(np.abs(changes)) < 1e-300:
        changes = np.asarray(post) * 2.0**1000 - np.asarray(pre) * 2.0**1000
    nonzero = changes[changes != 0]
    w_plus = scipy.stats.rankdata(np.abs(nonzero))[nonzero > 0].sum()
    expected = scipy.stats.wilcoxon(changes, method="exact", zero_method="wilcox")
    payload = json.loads(out)
    assert payload["n_zero"] == int(np.sum(changes == 0))
    assert payload["w_plus"] == pytest.approx(w_plus)
    assert payload["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)


def test_overflowing_differences_are_not_snapped_to_zero(capsys, tmp_path):
    """Small changes beside overflowing ones are not treated as zeros.

    With changes -2e308, 2e308, 1, 3, snapping the small changes 1 and 3 to 0
    relative to the huge ones would give n_zero = 2, W+ = 1.5, silently; expected
    W+ = 1 + 2 + 3.5 = 6.5 with no zeros, or a clear refusal naming the file and
    the participant row.
    """
    pre, post = [-1e308, 1e308, 1.0, 2.0], [1e308, -1e308, 2.0, 5.0]
    check_wilcoxon_or_clear_error(capsys, csv_of(tmp_path, "huge.csv", pre, post), pre, post)


def test_subnormal_values_do_not_crash_wilcoxon(capsys, tmp_path):
    """Subnormal changes (5e-324 etc.) give scipy's result or a clear error.

    A tolerance computed as log10 of the largest change meets log10(0) there.
    """
    pre, post = [5e-324, 0.0, 5e-324, 1e-320], [1e-323, 5e-324, 2e-323, 4e-320]
    check_wilcoxon_or_clear_error(capsys, csv_of(tmp_path, "tiny.csv", pre, post), pre, post)


def test_subnormal_values_do_not_crash_reproduce(capsys, tmp_path):
    """frequentist._snap via `milkbayes reproduce`: the same traceback."""
    path = csv_of(
        tmp_path, "tiny.csv", [5e-324, 0.0, 5e-324, 1e-320], [1e-323, 5e-324, 2e-323, 4e-320]
    )
    code, _, err = run_cli(capsys, ["reproduce", "--data", str(path), "--json"])
    assert code == 0 or str(path) in error_line(err)


def test_overflowing_differences_do_not_crash_reproduce(capsys, tmp_path):
    """`reproduce` with changes that overflow: a result without NaN, or exit 2.

    The t-test and Hodges-Lehmann intervals use scipy's brentq, which stops with a
    traceback when it meets NaN.
    """
    path = csv_of(tmp_path, "huge.csv", [-1e308, 1e308, 1.0, 2.0], [1e308, -1e308, 2.0, 5.0])
    code, out, err = run_cli(capsys, ["reproduce", "--data", str(path), "--json"])
    if code == 0:
        assert "NaN" not in out
    else:
        assert str(path) in error_line(err)


def test_reproduce_with_nearly_constant_changes(capsys, tmp_path):
    """Nearly constant changes (t ~ 1e4): a result or a clear refusal, no traceback.

    24 mothers who all gain 10 ml give or take 0.002 ml make the noncentral-t cdf
    NaN far in the tail, where the d_z interval's root finder looks. Expected: a
    result (the interval of d_z may be reported as unavailable) or a clear refusal.
    """
    path = tmp_path / "constant.csv"
    path.write_text(
        "id,pre,post\n" + "".join(f"m{i},{20 + i},{30 + i + 0.001 * (i % 3)}\n" for i in range(24))
    )
    code, out, err = run_cli(capsys, ["reproduce", "--data", str(path), "--json"])
    assert code in (0, EXIT_USER_ERROR) and "Traceback" not in err
    if code == 0:
        assert "NaN" not in out


NUMBER = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6).map(repr),
    st.integers(-5, 5).map(str),
    st.sampled_from(["0", "1", "1.5", "-0", "0.1", "0.2"]),
)


@given(
    rows=st.lists(st.tuples(NUMBER, NUMBER), min_size=2, max_size=9),
    argv=st.sampled_from(
        [
            ["reproduce"],
            ["wilcoxon", "--method", "exact"],
            ["wilcoxon", "--method", "asymptotic", "--zero-method", "pratt"],
            ["wilcoxon", "--method", "spss", "--zero-method", "zsplit"],
        ]
    ),
)
@example(rows=[("16909.0", "0.0"), ("16909.0", "1")], argv=["reproduce"])
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_frequentist_commands_on_ordinary_small_tables_never_crash(rows, argv):
    """`reproduce` and `wilcoxon` on 2-9 participants with values within +-1e6.

    Large |t| (e.g. pre 16909 -> post 0 and 1: t = -33817) reaches the same NaN
    tail of the noncentral t as above.
    """
    import contextlib
    import io
    import tempfile

    text = "id,pre,post\n" + "".join(f'p{i},"{a}","{b}"\n' for i, (a, b) in enumerate(rows))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.csv"
        path.write_text(text)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([argv[0], "--data", str(path), "--json", *argv[1:]])
            except SystemExit as done:
                code = done.code
    assert code in (0, EXIT_USER_ERROR), err.getvalue()[-400:]
    if code == 0:
        assert "NaN" not in out.getvalue()


def test_all_changes_zero_is_a_clear_error_for_the_tests(capsys, tmp_path):
    path = write(tmp_path / "zeros.csv", "id,pre,post\na,1,1\nb,2,2\nc,3.5,3.5\n")
    code, _, _ = run_cli(capsys, ["data", "validate", str(path)])
    assert code == 0  # valid data...
    for command in ("wilcoxon", "reproduce"):
        code, _, err = run_cli(capsys, [command, "--data", str(path)])
        assert code == EXIT_USER_ERROR and "zero" in error_line(err)  # ...nothing to rank


def test_all_changes_zero_with_pratt_ranks_nothing(capsys, tmp_path):
    path = write(tmp_path / "zeros.csv", "id,pre,post\na,1,1\nb,2,2\nc,3.5,3.5\n")
    code, out, err = run_cli(
        capsys, ["wilcoxon", "--data", str(path), "--zero-method", "pratt", "--json"]
    )
    if code == 0:  # pratt keeps zeros in the ranking: W+ = 0 and no evidence at all
        payload = json.loads(out)
        assert payload["w_plus"] == 0 and payload["p_value"] == pytest.approx(1.0)
    else:
        assert "zero" in error_line(err)


# ----------------------------------------------------------------------------- fuzzing
@given(raw=st.binary(max_size=600))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_loader_on_arbitrary_bytes_loads_or_raises_data_error(raw):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.csv"
        path.write_bytes(raw)
        try:
            study = load_study(path)
        except DataError as error:
            assert str(path) in str(error)
        else:
            assert study.n >= 2 and np.all(np.isfinite(study.change))


CELL = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.text(alphabet=st.sampled_from("0123456789.,-+e=@<>\"' \tna"), max_size=8),
)


ID = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=6
)


@given(
    rows=st.lists(st.tuples(ID, CELL, CELL), min_size=0, max_size=8),
    sep=st.sampled_from([",", ";", "\t"]),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_loader_on_csv_like_text_loads_exactly_or_names_the_row(rows, sep):
    """Text that looks like a study: numbers read back exactly, or a located error.

    Either every number is read back exactly, or a DataError names the file and,
    for a cell problem, its row.
    """
    import csv
    import io
    import tempfile

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator="\n")
    writer.writerow(["id", "pre", "post"])
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        try:
            study = load_study(path)
        except DataError as error:
            assert error.file == str(path)
            if error.column in ("pre", "post"):
                assert error.row is not None and 2 <= error.row <= len(rows) + 1
        else:
            assert study.n == len(rows)
            for k, (_, pre, post) in enumerate(rows):
                assert study.table["pre"].iloc[k] == pytest.approx(
                    float(pre.replace(",", ".")), rel=1e-15, abs=0
                )
                del post


# ----------------------------------------------------------------------------- quoting
SIX_ROWS = ["a,1,2,ok", "b,2,4,{note}", "c,3,5,fine", "d,4,7,x", "e,5,6,{last}", "f,6,9,z"]


@pytest.mark.parametrize(
    ("note", "last"),
    [
        ('"unterminated', 'say "hi"'),  # the quote closes on row 6: rows 4-6 swallowed
        ('"unterminated', "y"),  # never closed: rows 4-7 swallowed up to the end
    ],
)
def test_unmatched_quote_in_an_ignored_column_is_refused_at_its_row(capsys, tmp_path, note, last):
    """A stray quote that would swallow rows is refused at the row where it opens.

    Six participants written, a stray quote in the free-text column of row 3: the
    loader must refuse and point at row 3, never analyse fewer rows than written.
    """
    rows = [r.format(note=note, last=last) for r in SIX_ROWS]
    path = write(tmp_path / "quote.csv", "id,pre,post,note\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError) as caught:
        load_study(path)
    assert caught.value.file == str(path) and caught.value.row == 3
    assert "quote" in caught.value.message
    code, out, err = run_cli(capsys, ["data", "validate", str(path)])
    assert code == EXIT_USER_ERROR and out == ""
    assert str(path) in error_line(err) and "row 3" in error_line(err)


def test_a_quoted_note_over_two_lines_is_still_one_participant(tmp_path):
    """A real multi-line note (Alt-Enter in a spreadsheet) is not a stray quote."""
    text = 'id,pre,post,note\na,1,2,"first line, then\nsecond line"\nb,2,5,x\nc,3,4,y\n'
    study = load_study(write(tmp_path / "note.csv", text))
    assert study.ids == ("a", "b", "c")
    np.testing.assert_array_equal(study.change, [1.0, 3.0, 1.0])


# ----------------------------------------------------------------------------- digits
@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("1_000", "1_000"),  # Python's digit separator
        ("\u0663", "\\u0663"),  # ARABIC-INDIC DIGIT THREE
        ("\uff13", "\\uff13"),  # FULLWIDTH DIGIT THREE
        ("\u0661.\u0665", "\\u0661"),  # Arabic-Indic digits with an ASCII point
        ("\u09e8", "\\u09e8"),  # BENGALI DIGIT TWO
    ],
)
def test_numbers_are_ascii_digits_only(tmp_path, cell, shown):
    """``float()`` accepts all of these; a study file must not (silent coercion)."""
    path = write(tmp_path / "digits.csv", f"id,pre,post\na,1,2\nb,{cell},4\nc,3,5\n")
    with pytest.raises(DataError) as caught:
        load_study(path)
    error = caught.value
    assert (error.file, error.row, error.column) == (str(path), 3, "pre")
    assert shown in error.message and error.message.isascii()


def test_non_ascii_digits_are_refused_with_a_decimal_comma_too(tmp_path):
    path = write(tmp_path / "comma.csv", "id;pre;post\na;1,5;2\nb;\u0662,5;4\nc;3,0;5\n")
    with pytest.raises(DataError) as caught:
        load_study(path)
    assert (caught.value.row, caught.value.column) == (3, "pre")


def test_parquet_null_is_a_missing_value_not_text(tmp_path):
    """An Int64 column's null (pandas NA) is a missing value, not the text "<NA>".

    Without complete_case it is an error naming the row; with it, the participant
    is dropped and named.
    """
    import pandas as pd

    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "pre": pd.array([1, 2, None, 4], dtype="Int64"),
            "post": [2.0, 3.5, 4.0, 4.5],
        }
    )
    path = tmp_path / "na.parquet"
    frame.to_parquet(path)
    with pytest.raises(DataError, match="missing value") as caught:
        load_study(path)
    assert (caught.value.row, caught.value.column) == (4, "pre")
    study = load_study(path, complete_case=True)
    assert study.dropped_ids == ("c",)
    np.testing.assert_array_equal(study.change, [1.0, 1.5, 0.5])


def test_a_number_below_the_smallest_float_is_refused_not_read_as_zero(tmp_path):
    """A number that underflows to 0 is refused where it is.

    1e-400 is below the smallest subnormal float (about 4.9e-324) and would read as
    an exact 0, a "no change" to a paired test; 5e-324 is representable and kept.
    """
    path = write(tmp_path / "tiny.csv", "id,pre,post\na,5e-324,1\nb,1e-400,4\nc,3,5\n")
    with pytest.raises(DataError, match="too small") as caught:
        load_study(path)
    assert (caught.value.row, caught.value.column) == (3, "pre")


def test_a_unicode_minus_sign_is_refused_with_a_hint(tmp_path):
    path = write(tmp_path / "minus.csv", "id,pre,post\na,1,2\nb,\u22122.5,4\nc,3,5\n")
    with pytest.raises(DataError, match="hyphen-minus") as caught:
        load_study(path)
    assert (caught.value.row, caught.value.column) == (3, "pre")


# ----------------------------------------------------------------------------- ids
@pytest.mark.parametrize(
    "bad_id",
    [
        "a\x00b",  # NUL: crashed `fit` when the run folder was saved
        "a\x1b[2Jb",  # ESC: an ANSI sequence that would clear the user's terminal
        "a\x9b31mb",  # C1 CSI
        "a\x85b",  # C1 next line
        "a\x7fb",  # DEL
        "a\u202eb",  # right-to-left override: the id would display reversed
        "a\u200bb",  # zero-width space: two ids that look the same
        "a\u2028b",  # line separator
        "a\nb",  # a newline inside a quoted id
    ],
)
def test_ids_must_be_printable_text(capsys, tmp_path, bad_id):
    quoted = '"' + bad_id + '"'
    path = write(tmp_path / "ids.csv", f"id,pre,post\nok,1,2\n{quoted},2,4\nc,3,5\n")
    with pytest.raises(DataError, match="printable") as caught:
        load_study(path)
    assert (caught.value.row, caught.value.column) == (3, "id")
    code, out, err = run_cli(capsys, ["data", "validate", str(path)])
    assert code == EXIT_USER_ERROR and out == ""
    assert "\x1b" not in err and "\x00" not in err and "\x9b" not in err


def test_printable_ids_in_any_script_and_markdown_look_alikes_are_kept(tmp_path):
    ids = ["![x](http://host/p.png)", "M\u00fcller 1", "\u5c71\u7530", "id with spaces"]
    body = "".join(f'"{i}",{k},{k + 2}\n' for k, i in enumerate(ids))
    study = load_study(write(tmp_path / "ids.csv", "id,pre,post\n" + body))
    assert study.ids == tuple(ids)


def test_a_column_name_with_a_control_character_is_refused(capsys, tmp_path):
    """A column name holding ESC is refused: ignored names are echoed to the terminal."""
    path = write(tmp_path / "head.csv", "id,pre,post,x\x1b[2J\na,1,2,\nb,2,4,\n")
    code, out, err = run_cli(capsys, ["data", "validate", str(path)])
    assert code == EXIT_USER_ERROR and out == "" and "\x1b" not in err
    assert "row 1" in error_line(err) and "printable" in err


def test_ids_equal_in_unicode_composed_form_are_duplicates(tmp_path):
    """An id with a precomposed é and one with e + combining acute are the same id."""
    import unicodedata

    composed, decomposed = (unicodedata.normalize(f, "Jos\u00e9") for f in ("NFC", "NFD"))
    assert composed != decomposed
    path = write(tmp_path / "nfc.csv", f"id,pre,post\n{composed},1,2\n{decomposed},2,4\nc,3,5\n")
    with pytest.raises(DataError, match="duplicate id") as caught:
        load_study(path)
    assert (caught.value.row, caught.value.column) == (3, "id")


@pytest.mark.parametrize("kind", ["folder", "device"])
def test_a_path_that_is_not_a_file_says_so(capsys, tmp_path, kind):
    path = tmp_path / "study.csv"
    if kind == "folder":
        path.mkdir()
    else:
        path = Path("/dev/null")
    with pytest.raises(DataError, match="not a file"):
        load_study(path)
    code, out, err = run_cli(capsys, ["data", "validate", str(path)])
    assert code == EXIT_USER_ERROR and out == "" and str(path) in error_line(err)


def test_an_unreadable_file_is_one_clear_error(capsys, tmp_path, monkeypatch):
    """Permission denied (simulated: the tests may run as root, who reads anything)."""
    import errno

    path = write(tmp_path / "s.csv", "id,pre,post\na,1,2\nb,2,4\n")

    def refuse(self):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    code, out, err = run_cli(capsys, ["data", "validate", str(path)])
    assert code == EXIT_USER_ERROR and out == ""
    assert str(path) in error_line(err) and "Permission denied" in err


# ----------------------------------------------------------------------------- sidecars
@pytest.mark.parametrize(
    ("sidecar", "needle"),
    [
        ("[" * 100_000, "nested"),
        ('{"outcome": {"kind": "score", "max_score": ' + "9" * 5000 + "}}", "digits"),
    ],
)
def test_hostile_sidecar_is_one_clear_error(capsys, tmp_path, sidecar, needle):
    path = write(tmp_path / "s.csv", "id,pre,post\na,1,2\nb,2,4\n")
    side = write(tmp_path / "s.json", sidecar)
    with pytest.raises(DataError, match=needle) as caught:
        load_study(path)
    assert caught.value.file == str(side)
    code, out, err = run_cli(capsys, ["data", "validate", str(path)])
    assert code == EXIT_USER_ERROR and out == "" and str(side) in error_line(err)
    assert len(error_line(err)) < 300


# ----------------------------------------------------------------------------- checkpoints
def small_power(checkpoint: Path) -> list[str]:
    return [
        "simulate",
        "power",
        "--sims",
        "200",
        "--seed",
        "4",
        "--workers",
        "1",
        "--json",
        "--checkpoint",
        str(checkpoint),
    ]


@pytest.mark.parametrize(
    "content",
    [
        None,  # a folder
        bytes(random.Random(5).randrange(256) for _ in range(3000)),  # binary garbage
        b"[1, 2]\n",  # JSON, but not a header object
        b"[" * 100_000 + b"\n",  # nested beyond the parser's recursion limit
    ],
    ids=["folder", "binary", "json_list", "deeply_nested"],
)
def test_unusable_checkpoint_is_one_error_naming_it(capsys, tmp_path, content):
    checkpoint = tmp_path / "study.jsonl"
    if content is None:
        checkpoint.mkdir()
    else:
        checkpoint.write_bytes(content)
    code, out, err = run_cli(capsys, small_power(checkpoint))
    assert code == EXIT_USER_ERROR and out == ""
    assert str(checkpoint) in error_line(err)
    if content is not None:
        assert checkpoint.read_bytes() == content  # not truncated, not replaced


def test_a_checkpoint_line_whose_result_is_not_an_object_names_its_row(capsys, tmp_path):
    """A well-formed line whose result is a number (not a task's mapping) is refused."""
    checkpoint = tmp_path / "study.jsonl"
    assert run_cli(capsys, small_power(checkpoint))[0] == 0
    header = checkpoint.read_bytes().split(b"\n")[0]
    checkpoint.write_bytes(header + b'\n{"index": 0, "result": 5}\n')
    code, out, err = run_cli(capsys, small_power(checkpoint))
    assert code == EXIT_USER_ERROR and out == ""
    assert str(checkpoint) in error_line(err) and "row 2" in error_line(err)


# ----------------------------------------------------------------------------- large file
def _large_file(folder: Path, rows: int = 200_000) -> Path:
    lines = [f"p{i},{1 + i % 7}.5,{3 + i % 11}.25" for i in range(rows)]
    return write(folder / "large.csv", "id,pre,post\n" + "\n".join(lines) + "\n")


def _run_limited(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    """The console script with a timeout and a 4 GB address-space cap.

    A runaway allocation then fails here instead of swapping the machine.
    """

    def cap_memory():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))

    return subprocess.run(
        [str(ENTRY_POINT), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=cap_memory,
    )


@pytest.fixture(scope="module")
def large_file(tmp_path_factory):
    return _large_file(tmp_path_factory.mktemp("large"))


def test_large_file_validates_within_a_minute(large_file):
    started = time.monotonic()
    done = _run_limited(["data", "validate", str(large_file), "--json"], timeout=120)
    elapsed = time.monotonic() - started
    assert "Traceback" not in done.stderr and done.returncode == 0, done.stderr[-800:]
    assert json.loads(done.stdout)["n"] == 200_000
    assert elapsed < 120


def test_large_file_default_exact_wilcoxon_refuses_clearly(large_file):
    done = _run_limited(["wilcoxon", "--data", str(large_file)], timeout=120)
    assert done.returncode == EXIT_USER_ERROR and "Traceback" not in done.stderr
    assert "asymptotic" in done.stderr


def test_large_file_asymptotic_wilcoxon_does_not_need_n_squared_memory(large_file):
    """200 000 rows: scipy's asymptotic p, without the n x n Walsh averages.

    All Walsh averages of 200 000 changes would be a 37 GiB array. Expected:
    scipy's asymptotic p (Hodges-Lehmann by a sub-quadratic algorithm), or a clear
    refusal.
    """
    done = _run_limited(
        ["wilcoxon", "--data", str(large_file), "--method", "asymptotic", "--json"], timeout=180
    )
    assert "Traceback" not in done.stderr, done.stderr[-600:]
    assert done.returncode in ALLOWED_EXIT
    if done.returncode == 0:
        i = np.arange(200_000)
        change = (3 + i % 11 + 0.25) - (1 + i % 7 + 0.5)
        expected = scipy.stats.wilcoxon(change, method="asymptotic", correction=False)
        assert json.loads(done.stdout)["p_value"] == pytest.approx(expected.pvalue, abs=1e-12)


def test_large_file_reproduce_fails_clearly_or_works(large_file):
    """Frequentist / `milkbayes reproduce`: the same 37 GiB MemoryError traceback."""
    done = _run_limited(["reproduce", "--data", str(large_file), "--json"], timeout=180)
    assert "Traceback" not in done.stderr, done.stderr[-600:]
    assert done.returncode in ALLOWED_EXIT


# ----------------------------------------------------------------------------- the table
def test_cases_table_lists_exactly_the_reliability_tests():
    """tests/README.md names every reliability test, and every test it names exists."""
    import re

    here = Path(__file__).parent
    table = (here / "README.md").read_text(encoding="utf-8")
    files = {"I": "test_reliability_input.py", "R": "test_reliability_runs.py"}
    defined = {}
    for key, name in files.items():
        source = (here / name).read_text(encoding="utf-8")
        defined[key] = set(re.findall(r"^def (test_\w+)", source, flags=re.M))
    cited = {key: set(re.findall(rf"\b{key}::(test_\w+)", table)) for key in files}
    for key in files:
        assert cited[key] - defined[key] == set(), f"{files[key]}: cited but missing"
        assert defined[key] - cited[key] == set(), f"{files[key]}: not in the table"
    for path, test in re.findall(r"tests/(test_\w+\.py)::(test_\w+)", table):
        assert re.search(
            rf"^def {test}\(", (here / path).read_text(encoding="utf-8"), flags=re.M
        ), f"{path}::{test} cited but missing"
