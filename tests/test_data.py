"""Tests of milkbayes.data.study: the loader, its validation errors, Study and describe.

Expected values are worked out independently: by hand from the tiny files in
tests/data/ (whose bytes are shown in each test), with numpy for summaries, or by
round-tripping random tables (hypothesis).
"""

from __future__ import annotations

import math
import string
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from milkbayes import RECONSTRUCTED_WARNING, published
from milkbayes.data import (
    COVARIATE_COLUMNS,
    MISSING_TOKENS,
    Outcome,
    Study,
    canonical_csv,
    describe,
    load_study,
    sidecar_paths,
    study_from_csv_text,
    study_from_frame,
)
from milkbayes.errors import DataError, MilkbayesError

DATA = Path(__file__).parent / "data"


def error_of(path: Path, **options) -> DataError:
    with pytest.raises(DataError) as caught:
        load_study(path, **options)
    return caught.value


# ----------------------------------------------------------------------------- Outcome
def test_outcome_kinds_and_their_requirements():
    assert Outcome("volume", unit="ml").label == "volume (ml)"
    assert Outcome("continuous").label == "continuous"
    assert Outcome("score", max_score=10).to_dict() == {
        "kind": "score",
        "unit": None,
        "max_score": 10,
    }
    with pytest.raises(DataError, match="needs a unit"):
        Outcome("volume")
    with pytest.raises(DataError, match="needs max_score"):
        Outcome("score")
    with pytest.raises(DataError, match="needs max_score"):
        Outcome("score", max_score=0)
    with pytest.raises(DataError, match="takes no unit"):
        Outcome("score", unit="points", max_score=5)
    with pytest.raises(DataError, match="max_score applies only to scores"):
        Outcome("volume", unit="ml", max_score=5)
    with pytest.raises(DataError, match="unknown outcome kind 'ordinal'"):
        Outcome("ordinal")


def test_data_error_is_a_milkbayes_error():
    assert issubclass(DataError, MilkbayesError)


# ----------------------------------------------------------------------------- each bad file
@pytest.mark.parametrize(
    ("name", "row", "column", "needle"),
    [
        # id,Pre,post -> the close name 'Pre' is offered for 'pre'
        ("missing_column.csv", 1, "pre", "found 'Pre' - did you mean 'pre'?"),
        # m1 on line 2 and again on line 4
        ("duplicate_id.csv", 4, "id", "duplicate id 'm1' (first on row 2)"),
        # line 3: m2,4.0,lots
        ("non_numeric.csv", 3, "post", "not a number: 'lots'"),
        # line 4: m3,inf,8.0
        ("infinite.csv", 4, "pre", "infinite value 'inf'"),
        # line 3: m2,-2.5,7.0 with a volume sidecar
        ("negative_volume.csv", 3, "pre", "negative volume -2.5"),
        # line 4: m3,3,11 with max_score 10
        ("score_out_of_range.csv", 4, "post", "score 11 is outside 0..10"),
        # line 3: m2,3.5,7
        ("score_not_integer.csv", 3, "pre", "score 3.5 is not a whole number"),
        # line 3: multiparous
        (
            "unknown_level.csv",
            3,
            "parity",
            "unknown level 'multiparous' (did you mean 'multipara'?); "
            "allowed: primipara, multipara",
        ),
        # both rows control; reported at the first data row
        ("control_only.csv", 2, "group", "control group needs a massage group"),
        # line 3 is the first missing cell (post of m2)
        (
            "missing_values.csv",
            3,
            "post",
            "missing value (2 row(s) have one); pass --complete-case",
        ),
        # header 'id pre post' split on nothing
        ("wrong_delimiter.csv", 1, None, "wrong delimiter"),
        # header with commas, rows with semicolons
        ("mixed_delimiter.csv", 2, None, "wrong delimiter: the row is one field 'm1;5.0;6.0'"),
        # '16.8' on line 2 next to '5,6'
        ("mixed_decimal.csv", 2, "post", "mixed decimal marks"),
        ("misspelt_covariate.csv", 1, "parit", "did you mean 'parity'?"),
        ("extra_field.csv", 2, None, "4 fields but the header has 3"),
        # byte 0xe9 (latin-1 e-acute) on line 2
        ("latin1.csv", 2, None, "cannot decode byte 0xe9"),
    ],
)
def test_each_bad_file_names_file_row_and_column(name, row, column, needle):
    path = DATA / name
    error = error_of(path)
    assert error.file == str(path)
    assert error.row == row
    assert error.column == column
    assert needle in error.message
    # the one-line message carries all three
    text = str(error)
    assert text.startswith(str(path))
    assert (f"row {row}" in text) and (column is None or f'column "{column}"' in text)
    assert "\n" not in text


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("empty.csv", "the file is empty"),
        ("header_only.csv", "header but no participants"),
        ("one_participant.csv", "fewer than 2 participants (found 1)"),
    ],
)
def test_file_level_errors_name_the_file(name, needle):
    error = error_of(DATA / name)
    assert error.file == str(DATA / name) and error.row is None
    assert needle in error.message


def test_bad_sidecar_error_names_the_sidecar():
    error = error_of(DATA / "bad_sidecar.csv")
    assert error.file == str(DATA / "bad_sidecar.json")
    assert 'outcome kind "volume" needs a unit' in error.message


def test_explicit_wrong_separator_is_reported_with_the_right_one(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id;pre;post\na;1;2\nb;3;4\n")
    error = error_of(path, sep=",")
    assert error.row == 1
    assert "looks ';'-separated" in error.message and "--sep ';'" in error.message


def test_missing_file():
    error = error_of(DATA / "no_such_file.csv")
    assert "no such file" in error.message


def test_missing_id_is_an_error_even_in_complete_case(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,pre,post\na,1,2\n,3,4\nc,5,6\n")
    error = error_of(path, complete_case=True)
    assert (error.row, error.column) == (3, "id")


# ----------------------------------------------------------------------------- formats
def test_bom_semicolons_and_decimal_commas_load():
    # bytes: BOM, 'id;pre;post;parity', 'm1;5,6;16,8;...', 'm2;4,25;12,5;...', 'm3;6;9,75;...'
    study = load_study(DATA / "semicolon_decimal_comma_bom.csv")
    assert list(study.table["id"]) == ["m1", "m2", "m3"]
    assert study.table["pre"].tolist() == [5.6, 4.25, 6.0]
    assert study.table["post"].tolist() == [16.8, 12.5, 9.75]
    assert list(study.table.columns[:3]) == ["id", "pre", "post"]  # BOM not in the name


def test_decimal_flag_is_obeyed(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id;pre;post\na;1.5;2\nb;3;4,5\n")
    with pytest.raises(DataError, match="mixed decimal marks"):
        load_study(path)
    error = error_of(path, decimal=",")
    assert (error.row, error.column) == (2, "pre")
    path.write_text("id;pre;post\na;1,5;2\nb;3;4\n")
    assert load_study(path, decimal=",").table["pre"].tolist() == [1.5, 3.0]


def test_tab_separated_file():
    study = load_study(DATA / "tab_separated.tsv")
    assert study.table["post"].tolist() == [6.0, 7.5]
    assert list(study.table["work_duration"]) == ["long", "short"]


def test_latin1_loads_with_its_encoding_and_unused_column_is_reported():
    study = load_study(DATA / "latin1.csv", encoding="latin-1")
    assert study.n == 2 and study.ignored_columns == ("note",)
    assert "Ignored column(s): note." in describe(study).notes


def test_parquet_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "pre": [0.1, 2.0, 1e-7],
            "post": [0.30000000000000004, 2.5, 3.0],
            "parity": ["primipara", "multipara", "multipara"],
        }
    )
    frame.to_parquet(tmp_path / "s.parquet")
    study = load_study(tmp_path / "s.parquet")
    assert study.table["pre"].tolist() == [0.1, 2.0, 1e-7]
    assert study.table["post"].tolist() == [0.30000000000000004, 2.5, 3.0]


def test_xlsx_without_openpyxl_is_a_clear_error(tmp_path):
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        path = tmp_path / "s.xlsx"
        path.write_bytes(b"PK\x03\x04not really")
        error = error_of(path)
        assert "optional package" in error.message and error.file == str(path)
    else:  # pragma: no cover - only where openpyxl is installed
        pd.DataFrame({"id": ["a", "b"], "pre": [1.0, 2.0], "post": [3.0, 4.0]}).to_excel(
            tmp_path / "s.xlsx", index=False
        )
        assert load_study(tmp_path / "s.xlsx").change.tolist() == [2.0, 2.0]


def test_blank_lines_are_skipped_and_line_numbers_kept(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,pre,post\na,1,2\n\nb,3,x\n")
    error = error_of(path)
    assert (error.row, error.column) == (4, "post")  # physical line 4, not data row 2


# ----------------------------------------------------------------------------- outcome origin
def test_outcome_precedence_option_then_sidecar_then_default(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,pre,post\na,1,2\nb,3,4\n")
    assert load_study(path).outcome_origin == "default"
    assert load_study(path).outcome == Outcome("continuous")
    (tmp_path / "s.json").write_text('{"outcome": {"kind": "score", "max_score": 5}}')
    study = load_study(path)
    assert (study.outcome, study.outcome_origin) == (Outcome("score", max_score=5), "sidecar")
    # <file>.json wins over <stem>.json
    (tmp_path / "s.csv.json").write_text('{"outcome": {"kind": "volume", "unit": "ml"}}')
    assert load_study(path).outcome == Outcome("volume", unit="ml")
    study = load_study(path, outcome=Outcome("continuous", unit="g"))
    assert (study.outcome.unit, study.outcome_origin) == ("g", "option")
    assert [p.name for p in sidecar_paths(path)] == ["s.csv.json", "s.json"]


def test_undeclared_outcome_is_said_in_describe(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,pre,post\na,1,2\nb,3,4\n")
    notes = describe(load_study(path)).notes
    assert any("not declared" in note and "continuous" in note for note in notes)


def test_sidecar_reconstructed_flag(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,pre,post\na,1,2\nb,3,4\n")
    (tmp_path / "s.json").write_text('{"reconstructed": true}')
    study = load_study(path)
    assert study.reconstructed and study.warning == RECONSTRUCTED_WARNING
    (tmp_path / "s.json").write_text('{"reconstructed": "yes"}')
    assert "true or false" in error_of(path).message
    (tmp_path / "s.json").write_text('{"reconstructed": tru')
    assert "not valid JSON" in error_of(path).message


# ----------------------------------------------------------------------------- complete case
def test_complete_case_drops_and_reports_who():
    # m2 lacks post, m3 lacks parity; m1 and m4 remain
    study = load_study(DATA / "missing_values.csv", complete_case=True)
    assert study.dropped_ids == ("m2", "m3")
    assert list(study.table["id"]) == ["m1", "m4"]
    assert any("dropped 2 participant(s)" in n and "m2, m3" in n for n in describe(study).notes)


def test_complete_case_leaving_too_few_is_an_error(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,pre,post\na,1,2\nb,NA,4\nc,3,.\n")
    error = error_of(path, complete_case=True)
    assert "fewer than 2 participants after dropping 2 incomplete (b, c)" in error.message


# ----------------------------------------------------------------------------- Study
@pytest.fixture
def small() -> Study:
    return study_from_frame(
        pd.DataFrame(
            {
                "id": ["a", "b", "c", "d"],
                "pre": [1.0, 2.0, 3.0, 4.0],
                "post": [2.0, 4.0, 3.0, 8.0],
                "group": ["massage", "massage", "control", "control"],
                "parity": ["multipara", "multipara", "multipara", "primipara"],
                "education": ["higher", "elementary", "higher", "senior_high"],
            }
        ),
        outcome=Outcome("volume", unit="ml"),
    )


def test_study_fields(small):
    assert small.n == 4 and small.has_control
    assert small.change.tolist() == [1.0, 2.0, 0.0, 4.0]
    assert small.covariates == ("parity", "education")
    assert small.table["id"].tolist() == ["a", "b", "c", "d"]
    assert small.table["pre"].dtype == np.float64
    assert list(small.table["parity"].cat.categories) == list(published.CATEGORY_LEVELS["parity"])
    assert small.outcome_origin == "option"


def test_group_defaults_to_massage(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,pre,post\na,1,2\nb,3,4\n")
    study = load_study(path)
    assert list(study.table["group"]) == ["massage", "massage"] and not study.has_control


def test_long_format(small):
    long = small.long()
    assert len(long) == 2 * small.n
    assert long["mother"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert long["time"].tolist() == [0, 1] * 4
    assert long["y"].tolist() == [1.0, 2.0, 2.0, 4.0, 3.0, 3.0, 4.0, 8.0]
    assert long["group"].tolist() == ["massage"] * 4 + ["control"] * 4
    assert long["education"].tolist()[-2:] == ["senior_high", "senior_high"]
    # change recomputed from the long table equals Study.change
    wide = long.pivot(index="mother", columns="time", values="y")
    assert (wide[1] - wide[0]).tolist() == small.change.tolist()


def test_subset_and_without(small):
    assert small.without("b").ids == ("a", "c", "d")
    assert small.subset(["d", "a"]).ids == ("a", "d")
    with pytest.raises(DataError, match="unknown id"):
        small.without("zz")
    with pytest.raises(DataError, match="fewer than 2"):
        small.subset(["a"])


def test_sha256_of_file_bytes(tmp_path):
    import hashlib

    path = tmp_path / "s.csv"
    path.write_bytes(b"id,pre,post\na,1,2\nb,3,4\n")
    assert load_study(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    text = "id,pre,post\na,1,2\nb,3,4\n"
    assert study_from_csv_text(text).sha256 == hashlib.sha256(text.encode()).hexdigest()


# ----------------------------------------------------------------------------- describe
def test_describe_counts_percents_and_summaries(small):
    from dataclasses import replace

    from milkbayes.data import paper_description

    assert describe(small).univariate["published_percent"].isna().all()  # nothing published
    d = describe(replace(small, description=paper_description()))
    parity = d.univariate.query("column == 'parity'").set_index("level")
    assert parity["count"].to_dict() == {"primipara": 1, "multipara": 3}
    assert parity["percent"].to_dict() == {"primipara": 25.0, "multipara": 75.0}
    # published 87.5 % multipara (21/24) beside the multipara level only
    assert parity.loc["multipara", "published_percent"] == 87.5
    assert parity.loc["multipara", "published_count"] == 21
    assert math.isnan(parity.loc["primipara", "published_percent"])
    change = np.array([1.0, 2.0, 0.0, 4.0])
    row = d.summary.loc["change"]
    assert row["mean"] == pytest.approx(change.mean())
    assert row["sd"] == pytest.approx(change.std(ddof=1))
    assert row["median"] == pytest.approx(np.median(change))
    assert row["iqr"] == pytest.approx(np.subtract(*np.percentile(change, [75, 25])))
    assert d.summary.loc["pre", "max"] == 4.0
    payload = d.to_dict()
    assert payload["univariate"][0]["published_percent"] is None
    assert payload["reconstructed"] is False and payload["warning"] is None


def test_summaries_of_values_near_the_float_limit_do_not_overflow():
    """Summaries near the float limit are the true ones, not inf.

    The mean of representable numbers lies between their min and max, so it is
    representable too: three participants at 1e308 have mean 1e308 and SD 0 (a plain
    sum overflows to inf, and inf - inf makes the SD NaN or inf).
    """
    study = study_from_csv_text("id,pre,post\na,1e308,1.4e308\nb,1e308,1.5e308\nc,1e308,1.6e308\n")
    summary = describe(study).summary
    assert summary.loc["pre", "mean"] == 1e308 and summary.loc["pre", "sd"] == 0.0
    # post: 1e307 * (14, 15, 16): mean 1.5e308, SD 1e307 (ddof = 1)
    assert summary.loc["post", "mean"] == pytest.approx(1.5e308, rel=1e-15)
    assert summary.loc["post", "sd"] == pytest.approx(1e307, rel=1e-12)
    assert summary.loc["change", "mean"] == pytest.approx(5e307, rel=1e-12)


# ----------------------------------------------------------------------------- hypothesis
# ids may hold delimiters and quotes (the writer quotes them) and non-ASCII letters;
# surrounding spaces are excluded because the loader strips them (by design).
IDS = (
    st.text(alphabet=string.ascii_letters + string.digits + "_-,;|'\"éñ ", min_size=1, max_size=6)
    .map(str.strip)
    .filter(lambda s: s != "" and s.lower() not in MISSING_TOKENS)
)


@st.composite
def valid_tables(draw, kind="volume"):
    n = draw(st.integers(2, 25))
    ids = draw(st.lists(IDS, min_size=n, max_size=n, unique=True))
    if kind == "score":
        values = st.integers(0, 10).map(float)
    elif kind == "volume":
        values = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)
    else:
        values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    table = pd.DataFrame(
        {
            "id": ids,
            "pre": draw(st.lists(values, min_size=n, max_size=n)),
            "post": draw(st.lists(values, min_size=n, max_size=n)),
        }
    )
    for column in draw(st.lists(st.sampled_from(COVARIATE_COLUMNS), unique=True, max_size=5)):
        levels = published.CATEGORY_LEVELS[column]
        table[column] = draw(st.lists(st.sampled_from(levels), min_size=n, max_size=n))
    return table


def _write(table: pd.DataFrame, path: Path, sep: str, decimal: str) -> None:
    out = table.copy()
    for column in ("pre", "post"):
        out[column] = [repr(float(v)).replace(".", decimal) for v in out[column]]
    out.to_csv(path, sep=sep, index=False)


OUTCOMES = {
    "volume": Outcome("volume", unit="ml"),
    "score": Outcome("score", max_score=10),
    "continuous": Outcome("continuous"),
}
FORMATS = st.sampled_from(
    [(",", "."), (";", "."), (";", ","), ("\t", "."), ("\t", ","), ("|", ",")]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), kind=st.sampled_from(sorted(OUTCOMES)), fmt=FORMATS)
def test_round_trip_of_random_valid_tables(tmp_path, data, kind, fmt):
    table = data.draw(valid_tables(kind))
    sep, decimal = fmt
    path = tmp_path / "t.csv"
    _write(table, path, sep, decimal)
    study = load_study(path, outcome=OUTCOMES[kind])
    assert study.table["id"].tolist() == table["id"].tolist()
    assert study.table["pre"].tolist() == table["pre"].tolist()
    assert study.table["post"].tolist() == table["post"].tolist()
    for column in COVARIATE_COLUMNS:
        if column in table:
            assert study.table[column].astype(str).tolist() == table[column].tolist()
    assert set(study.covariates) == set(table.columns) & set(COVARIATE_COLUMNS)
    # and through canonical CSV text
    again = study_from_csv_text(canonical_csv(study.table), outcome=OUTCOMES[kind])
    pd.testing.assert_frame_equal(again.table, study.table)


BAD_NUMBERS = st.sampled_from(["abc", "1..2", "--3", "x1", "inf", "-inf", "1e999", "2,5,1"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), kind=st.sampled_from(sorted(OUTCOMES)))
def test_a_random_invalid_cell_is_located(tmp_path, data, kind):
    table = data.draw(valid_tables(kind)).astype({"pre": object, "post": object})
    row = data.draw(st.integers(0, len(table) - 1))
    column = data.draw(st.sampled_from(["pre", "post"]))
    bad = data.draw(
        BAD_NUMBERS
        if kind == "continuous"
        else st.one_of(
            BAD_NUMBERS, st.just("-1") if kind == "volume" else st.sampled_from(["11", "2.5"])
        )
    )
    table.loc[row, column] = bad
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with pytest.raises(DataError) as caught:
        load_study(path, outcome=OUTCOMES[kind])
    assert caught.value.row == row + 2  # header is line 1
    assert caught.value.column == column
    assert caught.value.file == str(path)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_random_unknown_level_is_located(tmp_path, data):
    table = data.draw(valid_tables("continuous"))
    column = data.draw(st.sampled_from(COVARIATE_COLUMNS))
    if column not in table:
        table[column] = published.CATEGORY_LEVELS[column][0]
    row = data.draw(st.integers(0, len(table) - 1))
    table.loc[row, column] = "not_a_level"
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with pytest.raises(DataError) as caught:
        load_study(path)
    assert (caught.value.row, caught.value.column) == (row + 2, column)
    assert ", ".join(published.CATEGORY_LEVELS[column]) in caught.value.message


def test_describe_with_a_control_arm_summarises_each_group(small):
    d = describe(small)
    assert d.group_summary is not None
    # massage: a, b with changes 1, 2; control: c, d with changes 0, 4
    assert d.group_summary.loc[("massage", "change"), "mean"] == pytest.approx(1.5)
    assert d.group_summary.loc[("control", "change"), "mean"] == pytest.approx(2.0)
    assert d.group_summary.loc[("control", "post"), "max"] == 8.0
    assert any("control arm" in note for note in d.notes)
    groups = {r["group"] for r in d.to_dict()["group_summary"]}
    assert groups == {"massage", "control"}


def test_describe_one_group_has_no_group_summary():
    study = study_from_csv_text("id,pre,post\na,1,2\nb,2,2.5\n")
    assert describe(study).group_summary is None
    assert describe(study).to_dict()["group_summary"] is None


def test_windows_line_endings_and_quoted_cells(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b'\xef\xbb\xbf"id";"pre";"post"\r\n"m1";"5,6";"16,8"\r\n"m2";"4";"x"\r\n')
    error = error_of(path)
    assert (error.row, error.column) == (3, "post")
    path.write_bytes(b'\xef\xbb\xbf"id";"pre";"post"\r\n"m1";"5,6";"16,8"\r\n"m2";"4";"7"\r\n')
    assert load_study(path).table["post"].tolist() == [16.8, 7.0]


@pytest.mark.parametrize(
    ("header", "needle", "column"),
    [
        ("id,pre,post,pre", "column name appears twice", "pre"),
        ("id,pre,,post", "header cell(s) [3] have no column name", None),
    ],
)
def test_bad_headers(tmp_path, header, needle, column):
    path = tmp_path / "s.csv"
    path.write_text(f"{header}\na,1,2,3\nb,2,3,4\n")
    error = error_of(path)
    assert (error.row, error.column) == (1, column) and needle in error.message


@pytest.mark.parametrize("unit", [["ml"], 5, "ml\x1b[2J", ""])
def test_a_sidecar_unit_must_be_printable_text(tmp_path, unit):
    """A unit that is not printable text is a bad sidecar, not a label.

    The unit is printed in every table and report title: a list, a number, an empty
    string or an ANSI escape there must be refused, naming the sidecar.
    """
    import json

    path = tmp_path / "s.csv"
    path.write_text("id,pre,post\na,1,2\nb,2,4\n")
    side = tmp_path / "s.json"
    side.write_text(json.dumps({"outcome": {"kind": "continuous", "unit": unit}}))
    with pytest.raises(DataError, match="unit") as caught:
        load_study(path)
    assert caught.value.file == str(side)
