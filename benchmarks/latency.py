"""Latency a user can trust: the same model measured on an idle machine and with every core loaded (issue 16).

    python benchmarks/latency.py                      # the default search's start candidate on 1x28x28 and 3x32x32
    python benchmarks/latency.py --threads 1 2        # also with 2 intra-op threads, to show why 1 is the default

For each model and thread count: nasprune.measure_latency idle, then while one busy-loop process per core runs
(``os.cpu_count()`` of them), each measured ``--runs`` times; prints the medians, their p10/p90 spread, whether
the measurement flagged itself as busy, and the ratio loaded / idle of the medians (target: <= 1.5 with 1 thread).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time

import torch
from _env import machine

from nasprune import build_model, load_space
from nasprune.measure import measure_latency
from nasprune.space import candidates, fit_space


def _spin(stop: multiprocessing.Event) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def _models() -> list[tuple[str, torch.nn.Module, tuple[int, int, int]]]:
    out = []
    for shape in ((1, 28, 28), (3, 32, 32)):
        spec = candidates(fit_space(load_space("default"), shape), shape[0], 10)[0]
        torch.manual_seed(0)
        out.append((f"default start candidate, {'x'.join(map(str, shape))}", build_model(spec.arch).eval(), shape))
    return out


def _measure(model: torch.nn.Module, shape: tuple[int, int, int], threads: int, runs: int) -> list:
    return [measure_latency(model, shape, threads=threads) for _ in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--runs", type=int, default=5, help="measurements per condition")
    args = parser.parse_args()
    print(machine())
    print("| model | threads | idle median ms (p10-p90) | loaded median ms (p10-p90) | loaded flagged busy | "
          "ratio loaded/idle |\n|---|---|---|---|---|---|")
    for name, model, shape in _models():
        for threads in args.threads:
            idle = _measure(model, shape, threads, args.runs)
            stop = multiprocessing.Event()
            spinners = [multiprocessing.Process(target=_spin, args=(stop,)) for _ in range(os.cpu_count() or 1)]
            for p in spinners:
                p.start()
            time.sleep(1.0)
            try:
                loaded = _measure(model, shape, threads, args.runs)
            finally:
                stop.set()
                for p in spinners:
                    p.join()
            busy = sum(m.busy for m in loaded)
            print(f"| {name} | {threads} | {_spread(idle)} | {_spread(loaded)} | {busy}/{len(loaded)} "
                  f"(idle: {sum(m.busy for m in idle)}/{len(idle)}) | {_median(loaded) / _median(idle):.2f} |", flush=True)


def _median(ms: list) -> float:
    return statistics.median(m.median_ms for m in ms)


def _spread(ms: list) -> str:
    return (f"{_median(ms):.3f} ({statistics.median(m.p10_ms for m in ms):.3f}-"
            f"{statistics.median(m.p90_ms for m in ms):.3f})")


if __name__ == "__main__":
    main()
