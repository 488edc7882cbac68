"""Prune a trained CIFAR ResNet to half its MACs with three importance criteria (issue 4).

Trains the preset with nasprune's trainer, then for each importance (l1, taylor, random) prunes a copy to
50% of its multiply-adds and fine-tunes it with the same recipe. Reports test accuracy, MFLOPs, parameters
and latency before and after, so the criterion's effect and the FLOPs-vs-speed gap are visible.
The published DepGraph result for ResNet-56 on CIFAR-10 at 2.11x: 93.53 -> 93.46 (-0.07 points); target:
nasprune loses no more than 0.5 points against its own unpruned model.

    tar -xzf ../shared/data/cifar10-jpeg.tar.gz -C /tmp/cifar10
    python benchmarks/prune_resnet.py --data /tmp/cifar10                            # GPU: ResNet-56, 30+30 epochs
    python benchmarks/prune_resnet.py --data /tmp/cifar10 --preset resnet20 --images 10000 --epochs 8 \\
        --finetune-epochs 4                                                          # CPU-sized
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import time
from pathlib import Path

import torch
from _env import machine  # benchmarks/_env.py: Python puts the script's folder on sys.path

from nasprune import build_model, fixed_spec, load_space, resolve_runtime, train
from nasprune.data import DataOptions, Normalizer, load_data, train_batches
from nasprune.data.placement import place_data
from nasprune.data.splits import Split
from nasprune.evaluation import measure_model
from nasprune.prune import Target, prune_channels


def subset(data, images: int):
    if not images or images >= len(data.train):
        return data
    idx = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))[:images].sort().values
    return dataclasses.replace(data, train=Split(data.train.x[idx], data.train.y[idx]))


def gradients(data, runtime, batches: int = 4):
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)

    def fill(model):
        model.train()
        order = torch.Generator(device=data.train.x.device).manual_seed(0)
        for i, (x, y) in enumerate(train_batches(data.train, 256, order, runtime.device)):
            if i == batches:
                break
            with runtime.autocast():
                torch.nn.functional.cross_entropy(model(normalize(x)), y).backward()

    return fill


def row(name: str, m: dict, base: dict | None = None) -> str:
    drop = f"{100 * (m['test_accuracy'] - base['test_accuracy']):+.2f}" if base else ""
    speed = f"{base['mflops'] / m['mflops']:.2f}x" if base else ""
    lat = " / ".join(f"{v:.3f}" for v in m["latency_ms"].values())
    return (f"| {name} | {100 * m['test_accuracy']:.2f} | {drop} | {m['mflops']:.2f} | {speed} | {m['params']:,} "
            f"| {lat} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="CIFAR-10 as an ImageFolder (train/, test/)")
    parser.add_argument("--preset", default="resnet56")
    parser.add_argument("--images", type=int, default=0, help="training images (default: all)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--finetune-epochs", type=int, default=30)
    parser.add_argument("--importances", default="l1,taylor,random")
    args = parser.parse_args()
    runtime = resolve_runtime()
    data = subset(load_data(f"imagefolder:{args.data}", DataOptions(val_fraction=0.1)), args.images)
    data = place_data(data, runtime.device)
    spec = fixed_spec(load_space(args.preset))
    recipe = spec.train.replace(epochs=args.epochs)
    print(machine())
    print(f"{args.preset}, {data.describe()}, {runtime.describe()}, train {args.epochs} epochs, "
          f"fine-tune {args.finetune_epochs} epochs ({recipe.schedule}, lr {recipe.lr}, batch {recipe.batch_size})")
    torch.manual_seed(0)
    model = build_model(spec.arch)
    t0 = time.perf_counter()
    train(model, data, recipe, runtime)
    print(f"trained in {time.perf_counter() - t0:.0f} s", flush=True)
    base = measure_model(model.eval(), data, runtime)
    keys = " / ".join(base["latency_ms"])
    lines = ["| model | test acc % | change (points) | MFLOPs | reduction | params | latency ms " + f"({keys}) |",
             "|---|---|---|---|---|---|---|", row(f"{args.preset} (unpruned)", base)]
    for importance in args.importances.split(","):
        pruned = copy.deepcopy(model)
        t0 = time.perf_counter()
        pruned, log = prune_channels(pruned, data.input_shape, Target("mflops", 0.5), importance,
                                     gradients=gradients(data, runtime),
                                     round_to=8 if runtime.device.type == "cuda" else None,
                                     after_increment=lambda m: m.to(memory_format=runtime.memory_format))
        prune_s = time.perf_counter() - t0
        train(pruned, data, recipe.replace(epochs=args.finetune_epochs), runtime, seed=1)
        after = measure_model(pruned.eval(), data, runtime)
        lines.append(row(f"{importance}, 50% MFLOPs, fine-tuned", after, base))
        print(f"{importance}: pruned in {prune_s:.1f} s ({len(log.trace)} increments); {lines[-1]}", flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
