"""``milkbayes reanalyze --fast`` on 2,000 generated mothers, end to end, against 5 minutes.

The command runs in a subprocess exactly as a user types it, with stderr piped (so
the plain progress lines are exercised too), on a study written by
:func:`write_study`: pre ~ lognormal(log 8, 0.4) ml, post = pre + N(10, 5) clipped at
0.1, both rounded to 0.1 ml, with the work-duration and parity covariates drawn at
random, and a sidecar declaring a volume in ml. The wall time of the command is
compared with the target; the seconds per stage come from its ``--json`` output
(``timings``), and the cross-validation method of each candidate from the summary.

Usage::

    .venv/bin/python benchmarks/bench_reanalyze_scale.py [--n 2000] [--seed 1]

Prints ``RATIO reanalyze_fast_<n>_over_target x``; a ratio <= 1 meets the target.
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

import numpy as np

TARGET_SECONDS = 300.0
"""``reanalyze --fast`` on 2,000 mothers within 5 minutes on 2 cores."""


def write_study(folder: Path, n: int, seed: int) -> Path:
    """Write ``big.csv`` and its sidecar ``big.json`` into ``folder``; return the CSV."""
    rng = np.random.default_rng(seed)
    pre = np.round(rng.lognormal(np.log(8.0), 0.4, n), 1)
    post = np.round(np.clip(pre + rng.normal(10.0, 5.0, n), 0.1, None), 1)
    work = rng.choice(["short", "long"], n)
    parity = rng.choice(["primipara", "multipara"], n)
    lines = ["id,pre,post,work_duration,parity"] + [
        f"m{i},{a},{b},{w},{p}"
        for i, (a, b, w, p) in enumerate(zip(pre, post, work, parity, strict=True))
    ]
    path = folder / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    (folder / "big.json").write_text(json.dumps({"outcome": {"kind": "volume", "unit": "ml"}}))
    return path


def main() -> int:
    """Run the benchmark and print the table and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="mothers")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated study")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds")
    args = parser.parse_args()
    entry = Path(sys.executable).with_name("milkbayes")
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        folder = Path(tmp)
        data = write_study(folder, args.n, args.seed)
        out = folder / "report"
        command = [str(entry), "reanalyze", "--fast", "--data", str(data), "--out", str(out)]
        load = os.getloadavg()[0]
        started = time.perf_counter()
        done = subprocess.run(
            [*command, "--json"],
            capture_output=True,
            text=True,
            timeout=args.timeout,
            env=dict(os.environ, PYTHONWARNINGS="ignore"),
        )
        seconds = time.perf_counter() - started
        if done.returncode not in (0, 3):
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        result = json.loads(done.stdout)
        summary = json.loads((out / "summary.json").read_text())
    print(f"reanalyze --fast on {args.n} mothers: {seconds:.1f} s (target {TARGET_SECONDS:.0f} s)")
    print(f"load average at start {load:.2f}, after {os.getloadavg()[0]:.2f}")
    print("seconds per stage:")
    for stage, value in result["timings"].items():
        print(f"  {stage:<14}{value:8.1f}")
    print("cross-validation per candidate:")
    for row in summary["comparison"]["lomo"]:
        print(
            f"  {row['label']:<30}{row.get('method_text', row['method']):<32}"
            f"{row['refit_seconds']:8.1f} s of refits"
        )
    progress = [line for line in done.stderr.splitlines() if ": " in line]
    print(f"plain progress lines on stderr: {len(progress)}")
    print(f"RATIO reanalyze_fast_{args.n}_over_target {seconds / TARGET_SECONDS:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
