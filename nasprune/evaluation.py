"""Measuring a trained network: accuracy, multiply-adds, parameters, latency. Shared by ``nasprune prune``
(before and after) and ``nasprune eval`` (any saved model)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from .checkpoint import load_model, load_pruning
from .data import DataSplits, Normalizer
from .data.placement import place_data
from .errors import CheckpointError
from .measure import count_macs, count_params, measure_latency
from .nn import describe_model, weighted_depth
from .provenance import data_for_model
from .train import Runtime, evaluate, resolve_runtime

__all__ = ["measure_model", "evaluate_saved", "LATENCIES"]

#: latency measurements: key -> (device, batch size); nasprune.text.LATENCY_LABELS says how a person reads them
LATENCIES = {"cpu_b1": ("cpu", 1), "cuda_b1": ("cuda", 1), "cuda_b256": ("cuda", 256)}


def measure_model(model: nn.Module, data: DataSplits, runtime: Runtime, latency_threads: int = 1) -> dict[str, Any]:
    """Accuracy on validation and test, MACs (MFLOPs), parameters, and latency at batch 1 on the CPU (with
    ``latency_threads`` threads) and, when ``runtime`` is on CUDA, at batch 1 and 256 there. ``latency_ms`` holds
    the medians, ``latency`` each measurement's spread and conditions. ``data`` is placed for ``runtime``."""
    shape = data.input_shape
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    latency = {}
    for key, (device, batch) in LATENCIES.items():
        if device == "cpu":
            latency[key] = measure_latency(copy.deepcopy(model).cpu().float(), shape, batch, threads=latency_threads)
        elif runtime.device.type == "cuda":
            latency[key] = measure_latency(model, shape, batch)
    return {"val_accuracy": round(evaluate(model, data.val, normalize, runtime, data.streamed)[1], 5),
            "test_accuracy": round(evaluate(model, data.test, normalize, runtime, data.streamed)[1], 5),
            "mflops": round(count_macs(model, shape) / 1e6, 4), "params": count_params(model),
            "latency_ms": {k: v.median_ms for k, v in latency.items()},
            "latency": {k: v.to_dict() for k, v in latency.items()}}


def evaluate_saved(path: str | Path, data: str | None = None, changes: Mapping[str, Any] | None = None,
                   device: str = "auto", precision: str = "auto", download: bool = False,
                   cache: bool = True, latency_threads: int = 1) -> dict[str, Any]:
    """Load a saved model folder (a search trial or a pruned model) and measure it: by default on the data and
    split it was trained on (its ``data.json``); on ``data`` or with ``changes`` to the split (seed, fractions,
    ...; see nasprune.provenance) when given, and then ``data_note`` says what differs.

    Raises:
        CheckpointError: no such folder, or not a saved model.
        ConfigError: the model records no data and none is given (no data to measure it on).
        DataError: data of another shape than the model takes.
    """
    if not Path(path).is_dir():
        raise CheckpointError(f"{path}: no such folder; give the folder of a saved model (results/STUDY/trials/NNNNN "
                              f"or results/STUDY/pruned/NAME)")
    runtime = resolve_runtime(device, precision)
    spec, model = load_model(path, runtime.device)
    model.to(memory_format=runtime.memory_format)
    chosen = data_for_model(path, spec, data, changes, download, cache)
    splits = place_data(chosen.data, runtime.device)
    return {"model": str(path), "arch": describe_model(model), "pruned": bool(load_pruning(path)),
            "depth": weighted_depth(model), "data": splits.describe(), "data_note": chosen.note,
            "device": runtime.describe(), **measure_model(model, splits, runtime, latency_threads)}
