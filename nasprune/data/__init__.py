"""Data sets -> tensors on the device.

``load_data("digits")`` is the embedded default. A data argument has the form ``name`` or ``name:PATH``.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import DataError
from .digits import load_digits
from .pipeline import Normalizer, eval_batches, random_crop, random_flip, train_batches
from .splits import DataSplits, Split, channel_stats, stratified_split

__all__ = ["load_data", "DATASETS", "DataSplits", "Split", "Normalizer", "train_batches", "eval_batches",
           "random_crop", "random_flip", "stratified_split", "channel_stats", "load_digits"]

#: name -> loader(path or None, seed, val_fraction, test_fraction); ``needs_path`` tells whether PATH is required
DATASETS: dict[str, tuple[Callable[..., DataSplits], bool]] = {
    "digits": (lambda path, **kw: load_digits(**kw), False),
}


def load_data(source: str = "digits", *, seed: int = 0, val_fraction: float = 0.2,
              test_fraction: float = 0.2) -> DataSplits:
    """Load a data set and split it with a fixed seed.

    Args:
        source: ``digits`` (scikit-learn's, bundled) or ``name:PATH`` for data sets read from disk.
        seed: seed of the train / validation / test split.
        val_fraction, test_fraction: shares of the data held out (where the data set has no fixed split).

    >>> load_data("digits").input_shape
    (1, 8, 8)
    """
    name, _, path = source.partition(":")
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; available: {', '.join(DATASETS)} (as NAME or NAME:PATH)")
    loader, needs_path = DATASETS[name]
    if needs_path and not path:
        raise DataError(f"data set {name!r} needs a folder: --data {name}:PATH")
    if path and not needs_path:
        raise DataError(f"data set {name!r} is bundled and takes no path (got {source!r}); use --data {name}")
    return loader(path or None, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction)
