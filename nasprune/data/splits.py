"""Data held as tensors: uint8 images and int64 labels, split into train / validation / test."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ..errors import DataError
from ..options import DataOptions

__all__ = ["Split", "DataSplits", "split_off", "stratified_split", "channel_stats"]


@dataclass(frozen=True)
class Split:
    """One split: images ``x`` (N, C, H, W) uint8 and labels ``y`` (N,) int64, on one device."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device, non_blocking=True), self.y.to(device, non_blocking=True))


@dataclass(frozen=True)
class DataSplits:
    """A data set ready for training: three splits plus what the pipeline needs to know.

    The test split is for the final evaluation of the winners only; the search never looks at it.
    ``mean`` and ``std`` are per-channel statistics of the training split on the [0, 1] scale.
    """

    name: str
    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_padding: int = 0  # random-crop augmentation: pad by this many pixels, crop back (0 = off)
    flip: bool = False  # random horizontal flips (wrong for digits and text, right for photos)
    augment_note: str = ""  # why this augmentation (what --augment auto decided from, or "as asked")
    streamed: bool = False  # batches come through DataLoader workers from host memory (see data.placement)
    source: str = ""  # where it came from: the data argument (digits, imagefolder:PATH, ...)
    options: DataOptions | None = None  # how it was loaded and split
    seed: int = 0  # seed of the validation / test split
    files: str = ""  # fingerprint of the source's files (paths and sizes), "" if unknown
    skipped: tuple[str, ...] = ()  # broken files left out (--skip-broken-images)

    def record(self) -> dict:
        """Where this data came from and how it was split: what a saved model keeps (``data.json``) so later
        commands judge it on the same split by default."""
        o = self.options or DataOptions()
        return {"data": self.source, "input_shape": list(self.input_shape), "num_classes": self.num_classes,
                "classes": list(self.classes), "seed": self.seed, "val_fraction": o.val_fraction,
                "test_fraction": o.test_fraction, "image_size": list(o.image_size) if o.image_size else None,
                "augment": o.augment, "skip_broken_images": o.skip_broken_images, "files": self.files,
                "images": {"train": len(self.train), "val": len(self.val), "test": len(self.test)},
                "skipped": list(self.skipped)}

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.train.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def device(self) -> torch.device:
        return self.train.x.device

    def to(self, device: torch.device | str) -> DataSplits:
        """The same splits on ``device`` (a no-op where they already are)."""
        return replace(self, train=self.train.to(device), val=self.val.to(device), test=self.test.to(device))

    @property
    def augmentation(self) -> str:
        """The training augmentation in use, in words: ``crop (pad 4) + flip``, ``crop (pad 1)``, ``none`` (what
        ``--augment auto`` chose for this data, or what was asked for)."""
        return " + ".join(([f"crop (pad {self.crop_padding})"] if self.crop_padding else [])
                          + (["flip"] if self.flip else [])) or "none"

    @property
    def augment_choice(self) -> str:
        """The ``--augment`` value that gives this augmentation (what ``auto`` resolved to): ``crop,flip``, ``none``."""
        return ",".join(name for name, on in (("crop", self.crop_padding), ("flip", self.flip)) if on) or "none"

    def describe(self) -> str:
        c, h, w = self.input_shape
        augment = self.augmentation
        skipped = f", {len(self.skipped)} broken file{'s' if len(self.skipped) != 1 else ''} left out" if self.skipped else ""
        return (f"{self.name}: {len(self.train)} train / {len(self.val)} val / {len(self.test)} test images, "
                f"{c}x{h}x{w}, {self.num_classes} classes, augmentation {augment}{skipped}")


def split_off(y: np.ndarray, fraction: float, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out) with ``fraction`` of ``y`` held out, stratified by class (scikit-learn)."""
    if not 0 < fraction < 1:
        raise DataError(f"the {what} fraction must be between 0 and 1 (got {fraction})")
    # imported here: scikit-learn takes 1.4 s, and a command that reads no data (studies, report) need not wait for it
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    try:
        kept, held = train_test_split(index, test_size=fraction, stratify=y, random_state=seed)
    except ValueError as exc:  # a class too small to be split
        raise DataError(f"cannot split off {fraction:g} of the images as {what} data ({exc}); add images, "
                        f"change the fraction, or provide a {what}/ folder") from None
    return np.sort(kept), np.sort(held)


def stratified_split(y: np.ndarray, val_fraction: float, test_fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of train / val / test, each a fixed share of ``y``, stratified by class, seeded."""
    if val_fraction + test_fraction >= 1:
        raise DataError(f"val_fraction + test_fraction must be < 1 (got {val_fraction + test_fraction:g})")
    rest, test = split_off(y, test_fraction, seed, "test")
    kept, val = split_off(y[rest], val_fraction / (1 - test_fraction), seed, "validation")
    return rest[kept], rest[val], test


def channel_stats(x: torch.Tensor | np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images (N, C, H, W) on the [0, 1] scale, exact, from a
    256-bin histogram per channel: no float copy of the data (the split may be a large memory map)."""
    x = torch.as_tensor(x) if isinstance(x, np.ndarray) else x
    values = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for c in range(x.shape[1]):
        counts = torch.bincount(x[:, c].flatten(), minlength=256).to(torch.float64)  # (256,)
        total = counts.sum()
        mean = (counts * values).sum() / total
        var = ((counts * values.square()).sum() / total - mean.square()).clamp_min(0)
        means.append(mean.item())
        stds.append(max(var.sqrt().item(), 1e-3))  # a constant channel must not divide by zero
    return tuple(means), tuple(stds)
