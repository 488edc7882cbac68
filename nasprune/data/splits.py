"""Data held as tensors: uint8 images and int64 labels, split into train / validation / test."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from ..errors import DataError

__all__ = ["Split", "DataSplits", "stratified_split", "channel_stats"]


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

    def describe(self) -> str:
        c, h, w = self.input_shape
        return (f"{self.name}: {len(self.train)} train / {len(self.val)} val / {len(self.test)} test images, "
                f"{c}x{h}x{w}, {self.num_classes} classes")


def stratified_split(y: np.ndarray, val_fraction: float, test_fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of train / val / test, stratified by class with a fixed seed (scikit-learn)."""
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 < fraction < 1:
            raise DataError(f"{name} must be between 0 and 1 (got {fraction})")
    if val_fraction + test_fraction >= 1:
        raise DataError(f"val_fraction + test_fraction must be < 1 (got {val_fraction + test_fraction:g})")
    index = np.arange(len(y))
    rest, test = train_test_split(index, test_size=test_fraction, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction), stratify=y[rest],
                                  random_state=seed)
    return np.sort(train), np.sort(val), np.sort(test)


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images (N, C, H, W), on the [0, 1] scale."""
    x = x.to(torch.float64) / 255
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)  # a constant channel must not divide by zero
    return tuple(mean.tolist()), tuple(std.tolist())
