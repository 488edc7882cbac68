"""Training throughput of the ResNet-20 preset on CIFAR-10 as a folder of JPEGs (issue 3).

Compares, in one run, training images per second of
  (a) what a user writes: an ImageFolder dataset (torchvision's where it imports, else the same thing with
      PIL) + DataLoader(4 workers) + fp32, batch 128, RandomCrop(32, padding=4) + RandomHorizontalFlip;
  (b) nasprune's trainer at its defaults, one trial (data resident on the device, batched GPU
      augmentation, bf16 autocast and channels_last and a captured CUDA graph step on CUDA);
  (c) nasprune's default number of concurrent trials on one GPU, aggregate (CUDA only).
Targets on an H100: (b) >= 12x (a) and (c) >= 2x (b). On a CPU-only machine (a) and (b) run on a subset.
Also reported: time to first trial (decode + cache + upload) and peak GPU memory per worker.

    tar -xzf ../shared/data/cifar10-jpeg.tar.gz -C /tmp/cifar10
    python benchmarks/throughput.py --data /tmp/cifar10              # on the GPU machine: full data set
    python benchmarks/throughput.py --data /tmp/cifar10 --images 4096 --epochs 1   # CPU
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _env import machine  # benchmarks/_env.py: Python puts the script's folder on sys.path
from PIL import Image

from nasprune import build_model, fixed_spec, load_space, resolve_runtime, train
from nasprune.data import DataOptions, load_data
from nasprune.data.imagefolder import scan_imagefolder
from nasprune.data.placement import place_data
from nasprune.data.splits import Split
from nasprune.search.workers import WORKERS_PER_GPU

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


class PilImageFolder(torch.utils.data.Dataset):
    """torchvision's ImageFolder + RandomCrop(32, 4) + RandomHorizontalFlip + ToTensor + Normalize, with PIL."""

    def __init__(self, files: list[tuple[Path, int]]) -> None:
        self.files = files
        self.mean = np.array(MEAN, dtype=np.float32).reshape(3, 1, 1)
        self.std = np.array(STD, dtype=np.float32).reshape(3, 1, 1)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.files[i]
        with Image.open(path) as im:
            x = np.asarray(im.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255  # (3, 32, 32)
        x = np.pad(x, ((0, 0), (4, 4), (4, 4)))
        dy, dx = np.random.randint(0, 9, 2)
        x = x[:, dy:dy + 32, dx:dx + 32]
        if np.random.rand() < 0.5:
            x = x[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray((x - self.mean) / self.std)), label


def user_loader(root: Path, images: int, workers: int) -> tuple[torch.utils.data.DataLoader, str]:
    try:  # what a user writes where torchvision imports
        import torchvision
        from torchvision import transforms
        tf = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                 transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
        dataset = torchvision.datasets.ImageFolder(str(root / "train"), transform=tf)
        kind = "torchvision ImageFolder"
    except Exception:  # noqa: BLE001 - torchvision does not import beside the CPU build of torch here
        files, _ = scan_imagefolder(root)
        dataset, kind = PilImageFolder(files["train"]), "PIL ImageFolder equivalent (torchvision does not import)"
    if images < len(dataset):
        dataset = torch.utils.data.Subset(dataset, torch.randperm(len(dataset))[:images].tolist())
    loader = torch.utils.data.DataLoader(dataset, batch_size=128, shuffle=True, num_workers=workers,
                                         pin_memory=torch.cuda.is_available(), drop_last=True,
                                         persistent_workers=workers > 0)
    return loader, kind


def bench_user(root: Path, images: int, epochs: int, device: torch.device) -> tuple[float, str]:
    """(a): images/s of the plain fp32 loop, first epoch's first 5 batches not counted (worker start)."""
    loader, kind = user_loader(root, images, workers=4)
    torch.manual_seed(0)
    model = build_model(fixed_spec(load_space("resnet20")).arch).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    seen, start = 0, None
    for _ in range(epochs):
        for i, (x, y) in enumerate(loader):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if start is None and i == 4:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
            elif start is not None:
                seen += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start), kind


def subset(data, images: int):
    """The first ``images`` training images (a random order: the cache keeps folder order) and 1,000
    validation images, so (b) trains on as many images as (a)."""
    idx = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))[:images].sort().values
    val = torch.arange(min(1000, len(data.val)))
    return dataclasses.replace(data, train=Split(data.train.x[idx], data.train.y[idx]),
                               val=Split(data.val.x[val], data.val.y[val]))


def bench_nasprune(root: Path, images: int, epochs: int, device: str, per_device: int = 1,
                   batch_size: int | None = None) -> dict:
    """(b): one trial with nasprune's defaults (the preset's recipe, or ``batch_size``); images/s over epochs
    2.. (epoch 1 holds warm-up and capture)."""
    runtime = resolve_runtime(device)
    data = subset(load_data(f"imagefolder:{root}", DataOptions(val_fraction=0.1)), images)
    data = place_data(data, runtime.device, "auto", per_device)
    spec = fixed_spec(load_space("resnet20"))
    spec = dataclasses.replace(spec, train=spec.train.replace(batch_size=batch_size or spec.train.batch_size))
    torch.manual_seed(0)
    if runtime.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(runtime.device)
    result = train(build_model(spec.arch), data, spec.train.replace(epochs=epochs), runtime)
    timed = result.history[1:] or result.history
    seconds = sum(h.seconds for h in timed)
    per_epoch = (len(data.train) // spec.train.batch_size) * spec.train.batch_size
    return {"images_per_s": len(timed) * per_epoch / seconds, "images": epochs * per_epoch,
            "step_mode": result.step_mode, "val_acc": result.final.val_acc,
            "peak_gib": torch.cuda.max_memory_allocated(runtime.device) / 2**30 if runtime.device.type == "cuda" else 0}


def _worker(args: tuple) -> dict:
    return bench_nasprune(*args)


def bench_concurrent(root: Path, images: int, epochs: int, k: int) -> tuple[float, float, list[dict]]:
    """(c): k trials at once on cuda:0, each as in (b). Returns the sum of the workers' steady rates (each
    measured after its first epoch, while all run), the conservative rate (every image over the wall time,
    process start, data load and capture included), and the workers' results."""
    with multiprocessing.get_context("spawn").Pool(k) as pool:
        t0 = time.perf_counter()
        results = pool.map(_worker, [(root, images, epochs, "cuda:0", k)] * k)
        wall = time.perf_counter() - t0
    return sum(r["images_per_s"] for r in results), sum(r["images"] for r in results) / wall, results


def time_to_first_trial(root: Path, device: str) -> dict:
    """Cold: decode every JPEG into a fresh cache; warm: load from the cache; upload: copy to the device."""
    with tempfile.TemporaryDirectory() as cache:
        os.environ["NASPRUNE_CACHE_DIR"] = cache
        t0 = time.perf_counter()
        load_data(f"imagefolder:{root}")
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        data = load_data(f"imagefolder:{root}")
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        placed = place_data(data, torch.device(device), "device")
        if placed.device.type == "cuda":
            torch.cuda.synchronize()
        upload = time.perf_counter() - t0
    del os.environ["NASPRUNE_CACHE_DIR"]
    return {"cold_s": cold, "warm_s": warm, "upload_s": upload}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="CIFAR-10 as an ImageFolder (train/, test/)")
    parser.add_argument("--images", type=int, default=0, help="training images per epoch (default: all; CPU: 4096)")
    parser.add_argument("--epochs", type=int, default=0, help="epochs per measurement (default: 3 on CUDA, 1 on CPU)")
    parser.add_argument("--concurrency", type=int, default=WORKERS_PER_GPU, help="trials at once for (c)")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    images = args.images or (50_000 if cuda else 4096)
    epochs = args.epochs or (3 if cuda else 2)
    device = "cuda" if cuda else "cpu"
    print(machine())
    first = time_to_first_trial(args.data, device)
    print(f"time to first trial, CIFAR-10 (60,000 JPEGs): decode + cache {first['cold_s']:.1f} s; from the cache "
          f"{first['warm_s']:.1f} s; upload to {device} {first['upload_s']:.2f} s", flush=True)
    a, kind = bench_user(args.data, images, epochs, torch.device(device))
    print(f"(a) {kind} + DataLoader(4 workers), fp32, batch 128: {a:,.0f} images/s", flush=True)
    b = bench_nasprune(args.data, images, epochs, device)
    print(f"(b) nasprune trainer, defaults ({b['step_mode']}): {b['images_per_s']:,.0f} images/s "
          f"= {b['images_per_s'] / a:.1f}x (a); val acc {b['val_acc']:.3f}; peak GPU memory {b['peak_gib']:.2f} GiB",
          flush=True)
    b128 = bench_nasprune(args.data, images, epochs, device, batch_size=128)
    print(f"(b) the same at batch 128, as (a): {b128['images_per_s']:,.0f} images/s = {b128['images_per_s'] / a:.1f}x (a)",
          flush=True)
    if cuda:
        c, c_wall, runs = bench_concurrent(args.data, images, epochs, args.concurrency)
        peak = statistics.median(r["peak_gib"] for r in runs)
        print(f"(c) {args.concurrency} concurrent trials on one GPU: {c:,.0f} images/s aggregate = "
              f"{c / b['images_per_s']:.1f}x (b) = {c / a:.1f}x (a) ({c_wall:,.0f} images/s counting start-up); "
              f"peak GPU memory per worker {peak:.2f} GiB")
    print(f"images per epoch {images}, epochs {epochs}, ResNet-20 preset (batch 512, one-cycle SGD)")


if __name__ == "__main__":
    main()
