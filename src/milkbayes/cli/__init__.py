"""The ``milkbayes`` command line: a thin layer over the library.

One command is one library call. Results go to stdout (``--json`` for machines);
progress and messages go to stderr. Every :class:`~milkbayes.errors.MilkbayesError`
becomes one clear sentence on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from milkbayes.errors import EXIT_USER_ERROR, MilkbayesError

INTERRUPTED = 130
"""Exit status after Ctrl-C or SIGTERM (128 + SIGINT), as shells report it."""

app = typer.Typer(
    name="milkbayes",
    help="Reproduce, then reanalyse, a pre/post study of oxytocin massage and milk production.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from milkbayes import __version__

        typer.echo(f"milkbayes {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        metavar="",
        help="Print the version and exit.",
    ),
) -> None:
    """Reproduce, then reanalyse, a pre/post study of oxytocin massage and milk production."""


# Each module registers its own commands; heavy imports (PyMC) stay inside the
# command functions so that `milkbayes data describe` starts fast.
from milkbayes.cli import (  # noqa: E402
    data_commands,
    fit_commands,
    frequentist_commands,
    meta_commands,
    reconstruction_commands,
    report_commands,
    sensitivity_commands,
    simulate_commands,
)

for _module in (
    data_commands,
    frequentist_commands,
    fit_commands,
    report_commands,
    sensitivity_commands,
    simulate_commands,
    meta_commands,
    reconstruction_commands,
):
    _module.register(app)


def _quiet_third_party_logs() -> None:
    """Keep stderr for milkbayes's own messages and progress.

    matplotlib's font manager logs a "findfont: ... not found" warning per font when
    its shared font cache points into a Python environment that no longer exists
    (it then rebuilds the cache and draws the same figure); those lines would bury
    the progress and the errors a user reads.
    """
    import logging

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (the console script passes it to ``sys.exit``)."""
    _quiet_third_party_logs()
    try:
        # Without standalone mode, click returns the code of a `typer.Exit` (and of
        # Ctrl-C, which it turns into Exit(130)) instead of raising it.
        status = app(args=argv, standalone_mode=False)
    except MilkbayesError as error:
        typer.echo(f"error: {error}", err=True)
        return EXIT_USER_ERROR
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        typer.echo("interrupted: no partial file was left behind.", err=True)
        return INTERRUPTED
    except TyperException as error:  # usage errors: typer vendors click's hierarchy
        error.show()
        return getattr(error, "exit_code", EXIT_USER_ERROR)
    except KeyboardInterrupt:
        typer.echo("interrupted: no partial file was left behind.", err=True)
        return INTERRUPTED
    if status == INTERRUPTED:  # typer turned a KeyboardInterrupt into Exit(130)
        typer.echo("interrupted: no partial file was left behind.", err=True)
    return status if isinstance(status, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
