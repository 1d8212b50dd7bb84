"""Run every milkbayes benchmark, print one table of figures and targets, record the run.

``make bench`` runs ``python benchmarks/run_all.py``; ``make bench-smoke`` (and
``tests/test_benchmarks_smoke.py``) runs ``--smoke``, a tiny version (1 chain x 50
draws, n = 24 only, Stan only if its model is already compiled) that checks the
machinery, not the speed.

What it runs, each as a subprocess so that every timing starts from a cold process:

1. ``bench_samplers.py``: the flagship model by milkbayes, PyMC's NUTS and Stan,
   five interleaved repetitions (five seeds) at n = 24, then one at n = 2,000;
2. ``profile_reanalyze.py``: ``milkbayes reanalyze`` (full), cold and warm,
   by stage, with a pyinstrument profile;
3. the other modules' benchmarks (``bench_wilcoxon.py``, ``bench_refit.py``,
   ``bench_simulate.py``, ``bench_prior_grid.py``, ``bench_meta_analysis.py``,
   ``bench_sensitivity.py``, ``bench_abc.py``,
   ``bench_cli_latency.py`` with ``--profile``, ``bench_marginal.py``,
   ``bench_gradient_cost.py``, ``bench_reanalyze_scale.py`` (``reanalyze --fast``
   on 2,000 generated mothers), when present;
   ``bench_reanalyze.py`` only with ``--others all``), whose printed output is kept
   verbatim and whose ratio and target lines are collected.

A full run writes ``benchmarks/results/latest.json`` and rewrites the results block
of ``benchmarks/README.md`` from it, so the README's figures always come from a run.
The machine (CPUs, CPU model, RAM, load average before and after, Python and package
versions) is recorded with them.

Examples
--------
``.venv/bin/python benchmarks/run_all.py --smoke --out /tmp/smoke.json``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from itertools import pairwise
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
README = HERE / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
PACKAGES = (
    "milkbayes",
    "pymc",
    "pytensor",
    "nutpie",
    "numba",
    "arviz",
    "arviz-stats",
    "numpy",
    "scipy",
    "pandas",
    "pystan",
    "httpstan",
    "pyinstrument",
)
OTHER_BENCHMARKS = (
    "bench_wilcoxon.py",
    "bench_refit.py",
    "bench_simulate.py",
    "bench_prior_grid.py",
    "bench_meta_analysis.py",
    "bench_sensitivity.py",
    "bench_abc.py",
    "bench_reanalyze.py",
    "bench_cli_latency.py",
    "bench_marginal.py",
    "bench_gradient_cost.py",
    "bench_reanalyze_scale.py",
)
"""Benchmarks written by the module owners; run when present, output kept verbatim."""

DEFAULT_SKIPPED_OTHERS = ("bench_reanalyze.py", "bench_refit.py")
"""Left out unless ``--others all``: ``bench_reanalyze.py`` times the same cold and warm
reanalyses as ``profile_reanalyze.py`` (three more full runs, minutes each), and
``bench_refit.py`` the same refit as ``bench_samplers.py``'s milkbayes worker (whose
timed fit follows a compiling one; its TARGET line reports it), which would put
``make bench`` beyond its 10-minute budget for no new figure."""

OTHER_ARGUMENTS = {
    "bench_simulate.py": ("--skip", "dask"),
    "bench_cli_latency.py": ("--repeats", "3", "--profile"),
}
"""Arguments that keep ``make bench`` within 10 minutes: the Dask comparison has no
target (run ``bench_simulate.py`` alone for it)."""

RATIO_LINE = re.compile(r"^RATIO\s+(\S+)\s+(-?[0-9.eE+-]+)\s*$")
MULTIPLE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*x\b")
TARGET_WORDS = re.compile(r"\b(met|NOT met|MISSED|missed|yes|NO|target|PASS|FAIL)\b")


# ----------------------------------------------------------------------------- machine
def machine() -> dict:
    """Where the figures come from."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = int(line.split()[1]) / 1024**2
                break
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "nproc": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": git_commit(),
    }


def git_commit() -> str | None:
    """The short commit hash of the repository, or None outside git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


# ----------------------------------------------------------------------------- running
def run_script(arguments: list[str], timeout: float) -> dict:
    """Run a benchmark script; its output, exit code and wall time."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, *arguments], capture_output=True, text=True, timeout=timeout, cwd=ROOT
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return {
            "exit_code": None,
            "seconds": time.perf_counter() - start,
            "stdout": out,
            "error": f"timed out after {timeout:.0f} s",
        }
    row = {
        "exit_code": done.returncode,
        "seconds": time.perf_counter() - start,
        "stdout": done.stdout,
    }
    if done.returncode != 0:
        row["error"] = (
            " | ".join(done.stderr.strip().splitlines()[-3:]) or f"exit {done.returncode}"
        )
    return row


def parse_output(text: str) -> dict:
    r"""Collect ``RATIO name value`` lines, and lines that state a multiple or a target.

    Examples
    --------
    >>> found = parse_output("RATIO a_over_b 6.5\nexact   0.2  <= 1 s  yes  12.0x faster\nnoise")
    >>> found["ratios"]
    {'a_over_b': 6.5}
    >>> found["ratio_lines"] == found["target_lines"] == ["exact   0.2  <= 1 s  yes  12.0x faster"]
    True
    """
    ratios, ratio_lines, target_lines = {}, [], []
    for line in text.splitlines():
        match = RATIO_LINE.match(line.strip())
        if match:
            ratios[match.group(1)] = float(match.group(2))
            continue
        if MULTIPLE.search(line):
            ratio_lines.append(line.rstrip())
        if TARGET_WORDS.search(line):
            target_lines.append(line.rstrip())
    return {"ratios": ratios, "ratio_lines": ratio_lines, "target_lines": target_lines}


def run_json_benchmark(script: str, arguments: list[str], timeout: float) -> dict:
    """Run one of this folder's scripts that can write ``--json``; merge its JSON."""
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "out.json"
        row = run_script([str(HERE / script), *arguments, "--json", str(target)], timeout)
        if target.exists():
            row["result"] = json.loads(target.read_text())
    row |= parse_output(row["stdout"])
    return row


def run_others(timeout: float, include_all: bool = False) -> dict:
    """The module owners' benchmarks present in this folder."""
    out = {}
    for script in OTHER_BENCHMARKS:
        if not (HERE / script).exists():
            continue
        if script in DEFAULT_SKIPPED_OTHERS and not include_all:
            out[script] = {
                "seconds": 0.0,
                "stdout": "",
                "skipped": True,
                "error": "skipped by default (same figures as "
                "profile_reanalyze.py or bench_samplers.py); "
                "run_all.py --others all runs it",
                "ratios": {},
                "ratio_lines": [],
                "target_lines": [],
            }
            continue
        print(f"- {script} ...", file=sys.stderr, flush=True)
        row = run_script([str(HERE / script), *OTHER_ARGUMENTS.get(script, ())], timeout)
        out[script] = row | parse_output(row["stdout"])
    return out


# ----------------------------------------------------------------------------- report
def collect_targets(record: dict) -> list[dict]:
    """Every target with its value and whether it is met, in one list."""
    rows = []
    samplers = record.get("samplers", {}).get("result") or {}
    for size in samplers.get("sizes", []):
        for name, target in size.get("targets", {}).items():
            seconds = target.get("unit") == "s"
            rows.append(
                {
                    "name": name,
                    "target": f"<= {target['target']:g} s"
                    if seconds
                    else f">= {target['target']:g}x",
                    "value": f"{target['value']:.2f} s" if seconds else f"{target['value']:.2f}x",
                    "met": target["met"],
                    "source": "bench_samplers.py",
                }
            )
        for way, row in size.get("ways", {}).items():
            if way not in TARGET_WAYS.get(size["n"], ()):
                continue
            if "error" in row:
                rows.append(
                    {
                        "name": f"n{size['n']}_ess_per_s_vs_{way}",
                        "target": "measured",
                        "value": "-",
                        "met": None,
                        "source": row["error"],
                    }
                )
    reanalyze = record.get("reanalyze", {}).get("result") or {}
    for name, target in reanalyze.get("targets", {}).items():
        rows.append(
            {
                "name": name,
                "target": f"<= {target['target']:g} s",
                "value": f"{target['value']:.1f} s",
                "met": target["met"],
                "source": f"profile_reanalyze.py (largest stage {target.get('dominating_stage')})",
            }
        )
    for script, row in record.get("others", {}).items():
        for line in parse_output(row.get("stdout", ""))["target_lines"]:
            text = line.strip()
            if text.startswith(("#", "benchmark", "model", "---", "(")):
                continue  # table headers and notes, not targets
            met = (
                False
                if re.search(r"\b(NO|MISSED|NOT met)\b", text)
                else True
                if re.search(r"\b(yes|met)\b", text)
                else None
            )
            rows.append(
                {
                    "name": text,
                    "target": "in line",
                    "value": "in line",
                    "met": met,
                    "source": script,
                }
            )
    return rows


TARGET_WAYS = {24: ("stan", "pymc"), 2000: ("stan",)}
"""The ways milkbayes has a speed target against, at each n."""


def samplers_markdown(result: dict) -> list[str]:
    """Markdown tables of the sampler benchmark, one per number of mothers."""
    lines = []
    for size in result.get("sizes", []):
        caption = (
            f"**n = {size['n']}** (medians over repetitions; ESS/s per second of "
            "the whole sampling call; sampler s: the chains alone, draws not yet "
            "packaged, PyMC's own `sampling_time` filling both; compile and total: "
            "cold caches / warm caches)"
        )
        header = (
            "| way | reps | ESS/s effect | ESS/s slowest (param) | sampling s | "
            "sampler s | compile s | total s (fresh process) | CPU s | peak MB | "
            "effect mean (sd) |"
        )
        lines += [caption, "", header, "|---|---|---|---|---|---|---|---|---|---|---|"]
        for way, row in size["ways"].items():
            if "error" in row:
                lines.append(f"| {way} | not measured: {row['error']} ||||||||| ")
                continue
            lines.append(
                f"| {way} | {row['repetitions']} | {row['ess_per_s_effect']:.1f} | "
                f"{row['ess_per_s_min']:.1f} ({row['slowest_parameter']}) | "
                f"{row['sample_s']:.2f} | "
                f"{'-' if row.get('sampler_s') is None else format(row['sampler_s'], '.2f')} | "
                f"{_pair(row, 'compile_s')} | {_pair(row, 'total_s')} | "
                f"{row.get('cpu_s') or 0:.0f} | {row['peak_rss_mb']:.0f} | "
                f"{row['effect_mean']:.2f} ({row['effect_sd']:.2f}) |"
            )
        lines.append("")
        for name, value in size.get("ratios", {}).items():
            lines.append(f"- `{name}` = **{value:.2f}**")
        bare = size["ways"].get("nutpie_bare", {})
        for other in ("stan", "pymc"):
            theirs = size["ways"].get(other, {})
            if "ess_per_s_effect" in bare and "ess_per_s_effect" in theirs:
                lines.append(
                    f"- ablation `nutpie_bare` over {other} (computed from the medians above): "
                    f"effect {bare['ess_per_s_effect'] / theirs['ess_per_s_effect']:.2f}, "
                    f"slowest {bare['ess_per_s_min'] / theirs['ess_per_s_min']:.2f}"
                )
        for other, check in size.get("agreement", {}).items():
            lines.append(
                f"- effect agrees with {other}: {'yes' if check['ok'] else 'NO'} "
                f"(mean |diff| {check['mean']['abs_diff']:.3f} < "
                f"{check['mean']['bound']:.3f}; sd |diff| "
                f"{check['sd']['abs_diff']:.3f} < {check['sd']['bound']:.3f})"
            )
        lines.append("")
    return lines


def _pair(row: dict, key: str) -> str:
    cold, warm = row.get(f"{key}_cold_cache"), row.get(f"{key}_warm_cache")
    return "/".join("-" if v is None else f"{v:.1f}" for v in (cold, warm))


def reanalyze_markdown(result: dict) -> list[str]:
    """Markdown table of the reanalysis runs with their stage seconds."""
    runs = result.get("runs", [])
    stages = []
    for run in runs:
        for name in run.get("stages_s", {}):
            if name not in stages:
                stages.append(name)
    lines = [
        "| run | wall s | cpu s | " + " | ".join(stages) + " |",
        "|---|---|---|" + "---|" * len(stages),
    ]
    for run in runs:
        if "error" in run:
            # the last part of the error tail (progress-bar text before it has "|" in it)
            message = run["error"].split("|")[-1].strip()
            lines.append(f"| {run['mode']} {run['cache']} | failed: {message} |")
            continue
        star = "*" if run.get("profiled") else ""
        lines.append(
            f"| {run['mode']} {run['cache']}{star} | {run['wall_s']:.1f} | "
            + f"{run['cpu_s']:.1f} | "
            + " | ".join(f"{run['stages_s'].get(s, 0.0):.1f}" for s in stages)
            + " |"
        )
    prof = result.get("profile") or {}
    if prof and "error" not in prof:
        lines += [
            "",
            f"`*` = run under pyinstrument. Profile ({prof['mode']}, "
            f"{prof['cache']}): the dominating stage is "
            f"**{prof['dominating_stage']}** ({100 * prof['dominating_share']:.0f} % "
            f"of the wall time); pyinstrument text: `{prof.get('profile_file')}`.",
        ]
        compile_s, duration = compile_time_in_profile(ROOT / prof.get("profile_file", ""))
        if compile_s is not None:
            lines.append(
                f"In that profile, `compile_pymc_model` (compiling the models) "
                f"takes {compile_s:.0f} s of the {duration:.0f} s recorded "
                f"({100 * compile_s / duration:.0f} %)."
            )
    elif prof:
        lines += ["", f"Profile failed: {prof['error']}"]
    return lines


PROFILE_LINE = re.compile(r"^[\s|`-]*([0-9.]+)\s+(\S+)\s")


def compile_time_in_profile(path: Path) -> tuple[float | None, float | None]:
    """Seconds spent in ``compile_pymc_model`` frames of a pyinstrument text profile.

    Sums the outermost occurrences (the function does not call itself); the duration
    is pyinstrument's ``Duration:`` header. (Tested in
    ``tests/test_benchmarks_smoke.py``.)
    """
    if not path.is_file():
        return None, None
    text = path.read_text()
    duration = re.search(r"Duration:\s*([0-9.]+)", text)
    total = 0.0
    for line in text.splitlines():
        match = PROFILE_LINE.match(line)
        if match and match.group(2) == "compile_pymc_model":
            total += float(match.group(1))
    return (total, float(duration.group(1))) if duration else (None, None)


def markdown(record: dict) -> str:
    """The README's results block, generated from the record."""
    m = record["machine"]
    load = record["load_average"]
    lines = [
        f"Run of {record['started_utc']} to {record['finished_utc']} (commit "
        f"{m['git_commit']}), `{' '.join(record['command'])}`, "
        f"{record['seconds']:.0f} s in all"
        + (
            "."
            if record.get("complete", True)
            else " (**incomplete**: the run was interrupted; parts below are those finished)."
        ),
        "",
    ]
    for part in record.get("parts", []):
        lines.append(
            f"- part `{' '.join(part['command'])}`: {part['started_utc']} to "
            f"{part['finished_utc']}, {part['seconds']:.0f} s, load average "
            f"{part['load_average']['before'][0]:.1f} -> "
            f"{part['load_average']['after'][0]:.1f}"
        )
    if record.get("concurrent"):
        lines.append(
            "- **the parts ran at the same time** (to finish before a deadline on a "
            "loaded machine): each part's wall times include the other's load; "
            "the CPU seconds and the same-run ratios are unaffected by that choice."
        )
    lines += [
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), "
        f"{m['ram_gb']:.1f} GB RAM, Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
        + ".",
        f"Load average (1 min) before/after: {load['before'][0]:.1f} / "
        f"{load['after'][0]:.1f}"
        + (
            " — **a shared machine under load**: other processes competed for the "
            "2 cores, so absolute times are inflated; the ratios, measured in the "
            "same run with interleaved repetitions, are the figures to read."
            if max(load["before"][0], load["after"][0]) > 1.5 * (m["nproc"] or 1) / 2
            else "."
        ),
        "",
    ]
    lines += ["### Targets", "", "| target | limit | value | met | from |", "|---|---|---|---|---|"]
    for row in record["targets"]:
        met = {True: "yes", False: "**no**", None: "see line"}[row["met"]]
        lines.append(
            f"| {row['name'].replace('|', '/')} | {row['target']} | {row['value']} | {met} | "
            f"{row['source']} |"
        )
    samplers = record.get("samplers", {})
    lines += ["", "### Samplers (bench_samplers.py)", ""]
    lines += (
        samplers_markdown(samplers["result"])
        if samplers.get("result")
        else [f"not measured: {samplers.get('error', 'skipped')}", ""]
    )
    for extra in record.get("samplers_extra", []):
        settings = extra["result"].get("settings", {})
        lines += [
            f"### Samplers, further run (`{Path(extra['file']).name}`: "
            f"{settings.get('chains')} chains x {settings.get('draws')} draws, warm "
            "caches)",
            "",
        ]
        lines += samplers_markdown(extra["result"])
    reanalyze = record.get("reanalyze", {})
    lines += ["### Pipeline (profile_reanalyze.py)", ""]
    lines += (
        reanalyze_markdown(reanalyze["result"])
        if reanalyze.get("result")
        else [f"not measured: {reanalyze.get('error', 'skipped')}"]
    )
    for script, row in record.get("others", {}).items():
        lines += [
            "",
            f"### {script} ({row['seconds']:.0f} s"
            + (f"; {row['error']}" if "error" in row else "")
            + ")",
            "",
            "```",
            row["stdout"].rstrip(),
            "```",
        ]
    return "\n".join(lines) + "\n"


def update_readme(text: str) -> None:
    """Replace the block between the markers of ``benchmarks/README.md``."""
    if not README.exists():
        return
    readme = README.read_text()
    if BEGIN not in readme or END not in readme:
        return
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{BEGIN}\n{text}{END}{tail}")


def print_summary(record: dict) -> None:
    """Print every target with its value and whether it is met, then the ratios."""
    print("\n=== targets ===")
    for row in record["targets"]:
        met = {True: "met", False: "NOT met", None: ""}[row["met"]]
        print(
            f"{row['name'][:70]:<70} {row['target']:>10} {row['value']:>10} {met:>8}  "
            f"[{row['source']}]"
        )
    print("=== ratios ===")
    for section in ("samplers", "reanalyze"):
        for name, value in record.get(section, {}).get("ratios", {}).items():
            print(f"{name:<60} {value:>10.2f}")


# ----------------------------------------------------------------------------- main
def finish(record: dict, started: float, complete: bool) -> None:
    """Stamp the end of the run (so far) and gather its targets."""
    record["load_average"]["after"] = list(os.getloadavg())
    record["finished_utc"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    record["seconds"] = time.perf_counter() - started
    record["complete"] = complete
    record["targets"] = collect_targets(record)


def combine(records: list[dict]) -> dict:
    """One record from parts run separately (possibly at the same time).

    The machine is that of the first part; the load averages are the highest seen;
    ``parts`` keeps each part's command and times, and ``concurrent`` says whether
    their time spans overlapped (then each part's wall times include the other's load).
    """
    record = {
        "command": ["benchmarks/run_all.py", "--combine", "..."],
        "smoke": any(r.get("smoke") for r in records),
        "started_utc": min(r["started_utc"] for r in records),
        "finished_utc": max(r["finished_utc"] for r in records),
        "machine": records[0]["machine"],
        "load_average": {
            "before": max((r["load_average"]["before"] for r in records), key=lambda v: v[0]),
            "after": max((r["load_average"]["after"] for r in records), key=lambda v: v[0]),
        },
        "parts": [
            {
                "command": r["command"],
                "started_utc": r["started_utc"],
                "finished_utc": r["finished_utc"],
                "seconds": r["seconds"],
                "load_average": r["load_average"],
            }
            for r in records
        ],
        "complete": all(r.get("complete", False) for r in records),
    }
    spans = sorted((r["started_utc"], r["finished_utc"]) for r in records)
    record["concurrent"] = any(later[0] < earlier[1] for earlier, later in pairwise(spans))
    record["seconds"] = (
        max(r["seconds"] for r in records)
        if record["concurrent"]
        else sum(r["seconds"] for r in records)
    )
    for part in ("samplers", "reanalyze", "others"):
        for r in records:
            if part in r:
                record[part] = r[part]
    record["targets"] = collect_targets(record)
    return record


def save(record: dict, out: str | None) -> None:
    """Write ``record`` to ``out`` as JSON (nothing when ``out`` is empty)."""
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(record, indent=2))


def main(argv=None) -> int:
    """Run every benchmark, print the targets and ratios, save the record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny run for the test suite: checks the machinery, not speed",
    )
    parser.add_argument(
        "--out",
        help="JSON record (default: benchmarks/results/latest.json; "
        "smoke runs write nowhere unless given)",
    )
    parser.add_argument("--sizes", default="24,2000")
    parser.add_argument(
        "--ways",
        default="milkbayes,pymc,stan",
        help="sampler ways at n = 24 (add nutpie_bare for the ablation)",
    )
    parser.add_argument(
        "--repetitions",
        default="5,1",
        help="sampler repetitions per size (interleaved; each repetition "
        "is another seed: the ESS of the slowest parameter varies by "
        "a factor of about 2 between seeds, so n = 24 gets five)",
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated parts to leave out: samplers, reanalyze, others"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        help="seconds allowed to bench_samplers.py and profile_reanalyze.py",
    )
    parser.add_argument(
        "--reanalyze-runs",
        default="full:cold,full:warm,full:warm:profile",
        help="passed to profile_reanalyze.py --runs",
    )
    parser.add_argument(
        "--others",
        choices=("default", "all"),
        default="default",
        help="'all' also runs bench_reanalyze.py (see DEFAULT_SKIPPED_OTHERS)",
    )
    parser.add_argument(
        "--others-timeout",
        type=float,
        default=240.0,
        help="seconds allowed to each module owner's benchmark",
    )
    parser.add_argument(
        "--render-readme",
        metavar="RECORD",
        help="only rewrite the README results block from this JSON record",
    )
    parser.add_argument(
        "--combine",
        nargs="+",
        metavar="RECORD",
        help="merge the records of parts run separately (e.g. with --skip) "
        "into one record (--out, default latest.json) and the README",
    )
    parser.add_argument(
        "--extra-samplers",
        nargs="+",
        default=[],
        metavar="JSON",
        help="with --combine: bench_samplers.py --json outputs of further "
        "sampler runs (e.g. a recheck) to record and show as well",
    )
    args = parser.parse_args(argv)
    if args.combine:
        record = combine([json.loads(Path(p).read_text()) for p in args.combine])
        record["samplers_extra"] = [
            {"file": str(Path(p)), "result": json.loads(Path(p).read_text())}
            for p in args.extra_samplers
        ]
        save(record, args.out or str(RESULTS / "latest.json"))
        update_readme(markdown(record))
        print_summary(record)
        return 0
    if args.render_readme:
        update_readme(markdown(json.loads(Path(args.render_readme).read_text())))
        return 0
    skip = {s for s in args.skip.split(",") if s}
    out = args.out or (None if args.smoke else str(RESULTS / "latest.json"))
    started = time.perf_counter()
    record = {
        "command": ["benchmarks/run_all.py", *(argv if argv is not None else sys.argv[1:])],
        "smoke": args.smoke,
        "started_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "load_average": {"before": list(os.getloadavg())},
        "machine": machine(),
    }
    if "samplers" not in skip:
        print("- bench_samplers.py ...", file=sys.stderr, flush=True)
        if args.smoke:
            sampler_args = [
                "--sizes",
                "24",
                "--repetitions",
                "1",
                "--chains",
                "1",
                "--draws",
                "50",
                "--tune",
                "50",
                "--keep-caches",
                "--ways",
                "milkbayes,pymc,stan",
                "--skip-stan-unless-compiled",
            ]
        else:
            # the ablation nutpie_bare (bench_samplers.py --ways) and a fresh C++ build of
            # the Stan model are left out to keep within the 10-minute budget
            sampler_args = [
                "--sizes",
                args.sizes,
                "--repetitions",
                args.repetitions,
                "--ways",
                args.ways,
                "--keep-stan-cache",
            ]
        row = run_json_benchmark("bench_samplers.py", sampler_args, args.timeout)
        record["samplers"] = row
        print(row["stdout"].rstrip())
        finish(record, started, complete=False)
        save(record, out)  # a partial record survives an interrupted run
    if not args.smoke and "reanalyze" not in skip:
        print("- profile_reanalyze.py ...", file=sys.stderr, flush=True)
        row = run_json_benchmark(
            "profile_reanalyze.py", ["--runs", args.reanalyze_runs], args.timeout
        )
        record["reanalyze"] = row
        print(row["stdout"].rstrip())
        finish(record, started, complete=False)
        save(record, out)
    if not args.smoke and "others" not in skip:
        record["others"] = run_others(args.others_timeout, include_all=args.others == "all")
        for script, row in record["others"].items():
            print(f"\n--- {script} ({row['seconds']:.1f} s) ---\n{row['stdout'].rstrip()}")
            if "error" in row:
                print(f"({script} failed: {row['error']})")
    finish(record, started, complete=True)
    print_summary(record)
    save(record, out)
    if out:
        print(f"\nrecorded in {out}")
    if not args.smoke and args.out is None:
        update_readme(markdown(record))
    print(f"total {record['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
