"""Data sets -> uint8 tensors, split into train / validation / test.

``load_data("digits")`` is the embedded default. Other sources are ``NAME:PATH``:
``imagefolder:PATH`` (a folder per class), ``cifar10:ROOT``, ``cifar100:ROOT``, ``mnist:ROOT`` and
``fashion-mnist:ROOT`` (torchvision's on-disk formats, read without torchvision). Decoded images are cached
(see :mod:`nasprune.data.cache`); the network is reached only with ``download=True``.
"""

from __future__ import annotations

from .load import AUGMENTS, DATASETS, DataOptions, load_data, parse_image_size
from .pipeline import BatchAugment, Normalizer, eval_batches, random_crop, random_flip, train_batches
from .raw import RawData
from .splits import DataSplits, Split, channel_stats, split_off, stratified_split

__all__ = ["load_data", "DataOptions", "DATASETS", "AUGMENTS", "parse_image_size", "DataSplits", "Split", "RawData",
           "Normalizer", "BatchAugment", "train_batches", "eval_batches", "random_crop", "random_flip", "split_off",
           "stratified_split", "channel_stats"]
