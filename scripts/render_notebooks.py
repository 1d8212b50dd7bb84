"""Execute the notebooks from their jupytext sources and render them to HTML.

Usage::

    .venv/bin/python scripts/render_notebooks.py            # all four, full samplers
    .venv/bin/python scripts/render_notebooks.py --fast     # quick preview
    .venv/bin/python scripts/render_notebooks.py 03 -p MCID 5

The source of each notebook is ``notebooks/NN_name.py`` (jupytext percent format);
it is converted in memory, executed with papermill, and the executed notebook
(``NN_name.ipynb``, with outputs) and its HTML page go to ``notebooks/_rendered/``
(git-ignored). Parameters are passed to the tagged ``parameters`` cell, e.g.
``-p DATA my_study.csv -p PRIOR skeptical``. Exit status 0 when every notebook ran,
1 otherwise (the failing notebook's HTML is still written, with the error in it, as
papermill leaves it).
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
RENDERED = NOTEBOOKS / "_rendered"


def _value(text: str):
    """A parameter value from the command line: a Python literal, or else a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _selected(prefixes: list[str]) -> list[Path]:
    """The notebook sources whose names start with one of ``prefixes`` (all if none)."""
    notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    if not prefixes:
        return notebooks
    chosen = [nb for nb in notebooks if any(nb.name.startswith(p) for p in prefixes)]
    if not chosen:
        raise SystemExit(
            f"no notebook matches {', '.join(prefixes)}; have "
            f"{', '.join(nb.stem for nb in notebooks)}"
        )
    return chosen


def render(notebook: Path, parameters: dict, kernel: str) -> bool:
    """Execute the source ``notebook`` into _rendered/ and write its HTML.

    Parameters
    ----------
    notebook : Path
        A jupytext percent script ``notebooks/NN_name.py``.
    parameters : dict
        Values for the tagged ``parameters`` cell (papermill injects them after it).
    kernel : str
        The Jupyter kernel to run it in.

    Returns
    -------
    bool
        True if every cell ran without an error.
    """
    import jupytext
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    executed = RENDERED / f"{notebook.stem}.ipynb"
    ok = True
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            jupytext.read(notebook),
            str(executed),
            parameters=parameters,
            kernel_name=kernel,
            cwd=str(RENDERED),
            progress_bar=False,
        )
    except papermill.PapermillExecutionError as error:
        ok = False
        print(
            f"{notebook.stem}: failed in cell {error.exec_count}: {error.ename}: {error.evalue}",
            file=sys.stderr,
        )
    html, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    target = executed.with_suffix(".html")
    target.write_text(html, encoding="utf-8")
    print(
        f"{notebook.stem}: {'ok' if ok else 'FAILED'} in {time.perf_counter() - start:.0f} s "
        f"-> {target.relative_to(ROOT)}",
        file=sys.stderr,
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    """Render the selected notebooks; the exit status is 0 if all of them ran."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebooks", nargs="*", help="Name prefixes to render (e.g. 01 03); default: all."
    )
    parser.add_argument("--fast", action="store_true", help="Set FAST = True (quick preview).")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="Notebook parameter (repeatable).",
    )
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel (default python3).")
    args = parser.parse_args(argv)
    parameters = {name: _value(value) for name, value in args.parameter}
    if args.fast:
        parameters["FAST"] = True
    if "DATA" in parameters and isinstance(parameters["DATA"], str):
        parameters["DATA"] = str(Path(parameters["DATA"]).resolve())  # cwd is _rendered/
    RENDERED.mkdir(parents=True, exist_ok=True)
    results = [render(notebook, parameters, args.kernel) for notebook in _selected(args.notebooks)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
