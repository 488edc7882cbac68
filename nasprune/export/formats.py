"""Writing each format into a folder, reading it back the way a user would, and comparing it with PyTorch.

Every writer returns the files it wrote and ``run``: logits of a batch computed by the written file as reloaded
(ONNX Runtime on the .onnx file, ``torch.jit.load`` of the TorchScript file, the generated Python file imported
from disk with its state dict), so the comparison checks what a user gets, not the object in memory.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..deploy import export_onnx, ort_run, ort_session
from ..errors import ExportError
from .python_source import SourceInfo, python_source

__all__ = ["Written", "write_onnx", "write_torchscript", "write_python", "compare", "FILES"]

#: the files of each format
FILES = {"onnx": ("model.onnx",), "torchscript": ("model.torchscript.pt",), "python": ("model.py", "model_weights.pt")}
_COMPARE_BATCH = 256  # images per forward pass while comparing (memory stays small at any data set size)


@dataclass
class Written:
    """One format, written and read back."""

    format: str  # onnx | torchscript | python
    files: list[Path]
    run: Callable[[torch.Tensor], torch.Tensor]  # (N, C, H, W) float -> (N, classes) logits, from the files
    info: dict[str, Any] = field(default_factory=dict)  # what to record: opset, exporter, method, seconds
    timed: Any = None  # what latency is measured on: an ONNX Runtime session or a TorchScript module (None: none)


def write_onnx(model: nn.Module, input_shape: Sequence[int], folder: Path, opset: int | None, exporter: str,
               threads: int) -> Written:
    """``model.onnx`` (dynamic batch), read back into an ONNX Runtime CPU session with ``threads`` threads."""
    exported = export_onnx(model, input_shape, opset=opset, exporter=exporter)
    path = folder / FILES["onnx"][0]
    path.write_bytes(exported.data)
    session = ort_session(str(path), threads)
    info = {"opset": exported.opset, "exporter": exported.exporter, "dynamic_batch": True,
            "input": "images (N, C, H, W) float32", "output": "logits (N, classes) float32",
            "seconds": round(exported.seconds, 3)}
    return Written("onnx", [path], lambda x: ort_run(session, x), info, session)


def write_torchscript(model: nn.Module, folder: Path) -> Written:
    """``model.torchscript.pt`` from ``torch.jit.script`` (every nasprune block scripts; none needs a trace),
    read back with ``torch.jit.load``."""
    started = time.perf_counter()
    path = folder / FILES["torchscript"][0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript; it still works
            scripted = torch.jit.script(model)
            torch.jit.save(scripted, str(path))
            loaded = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as exc:  # a construct TorchScript cannot compile
        raise ExportError(f"torch.jit.script could not compile {type(model).__name__}: "
                          f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from exc

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return loaded(x)

    return Written("torchscript", [path], run, {"method": "script", "seconds": round(time.perf_counter() - started, 3)},
                   loaded)


def write_python(model: nn.Module, info: SourceInfo, folder: Path) -> Written:
    """``model.py`` (plain torch) and ``model_weights.pt`` (the state dict), read back by importing the file from
    disk and calling its ``load()``."""
    started = time.perf_counter()
    source, weights = (folder / name for name in FILES["python"])
    source.write_text(python_source(model, info))
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, weights)
    name = f"_nasprune_export_{uuid.uuid4().hex}"  # imported under a name of its own, then forgotten
    spec = importlib.util.spec_from_file_location(name, source)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        loaded = module.load(weights)
    except Exception as exc:  # the written file does not run or its weights do not fit: a bug of the writer
        raise ExportError(f"the written {source.name} does not load its weights: {type(exc).__name__}: "
                          f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from exc
    finally:
        sys.modules.pop(name, None)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return loaded(x)

    return Written("python", [source, weights], run, {"seconds": round(time.perf_counter() - started, 3)})


def compare(reference: Callable[[torch.Tensor], torch.Tensor], candidate: Callable[[torch.Tensor], torch.Tensor],
            inputs: torch.Tensor) -> dict[str, Any]:
    """Largest absolute difference of the logits and the share of inputs with the same top-1 class, over
    ``inputs`` (N, C, H, W) in batches."""
    worst, same = 0.0, 0
    for start in range(0, len(inputs), _COMPARE_BATCH):
        x = inputs[start:start + _COMPARE_BATCH]
        want, got = reference(x).float(), candidate(x).float()
        if got.shape != want.shape:
            raise ExportError(f"the exported model returns shape {tuple(got.shape)}, PyTorch {tuple(want.shape)}")
        diff = (want - got).abs().nan_to_num(nan=float("inf"))  # a NaN from either side is a mismatch
        worst = max(worst, diff.max().item())
        same += (want.argmax(1) == got.argmax(1)).sum().item()
    return {"images": len(inputs), "max_abs_diff": worst, "top1_agreement": same / len(inputs)}
