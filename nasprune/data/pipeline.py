"""Batches for training and evaluation.

Two ways in, chosen by :mod:`nasprune.data.placement` (``DataSplits.streamed``):

- resident: the uint8 split is already on the training device; a batch is an index into it (a device-side
  permutation), so no DataLoader, no worker processes and no host copy;
- streamed: the split stays in host memory (often a memory map of the cache); a DataLoader's workers gather
  whole batches into pinned memory and each is copied to the device without blocking.

Either way augmentation (random crop with zero padding, horizontal flip) and normalization run on the
device on the whole batch, with no per-image Python, and produce the training dtype and memory format.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .splits import DataSplits, Split

__all__ = ["Normalizer", "BatchAugment", "random_crop", "random_flip", "train_batches", "eval_batches",
           "batch_indices"]


class Normalizer:
    """uint8 (N, C, H, W) -> ``(x / 255 - mean) / std`` in ``dtype`` and ``memory_format``."""

    def __init__(self, data: DataSplits, device: torch.device | str | None = None,
                 memory_format: torch.memory_format = torch.contiguous_format, dtype: torch.dtype = torch.float32):
        device = device or data.device
        std = torch.tensor(data.std, device=device).view(1, -1, 1, 1)
        mean = torch.tensor(data.mean, device=device).view(1, -1, 1, 1)
        self.scale = 1 / (255 * std)
        self.shift = -mean / std
        self.memory_format, self.dtype = memory_format, dtype

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.addcmul(self.shift, x.float(), self.scale)  # one fused multiply-add in fp32
        return out.to(self.dtype, memory_format=self.memory_format)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image by up to ``padding`` pixels in each direction, filling with zeros: the batched
    equivalent of torchvision's ``RandomCrop(size, padding)``. (N, C, H, W) -> (N, C, H, W)."""
    if padding <= 0:
        return x
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=x.device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=x.device, generator=generator)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + dy).expand(n, h, w)  # (N, H, W)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + dx).expand(n, h, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1).expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # gather (N, H, W, C) -> NCHW


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror a random half of the images left-right."""
    flip = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)


class BatchAugment:
    """The data set's training augmentation, then normalization, on a uint8 batch on the device."""

    def __init__(self, data: DataSplits, normalize: Normalizer, generator: torch.Generator) -> None:
        self.crop, self.flip = data.crop_padding, data.flip
        self.normalize, self.generator = normalize, generator

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.crop:
            x = random_crop(x, self.crop, self.generator)
        if self.flip:
            x = random_flip(x, self.generator)
        return self.normalize(x)


def batch_indices(n: int, batch_size: int, generator: torch.Generator, device: torch.device) -> list[torch.Tensor]:
    """A shuffled epoch as index batches of exactly ``batch_size`` (the last partial batch is dropped, so
    shapes are static; over epochs every image is seen), or one batch of everything if ``n < batch_size``."""
    order = torch.randperm(n, device=device, generator=generator)
    if n < batch_size:
        return [order]
    return list(order[: n - n % batch_size].view(-1, batch_size))


class _Batches(torch.utils.data.Dataset):
    """Whole batches gathered from a host-memory split, for DataLoader workers."""

    def __init__(self, split: Split, batches: list[torch.Tensor]) -> None:
        self.split, self.batches = split, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.batches[i].sort().values  # ascending reads are kinder to a memory-mapped file
        return self.split.x[idx], self.split.y[idx]


def _stream(split: Split, batches: list[torch.Tensor], device: torch.device,
            workers: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    loader = torch.utils.data.DataLoader(_Batches(split, batches), batch_size=None, shuffle=False,
                                         num_workers=workers, pin_memory=device.type == "cuda",
                                         prefetch_factor=4 if workers else None)
    for x, y in loader:
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def train_batches(split: Split, batch_size: int, generator: torch.Generator, device: torch.device,
                  stream: bool = False, workers: int = 4) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One shuffled epoch of uint8 batches on ``device``: indexed from the resident split, or with
    ``stream`` gathered by DataLoader workers (see the module docstring). ``generator`` lives on the
    split's device and draws the order."""
    batches = batch_indices(len(split), batch_size, generator, split.x.device)
    if stream:
        return _stream(split, [b.cpu() for b in batches], device, workers)
    return ((split.x[idx].to(device, non_blocking=True), split.y[idx].to(device, non_blocking=True))
            for idx in batches)


def eval_batches(split: Split, batch_size: int, device: torch.device, stream: bool = False,
                 workers: int = 4) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The whole split in order, unaugmented, as uint8 batches on ``device``."""
    if stream:
        return _stream(split, list(torch.arange(len(split)).split(batch_size)), device, workers)
    return ((split.x[i:i + batch_size].to(device, non_blocking=True), split.y[i:i + batch_size].to(device, non_blocking=True))
            for i in range(0, len(split), batch_size))
