"""Measuring a trained network: accuracy, multiply-adds, parameters, latency. Shared by ``nasprune prune``
(before and after) and ``nasprune eval`` (any saved model)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from torch import nn

from .checkpoint import load_model, load_pruning
from .data import DataOptions, DataSplits, Normalizer, load_data
from .data.placement import place_data
from .measure import count_macs, count_params, measure_latency
from .nn import weighted_depth
from .spec import describe
from .train import Runtime, evaluate, resolve_runtime

__all__ = ["measure_model", "evaluate_saved", "LATENCIES"]

#: latency measurements: key -> (device, batch size); nasprune.text.LATENCY_LABELS says how a person reads them
LATENCIES = {"cpu_b1": ("cpu", 1), "cuda_b1": ("cuda", 1), "cuda_b256": ("cuda", 256)}


def measure_model(model: nn.Module, data: DataSplits, runtime: Runtime) -> dict[str, Any]:
    """Accuracy on validation and test, MACs (MFLOPs), parameters, and median latency at batch 1 on the CPU
    and, when ``runtime`` is on CUDA, at batch 1 and 256 there. ``data`` is placed for ``runtime``."""
    shape = data.input_shape
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    latency = {}
    for key, (device, batch) in LATENCIES.items():
        if device == "cpu":
            latency[key] = measure_latency(copy.deepcopy(model).cpu().float(), shape, batch)
        elif runtime.device.type == "cuda":
            latency[key] = measure_latency(model, shape, batch)
    return {"val_accuracy": round(evaluate(model, data.val, normalize, runtime, data.streamed)[1], 5),
            "test_accuracy": round(evaluate(model, data.test, normalize, runtime, data.streamed)[1], 5),
            "mflops": round(count_macs(model, shape) / 1e6, 4), "params": count_params(model),
            "latency_ms": {k: round(v, 4) for k, v in latency.items()}}


def evaluate_saved(path: str | Path, data: str = "digits", options: DataOptions | None = None, seed: int = 0,
                   device: str = "auto", precision: str = "auto") -> dict[str, Any]:
    """Load a saved model folder (a search trial or a pruned model) and measure it on ``data`` (split with
    ``options`` and ``seed``, as the search that made it did)."""
    runtime = resolve_runtime(device, precision)
    spec, model = load_model(path, runtime.device)
    model.to(memory_format=runtime.memory_format)
    splits = place_data(load_data(data, options, seed=seed), runtime.device)
    return {"model": str(path), "arch": describe(spec.arch), "pruned": bool(load_pruning(path)),
            "depth": weighted_depth(model), "data": splits.describe(), "device": runtime.describe(),
            **measure_model(model, splits, runtime)}
