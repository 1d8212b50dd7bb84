"""The latency a user feels: ``milkbayes wilcoxon`` and ``milkbayes fit`` in a new process.

Targets (2 cores, warm caches):

1. ``milkbayes wilcoxon --data <bundled csv>`` <= 0.8 s wall; the baseline in the same
   run is a new interpreter that reads the same CSV with pandas and calls
   ``scipy.stats.wilcoxon`` (what a user of SciPy alone waits for);
2. ``milkbayes fit <model>`` on the bundled data <= 4 s wall, for ``paired_change``
   and ``prepost_hierarchical``: imports, the model from the compile cache
   (``milkbayes.engine.compile_cache``: assembled from its record, no PyTensor graph
   work, once a process has compiled it), sampling (4 x 1,000 + 1,000), posterior
   predictive, log-likelihood, diagnostics and the NetCDF write.

Each command runs as a new process (the console script, as a user runs it) with
stdout and stderr piped; one untimed run of each first fills the caches (PyTensor's
compile directory, numba's, matplotlib's font cache), then ``--repeats`` timed runs
are interleaved and their median reported, with the median CPU seconds (user +
system, all threads), which a loaded machine inflates much less than the wall time.
``--profile`` adds one more run of each ``fit`` under pyinstrument and prints the
seconds of its stages (the outermost frame of each named function), so that the
remaining time can be attributed.

Prints ``RATIO <name> <value>`` lines for ``benchmarks/run_all.py``; a ratio
``..._over_target`` <= 1 meets its target. Run:
``.venv/bin/python benchmarks/bench_cli_latency.py [--repeats 3] [--profile]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUNDLED_CSV = ROOT / "src" / "milkbayes" / "datasets" / "volume_ml.csv"
WILCOXON_TARGET_S = 0.8
FIT_TARGET_S = 4.0
FIT_MODELS = ("paired_change", "prepost_hierarchical")

SCIPY_BASELINE = f"""
import pandas as pd
from scipy import stats
frame = pd.read_csv({str(BUNDLED_CSV)!r})
massage = frame[frame["group"] == "massage"]
print(stats.wilcoxon(massage["post"], massage["pre"]).pvalue)
"""

STAGES = {
    "data, read before the imports (pandas, SciPy)": "load  milkbayes/cli/data_options",
    "prior set (its module imports scipy.stats)": "resolve_prior  milkbayes/engine/fit",
    "build the PyMC model (PyMC import)": "build",
    "nutpie import (ArviZ, matplotlib)": "<module>  nutpie/__init__.py",
    "PyMC graph: logp + gradient, rewrites": "_make_functions",
    "numba callbacks (from the cache)": "_callback",
    "numba callbacks (model from its record)": "_cached_callback",
    "initial point function": "make_initial_point_fn",
    "work while the chains run (run folder parts)": "while_sampling_step",
    "sampling (chains + packaging)": "sample_complete",
    "posterior predictive": "add_posterior_predictive",
    "log-likelihood": "_add_log_likelihood",
    "diagnostics": "convergence_report",
    "fork the run folder's helper (+ dask.array)": "start  milkbayes/engine/run_writer",
    "wait for the helper's NetCDF bytes": "receive  milkbayes/engine/run_writer",
    "NetCDF write (save_run)": "save_run",
}
"""Stage label -> the start of the pyinstrument frame description that times it.

Only the ``fit`` process is profiled: the run folder's helper process
(:mod:`milkbayes.engine.run_writer`) shows as the wait for its bytes.

A stage nested in another (the work done while the chains run is inside the
sampling call, and builds a model of its own) is taken out of the enclosing one's
time, so that the stages add up to the profiled total."""


def console_script() -> list[str]:
    """The ``milkbayes`` entry point of this interpreter's environment."""
    script = Path(sys.executable).with_name("milkbayes")
    if script.exists():
        return [sys.executable, str(script)]
    return [sys.executable, "-c", "import sys; from milkbayes.cli import main; sys.exit(main())"]


def timed(command: list[str], env: dict) -> float:
    """Wall seconds of ``command`` run to completion (it must succeed)."""
    return timed_with_cpu(command, env)[0]


def timed_with_cpu(command: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, all threads) of ``command``.

    On a loaded machine the wall time grows with the load, the CPU time much less:
    it is the figure to compare across runs measured under different loads.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def timed_package(env: dict) -> str:
    """Where the timed commands import milkbayes from (PYTHONPATH may point at a worktree)."""
    probe = [sys.executable, "-c", "import milkbayes; print(milkbayes.__file__)"]
    done = subprocess.run(probe, capture_output=True, text=True, env=env, timeout=60, check=True)
    return str(Path(done.stdout.strip()).parent)


def commands(out: Path) -> dict[str, list[str]]:
    """The timed commands by name (fits write their run folders under ``out``)."""
    milkbayes = console_script()
    runs = {
        "wilcoxon": [*milkbayes, "wilcoxon", "--data", str(BUNDLED_CSV)],
        "scipy_wilcoxon": [sys.executable, "-c", SCIPY_BASELINE],
    }
    for model in FIT_MODELS:
        runs[f"fit_{model}"] = [*milkbayes, "fit", model, "--out", str(out / model), "--force"]
    return runs


def profile_stages(command: list[str], env: dict, folder: Path) -> dict[str, float]:
    """Seconds per stage of one run under pyinstrument (outermost frames of each stage).

    A stage's time excludes the stages nested in it: the sampling stage is the
    chains and their packaging less the work done meanwhile.
    """
    record = folder / "profile.json"
    profiled = [sys.executable, "-m", "pyinstrument", "-i", "0.002", "-r", "json"]
    profiled += ["-o", str(record), *command[1:]]
    subprocess.run(profiled, capture_output=True, text=True, env=env, timeout=600, check=True)
    tree = json.loads(record.read_text())
    root = tree.get("root_frame", tree)
    found = {label: 0.0 for label in STAGES}
    found["total (under the profiler)"] = float(root.get("time", 0.0))

    def walk(frame: dict, current: str | None) -> None:
        text = f"{frame.get('function', '')}  {frame.get('file_path_short', '')}"
        label = next((k for k, prefix in STAGES.items() if text.startswith(prefix)), None)
        if label is not None and label != current:
            seconds = float(frame.get("time", 0.0))
            found[label] += seconds
            if current is not None:  # nested: the enclosing stage keeps only its own time
                found[current] -= seconds
            current = label
        for child in frame.get("children", []):
            walk(child, current)

    walk(root, None)
    named = sum(value for label, value in found.items() if label in STAGES)
    found["rest: interpreter, CLI imports, printing"] = found["total (under the profiler)"] - named
    return found


def main(argv=None) -> int:
    """Time the commands, print the table, the RATIO lines and (--profile) the stages."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each command")
    parser.add_argument("--profile", action="store_true", help="profile one run of each fit")
    parser.add_argument(
        "--only", default="", help="comma-separated subset: wilcoxon, scipy_wilcoxon, fit_<model>"
    )
    args = parser.parse_args(argv)
    env = dict(os.environ, MILKBAYES_PROGRESS_INTERVAL="1000")
    folder = Path(tempfile.mkdtemp(prefix="milkbayes-bench-latency-"))
    try:
        runs = commands(folder)
        if args.only:
            keep = set(args.only.split(","))
            runs = {name: command for name, command in runs.items() if name in keep}
        for command in runs.values():  # untimed: fill the caches
            timed(command, env)
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeats):  # interleaved, so that load changes hit every command
            for name, command in runs.items():
                wall, used = timed_with_cpu(command, env)
                seconds[name].append(wall)
                cpu[name].append(used)
        load = os.getloadavg()[0]
        print(f"CLI latency, new process, warm caches; median of {args.repeats} interleaved runs")
        print(f"milkbayes timed: {timed_package(env)}")
        print(f"load average (1 min) at the end: {load:.2f} on {os.cpu_count()} CPUs")
        print(f"{'command':<34}{'median s':>10}{'min s':>8}{'CPU s':>8}{'target s':>10}  met")
        targets = {"wilcoxon": WILCOXON_TARGET_S} | {f"fit_{m}": FIT_TARGET_S for m in FIT_MODELS}
        medians = {name: statistics.median(values) for name, values in seconds.items()}
        for name, values in seconds.items():
            target = targets.get(name)
            verdict = "" if target is None else ("yes" if medians[name] <= target else "NO")
            target_text = "-" if target is None else f"{target:.1f}"
            used = statistics.median(cpu[name])
            row = (
                f"{name:<34}{medians[name]:>10.2f}{min(values):>8.2f}{used:>8.2f}{target_text:>10}"
            )
            print(f"{row}  {verdict}")
        for name, target in targets.items():
            if name in medians:
                print(f"RATIO {name}_over_target {medians[name] / target:.3f}")
        if "wilcoxon" in medians and "scipy_wilcoxon" in medians:
            ratio = medians["wilcoxon"] / medians["scipy_wilcoxon"]
            print(f"RATIO wilcoxon_over_scipy_alone {ratio:.2f}")
        if args.profile:
            for name, command in runs.items():
                if not name.startswith("fit_"):
                    continue
                stages = profile_stages(command, env, folder)
                print(f"\nwhere the time of `milkbayes {' '.join(command[2:4])}` goes (s):")
                for label, value in stages.items():
                    print(f"  {label:<44}{value:>7.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
