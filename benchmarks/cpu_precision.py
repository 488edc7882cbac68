"""Training speed on the CPU in fp32 and with bf16 autocast: why `--precision auto` means fp32 there.

Trains three small digits networks for 3 epochs each way (after one warm-up epoch) and prints seconds
per epoch, median of the epochs.

    python benchmarks/cpu_precision.py
"""

from __future__ import annotations

import argparse
import statistics

import torch
from _env import machine

from nasprune import ArchSpec, StageSpec, TrainSpec, build_model, describe, load_data, resolve_runtime, train

NETS = [
    ArchSpec(1, 10, (StageSpec(1, 16, 1), StageSpec(1, 32, 2)), stem_channels=16),
    ArchSpec(1, 10, (StageSpec(2, 32, 1), StageSpec(2, 64, 2)), stem_channels=32),
    ArchSpec(1, 10, (StageSpec(1, 64, 1), StageSpec(1, 128, 2)), block="bottleneck", expansion=4.0, stem_channels=64),
]


def seconds_per_epoch(arch: ArchSpec, precision: str, data) -> float:
    torch.manual_seed(0)
    result = train(build_model(arch), data, TrainSpec(epochs=4, batch_size=64), resolve_runtime("cpu", precision))
    return statistics.median(h.seconds for h in result.history[1:])


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # no options; --help says what it does
    print(machine())
    data = load_data("digits")
    print("| network | fp32 s/epoch | bf16 autocast s/epoch | bf16 / fp32 |\n|---|---|---|---|")
    for arch in NETS:
        fp32, bf16 = seconds_per_epoch(arch, "fp32", data), seconds_per_epoch(arch, "bf16", data)
        print(f"| {describe(arch)} | {fp32:.3f} | {bf16:.3f} | {bf16 / fp32:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
