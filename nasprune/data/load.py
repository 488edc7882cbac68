"""``load_data``: a source string -> decoded (cached) images -> train / validation / test splits."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from ..choices import AUGMENTS, DATASETS
from ..errors import ConfigError, DataError
from ..options import DataOptions, parse_image_size
from .cache import cached, file_records, fingerprint
from .digits import read_digits
from .imagefolder import read_imagefolder, scan_imagefolder
from .mirror import mirror_test
from .raw import RawData
from .splits import DataSplits, Split, channel_stats, split_off
from .torchvision_formats import download, read_torchvision, source_files

__all__ = ["DataOptions", "load_data", "DATASETS", "AUGMENTS", "parse_image_size"]



def _files_fingerprint(root: str, records: list) -> str:
    """A short hash of the files a data set is made of, by path below its root and size (not modification time:
    a copy of the same files keeps it), so a saved model can tell whether it is judged on the files it saw."""
    h = hashlib.sha256()
    base = Path(root).resolve()
    for path, size, _ in sorted(records):
        h.update(f"{Path(path).resolve().relative_to(base)}\0{size}\n".encode())
    return h.hexdigest()[:16]


def _imagefolder(path: str, options: DataOptions) -> tuple[RawData, str]:
    records: list = []
    scan_imagefolder(path, records)  # fails fast on a bad layout, before any decoding

    def build() -> RawData:
        return read_imagefolder(path, options.image_size, skip_broken=options.skip_broken_images)

    files = _files_fingerprint(path, records)
    if not options.cache:
        return build(), files
    keys = {"source": "imagefolder", "image_size": options.image_size, "skip_broken": options.skip_broken_images}
    return cached("imagefolder", fingerprint(path, records, keys), build), files


def _torchvision(name: str, path: str, options: DataOptions) -> tuple[RawData, str]:
    if not source_files(name, path):
        if not options.download:
            return read_torchvision(name, path), ""  # raises the error that says where it looked, and about --download
        download(name, path)
    records = file_records(source_files(name, path))
    files = _files_fingerprint(path, records)
    if not options.cache:
        return read_torchvision(name, path), files
    key = fingerprint(path, records, {"source": name})
    return cached(name, key, lambda: read_torchvision(name, path)), files


def _read(name: str, path: str, options: DataOptions) -> tuple[RawData, str]:
    """Decode the source (from the cache when it holds it); also returns the fingerprint of its files."""
    if name == "digits":
        return read_digits(), "digits"  # bundled and decoded in milliseconds: nothing to cache
    if name == "imagefolder":
        return _imagefolder(path, options)
    return _torchvision(name, path, options)


def _carve(raw: RawData, options: DataOptions, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """train / val / test: the source's own splits where it has them, else stratified shares of its
    training split (fractions of the whole training split)."""
    x, y = raw.splits["train"]
    index = np.arange(len(y))
    held: dict[str, np.ndarray] = {}
    if "test" not in raw.splits:
        keep, held["test"] = split_off(y, options.test_fraction, seed, "test")
        index = keep
    if "val" not in raw.splits:
        share = options.val_fraction / (1 - (options.test_fraction if "test" not in raw.splits else 0))
        keep, val = split_off(y[index], share, seed, "validation")
        held["val"], index = index[val], index[keep]
    out = {"train": (x[index], y[index])}
    for split in ("val", "test"):
        out[split] = raw.splits[split] if split in raw.splits else (x[held[split]], y[held[split]])
    return out


#: --augment auto for the data sets nasprune knows: (augmentation, why)
KNOWN_AUGMENT = {
    "digits": ("none", "shifting or mirroring an 8x8 digit makes another glyph (crops cost 0-10 points)"),
    "mnist": ("none", "shifting or mirroring a digit makes another glyph"),
    "fashion-mnist": ("crop", "clothes are not all mirror-symmetric"),
    "cifar10": ("crop,flip", "photos: the standard crop + flip"),
    "cifar100": ("crop,flip", "photos: the standard crop + flip"),
}


def _auto_augment(name: str, train: Split, seed: int) -> tuple[str, str]:
    """(augmentation, why) for ``--augment auto``: a known data set's rule; elsewhere crops, and flips where the
    data shows that a mirror keeps the class (nasprune.data.mirror)."""
    if name in KNOWN_AUGMENT:
        augment, why = KNOWN_AUGMENT[name]
        return augment, f"auto for {name}: {why}"
    test = mirror_test(train.x, train.y, seed)
    return ("crop,flip" if test.flip else "crop"), f"auto: {test.reason()}"


def load_data(source: str = "digits", options: DataOptions | None = None, seed: int = 0) -> DataSplits:
    """Load a data set and split it with a fixed seed.

    Args:
        source: ``digits``, or ``NAME:PATH`` with NAME in imagefolder, cifar10, cifar100, mnist, fashion-mnist.
        options: splitting, resizing, augmentation and download options (:class:`DataOptions`).
        seed: seed of the validation / test split.

    Returns:
        :class:`DataSplits` with uint8 images on the CPU (memory-mapped from the cache where possible)
        and normalization statistics of the training split.

    >>> load_data("digits").input_shape
    (1, 8, 8)
    """
    options = options or DataOptions()
    name, _, path = source.partition(":")
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; available: {', '.join(DATASETS)} (as NAME or NAME:PATH)")
    if name == "digits" and path:
        raise DataError(f"data set 'digits' is bundled and takes no path (got {source!r}); use --data digits")
    if name != "digits" and not path:
        raise DataError(f"data set {name!r} needs a folder: --data {name}:PATH")
    if options.image_size and name != "imagefolder":
        raise ConfigError(f"--image-size applies to imagefolder data; {name} images keep their size")
    raw, files = _read(name, str(Path(path).expanduser()) if path else "", options)
    splits = {s: Split(torch.from_numpy(x), torch.from_numpy(y)) for s, (x, y) in _carve(raw, options, seed).items()}
    mean, std = channel_stats(splits["train"].x)
    augment, why = ((options.augment, "as asked") if options.augment != "auto"
                    else _auto_augment(name, splits["train"], seed))
    crop = max(1, min(raw.shape[1:]) // 8) if "crop" in augment else 0  # 4 pixels for 32x32, as in He et al. 2016
    return DataSplits(name=name, train=splits["train"], val=splits["val"], test=splits["test"], classes=raw.classes,
                      mean=mean, std=std, crop_padding=crop, flip="flip" in augment, augment_note=why,
                      options=options, seed=seed, files=files, skipped=raw.skipped,
                      source=f"{name}:{Path(path).expanduser().resolve()}" if path else name)
