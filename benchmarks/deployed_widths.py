"""Which channel counts a runtime runs fast on the CPU: latency of one network at every width (issue 30, item 3).

    python benchmarks/deployed_widths.py                            # ONNX Runtime and PyTorch, 3x32x32, batch 1 and 32
    taskset -c 1 python benchmarks/deployed_widths.py --widths 8 80 --runs 3

A plain batch-norm CNN (nasprune's ``plain`` block: stem and three stages of one 3x3 conv each, strides 1-2-2, every
layer ``w`` channels) is built for each width ``w`` and timed with ``nasprune.deploy.runtime_latency`` (warm-up until
the times settle, median of up to 50 passes, one CPU thread). ``--runs`` measurements per figure, interleaved over
the widths (so a slow spell of the machine touches every width alike); the table gives the median of their medians.

The rule it looks for: at widths that are not a multiple of U, is the network slower than the next multiple of U
(more channels, more MACs)? Then pruning should never leave a width between multiples, and rounding a layer down to
a multiple of U costs no speed. The summary line gives, for U = 4, 8 and 16, the share of widths between multiples
that run slower than the multiple above them, and the median of latency(w) / latency(multiple below w).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics

import torch
from _env import machine  # benchmarks/_env.py: Python puts the script's folder on sys.path

from nasprune import ArchSpec, StageSpec, build_model
from nasprune.deploy import LATENCY_RUNTIMES, runtime_latency
from nasprune.measure import count_macs


def _network(width: int, channels: int) -> torch.nn.Module:
    arch = ArchSpec(channels, 10, (StageSpec(1, width, 1), StageSpec(1, width, 2), StageSpec(1, width, 2)),
                    block="plain", stem_channels=width)
    torch.manual_seed(0)
    return build_model(arch).eval()


def _rule(table: dict[int, float]) -> str:
    """For U in 4, 8, 16: the share of in-between widths slower than the multiple above, and the median ratio of
    an in-between width's latency to the multiple below it."""
    parts = []
    for unit in (4, 8, 16):
        between = [w for w in table if w % unit and (w // unit + 1) * unit in table and w // unit * unit in table]
        if not between:
            continue
        slower_than_up = sum(table[w] > table[(w // unit + 1) * unit] for w in between) / len(between)
        over_down = statistics.median(table[w] / table[w // unit * unit] for w in between)
        parts.append(f"U={unit}: {slower_than_up:.0%} of {len(between)} widths slower than the multiple above, "
                     f"median {over_down:.2f}x the multiple below")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs=2, default=[8, 72], metavar=("LOW", "HIGH"))
    parser.add_argument("--input", default="3x32x32", help="CxHxW (default: 3x32x32)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--runtimes", nargs="+", choices=LATENCY_RUNTIMES, default=list(LATENCY_RUNTIMES))
    parser.add_argument("--runs", type=int, default=3, help="measurements per figure")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=0.5, help="timed passes per measurement stop after this")
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.input.lower().split("x"))
    print(f"{machine()}; onnxruntime {importlib.metadata.version('onnxruntime')}; input {args.input}, "
          f"{args.threads} thread(s), {args.runs} runs per figure", flush=True)
    widths = list(range(args.widths[0], args.widths[1] + 1))
    models = {w: _network(w, shape[0]) for w in widths}
    for runtime in args.runtimes:
        for batch in args.batches:
            taken: dict[int, list[float]] = {w: [] for w in widths}
            for _ in range(args.runs):
                for w in widths:
                    taken[w].append(runtime_latency(models[w], shape, runtime, batch, args.threads,
                                                    max_seconds=args.max_seconds).median_ms)
            table = {w: statistics.median(v) for w, v in taken.items()}
            print(f"\n{runtime}, batch {batch}:")
            print("| width | MMACs | ms | ms / ms at the multiple of 16 below |\n|---|---|---|---|")
            for w in widths:
                below = w // 16 * 16
                ratio = f"{table[w] / table[below]:.2f}" if below in table else "-"
                print(f"| {w} | {count_macs(models[w], shape) / 1e6:.2f} | {table[w]:.3f} | {ratio} |")
            print(f"rule ({runtime}, batch {batch}): {_rule(table)}", flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)  # the process's own work (building, exporting) stays off the other cores
    main()
