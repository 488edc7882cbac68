"""Would a budgeted search's retraining gain from starting at its exploration run's weights? (issue 29)

A retraining trains the leader again from scratch: the epochs of its exploration trial are spent twice. This trains
the default space's most expensive start candidate (the answer at 32x32) twice on one seed: once from scratch for
``--retrain`` epochs, once for ``--explore`` epochs (an exploration trial) and then, from those weights, a new
schedule of ``--retrain`` epochs (what a warm-started retraining would be). Validation and test accuracy of each.

    python benchmarks/warm_start.py --data imagefolder:/tmp/nasprune-bench/cifar-c32 --seed 0 --core 0

One core, one thread; one JSON line per run on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--explore", type=int, default=6, help="epochs of the exploration run (default 6)")
    parser.add_argument("--retrain", type=int, default=39, help="epochs of the retraining (default 39)")
    parser.add_argument("--core", type=int, default=None, help="pin to this core")
    args = parser.parse_args()
    if args.core is not None:
        os.sched_setaffinity(0, {args.core})

    import torch

    from nasprune import build_model, count_macs, load_space
    from nasprune.data import DataOptions, Normalizer, load_data
    from nasprune.space import candidates, fit_space
    from nasprune.train import evaluate, resolve_runtime, train

    torch.set_num_threads(1)
    splits = load_data(args.data, DataOptions(), seed=args.seed)
    space = fit_space(load_space("default"), splits.input_shape)
    specs = candidates(space, splits.input_shape[0], splits.num_classes)
    spec = max(specs, key=lambda s: count_macs(build_model(s.arch), splits.input_shape))
    runtime = resolve_runtime("auto")
    normalize = Normalizer(splits, runtime.device, runtime.memory_format, runtime.input_dtype)

    def scores(model) -> dict:
        return {split: round(evaluate(model, getattr(splits, split), normalize, runtime)[1], 4)
                for split in ("val", "test")}

    def fresh():
        torch.manual_seed(args.seed)
        return build_model(spec.arch)

    row = {"data": args.data, "seed": args.seed, "network": spec.arch.block}
    t0, model = time.time(), fresh()
    train(model, splits, spec.train.replace(epochs=args.retrain), runtime, seed=args.seed)
    print(json.dumps({**row, "run": f"scratch {args.retrain}", **scores(model), "seconds": round(time.time() - t0)}),
          flush=True)
    t0, model = time.time(), fresh()
    train(model, splits, spec.train.replace(epochs=args.explore), runtime, seed=args.seed)
    print(json.dumps({**row, "run": f"explore {args.explore}", **scores(model)}), flush=True)
    train(model, splits, spec.train.replace(epochs=args.retrain), runtime, seed=args.seed + 100)
    print(json.dumps({**row, "run": f"warm {args.explore}+{args.retrain}", **scores(model),
                      "seconds": round(time.time() - t0)}), flush=True)


if __name__ == "__main__":
    main()
