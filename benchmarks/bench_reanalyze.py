"""``milkbayes reanalyze`` on the bundled data: cold and warm, stage by stage, against targets.

Targets: <= 30 s cold and <= 10 s warm, on 2 cores.

Three measurements, each of the library call behind the command
(:func:`milkbayes.reanalysis.pipeline.run_reanalysis`) in a fresh Python process:

* **cold** — every on-disk cache empty: PyTensor's compile directory (which holds the
  numba cache of nutpie's compiled models), numba's and matplotlib's caches are
  pointed at new folders;
* **warm (new process)** — a second process with the caches the cold run filled: the
  second ``milkbayes reanalyze`` of a user;
* **warm (same process)** — a second call in the cold process: compiled models are
  also in milkbayes's in-memory cache (``milkbayes.engine.fit``), as in a notebook.

Stage times come from :attr:`ReanalysisResult.timings`; ``other`` is the rest of the
call's wall time. Each run writes its report into a temporary folder. On a shared
machine the load average is printed too: wall times scale with it.

Usage::

    .venv/bin/python benchmarks/bench_reanalyze.py            # the full default run
    .venv/bin/python benchmarks/bench_reanalyze.py --fast     # the --fast settings

Prints ``RATIO reanalyze_<mode>_<cold|warm>_over_target x`` lines (read by
``benchmarks/run_all.py``); a ratio <= 1 meets the target.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"cold": 30.0, "warm": 10.0}
"""Seconds allowed on 2 cores."""

CHILD = """
import json, os, sys, time
from pathlib import Path
start = time.perf_counter()
from milkbayes.reanalysis.pipeline import run_reanalysis
imported = time.perf_counter() - start
out, fast, repeats = Path(sys.argv[1]), sys.argv[2] == "fast", int(sys.argv[3])
rows = []
for k in range(repeats):
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    result = run_reanalysis(None, out / f"run{k}", fast=fast, force=True)
    rows.append({"wall_s": time.perf_counter() - t0, "stages_s": result.timings,
                 "diagnostics": result.summary["diagnostics"]["overall"],
                 "failing": [f"{f['fit']}: {f['label']}"
                             for f in result.summary["diagnostics"]["failing"]],
                 "load": [load0, os.getloadavg()[0]],
                 "refits": {r["label"]: r.get("n_refitted")
                            for r in result.summary["comparison"]["lomo"]}})
rows[0]["import_s"] = imported
print("RESULT " + json.dumps(rows))
"""


def cache_environment(root: Path) -> dict:
    """An environment whose compile caches all live (empty at first) under ``root``."""
    env = dict(os.environ)
    flags = env.get("PYTENSOR_FLAGS", "")
    env["PYTENSOR_FLAGS"] = ",".join(filter(None, [flags, f"base_compiledir={root / 'pt'}"]))
    env["NUMBA_CACHE_DIR"] = str(root / "numba")
    env["XDG_CACHE_HOME"] = str(root / "xdg")
    env["MPLCONFIGDIR"] = str(root / "mpl")
    env["PYTHONWARNINGS"] = "ignore"
    for sub in ("pt", "numba", "xdg", "mpl"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return env


def run_child(env: dict, out: Path, mode: str, repeats: int, timeout: float) -> list[dict]:
    """Run the reanalysis ``repeats`` times in one fresh process; its timing rows.

    The first row also gets ``process_wall_s``, the wall time of the whole child
    (interpreter start and imports included).
    """
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), mode, str(repeats)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    process_wall = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise SystemExit(f"reanalysis failed (exit {done.returncode}): {tail}")
    rows = json.loads(lines[-1][len("RESULT ") :])
    rows[0]["process_wall_s"] = process_wall
    return rows


def print_table(columns: dict[str, dict]) -> None:
    """Print the seconds of every stage, one column per way of running."""
    stages = []
    for row in columns.values():
        stages += [s for s in row["stages_s"] if s not in stages]
    names = list(columns)
    print(f"{'stage':<14}" + "".join(f"{n:>22}" for n in names))
    for stage in stages:
        print(
            f"{stage:<14}"
            + "".join(f"{columns[n]['stages_s'].get(stage, 0.0):>22.1f}" for n in names)
        )
    print(
        f"{'other':<14}"
        + "".join(
            f"{columns[n]['wall_s'] - sum(columns[n]['stages_s'].values()):>22.1f}" for n in names
        )
    )
    print(f"{'total (call)':<14}" + "".join(f"{columns[n]['wall_s']:>22.1f}" for n in names))


def main(argv=None) -> int:
    """Time the reanalysis cold, warm in a new process and warm in the same process."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="measure the --fast settings")
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args(argv)
    mode = "fast" if args.fast else "full"
    print(
        f"milkbayes reanalyze ({mode}) on the bundled data; {os.cpu_count()} cores; "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-reanalyze-") as folder:
        root = Path(folder)
        env = cache_environment(root / "caches")
        cold_and_same = run_child(env, root / "a", mode, repeats=2, timeout=args.timeout)
        new_process = run_child(env, root / "b", mode, repeats=1, timeout=args.timeout)
    columns = {
        "cold": cold_and_same[0],
        "warm (new process)": new_process[0],
        "warm (same process)": cold_and_same[1],
    }
    print_table(columns)
    import_s = cold_and_same[0]["import_s"]
    print(f"import of milkbayes.reanalysis.pipeline: {import_s:.1f} s (cold process)")
    print(f"diagnostics: {', '.join(f'{k}: {v["diagnostics"]}' for k, v in columns.items())}")
    print(
        "load average (1 min) at start and end of each run: "
        + ", ".join(f"{k}: {v['load'][0]:.1f} -> {v['load'][1]:.1f}" for k, v in columns.items())
    )
    print(f"exact refits per candidate (reloo): {columns['cold']['refits']}")
    for name, row in columns.items():
        if row.get("failing"):
            print(f"failing checks ({name}): {'; '.join(row['failing'])}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    checks = [
        ("cold", columns["cold"]["wall_s"], TARGETS["cold"]),
        ("warm", columns["warm (new process)"]["wall_s"], TARGETS["warm"]),
        ("warm_same_process", columns["warm (same process)"]["wall_s"], TARGETS["warm"]),
    ]
    for name, seconds, target in checks:
        verdict = "met" if seconds <= target else "NOT met"
        print(
            f"target {name}: {seconds:.1f} s <= {target:.0f} s {verdict} "
            f"({seconds / target:.2f}x of target)"
        )
    for name, seconds, target in checks:
        print(f"RATIO reanalyze_{mode}_{name}_over_target {seconds / target:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
