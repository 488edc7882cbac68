"""Decoded data before splitting: what every reader returns and the cache stores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError

__all__ = ["RawData", "check_raw"]


@dataclass(frozen=True)
class RawData:
    """Images decoded once, as the files hold them.

    ``splits`` maps a split name (``train``, and where the source has them ``val`` and ``test``) to
    ``(x, y)``: ``x`` uint8 of shape (N, C, H, W), ``y`` int64 of shape (N,) with values in
    ``range(len(classes))``. Arrays may be memory-mapped (read-only) when they come from the cache.
    """

    name: str  # e.g. "cifar10", "imagefolder"
    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    classes: tuple[str, ...]
    skipped: tuple[str, ...] = ()  # files that could not be decoded and were left out (--skip-broken-images)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.splits["train"][0].shape[1:])


def check_raw(raw: RawData) -> RawData:
    """Validate the contract above; a reader that breaks it is a bug, but data can break it too
    (labels out of range), so the message names the split."""
    if "train" not in raw.splits:
        raise DataError(f"{raw.name}: no training split")
    shape = None
    for name, (x, y) in raw.splits.items():
        if x.dtype != np.uint8 or x.ndim != 4:
            raise DataError(f"{raw.name}: {name} images must be uint8 (N, C, H, W), got {x.dtype} {x.shape}")
        if y.dtype != np.int64 or y.shape != (len(x),):
            raise DataError(f"{raw.name}: {name} labels must be int64 (N,), got {y.dtype} {y.shape}")
        if len(y) and (y.min() < 0 or y.max() >= len(raw.classes)):
            raise DataError(f"{raw.name}: {name} labels outside 0..{len(raw.classes) - 1}")
        if shape is not None and x.shape[1:] != shape:
            raise DataError(f"{raw.name}: {name} images are {x.shape[1:]}, train images {shape}")
        shape = x.shape[1:]
    return raw
