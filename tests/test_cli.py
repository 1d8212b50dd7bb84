"""The CLI shell: exit statuses and error handling shared by every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from milkbayes import __version__
from milkbayes.cli import app, main
from milkbayes.errors import EXIT_USER_ERROR, DataError

ENTRY_POINT = Path(sys.executable).with_name("milkbayes")


@pytest.fixture
def temporary_command():
    """Register a throw-away command on the real app, and remove it afterwards."""
    added = []

    def register(name, function):
        app.command(name)(function)
        added.append(app.registered_commands[-1])

    yield register
    for command in added:
        app.registered_commands.remove(command)


def test_exit_code_of_a_command_reaches_the_caller(temporary_command):
    def exit_three():
        raise typer.Exit(3)

    temporary_command("zz-exit-three", exit_three)
    assert main(["zz-exit-three"]) == 3


def test_user_error_is_one_line_and_exit_two(temporary_command, capsys):
    def bad_data():
        raise DataError("negative volume -3", file="a.csv", row=4, column="pre")

    temporary_command("zz-bad-data", bad_data)
    assert main(["zz-bad-data"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err == 'error: a.csv, row 4, column "pre": negative volume -3\n'


def test_keyboard_interrupt_exits_130_without_traceback(temporary_command, capsys):
    def interrupted():
        raise KeyboardInterrupt

    temporary_command("zz-interrupted", interrupted)
    assert main(["zz-interrupted"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_installed_entry_point_prints_version():
    done = subprocess.run(
        [str(ENTRY_POINT), "--version"], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout.strip()) == (0, f"milkbayes {__version__}")
