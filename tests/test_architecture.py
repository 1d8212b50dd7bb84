"""The architecture of the package, checked from its source.

``docs/architecture.md`` describes a one-way data flow::

    data -> frequentist / models -> engine -> diagnostics / comparison
         -> sensitivity / simulate -> reanalysis, with report rendering what it is
         handed and cli on top of everything.

These tests keep the code and that page in agreement:

- every module of ``src/milkbayes`` (discovered by walking the folder, so that a new
  module is checked the day it is added) imports on its own, in an interpreter that
  has imported no other milkbayes module first: a module that works only when some
  other module happened to be imported before it breaks the first user who imports
  it directly;
- the graph of module-level imports inside the package has no cycle;
- each area imports, at module level, only from the areas its row of
  :data:`ALLOWED` lists;
- nothing but :mod:`milkbayes.cli` imports :mod:`milkbayes.cli`, at any level;
- the repository cites nothing outside itself.

Which imports count
-------------------
The graph holds the imports that run when a module is imported: statements at the
top of the module, including those nested in top-level ``try``/``if``/``with``
blocks and class bodies. It leaves out

- imports inside functions: they are deliberate lazy imports. The CLI imports PyMC
  and the engine inside its commands so that ``milkbayes --help`` and the frequentist
  commands start quickly, and a model script hands over to the engine inside
  ``main()`` so that importing a model never imports the engine. A lazy import is
  resolved when the function runs, after every module involved has finished
  importing, so it cannot take part in an import cycle;
- ``if TYPE_CHECKING:`` blocks: they never run, they only name types for the
  annotations (which ``from __future__ import annotations`` keeps as strings);
- ``if __name__ == "__main__":`` blocks: they run only when the file is executed as
  a script, not when it is imported.

An import of a package's submodule counts as an import of that submodule (``from
milkbayes.simulate import engine`` depends on ``milkbayes.simulate.engine``); an
import of a name defined in a package's ``__init__`` counts as an import of the
package. The implicit import of a parent package is not an edge, since every
package whose ``__init__`` re-exports its submodules would otherwise be a cycle.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPOSITORY / "src" / "milkbayes"

FOUNDATION = frozenset({"milkbayes", "errors", "jsonio", "storage", "published"})
"""Areas every area may import: the package root (``RECONSTRUCTED_WARNING``), the
errors, the JSON policy, the atomic writes and the published facts."""

ALLOWED: dict[str, frozenset[str]] = {
    # area          areas it may import at module level (besides itself)
    "milkbayes": frozenset(),
    "errors": frozenset(),
    "jsonio": frozenset({"errors"}),
    "storage": frozenset({"errors"}),
    "published": frozenset({"errors"}),
    "progress": frozenset(),
    "data": FOUNDATION,
    "literature": FOUNDATION,
    "frequentist": FOUNDATION | {"data"},
    "datasets": FOUNDATION | {"data", "frequentist"},
    "models": FOUNDATION | {"data", "literature"},
    "engine": FOUNDATION | {"data", "datasets", "models"},
    "diagnostics": FOUNDATION | {"data", "models", "engine"},
    "comparison": FOUNDATION | {"data", "models", "engine", "diagnostics"},
    "simulate": FOUNDATION | {"data", "datasets", "frequentist", "models", "engine"},
    "reconstruction": FOUNDATION | {"data", "datasets", "frequentist"},
    "sensitivity": FOUNDATION
    | {
        "literature",
        "data",
        "datasets",
        "frequentist",
        "models",
        "engine",
        "diagnostics",
        "comparison",
        "simulate",
        "reconstruction",
    },
    "meta_analysis": FOUNDATION | {"data", "literature", "models", "engine", "diagnostics"},
    "report": FOUNDATION | {"data", "frequentist", "models", "diagnostics", "comparison"},
    "reanalysis": FOUNDATION
    | {
        "data",
        "datasets",
        "frequentist",
        "models",
        "engine",
        "diagnostics",
        "comparison",
        "sensitivity",
        "simulate",
        "reconstruction",
        "report",
        "literature",
        "meta_analysis",
    },
}
"""The layering: each area (a top-level module or subpackage of ``milkbayes``) and
the areas it may import at module level. ``cli``, on top, may import every area."""

ALLOWED["cli"] = frozenset(ALLOWED)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover_modules() -> dict[str, Path]:
    """Every module of the package, by dotted name, found by walking its folder."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        relative = path.relative_to(PACKAGE_DIR)
        if not all(
            (PACKAGE_DIR / Path(*relative.parts[:i]) / "__init__.py").exists()
            for i in range(1, len(relative.parts))
        ):
            continue  # a folder of data or templates, not a subpackage
        modules[_module_name(path)] = path
    return modules


MODULES = discover_modules()


def area(module: str) -> str:
    """The area of ``module``: ``milkbayes.engine.fit`` -> ``engine``; the root -> ``milkbayes``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "milkbayes"


def _runs_on_import(test: ast.expr) -> bool:
    """False for the tests of blocks that never run on import (see the module docstring)."""
    if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
        return False
    if isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING":
        return False
    if (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
    ):
        return False
    return True


def _import_time_statements(body: list[ast.stmt]):
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and not _runs_on_import(node.test):
            yield from _import_time_statements(node.orelse)
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                yield from _import_time_statements(block)


def _resolve_relative(module: str, path: Path, node: ast.ImportFrom) -> str:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    base = package.split(".")
    if node.level > 1:
        base = base[: -(node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def module_imports(module: str, path: Path) -> set[str]:
    """The milkbayes modules that ``module`` imports when it is imported."""
    targets: set[str] = set()
    for node in _import_time_statements(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve_relative(module, path, node) if node.level else node.module
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                targets.add(submodule if submodule in MODULES else source)
    return {
        target
        for target in targets
        if target is not None
        and (target == "milkbayes" or target.startswith("milkbayes."))
        and target != module
    }


def import_graph() -> dict[str, set[str]]:
    """Module-level import graph of the package."""
    return {module: module_imports(module, path) for module, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes ending where it starts, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == "open":
                return stack[stack.index(successor) :] + [successor]
            if successor not in state:
                cycle = visit(successor)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_discovery_finds_the_package():
    """The walk finds the modules that must exist, and no data or template files."""
    assert {
        "milkbayes",
        "milkbayes.errors",
        "milkbayes.models.registry",
        "milkbayes.engine.fit",
        "milkbayes.cli",
    } <= set(MODULES)
    assert all(path.suffix == ".py" for path in MODULES.values())
    assert set(map(area, MODULES)) <= set(ALLOWED), (
        "an area without a row in ALLOWED: add it to the table (and to docs/architecture.md)"
    )


IMPORT_EACH_ALONE = textwrap.dedent(
    """
    import importlib, json, sys, traceback
    failures = {}
    for name in json.loads(sys.argv[1]):
        for loaded in [m for m in sys.modules if m.partition(".")[0] == "milkbayes"]:
            del sys.modules[loaded]
        try:
            importlib.import_module(name)
        except BaseException as error:
            failures[name] = "".join(traceback.format_exception_only(error)).strip()
    print(json.dumps(failures))
    """
)
"""Run in a fresh interpreter: import each named module after forgetting every
milkbayes module imported before it (third-party modules stay loaded: they cannot
hide an import-order bug of ours, and reloading PyMC for every module is slow)."""


def modules_that_fail_alone(names: list[str]) -> dict[str, str]:
    """The modules of ``names`` that cannot be imported alone, with their error."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPOSITORY / "src"), *filter(None, [env.get("PYTHONPATH")])]
    )
    completed = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH_ALONE, json.dumps(names)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPOSITORY,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_the_import_check_reports_a_module_that_fails():
    failures = modules_that_fail_alone(["milkbayes.errors", "milkbayes.no_such_module"])
    assert list(failures) == ["milkbayes.no_such_module"]
    assert "ModuleNotFoundError" in failures["milkbayes.no_such_module"]


def test_every_module_imports_alone():
    """Each module imports in an interpreter where no other milkbayes module is loaded."""
    failures = modules_that_fail_alone(sorted(MODULES))
    assert not failures, "modules that cannot be imported alone:\n" + "\n".join(
        f"  {name}: {message}" for name, message in failures.items()
    )


def test_find_cycle_finds_a_known_cycle():
    """The cycle search itself, on graphs whose answer is known by inspection."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"b2"}, "b2": {"b"}}) == ["b", "b2", "b"]


def test_import_collection_skips_lazy_and_type_checking_imports(tmp_path, monkeypatch):
    """Only imports that run on import count (see the module docstring)."""
    source = textwrap.dedent(
        """
        from typing import TYPE_CHECKING
        import milkbayes.errors
        from milkbayes import jsonio
        try:
            from milkbayes.storage import atomic_write_text
        except ImportError:
            pass
        if TYPE_CHECKING:
            from milkbayes.engine.fit import FitResult
        def run():
            from milkbayes.reanalysis import pipeline
        class Holder:
            from milkbayes.published import N_PARTICIPANTS
        if __name__ == "__main__":
            import milkbayes.cli
        """
    )
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    monkeypatch.setitem(MODULES, "milkbayes.jsonio", PACKAGE_DIR / "jsonio.py")
    assert module_imports("milkbayes.models.probe", path) == {
        "milkbayes.errors",
        "milkbayes.jsonio",
        "milkbayes.storage",
        "milkbayes.published",
    }


def test_module_level_imports_are_acyclic():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle at module level: " + " -> ".join(cycle)


def test_layering_follows_the_data_flow():
    """Each area imports at module level only the areas its row of ALLOWED lists.

    In particular the models import nothing of the engine, comparison, sensitivity,
    reanalysis, report or cli; the report imports neither the reanalysis nor the
    engine nor the cli.
    """
    violations = [
        f"  {module} ({area(module)}) imports {target} ({area(target)})"
        for module, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if area(target) != area(module) and area(target) not in ALLOWED[area(module)]
    ]
    assert not violations, "imports against the layering of ALLOWED:\n" + "\n".join(violations)


def test_the_table_keeps_the_promised_boundaries():
    """The rows of ALLOWED that docs/architecture.md promises, checked on the table itself."""
    assert not ALLOWED["models"] & {
        "engine",
        "reanalysis",
        "report",
        "cli",
        "comparison",
        "sensitivity",
    }
    assert not ALLOWED["report"] & {"reanalysis", "engine", "cli"}
    assert [name for name, allowed in ALLOWED.items() if "cli" in allowed] == []


def test_only_cli_imports_cli_at_any_level():
    """No module outside ``milkbayes.cli`` imports it, not even inside a function."""
    offenders = []
    for module, path in sorted(MODULES.items()):
        if area(module) == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            if any(name == "milkbayes.cli" or name.startswith("milkbayes.cli.") for name in names):
                offenders.append(f"  {module}, line {node.lineno}")
    assert not offenders, "modules outside cli that import milkbayes.cli:\n" + "\n".join(offenders)


# Built from pieces so that this file does not match its own patterns.
OUTSIDE_REFERENCES = re.compile(
    "|".join(
        [
            re.escape("../" + "shared"),
            re.escape("/work/" + "shared"),
            re.escape("DESIGN" + ".md"),
            re.escape("STYLE" + ".md"),
            # an issue tracker's numbers: the repository must explain itself
            r"\b[Ii]ssues? #?\d+\b",
        ]
    )
)
"""Names of files outside the repository (case-sensitive: ``docs/design.md`` is ours)."""

SKIPPED_FOLDERS = {"__pycache__", ".ipynb_checkpoints", "_rendered", ".pytest_cache"}


def _repository_text_files():
    roots = [
        REPOSITORY / "src",
        REPOSITORY / "tests",
        REPOSITORY / "docs",
        REPOSITORY / "notebooks",
        REPOSITORY / "scripts",
    ]
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not SKIPPED_FOLDERS & set(path.relative_to(REPOSITORY).parts):
                yield path
    yield from sorted((REPOSITORY / "benchmarks").glob("*.py"))
    yield REPOSITORY / "README.md"


def test_the_repository_cites_nothing_outside_itself():
    """No source, test, document, notebook, benchmark or script names an outside file.

    The repository must stand on its own: design and decisions live in ``docs/``.
    """
    hits = []
    for path in _repository_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary data (compressed datasets, images)
        for number, line in enumerate(text.splitlines(), start=1):
            if OUTSIDE_REFERENCES.search(line):
                hits.append(f"  {path.relative_to(REPOSITORY)}:{number}: {line.strip()[:100]}")
    assert not hits, "references outside the repository (point to docs/ instead):\n" + "\n".join(
        hits
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("see ../" + "shared/DESIGN" + ".md", True),
        ("see /work/" + "shared", True),
        ("see docs/design.md and docs/decisions.md", False),
        ("Targets (iss" + "ue 8): 60 s", True),
        ("the iss" + "ue #12 fix", True),
        ("an issue with ties", False),
    ],
)
def test_the_outside_reference_pattern(line, expected):
    assert bool(OUTSIDE_REFERENCES.search(line)) is expected


def documented_modules(text: str) -> list[str]:
    """The first cells of the rows of the "## Modules" table of docs/architecture.md."""
    section = text.split("\n## Modules\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)`", section, flags=re.MULTILINE)


def test_every_module_has_a_row_in_the_architecture_page():
    """docs/architecture.md gives every public module its one-line purpose.

    Packages are covered by their modules (a package whose ``__init__`` holds the
    code, such as ``datasets``, has its own row), private modules (``_name``) by their
    package; a row may use ``<area>`` as a placeholder (``cli.<area>_commands``).
    """
    rows = documented_modules((REPOSITORY / "docs" / "architecture.md").read_text("utf-8"))
    patterns = [
        re.compile(re.escape(row).replace(re.escape("<area>"), r"[a-z_]+") + r"\Z") for row in rows
    ]
    missing = []
    for module, path in sorted(MODULES.items()):
        short = module.removeprefix("milkbayes.") if module != "milkbayes" else module
        if short.rpartition(".")[2].startswith("_"):
            continue
        if path.name == "__init__.py" and module != "milkbayes" and short not in rows:
            continue
        if not any(pattern.match(short) for pattern in patterns):
            missing.append(f"  {short}")
    assert not missing, (
        "modules without a row in the Modules table of docs/architecture.md:\n" + "\n".join(missing)
    )


def test_documented_modules_reads_the_table():
    text = "intro\n## Modules\n\n| module | purpose |\n|---|---|\n| `a.b` | x |\n\n## Next\n| `c` |"
    assert documented_modules(text) == ["a.b"]


def test_every_row_of_the_architecture_page_names_a_module_that_exists():
    """The reverse of the test above: a module renamed or deleted loses its row too."""
    rows = documented_modules((REPOSITORY / "docs" / "architecture.md").read_text("utf-8"))
    existing = {module.removeprefix("milkbayes.") for module in MODULES} | {"milkbayes"}
    stale = [f"  {row}" for row in rows if "<area>" not in row and row not in existing]
    assert not stale, "rows of docs/architecture.md naming no module:\n" + "\n".join(stale)
