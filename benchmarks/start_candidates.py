"""Would a larger start candidate pay at a given resolution? (issue 12)

The default space's start candidate (ResNet-8-like, ``basic[1,1,1]x[16,32,64]``) is what a budgeted search
retrains for the longest: at 16x16 it trained 180-211 epochs and was the most accurate network in every run of
benchmarks/search_quality.py. This trains it and larger networks of the same space (more blocks per stage, more
channels) for the same wall-clock seconds each, as the time a retraining gets, and prints their test accuracy:
if a larger one is clearly better in the same time, the search should try it first too.

    python benchmarks/datasets.py --cifar /tmp/cifar10 --out /tmp/nasprune-bench
    python benchmarks/start_candidates.py --data imagefolder:/tmp/nasprune-bench/cifar-c16 --seconds 200

Each network trains on one core with one thread, two at a time (``--parallel``); the epochs that fit are
planned from a second timed epoch by the function benchmarks/search_quality.py's (d) uses.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

#: name -> (stem channels, repeats per stage, channels per stage), all within the default space's choices
VARIANTS = {
    "as written": (16, (1, 1, 1), (16, 32, 64)),
    "2 blocks a stage": (16, (2, 2, 2), (16, 32, 64)),
    "3 blocks a stage (ResNet-20-like)": (16, (3, 3, 3), (16, 32, 64)),
    "wider (32-64-64)": (32, (1, 1, 1), (32, 64, 64)),
}


def _pin(cores: list[int], counter) -> None:
    with counter.get_lock():
        core = cores[counter.value % len(cores)]
        counter.value += 1
    os.sched_setaffinity(0, {core})


def run(data: str, name: str, seconds: float, seed: int) -> dict:
    import torch
    from search_quality import train_until  # benchmarks/search_quality.py, on sys.path beside this script

    from nasprune import build_model, count_macs, load_space
    from nasprune.data import DataOptions, load_data
    from nasprune.space import candidates, fit_space
    from nasprune.train import resolve_runtime

    torch.set_num_threads(1)
    start = time.time()
    splits = load_data(data, DataOptions(), seed=seed)
    space = fit_space(load_space("default"), splits.input_shape)
    spec = candidates(space, splits.input_shape[0], splits.num_classes)[0]
    stem, repeats, channels = VARIANTS[name]
    planned = zip(spec.arch.stages, repeats, channels, strict=True)
    stages = tuple(replace(s, repeats=r, channels=c) for s, r, c in planned)
    arch = replace(spec.arch, stem_channels=stem, stages=stages)
    test, epochs, per_epoch = train_until(arch, spec.train, splits, resolve_runtime("auto"), seed, start + seconds)
    return {"network": name, "mflops": round(count_macs(build_model(arch), splits.input_shape) / 1e6, 2),
            "epochs": epochs, "seconds_per_epoch": round(per_epoch, 2), "test_accuracy": round(test, 4),
            "wall_seconds": round(time.time() - start)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a data source as `nasprune search --data` takes it")
    parser.add_argument("--seconds", type=float, default=200, help="wall clock per network (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parallel", type=int, default=2, help="networks trained at once, one core each")
    parser.add_argument("--networks", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), metavar="NAME",
                        help=f"which to train (default all): {', '.join(repr(v) for v in VARIANTS)}")
    args = parser.parse_args()

    import multiprocessing

    from _env import machine  # benchmarks/_env.py

    print(machine(), flush=True)
    cores = sorted(os.sched_getaffinity(0))
    counter = multiprocessing.Value("i", 0)
    with ProcessPoolExecutor(args.parallel, initializer=_pin, initargs=(cores, counter)) as pool:
        jobs = [pool.submit(run, args.data, name, args.seconds, args.seed) for name in args.networks]
        for job in jobs:
            print(json.dumps(job.result()), flush=True)


if __name__ == "__main__":
    main()
