"""scikit-learn's digits: 1,797 handwritten digits, 8x8 grayscale, 10 classes, bundled (no download)."""

from __future__ import annotations

import numpy as np

from .raw import RawData

__all__ = ["read_digits"]


def read_digits() -> RawData:
    """All of digits as one training split (the caller splits off validation and test data), pixel values
    0..16 scaled to 0..255, shape (1797, 1, 8, 8)."""
    from sklearn.datasets import load_digits  # imported here: scikit-learn takes 1.4 s (nasprune.data.splits)

    bunch = load_digits()
    x = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[:, None]  # (N, 1, 8, 8)
    return RawData("digits", {"train": (x, bunch.target.astype(np.int64))}, tuple(str(c) for c in bunch.target_names))
