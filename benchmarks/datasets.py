"""Data sets the defaults were not written for, made on this machine from files already on disk.

    python benchmarks/datasets.py --cifar /tmp/cifar10 --out /tmp/nasprune-bench

writes, each as an image folder (``train/<class>/``, ``test/<class>/``; the search splits validation off train):

- ``cifar-c32``: CIFAR-10 in colour at 32x32 (the JPEG copy in ../shared/data: 500 training images per class,
  and its whole test split, 1,000 per class, by default);
- ``cifar-g32``: the same images in grayscale (1 channel);
- ``cifar-c16``: the same images downsampled to 16x16 (box filter), colour;
- ``digits28``: scikit-learn's 8x8 digits (bundled, no download) drawn at 28x28 with a random rotation,
  scale, shift and stroke blur per image, 1 channel: a 28x28 digit folder like the one issue 12 was found on.

Subsampling is stratified and seeded, so every run of the benchmark sees the same images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

CIFAR_SETS = {"cifar-c32": ("RGB", 32), "cifar-g32": ("L", 32), "cifar-c16": ("RGB", 16)}


def _pick(files: list[Path], n: int, rng: np.random.Generator) -> list[Path]:
    return [files[i] for i in sorted(rng.choice(len(files), size=min(n, len(files)), replace=False))]


def make_cifar(cifar: Path, out: Path, train_per_class: int, test_per_class: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        for class_dir in sorted(p for p in (cifar / split).iterdir() if p.is_dir()):
            for f in _pick(sorted(class_dir.glob("*.jpg")), per_class, rng):
                image = Image.open(f).convert("RGB")
                for name, (mode, size) in CIFAR_SETS.items():
                    target = out / name / split / class_dir.name / (f.stem + ".png")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    im = image.convert(mode)
                    if size != image.size[0]:
                        im = im.resize((size, size), Image.Resampling.BOX)
                    im.save(target)


def _digit(image8: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """One 8x8 digit (values 0..16) drawn as a 28x28 grayscale image with a random pose."""
    big = Image.fromarray((image8 * (255 / 16)).astype(np.uint8)).resize((20, 20), Image.Resampling.BICUBIC)
    big = big.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BILINEAR, expand=False)
    side = int(round(20 * rng.uniform(0.85, 1.15)))
    big = big.resize((side, side), Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.8)))
    canvas = Image.new("L", (28, 28))
    x, y = (28 - side) // 2 + int(rng.integers(-2, 3)), (28 - side) // 2 + int(rng.integers(-2, 3))
    canvas.paste(big, (x, y))
    noisy = np.asarray(canvas, dtype=np.float32) + rng.normal(0, 8, (28, 28))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def make_digits28(out: Path, train: int = 4000, test: int = 1000, seed: int = 0) -> None:
    """Train and test images are drawn from disjoint halves of scikit-learn's digits, so a test image is never
    a re-posed training image."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    halves = {"train": (order[: len(order) // 2], train), "test": (order[len(order) // 2:], test)}
    for split, (index, count) in halves.items():
        for i in range(count):
            k = index[i % len(index)]
            target = out / "digits28" / split / str(digits.target[k]) / f"{i:05d}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            _digit(digits.images[k], rng).save(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", type=Path, required=True, help="CIFAR-10 as an image folder (train/, test/)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/nasprune-bench"))
    parser.add_argument("--train-per-class", type=int, default=500)
    parser.add_argument("--test-per-class", type=int, default=1000, help="1000: the whole CIFAR-10 test split")
    args = parser.parse_args()
    make_cifar(args.cifar, args.out, args.train_per_class, args.test_per_class)
    make_digits28(args.out)
    for d in sorted(args.out.iterdir()):
        print(d, sum(1 for _ in d.rglob("*.png")), "images")


if __name__ == "__main__":
    main()
