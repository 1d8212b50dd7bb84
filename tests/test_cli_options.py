"""Every command's options: help text, flags shown as flags, the shared data options.

The data options are defined once (``milkbayes.cli.data_options``); these tests walk
the whole command tree so that a command added later cannot miss them silently.
"""

from __future__ import annotations

import json

import pytest
import typer

from milkbayes.cli import app, main
from milkbayes.cli.data_options import parse_column_maps, parse_level_maps
from milkbayes.errors import MilkbayesError

SHARED = {
    "--data",
    "--scenario",
    "--study",
    "--kind",
    "--unit",
    "--max-score",
    "--complete-case",
    "--encoding",
    "--sep",
    "--decimal",
    "--map",
    "--map-level",
}
ANALYSES = (
    ("fit",),
    ("reanalyze",),
    ("compare",),
    ("reproduce",),
    ("wilcoxon",),
    ("sensitivity", "prior-grid"),
    ("sensitivity", "likelihood"),
    ("sensitivity", "influence"),
    ("sensitivity", "bias"),
    ("bayes-ttest",),
    ("data", "describe"),
    ("data", "validate"),
)


def commands(command, path: tuple[str, ...] = ()):
    if hasattr(command, "commands"):  # a group (typer vendors click's classes)
        for name, sub in command.commands.items():
            yield from commands(sub, (*path, name))
    else:
        yield path, command


ROOT = typer.main.get_command(app)
ALL = {(): ROOT, **dict(commands(ROOT))}


def names(command) -> set[str]:
    return {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}


def test_the_tree_has_the_analysis_commands():
    assert set(ANALYSES) <= set(ALL)


@pytest.mark.parametrize("path", sorted(ALL), ids=" ".join)
def test_every_parameter_has_help(path):
    for param in ALL[path].params:
        if getattr(param, "hidden", False):
            continue
        assert (param.help or "").strip(), f"{' '.join(path)}: {param.name} has no help"


@pytest.mark.parametrize("path", sorted(ALL), ids=" ".join)
def test_flags_show_no_bool_value(path, capsys):
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "<bool>" in line]
    assert all("--help" in line for line in lines), lines


@pytest.mark.parametrize("path", ANALYSES, ids=" ".join)
def test_analysis_commands_take_the_shared_data_options(path):
    found = names(ALL[path])
    positional = {p.name for p in ALL[path].params if p.param_type_name == "argument"}
    missing = SHARED - found - ({"--data"} if "data" in positional else set())
    assert not missing, missing


def test_choices_ignore_case_and_bad_values_are_one_line(capsys):
    code = main(["data", "describe", "--scenario", "SCORE", "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["n"] == 24
    code = main(["data", "describe", "--scenario", "nope"])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "--scenario must be one of" in err


def test_json_is_a_flag_not_a_value(capsys, tmp_path):
    code = main(["reproduce", "--json", "true"])
    _, err = capsys.readouterr()
    assert code == 2 and "true" in err  # an unexpected extra argument, never a file


def test_file_options_without_a_file_are_refused(capsys):
    code = main(["reproduce", "--map", "pre=sebelum"])
    _, err = capsys.readouterr()
    assert code == 2 and "--map" in err and "FILE" in err


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [(["pre=sebelum"], {"pre": "sebelum"}), ([" post = sesudah "], {"post": "sesudah"})],
)
def test_column_maps(pairs, expected):
    assert parse_column_maps(pairs) == expected


@pytest.mark.parametrize("bad", ["pre", "=x", "pre="])
def test_bad_column_map_is_a_clear_error(bad):
    with pytest.raises(MilkbayesError, match="OURS=FILE"):
        parse_column_maps([bad])


def test_level_maps_and_a_bad_one():
    assert parse_level_maps(["group:kontrol=control", "group:pijat=massage"]) == {
        "group": {"kontrol": "control", "pijat": "massage"}
    }
    with pytest.raises(MilkbayesError, match="COLUMN:FILE_LABEL=LEVEL"):
        parse_level_maps(["group=control"])
