"""What a network costs: multiply-adds (fvcore), parameters, and measured latency.

FLOPs here follow fvcore's convention, which is also the convention of most papers and of torchvision's
model tables: one fused multiply-add counts as one FLOP, so the numbers are MACs. ResNet-50 at 224x224
counts 4.1 G. Element-wise operations (activations, residual adds) are not counted.
"""

from __future__ import annotations

import statistics
import time
import warnings
from dataclasses import asdict, dataclass

import torch
from torch import nn

with warnings.catch_warnings():  # fvcore imports torch.jit.script helpers that warn under recent torch
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn import FlopCountAnalysis

__all__ = ["Cost", "count_macs", "count_params", "measure_latency", "measure"]


@dataclass(frozen=True)
class Cost:
    """The cost of one network at one input shape."""

    mflops: float  # millions of multiply-adds (MACs) for one image
    params: int  # trainable and frozen parameters
    latency_ms: float | None  # median batch-1 forward time on ``device``, None if not measured
    device: str

    def to_dict(self) -> dict:
        return asdict(self)


def count_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-adds of one forward pass on a single (C, H, W) image, counted by fvcore from a trace on
    the model's own device (the model is traced in eval mode, not changed)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings: the trace is used only for counting
            analysis = FlopCountAnalysis(model, torch.zeros(1, *input_shape, device=device))
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
            return int(analysis.total())
    finally:
        model.train(was_training)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.inference_mode()
def measure_latency(model: nn.Module, input_shape: tuple[int, int, int], batch_size: int = 1,
                    warmup: int = 3, repeats: int = 10, max_seconds: float = 1.0) -> float:
    """Median forward time in milliseconds for a batch of ``batch_size`` on the model's device.

    Runs ``warmup`` untimed passes, then up to ``repeats`` timed ones (fewer if ``max_seconds`` runs out).
    On CUDA every pass is synchronized so the time is the GPU's.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    x = torch.zeros(batch_size, *input_shape, device=device).contiguous(memory_format=memory_format)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    try:
        for _ in range(warmup):
            model(x)
        sync()
        times, budget_end = [], time.perf_counter() + max_seconds
        while len(times) < repeats and (not times or time.perf_counter() < budget_end):
            t0 = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000
    finally:
        model.train(was_training)


def measure(model: nn.Module, input_shape: tuple[int, int, int], latency: bool = True) -> Cost:
    """MACs, parameters and (optionally) batch-1 latency of ``model`` for one (C, H, W) input."""
    device = next(model.parameters()).device
    return Cost(
        mflops=count_macs(model, input_shape) / 1e6,
        params=count_params(model),
        latency_ms=measure_latency(model, input_shape) if latency else None,
        device=str(device),
    )
