"""``load_data``: a source string -> decoded (cached) images -> train / validation / test splits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .cache import cached, file_records, fingerprint
from .digits import read_digits
from .imagefolder import read_imagefolder, scan_imagefolder
from .raw import RawData
from .splits import DataSplits, Split, channel_stats, split_off
from .torchvision_formats import TORCHVISION_DATASETS, download, read_torchvision, source_files

__all__ = ["DataOptions", "load_data", "DATASETS", "AUGMENTS", "parse_image_size"]

DATASETS = ("digits", "imagefolder", *TORCHVISION_DATASETS)
AUGMENTS = ("auto", "none", "crop", "flip", "crop,flip")


@dataclass(frozen=True)
class DataOptions:
    """How a data set is loaded and split."""

    val_fraction: float = 0.2  # share held out for validation where the source has no val/ split
    test_fraction: float = 0.2  # share held out for the final test where the source has no test split
    image_size: tuple[int, int] | None = None  # resize every image once to (H, W) (image folders)
    augment: str = "auto"  # one of AUGMENTS; auto: per data set (see _default_augment)
    download: bool = False  # fetch torchvision data sets that are not on disk (the only network access)
    skip_broken_images: bool = False  # leave out undecodable files instead of failing
    cache: bool = True  # keep decoded images under the cache folder

    def __post_init__(self) -> None:
        if self.augment not in AUGMENTS:
            raise ConfigError(f"unknown augment {self.augment!r}; valid: {', '.join(AUGMENTS)}")
        for name in ("val_fraction", "test_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"{name} must be between 0 and 1 (got {getattr(self, name)})")
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError(f"val_fraction + test_fraction must be < 1 (got {self.val_fraction + self.test_fraction:g})")


def parse_image_size(text: str) -> tuple[int, int]:
    """'32' -> (32, 32); '48x64' -> (48, 64) as (height, width)."""
    parts = text.lower().split("x")
    if len(parts) not in (1, 2) or not all(p.isdigit() and 0 < int(p) <= 4096 for p in parts):
        raise ConfigError(f"image size {text!r} must be N or HxW with integers in 1..4096, e.g. 32 or 48x64")
    return (int(parts[0]), int(parts[-1]))


def _imagefolder(path: str, options: DataOptions) -> RawData:
    records: list = []
    scan_imagefolder(path, records)  # fails fast on a bad layout, before any decoding

    def build() -> RawData:
        return read_imagefolder(path, options.image_size, skip_broken=options.skip_broken_images)

    if not options.cache:
        return build()
    keys = {"source": "imagefolder", "image_size": options.image_size, "skip_broken": options.skip_broken_images}
    return cached("imagefolder", fingerprint(path, records, keys), build)


def _torchvision(name: str, path: str, options: DataOptions) -> RawData:
    if not source_files(name, path):
        if not options.download:
            return read_torchvision(name, path)  # raises the error that says where it looked and about --download
        download(name, path)
    if not options.cache:
        return read_torchvision(name, path)
    key = fingerprint(path, file_records(source_files(name, path)), {"source": name})
    return cached(name, key, lambda: read_torchvision(name, path))


def _read(name: str, path: str, options: DataOptions) -> RawData:
    """Decode the source (from the cache when it holds it)."""
    if name == "digits":
        return read_digits()  # bundled and decoded in milliseconds: nothing to cache
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


def _default_augment(name: str, channels: int) -> str:
    # digits and MNIST: shifting 8x8 / 28x28 strokes or mirroring a digit makes another glyph (measured on
    # digits: crops cost 0-10 points); photos (CIFAR, colour folders) get the standard crop + flip;
    # Fashion-MNIST and grayscale folders: crop (the content may not be mirror-symmetric)
    return {"digits": "none", "mnist": "none", "fashion-mnist": "crop", "cifar10": "crop,flip",
            "cifar100": "crop,flip"}.get(name, "crop,flip" if channels == 3 else "crop")


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
    raw = _read(name, str(Path(path).expanduser()) if path else "", options)
    splits = {s: Split(torch.from_numpy(x), torch.from_numpy(y)) for s, (x, y) in _carve(raw, options, seed).items()}
    mean, std = channel_stats(splits["train"].x)
    augment = options.augment if options.augment != "auto" else _default_augment(name, raw.shape[0])
    crop = max(1, raw.shape[1] // 8) if "crop" in augment else 0  # 4 pixels for 32x32, as in He et al. 2016
    return DataSplits(name=name, train=splits["train"], val=splits["val"], test=splits["test"], classes=raw.classes,
                      mean=mean, std=std, crop_padding=crop, flip="flip" in augment)
