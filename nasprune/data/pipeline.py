"""Batches from tensors already on the device: a device-side permutation, batched augmentation (random
crop with zero padding, horizontal flip) with no per-image Python, normalization to the training dtype."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .splits import DataSplits, Split

__all__ = ["Normalizer", "random_crop", "random_flip", "train_batches", "eval_batches"]


class Normalizer:
    """uint8 (N, C, H, W) -> float ``(x / 255 - mean) / std`` in one fused multiply-add."""

    def __init__(self, data: DataSplits, memory_format: torch.memory_format = torch.contiguous_format) -> None:
        std = torch.tensor(data.std, device=data.device).view(1, -1, 1, 1)
        mean = torch.tensor(data.mean, device=data.device).view(1, -1, 1, 1)
        self.scale = 1 / (255 * std)
        self.shift = -mean / std
        self.memory_format = memory_format

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, x.float(), self.scale).contiguous(memory_format=self.memory_format)


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


def train_batches(data: DataSplits, batch_size: int, normalize: Normalizer,
                  generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled, augmented, normalized training batches. The last partial batch is dropped
    (static shapes; every image is still seen over the epochs) unless it would be the only one."""
    split = data.train
    n = len(split)
    order = torch.randperm(n, device=split.x.device, generator=generator)
    full = n // batch_size
    stops = [(i * batch_size, (i + 1) * batch_size) for i in range(full)] or [(0, n)]
    for start, stop in stops:
        idx = order[start:stop]
        x = split.x[idx]
        if data.crop_padding:
            x = random_crop(x, data.crop_padding, generator)
        if data.flip:
            x = random_flip(x, generator)
        yield normalize(x), split.y[idx]


def eval_batches(split: Split, batch_size: int, normalize: Normalizer) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The whole split in order, unaugmented."""
    for start in range(0, len(split), batch_size):
        yield normalize(split.x[start:start + batch_size]), split.y[start:start + batch_size]
