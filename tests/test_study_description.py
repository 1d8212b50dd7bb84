"""Study descriptions (TOML), column and level mapping, and spreadsheets.

The bundled paper's description is built from ``milkbayes.published`` (its one
owner); ``examples/erwhani.toml`` must say the same. A user's description maps the
file's columns and labels and is what the report audits against.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from milkbayes import published
from milkbayes.data import load_study, paper_description, read_study_description
from milkbayes.data.study_description import parse_study_description
from milkbayes.datasets import load_bundled
from milkbayes.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def test_the_paper_toml_says_what_published_py_says():
    from_file = read_study_description(ROOT / "examples/erwhani.toml")
    assert from_file == paper_description()
    assert from_file.is_paper and from_file.n == published.N_PARTICIPANTS
    for column, fact in published.COVARIATE_FACTS.items():
        assert from_file.covariates[column] == {fact.level: fact.percent}


def test_bundled_data_carry_the_paper_and_user_files_nothing(tmp_path):
    assert load_bundled().description.is_paper
    path = tmp_path / "mine.csv"
    path.write_text("id,pre,post\na,1,2\nb,2,3\n")
    assert load_study(path).description is None


def test_printed_p_is_normalised():
    text = '[study]\ntitle = "t"\n[published]\nreported_p = "p = 0,000"\n'
    assert parse_study_description(text).reported_p == "0.000"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[published]\nn = 3\n", "needs a [study] table"),
        ('[study]\ntitle = "t"\ndesign = "three_arm"\n', "study.design must be one of"),
        ('[study]\ntitle = "t"\n[published]\nn = 1\n', "published.n must be"),
        ('[study]\ntitle = "t"\n[published.covariates.parity]\nmultipara = 120\n', "0-100"),
        ('[study]\ntitle = "t"\n[mcid]\nvalue = -1\n', "mcid.value must be >= 0"),
        ('[study]\ntitle = "t"\n[outcome]\nkind = "weight"\n', "kind"),
        ('[study]\ntitle = "t"\nsurprise = 1\n', "unknown key(s) study.surprise"),
        ("[study\n", "not valid TOML"),
    ],
)
def test_bad_descriptions_are_clear_errors_naming_the_file(text, fragment):
    with pytest.raises(DataError, match="mine.toml") as caught:
        parse_study_description(text, "mine.toml")
    assert fragment in str(caught.value)


def test_description_maps_columns_levels_and_sets_the_outcome(tmp_path):
    data = tmp_path / "s.csv"
    data.write_text("no;sebelum;sesudah;lama\n1;10,5;12;Lama\n2;9;11,5;baru\n")
    about = tmp_path / "s.toml"
    about.write_text(
        '[study]\ntitle = "Mine"\n[outcome]\nkind = "volume"\nunit = "ml"\n'
        '[columns]\nid = "no"\npre = "sebelum"\npost = "sesudah"\nwork_duration = "lama"\n'
        '[levels.work_duration]\nlama = "long"\nbaru = "short"\n'
    )
    study = load_study(data, description=about)
    assert study.table["pre"].tolist() == [10.5, 9.0]
    assert study.table["work_duration"].astype(str).tolist() == ["long", "short"]
    assert (study.outcome.kind, study.outcome.unit, study.outcome_origin) == (
        "volume",
        "ml",
        "study",
    )
    # an option wins over the description
    override = load_study(data, description=about, columns={"pre": "sesudah", "post": "sebelum"})
    assert override.table["pre"].tolist() == [12.0, 11.5]


def test_a_mapping_to_a_missing_column_names_file_and_column(tmp_path):
    data = tmp_path / "s.csv"
    data.write_text("id,pre,post\na,1,2\nb,2,3\n")
    with pytest.raises(DataError, match=r"s\.csv.*column \"sebelum\"") as caught:
        load_study(data, columns={"pre": "sebelum"})
    assert "does not have" in str(caught.value)


def test_an_unmapped_label_is_still_refused(tmp_path):
    data = tmp_path / "s.csv"
    data.write_text("id,pre,post,group\na,1,2,pijat\nb,2,3,kontrol\nc,1,1,lain\n")
    levels = {"group": {"pijat": "massage", "kontrol": "control"}}
    with pytest.raises(DataError, match="unknown level 'lain'"):
        load_study(data, levels=levels)


def test_design_awareness_of_the_study(tmp_path):
    data = tmp_path / "s.csv"
    data.write_text(
        "id,pre,post,group\na,1,2,massage\nb,2,4,massage\nc,1,1,control\nd,2,2,control\n"
    )
    study = load_study(data)
    assert study.design == "two_arm" and study.arm("massage").ids == ("a", "b")


# ----------------------------------------------------------------------------- excel
def test_excel_round_trip_with_openpyxl(tmp_path):
    pytest.importorskip("openpyxl")
    frame = pd.DataFrame(
        {"no": ["m1", "m2", "m3"], "sebelum": [10.5, 8.0, 12.25], "sesudah": [14.0, 9.5, 12.25]}
    )
    path = tmp_path / "mine.xlsx"
    frame.to_excel(path, index=False)
    study = load_study(path, columns={"id": "no", "pre": "sebelum", "post": "sesudah"})
    assert study.ids == ("m1", "m2", "m3")
    assert study.table["pre"].tolist() == [10.5, 8.0, 12.25]
    assert study.change.tolist() == [3.5, 1.5, 0.0]


def test_excel_without_openpyxl_gives_the_install_hint(tmp_path, monkeypatch):
    path = tmp_path / "mine.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    # a None entry makes `import openpyxl` raise ImportError, as when it is not installed
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    with pytest.raises(DataError, match=r"pip install 'milkbayes\[excel\]'") as caught:
        load_study(path)
    assert "mine.xlsx" in str(caught.value)


def test_the_description_mcid_is_the_study_default(tmp_path):
    from milkbayes.models.priors import default_mcid

    data = tmp_path / "s.csv"
    data.write_text("id,pre,post\na,10,20\nb,20,25\n")
    about = tmp_path / "s.toml"
    about.write_text('[study]\ntitle = "t"\n[outcome]\nkind = "volume"\nunit = "ml"\n')
    # without an MCID of its own: the volume anchor, half the SD of one feed (12.6 g,
    # Kent et al. 2006) by the half-SD rule
    assert default_mcid(load_study(data, description=about)) == pytest.approx(0.5 * 12.6)
    about.write_text(about.read_text() + '[mcid]\nvalue = 8.0\nsource = "a reference"\n')
    assert default_mcid(load_study(data, description=about)) == 8.0
