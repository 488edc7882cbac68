"""Why deeper did worse: He et al. 2016's depth experiment (Fig. 1, Table 6) with nasprune's presets and trainer.

Trains plain-20, plain-56, ResNet-20 and ResNet-56 with one recipe, then reports training and test error and
nasprune's depth diagnostics for each: the first/last gradient ratio recorded while training, redundant blocks
on a probe batch, the generalization gap, and the verdict. Expected (the paper): plain-56 is worse than
plain-20, in training error too; ResNet-56 is better than ResNet-20; the diagnostics name a cause for plain-56
and none for ResNet-56. Then removes ResNet-56's redundant blocks (``nasprune prune --blocks``) and fine-tunes.

    tar -xzf ../shared/data/cifar10-jpeg.tar.gz -C /tmp/cifar10
    python benchmarks/depth.py --data imagefolder:/tmp/cifar10                # GPU: CIFAR-10, 30 epochs each
    python benchmarks/depth.py --data digits --batch-size 128 --lr 0.1 --threads 1   # CPU-sized (RESULTS.md)
    python benchmarks/depth.py --data imagefolder:/tmp/cifar10 --init-only --threads 1   # gradients at init only
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch
from _env import machine  # benchmarks/_env.py: Python puts the script's folder on sys.path

from nasprune import build_model, count_macs, describe, fixed_spec, load_space, resolve_runtime, train, weighted_depth
from nasprune.data import DataOptions, Normalizer, load_data, train_batches
from nasprune.data.placement import place_data
from nasprune.data.splits import Split
from nasprune.diagnostics import (
    Diagnosis,
    GradientRecorder,
    estimate_drops,
    findings,
    measure_gradients,
    probe_batch,
    probe_redundancy,
    summarize_history,
)
from nasprune.prune.blocks import prune_blocks
from nasprune.train import evaluate

PRESETS = ("plain20", "plain56", "resnet20", "resnet56")


def subset(split: Split, images: int) -> Split:
    return split if not images or images >= len(split) else Split(split.x[:images], split.y[:images])


def error(model, split: Split, data, runtime) -> float:
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    return 1 - evaluate(model.eval(), split, normalize, runtime, data.streamed)[1]


def run(name: str, data, runtime, args) -> tuple[dict, torch.nn.Module]:
    c, _, _ = data.input_shape
    spec = fixed_spec(load_space(name), c, data.num_classes)
    recipe = spec.train.replace(epochs=args.epochs, **{k: v for k, v in (("batch_size", args.batch_size),
                                                                          ("lr", args.lr)) if v})
    torch.manual_seed(args.seed)
    model = build_model(spec.arch)
    recorder = GradientRecorder(model)
    t0 = time.perf_counter()
    result = train(model, data, recipe, runtime, seed=args.seed, after_step=recorder)
    seconds = time.perf_counter() - t0
    gradients = recorder.summary()
    redundancy = estimate_drops(model.eval(), probe_redundancy(model, probe_batch(data, 256, runtime)), data, runtime, 0)
    d = Diagnosis(source=name, arch=describe(spec.arch), block=spec.arch.block, norm=spec.arch.norm,
                  depth=weighted_depth(model), mflops=round(count_macs(model, data.input_shape) / 1e6, 3),
                  val_accuracy=result.final.val_acc, gradients=gradients, redundancy=redundancy,
                  generalization=summarize_history([h.to_dict() for h in result.history]))
    d = dataclasses.replace(d, findings=findings(d))
    row = {"model": name, "depth": d.depth, "train_error": error(model, subset(data.train, 10_000), data, runtime),
           "test_error": error(model, data.test, data, runtime), "val_error": 1 - result.final.val_acc,
           "ratio": gradients.ratio, "ratio_step0": gradients.ratios[0], "redundant": redundancy.redundant_blocks,
           "blocks": len(redundancy.blocks), "seconds": seconds, "overhead": recorder.seconds / seconds,
           "recipe": recipe.to_dict(), "diagnosis": d.to_dict()}
    print(f"{name}: train error {row['train_error']:.4f}, test error {row['test_error']:.4f}, {seconds:.0f} s "
          f"(gradient recording {row['overhead']:.3%} of it)", flush=True)
    for f in d.findings:
        print(f"  - {f.message}", flush=True)
    return row, model


def at_initialization(data, runtime, args) -> None:
    """Only the first/last gradient ratio of each preset at initialization, on a few training batches: cheap
    evidence on the full-size data where training is out of reach (a CPU and CIFAR-10)."""
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    order = torch.Generator(device=data.train.x.device).manual_seed(args.seed)
    batches = [b for _, b in zip(range(4), train_batches(data.train, 128, order, runtime.device), strict=False)]
    print("\n| model | depth | first/last gradient ratio at initialization (4 batches of 128: median; range) |\n"
          "|---|---|---|")
    for name in args.models.split(","):
        torch.manual_seed(args.seed)
        model = build_model(fixed_spec(load_space(name), data.input_shape[0], data.num_classes).arch)
        g = measure_gradients(model.to(runtime.device), batches, normalize, runtime, source="initialization")
        print(f"| {name} | {weighted_depth(model)} | {g.median_ratio:.3g}; {min(g.ratios):.3g}-{max(g.ratios):.3g} |",
              flush=True)


def depth_prune(model, data, runtime, args) -> str:
    """ResNet-56's redundant blocks out, as `nasprune prune --blocks` does, then fine-tuned."""
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    before = count_macs(model, data.input_shape) / 1e6
    smaller, log = prune_blocks(model, probe_batch(data, 256, runtime),
                                lambda m: evaluate(m, data.val, normalize, runtime, data.streamed)[1], 0.01)
    recipe = fixed_spec(load_space("resnet56"), data.input_shape[0], data.num_classes).train
    recipe = recipe.replace(epochs=args.finetune_epochs, **{k: v for k, v in (("batch_size", args.batch_size),
                                                                               ("lr", args.lr)) if v})
    if args.finetune_epochs:
        train(smaller, data, recipe, runtime, seed=args.seed + 1)
    after = count_macs(smaller, data.input_shape) / 1e6
    removed = ", ".join(f"stage {b['stage']} block {b['block']}" for b in log.removed) or "none"
    return (f"resnet56 --blocks: removed {len(log.removed)} blocks ({removed}; "
            f"{len(log.kept)} tried and kept) -> {describe(smaller.arch)}, {before:.1f} -> {after:.1f} MFLOPs "
            f"({1 - after / before:.0%} fewer); test error {error(model, data.test, data, runtime):.4f} -> "
            f"{error(smaller, data.test, data, runtime):.4f} after {args.finetune_epochs} fine-tuning epochs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="imagefolder:/tmp/cifar10", help="digits, or NAME:PATH (CIFAR-10 folder)")
    parser.add_argument("--images", type=int, default=0, help="training images (default: all)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, help="default: the presets' (512)")
    parser.add_argument("--lr", type=float, help="default: the presets' (0.2, one-cycle)")
    parser.add_argument("--finetune-epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=",".join(PRESETS))
    parser.add_argument("--init-only", action="store_true",
                        help="only the gradient ratio at initialization (no training)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's); 1 on a shared CPU")
    parser.add_argument("--out", type=Path, help="write every number as JSON here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    runtime = resolve_runtime()
    data = load_data(args.data, DataOptions(val_fraction=0.1))
    data = place_data(dataclasses.replace(data, train=subset(data.train, args.images)), runtime.device)
    print(machine())
    print(f"{data.describe()}; {runtime.describe()}, {torch.get_num_threads()} threads; {args.epochs} epochs each, "
          f"seed {args.seed}")
    if args.init_only:
        at_initialization(data, runtime, args)
        return
    rows, models = [], {}
    for name in args.models.split(","):
        row, models[name] = run(name, data, runtime, args)
        rows.append(row)
    print("\n| model | depth | train error % | test error % | first/last grad (worst; step 0) | redundant blocks "
          "| seconds |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['depth']} | {100 * r['train_error']:.2f} | {100 * r['test_error']:.2f} | "
              f"{r['ratio']:.2g}; {r['ratio_step0']:.2g} | {r['redundant']}/{r['blocks']} | {r['seconds']:.0f} |")
    if "resnet56" in models:
        print("\n" + depth_prune(models["resnet56"], data, runtime, args))
    if args.out:
        args.out.write_text(json.dumps({"machine": machine(), "data": data.describe(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
