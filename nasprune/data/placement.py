"""Where a data set lives while it trains: on the training device, or streamed from host memory.

A data set that fits on the GPU is copied there once, as uint8, for the whole search (a trial then draws
batches with a device-side permutation). One that does not fit stays in host memory (usually a memory map
of the decode cache) and is streamed by DataLoader workers through pinned memory. ``auto`` picks by size;
on the CPU the data is always resident (there is nothing to copy to).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..choices import PLACEMENTS
from ..errors import ConfigError
from .splits import DataSplits

__all__ = ["PLACEMENTS", "place_data", "choose_placement", "data_bytes"]

#: share of the free GPU memory a resident data set may take (the rest is for the networks' activations)
GPU_SHARE = 0.4


def data_bytes(data: DataSplits, test: bool = True) -> int:
    """Bytes of the splits (without the test split if not ``test``)."""
    return sum(s.x.numel() * s.x.element_size() + s.y.numel() * s.y.element_size()
               for s in (data.train, data.val, data.test)[:3 if test else 2])


def choose_placement(data: DataSplits, device: torch.device, mode: str = "auto", workers_per_device: int = 1,
                     test: bool = True) -> str:
    """``device`` or ``stream``. ``auto``: resident if the data (with the test split if ``test``) takes at most
    GPU_SHARE of the device's free memory divided among the workers sharing it; always resident on the CPU."""
    if mode not in PLACEMENTS:
        raise ConfigError(f"unknown data placement {mode!r}; valid: {', '.join(PLACEMENTS)}")
    if mode != "auto":
        return mode
    if device.type != "cuda":
        return "device"
    free, _ = torch.cuda.mem_get_info(device)
    return "device" if data_bytes(data, test) <= GPU_SHARE * free / max(1, workers_per_device) else "stream"


def place_data(data: DataSplits, device: torch.device, mode: str = "auto", workers_per_device: int = 1,
               test: bool = True) -> DataSplits:
    """The splits moved to ``device`` (resident) or left in host memory and marked ``streamed``. ``test=False``
    leaves the test split in host memory whatever the placement: a search's trials never read it (the winners'
    one evaluation on it happens afterwards, in the main process), so a worker does not spend device memory on it."""
    if choose_placement(data, device, mode, workers_per_device, test) == "device":
        moved = data.to(device) if test else replace(data, train=data.train.to(device), val=data.val.to(device))
        return replace(moved, streamed=False)
    return replace(data.to("cpu"), streamed=True)
