"""Tests of `milkbayes data validate | describe | reconstruct`.

Most tests call milkbayes.cli.main(argv) in-process (fast); one runs the installed
console script, as a user would, to check the exit status and a clean stderr.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from milkbayes import RECONSTRUCTED_WARNING, published
from milkbayes.cli import main
from milkbayes.datasets import BUNDLED_SEEDS, bundled_path

DATA = Path(__file__).parent / "data"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- validate
def test_validate_good_file_json(capsys):
    code, out, err = run(
        capsys,
        "data",
        "validate",
        str(DATA / "semicolon_decimal_comma_bom.csv"),
        "--kind",
        "volume",
        "--unit",
        "ml",
        "--json",
    )
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert payload["valid"] is True and payload["n"] == 3
    assert payload["outcome"] == {"kind": "volume", "unit": "ml", "max_score": None}
    assert payload["outcome_origin"] == "option" and payload["reconstructed"] is False


def test_validate_good_file_text_says_outcome_was_defaulted(capsys):
    code, out, _ = run(capsys, "data", "validate", str(DATA / "tab_separated.tsv"))
    assert code == 0
    assert "valid:" in out and "2 participants" in out and "defaulted" in out


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("duplicate_id.csv", 'row 4, column "id"'),
        ("non_numeric.csv", 'row 3, column "post"'),
        ("negative_volume.csv", 'row 3, column "pre"'),
        ("unknown_level.csv", 'row 3, column "parity"'),
        ("wrong_delimiter.csv", "row 1"),
        ("empty.csv", "the file is empty"),
        ("control_only.csv", "needs a massage group"),
    ],
)
def test_validate_bad_file_one_line_exit_2(capsys, name, where):
    code, out, err = run(capsys, "data", "validate", str(DATA / name), "--json")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {DATA / name}")
    assert where in lines[0] and "Traceback" not in err


def test_validate_options_sep_decimal_encoding_complete_case(capsys, tmp_path):
    code, _, err = run(
        capsys, "data", "validate", str(DATA / "semicolon_decimal_comma_bom.csv"), "--sep", ","
    )
    assert code == 2 and "wrong delimiter" in err
    code, out, _ = run(
        capsys, "data", "validate", str(DATA / "latin1.csv"), "--encoding", "latin-1", "--json"
    )
    assert code == 0 and json.loads(out)["ignored_columns"] == ["note"]
    code, out, _ = run(
        capsys, "data", "validate", str(DATA / "missing_values.csv"), "--complete-case", "--json"
    )
    assert code == 0 and json.loads(out)["dropped_ids"] == ["m2", "m3"]
    path = tmp_path / "s.csv"
    path.write_text("id;pre;post\na;1,5;2\nb;3;4\n")
    code, out, _ = run(
        capsys, "data", "validate", str(path), "--sep", ";", "--decimal", ",", "--json"
    )
    assert code == 0 and json.loads(out)["n"] == 2


def test_validate_score_options(capsys):
    path = str(DATA / "score_out_of_range.csv")  # max post is 11
    code, _, err = run(capsys, "data", "validate", path)  # its sidecar says max 10
    assert code == 2 and "outside 0..10" in err
    code, out, _ = run(
        capsys, "data", "validate", path, "--kind", "score", "--max-score", "12", "--json"
    )
    assert code == 0 and json.loads(out)["outcome"]["max_score"] == 12
    code, _, err = run(capsys, "data", "validate", path, "--max-score", "12")
    assert code == 2 and "need --kind" in err


# ----------------------------------------------------------------------------- describe
def test_describe_bundled_shows_published_percentages_and_banner(capsys):
    code, out, err = run(capsys, "data", "describe")
    assert code == 0 and err == ""
    assert "RECONSTRUCTED DATA" in out
    for fact in published.COVARIATE_FACTS.values():
        assert fact.level in out
        # the line of the published level shows the observed and the published percentage
        line = next(ln for ln in out.splitlines() if f" {fact.level} " in ln)
        assert line.count(f"{fact.percent:.1f}") == 2, line
        assert f" {fact.count} " in line
    for name in ("pre", "post", "change"):
        assert any(ln.strip("│ ").startswith(name) for ln in out.splitlines())


def test_describe_json_bundled_score(capsys):
    code, out, _ = run(capsys, "data", "describe", "--scenario", "score", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["reconstructed"] is True and payload["warning"] == RECONSTRUCTED_WARNING
    assert payload["source"] == "bundled:score" and payload["n"] == 24
    rows = {(r["column"], r["level"]): r for r in payload["univariate"]}
    for column, fact in published.COVARIATE_FACTS.items():
        row = rows[(column, fact.level)]
        assert row["count"] == fact.count
        assert round(row["percent"], 1) == row["published_percent"] == fact.percent
    summary = {r["variable"]: r for r in payload["summary"]}
    assert summary["change"]["mean"] == pytest.approx(
        summary["post"]["mean"] - summary["pre"]["mean"]
    )


def test_describe_file_with_drops(capsys):
    code, out, _ = run(
        capsys, "data", "describe", str(DATA / "missing_values.csv"), "--complete-case"
    )
    assert code == 0
    assert "dropped 2 participant(s)" in out and "m2, m3" in out
    assert "RECONSTRUCTED" not in out


def test_describe_rejects_file_options_without_file(capsys):
    code, _, err = run(capsys, "data", "describe", "--sep", ";")
    assert code == 2 and "apply to a FILE" in err


# ----------------------------------------------------------------------------- reconstruct
@pytest.mark.parametrize("scenario", ["volume_ml", "score"])
def test_reconstruct_recreates_bundled_file_byte_for_byte(capsys, tmp_path, scenario):
    out_file = tmp_path / f"{scenario}.csv"
    code, out, err = run(
        capsys,
        "data",
        "reconstruct",
        "--scenario",
        scenario,
        "--seed",
        str(BUNDLED_SEEDS[scenario]),
        "--out",
        str(out_file),
        "--json",
    )
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert payload["reconstructed"] is True and payload["warning"] == RECONSTRUCTED_WARNING
    assert payload["constraints"]["spss_p"] < published.SPSS_P_THRESHOLD
    assert out_file.read_bytes() == bundled_path(scenario).read_bytes()
    assert (
        out_file.with_suffix(".json").read_bytes()
        == bundled_path(scenario).with_suffix(".json").read_bytes()
    )


def test_reconstruct_refuses_overwrite_then_force(capsys, tmp_path):
    target = tmp_path / "r.csv"
    assert run(capsys, "data", "reconstruct", "--out", str(target))[0] == 0
    before = target.read_bytes()
    code, _, err = run(capsys, "data", "reconstruct", "--seed", "5", "--out", str(target))
    assert code == 2 and "--force" in err and target.read_bytes() == before
    code, out, _ = run(
        capsys, "data", "reconstruct", "--seed", "5", "--out", str(target), "--force"
    )
    assert code == 0 and target.read_bytes() != before
    assert "RECONSTRUCTED DATA" in out and "p = " in out


def test_reconstruct_with_assumption_overrides(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        "data",
        "reconstruct",
        "--seed",
        "3",
        "--out",
        str(tmp_path / "r.csv"),
        "--set",
        "effect_ml=20",
        "--set",
        'occupation_other_counts={"entrepreneur": 15}',
        "--json",
    )
    assert code == 0
    assumptions = json.loads(out)["assumptions"]
    assert assumptions["effect_ml"] == 20
    assert assumptions["occupation_other_counts"] == {"entrepreneur": 15}
    code, _, err = run(
        capsys, "data", "reconstruct", "--out", str(tmp_path / "q.csv"), "--set", "efect_ml=20"
    )
    assert code == 2 and "did you mean 'effect_ml'" in err
    code, _, err = run(
        capsys, "data", "reconstruct", "--out", str(tmp_path / "q.csv"), "--set", "effect_ml"
    )
    assert code == 2 and "NAME=VALUE" in err
    code, _, err = run(
        capsys, "data", "reconstruct", "--scenario", "litres", "--out", str(tmp_path / "q.csv")
    )
    assert code == 2 and "unknown scenario" in err


# ----------------------------------------------------------------------------- entry point
def test_installed_entry_point_bad_file_is_one_line_exit_2(tmp_path):
    exe = shutil.which("milkbayes", path=str(Path(sys.executable).parent))
    assert exe is not None
    done = subprocess.run(
        [exe, "data", "validate", str(DATA / "infinite.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        f"error: {DATA / 'infinite.csv'}, row 4, column \"pre\": infinite value 'inf'\n"
    )
    done = subprocess.run(
        [exe, "data", "describe", "--json"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stderr == ""
    assert json.loads(done.stdout)["reconstructed"] is True


# ----------------------------------------------------------------------------- faults
def test_describe_json_with_overflowing_changes_follows_the_json_policy(capsys, tmp_path):
    """Infinite and NaN summaries are written by the JSON policy, not as bare inf/NaN.

    Changes from -1e308 to 1e308 are 2e308, beyond the float range: their mean is
    inf and their SD (inf - inf) is NaN; the JSON must still parse strictly, with inf
    written "inf" and NaN null.
    """
    path = tmp_path / "big.csv"
    path.write_text("id,pre,post\na,-1e308,1e308\nb,-1e308,1e308\nc,-1e308,1e308\n")
    code, out, err = run(capsys, "data", "describe", str(path), "--json")
    assert code == 0 and err == ""

    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    summary = {r["variable"]: r for r in json.loads(out, parse_constant=refuse)["summary"]}
    assert summary["change"]["mean"] == "inf" and summary["change"]["max"] == "inf"
    assert summary["change"]["sd"] is None
    assert summary["pre"]["mean"] == -1e308 and summary["pre"]["sd"] == 0.0


@pytest.mark.parametrize("value", ["[" * 100_000, "9" * 5000])
def test_reconstruct_set_with_hostile_json_is_one_clear_error(capsys, tmp_path, value):
    out_file = tmp_path / "r.csv"
    code, out, err = run(
        capsys, "data", "reconstruct", "--out", str(out_file), "--set", f"effect_ml={value}"
    )
    assert code == 2 and out == "" and "not JSON" in err and len(err) < 300
    assert list(tmp_path.iterdir()) == []


def test_reconstruct_into_a_folder_it_may_not_write_is_one_clear_error(
    capsys, tmp_path, monkeypatch
):
    """A read-only folder (simulated: the tests may run as root, who may write anywhere)."""
    import errno
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    target = tmp_path / "r.csv"
    code, out, err = run(capsys, "data", "reconstruct", "--out", str(target))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "permission denied" in err and str(tmp_path) in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("failing_write", [1, 2])
@pytest.mark.parametrize("force", [False, True])
def test_reconstruct_onto_a_full_disk_leaves_no_half_dataset(
    capsys, tmp_path, monkeypatch, failing_write, force
):
    """A failed write leaves neither new file, and earlier files byte for byte.

    The CSV without its sidecar would load as real (not reconstructed) data: when
    either file cannot be written, neither new file may be left, and files that were
    there before are kept byte for byte.
    """
    import errno
    import os

    target = tmp_path / "r.csv"
    before = {}
    if force:
        assert run(capsys, "data", "reconstruct", "--seed", "5", "--out", str(target))[0] == 0
        before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_replace, calls = os.replace, []

    def full_disk(source, destination):
        calls.append(destination)
        if len(calls) == failing_write:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(source, destination)

    monkeypatch.setattr(os, "replace", full_disk)
    argv = ["data", "reconstruct", "--out", str(target)] + (["--force"] if force else [])
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and "disk is full" in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_reconstruct_refuses_assumptions_whose_output_falls(capsys, tmp_path):
    target = tmp_path / "fell.csv"
    code, out, err = run(
        capsys, "data", "reconstruct", "--set", "effect_ml=-2", "--out", str(target)
    )
    assert code == 2 and out == ""
    assert "FELL" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not target.exists() and not target.with_suffix(".json").exists()
