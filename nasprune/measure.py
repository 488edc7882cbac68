"""What a network costs: multiply-adds (fvcore), parameters, and measured latency.

FLOPs here follow fvcore's convention, which is also the convention of most papers and of torchvision's
model tables: one fused multiply-add counts as one FLOP, so the numbers are MACs. ResNet-50 at 224x224
counts 4.1 G. Element-wise operations (activations, residual adds) are not counted.
"""

from __future__ import annotations

import contextlib
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

__all__ = ["Cost", "Latency", "count_macs", "count_params", "measure_latency", "measure", "BUSY_SPREAD"]


@dataclass(frozen=True)
class Cost:
    """The cost of one network at one input shape."""

    mflops: float  # millions of multiply-adds (MACs) for one image
    params: int  # trainable and frozen parameters
    latency_ms: float | None  # median batch-1 forward time on ``device`` (1 CPU thread), None if not measured
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
    """Parameters of ``model`` (every tensor it trains or holds as a parameter, counted once)."""
    return sum(p.numel() for p in model.parameters())


#: a spread (p90 / p10) above this means the timing was disturbed: another process on the cores, a frequency
#: change (benchmarks/latency.py measures the spread idle and loaded; benchmarks/RESULTS.md)
BUSY_SPREAD = 1.5


@dataclass(frozen=True)
class Latency:
    """Forward time of one batch: the median of many timed passes after a warm-up that ran until the times
    settled, with the spread and the conditions, since a latency is only comparable with its conditions."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    repeats: int  # timed passes
    batch_size: int
    device: str  # cpu or cuda:N
    threads: int | None  # CPU intra-op threads the passes ran with (None on CUDA)
    precision: str = "fp32"  # the autocast dtype the passes ran under (bf16 on a GPU, as trained), else the weights'
    shared: bool = False  # measured while other processes trained on the same device (a search's workers)
    runtime: str = "torch"  # what ran the passes: torch (eager PyTorch) or onnxruntime (nasprune.deploy)

    @property
    def busy(self) -> bool:
        """The spread says the machine was busy: the median is less trustworthy than usual."""
        return self.p90_ms > BUSY_SPREAD * self.p10_ms

    def to_dict(self) -> dict:
        return {**asdict(self), "busy": self.busy}


def _quantile(sorted_times: list[float], q: float) -> float:
    return sorted_times[min(len(sorted_times) - 1, round(q * (len(sorted_times) - 1)))]


@torch.inference_mode()
def measure_latency(model: nn.Module, input_shape: tuple[int, int, int], batch_size: int = 1, threads: int = 1,
                    repeats: int = 50, max_seconds: float = 2.0, min_repeats: int = 5,
                    autocast: torch.dtype | None = None) -> Latency:
    """Time forward passes of a batch of ``batch_size`` on the model's device; returns a :class:`Latency`.

    On the CPU the passes run with ``threads`` intra-op threads (default 1: with several, the threads of a
    small network fight any other process for the cores, and the same model measured 0.3 ms and 172 ms in two
    runs on a busy 2-core machine); the process's thread count is restored afterwards. The warm-up runs until
    the median of five passes changes by less than 10% (at most a quarter of ``max_seconds``); then up to
    ``repeats`` timed passes, at least ``min_repeats``, stopping after ``max_seconds``. On CUDA every pass is
    synchronized on the model's own device, so the time is the GPU's. ``autocast``: run the passes under
    ``torch.autocast`` with this dtype (a runtime's ``amp_dtype``: how the network trained and, on a GPU, how it
    is deployed); None runs the weights' own dtype. ``Latency.precision`` records which.
    """
    device = next(model.parameters()).device
    cuda = device.type == "cuda"
    was_training, previous_threads = model.training, torch.get_num_threads()
    model.eval()
    memory_format = torch.channels_last if cuda else torch.contiguous_format
    x = torch.zeros(batch_size, *input_shape, device=device).contiguous(memory_format=memory_format)
    dtype = autocast or next(model.parameters()).dtype
    precision = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}.get(dtype, str(dtype))

    amp = torch.autocast(device.type, dtype=autocast) if autocast is not None else contextlib.nullcontext()

    def timed() -> float:
        t0 = time.perf_counter()
        model(x)
        if cuda:
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0

    try:
        if not cuda:
            torch.set_num_threads(threads)
        with amp:  # entered once: its own cost stays out of the timed passes
            settle_end, last = time.perf_counter() + max_seconds / 4, None
            while True:  # warm-up: allocator, cuDNN's choice, caches, the CPU's clock
                now = statistics.median(timed() for _ in range(5))
                if (last is not None and abs(now - last) <= 0.1 * last) or time.perf_counter() > settle_end:
                    break
                last = now
            times, end = [], time.perf_counter() + max_seconds
            while len(times) < repeats and (len(times) < min_repeats or time.perf_counter() < end):
                times.append(timed())
        times.sort()
        ms = lambda t: round(1000 * t, 4)  # noqa: E731
        return Latency(ms(statistics.median(times)), ms(_quantile(times, 0.1)), ms(_quantile(times, 0.9)),
                       len(times), batch_size, str(device), None if cuda else threads, precision)
    finally:
        if not cuda:
            torch.set_num_threads(previous_threads)
        model.train(was_training)


def measure(model: nn.Module, input_shape: tuple[int, int, int], latency: bool = True) -> Cost:
    """MACs, parameters and (optionally) batch-1 latency of ``model`` for one (C, H, W) input."""
    device = next(model.parameters()).device
    return Cost(
        mflops=count_macs(model, input_shape) / 1e6,
        params=count_params(model),
        latency_ms=measure_latency(model, input_shape).median_ms if latency else None,
        device=str(device),
    )
