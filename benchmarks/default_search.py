"""Wall time and best test accuracy of `nasprune search` with no arguments, over several seeds.

The target (issue 2): under 2 minutes on a 2-core CPU machine, best trial >= 0.95 test accuracy on digits.
Each run is a fresh study in a temporary directory, timed from the command's start to its exit.

    python benchmarks/default_search.py --seeds 0 1 2 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _env import machine


def run(seed: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["nasprune", "search", "--quiet", "--results-dir", tmp] + (["--seed", str(seed)] if seed else [])
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        seconds = time.perf_counter() - t0
        summary = json.loads(next(Path(tmp).glob("*/summary.json")).read_text())
        best = summary["winners"][0]
        return seconds, best["test_accuracy"], summary["trials"]["stopped"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    args = parser.parse_args()
    print(machine())
    print("| seed | wall s | best test acc | stopped trials |\n|---|---|---|---|")
    rows = []
    for seed in args.seeds:
        rows.append(run(seed))
        print(f"| {seed} | {rows[-1][0]:.1f} | {rows[-1][1]:.4f} | {rows[-1][2]} |", flush=True)
    times = [r[0] for r in rows]
    print(f"median {statistics.median(times):.1f} s, max {max(times):.1f} s; "
          f"min best test accuracy {min(r[1] for r in rows):.4f}")
    sys.exit(0 if max(times) < 120 and min(r[1] for r in rows) >= 0.95 else 1)


if __name__ == "__main__":
    main()
