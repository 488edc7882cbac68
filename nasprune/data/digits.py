"""scikit-learn's digits: 1,797 handwritten digits, 8x8 grayscale, 10 classes, bundled (no download)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits as _sk_load_digits

from .splits import DataSplits, Split, channel_stats, stratified_split

__all__ = ["load_digits"]


def load_digits(seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2) -> DataSplits:
    """Digits as uint8 tensors (N, 1, 8, 8), split stratified with ``seed``.

    Pixel values 0..16 are scaled to 0..255. No augmentation: a one-pixel shift is an eighth of an 8x8
    image (measured over 10-epoch runs of three small CNNs it cost 0-10 points of accuracy), and a flipped
    digit is another glyph.
    """
    bunch = _sk_load_digits()
    x = torch.from_numpy(np.rint(bunch.images * (255 / 16)).astype(np.uint8)).unsqueeze(1)  # (N, 1, 8, 8)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    train, val, test = (torch.from_numpy(i) for i in stratified_split(bunch.target, val_fraction, test_fraction, seed))
    mean, std = channel_stats(x[train])
    return DataSplits(
        name="digits", train=Split(x[train], y[train]), val=Split(x[val], y[val]), test=Split(x[test], y[test]),
        classes=tuple(str(c) for c in bunch.target_names), mean=mean, std=std, crop_padding=0, flip=False,
    )
