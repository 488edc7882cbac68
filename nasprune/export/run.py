"""``nasprune export`` as a function: pick a saved model, write it as ONNX, TorchScript and a standalone Python
file, run each file as a user would and compare its logits with PyTorch's, measure latency, and move the folder
into place only when everything passed."""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib
import json
import os
import platform
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..artifacts import artifact_store, attach_to_finished_trial
from ..checkpoint import PRUNING_FILE, load_data_record, load_model, load_pruning
from ..data import DataSplits, Normalizer
from ..deploy import LATENCY_BATCHES, ort_latency, ort_session, require_onnx, torch_latency
from ..errors import ConfigError, ExportError
from ..events import Note, OnEvent, emit
from ..measure import count_macs, count_params, measure_latency
from ..nn import describe_model
from ..record import artifacts_root, load_picked
from ..spec import TrialSpec
from .config import ExportConfig, ExportResult
from .formats import FILES, Written, compare, write_onnx, write_python, write_torchscript
from .int8 import INT8_FILE, accuracy, quantize_int8
from .python_source import SourceInfo

__all__ = ["export"]

SUMMARY_FILE = "export.json"
_RANDOM_INPUTS = 256  # inputs compared on when a folder records its input shape but no data


@dataclass
class _Source:
    """The model to export, what to compare its files on, and where it came from."""

    spec: TrialSpec
    model: nn.Module
    history: list  # pruning applied to it (empty: not channel-pruned)
    inputs: torch.Tensor  # (N, C, H, W) normalized float inputs the files are compared on
    compared_on: str  # what those inputs are, for people
    label: str  # "trial 7" or the folder
    data: DataSplits | None = None
    picked: Any = None  # nasprune.record.Picked of a study trial (None for a folder)
    folder: Path | None = None


def _inputs(data: DataSplits, limit: int | None) -> torch.Tensor:
    x = data.val.x if limit is None else data.val.x[:limit]
    return Normalizer(data, "cpu")(x.cpu())


def _recorded_shape(folder: Path) -> tuple[int, int, int] | None:
    path = folder / PRUNING_FILE
    return tuple(json.loads(path.read_text())["input_shape"]) if load_pruning(folder) else None


def _source(config: ExportConfig) -> _Source:
    """Load the model and what its files are compared on: the validation images of its study's split or of the
    data its folder records (or ``--data``); random inputs only for a folder that records its input shape but no
    data, said so in the summary."""
    folder = config.model
    if folder is not None and config.data is None and folder.is_dir() and load_data_record(folder) is None:
        shape = _recorded_shape(folder)
        if shape is None:
            load_model(folder)  # a folder that is not a saved model says so first
            raise ConfigError(f"{folder} records neither its data nor its input shape; pass --data NAME[:PATH] (the "
                              f"data it was trained on) to compare the exported files on its validation images")
        spec, model = load_model(folder)
        count = config.compare_images or _RANDOM_INPUTS
        inputs = torch.randn(count, *shape, generator=torch.Generator().manual_seed(0))
        return _Source(spec, model, load_pruning(folder), inputs,
                       f"{count} random normal inputs of {'x'.join(map(str, shape))} (the folder records its input "
                       f"shape but not its data; pass --data to compare on images)", str(folder), folder=folder)
    picked = load_picked(study=config.study, trial=config.trial, model=folder, data=config.data,
                         changes=config.data_changes, download=config.download, cache=config.cache,
                         storage=config.storage, results_dir=config.results_dir, purpose="export")
    data = picked.data
    inputs = _inputs(data, config.compare_images)
    what = f"{len(inputs)} validation images of {data.source or data.name}" + (
        f" ({picked.data_note})" if picked.data_note else "")
    return _Source(picked.spec, picked.model, picked.history, inputs, what, picked.label, data,
                   picked if picked.study is not None else None, folder)


def _out_dir(config: ExportConfig, source: _Source) -> Path:
    if config.out is not None:
        out = config.out
    elif source.picked is not None:
        out = config.results_dir / source.picked.study.study_name / "export" / source.picked.name
    else:
        out = source.folder / "export"
    if out.exists() and not (out / SUMMARY_FILE).is_file():
        raise ConfigError(f"{out} exists and is not an earlier export (no {SUMMARY_FILE}); choose another --out")
    return out


def _source_info(source: _Source, shape: tuple[int, int, int], mflops: float, params: int) -> SourceInfo:
    data = source.data
    where = (f"trial {source.picked.trial.number} of study {source.picked.study.study_name}" if source.picked
             else f"the model saved in {source.folder}")
    pruned = " (channel-pruned)" if source.history else ""
    return SourceInfo(
        title=f"{describe_model(source.model)}: {where}{pruned}, exported by nasprune export.",
        description=f"{describe_model(source.model)}{pruned}: {mflops:.3f} MFLOPs (multiply-adds per image), "
                    f"{params:,} parameters",
        input_shape=shape, weights="model_weights.pt", mean=data.mean if data else None,
        std=data.std if data else None, classes=data.classes if data else None,
        made_by=f"nasprune {__version__} (torch {torch.__version__.split('+')[0]}) on {_dt.date.today().isoformat()}")


def _write_all(config: ExportConfig, source: _Source, shape: tuple[int, int, int], folder: Path, info: SourceInfo,
               on_event: OnEvent | None) -> list[Written]:
    written = []
    for fmt in config.formats:
        if fmt == "onnx":
            written.append(write_onnx(source.model, shape, folder, config.opset, config.onnx_exporter,
                                      config.latency_threads))
        elif fmt == "torchscript":
            written.append(write_torchscript(source.model, folder))
        else:
            written.append(write_python(source.model, info, folder))
        emit(on_event, Note(f"  {fmt}: wrote {', '.join(f.name for f in written[-1].files)} and read it back"))
    return written


def _check(config: ExportConfig, source: _Source, written: list[Written]) -> dict:
    """Compare every format with PyTorch; a difference above the tolerance is an ExportError."""

    def reference(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return source.model(x)

    checks = {}
    for w in written:
        checks[w.format] = result = compare(reference, w.run, source.inputs)
        if not result["max_abs_diff"] <= config.tolerance:
            raise ExportError(f"the {w.format} export differs from PyTorch by up to {result['max_abs_diff']:.3g} in a "
                              f"logit (tolerance {config.tolerance:g}; top-1 agreement {result['top1_agreement']:.2%} "
                              f"on {source.compared_on}); nothing was written")
    return checks


def _latency(config: ExportConfig, source: _Source, shape: tuple[int, int, int], written: list[Written]) -> dict:
    """Median latency (ms) and spread of eager PyTorch and of each timed format, at each batch size, all on
    ``config.latency_threads`` CPU threads."""
    timing = {"repeats": config.repeats}
    rows: dict[str, dict[str, Any]] = {}
    by_format = {w.format: w for w in written}
    for batch in LATENCY_BATCHES:
        measured = {"pytorch": torch_latency(source.model, shape, batch, config.latency_threads, **timing)}
        if "torchscript" in by_format:
            measured["torchscript"] = measure_latency(by_format["torchscript"].timed, shape, batch,
                                                      threads=config.latency_threads, **timing)
        if "onnx" in by_format:
            measured["onnxruntime"] = ort_latency(by_format["onnx"].timed, shape, batch, config.latency_threads,
                                                  **timing)
        for runtime, latency in measured.items():
            rows.setdefault(runtime, {})[f"b{batch}"] = latency.to_dict()
    return {"threads": config.latency_threads, "batches": list(LATENCY_BATCHES), "device": "cpu", "ms": rows}


def _int8(config: ExportConfig, source: _Source, shape: tuple[int, int, int], folder: Path,
          latency: dict | None) -> dict[str, Any]:
    """Quantize ``folder/model.onnx`` to ``model.int8.onnx`` (nasprune.export.int8), calibrated on a seeded random
    sample of training images; score FP32 and INT8 in ONNX Runtime on the whole validation split and time INT8 at
    the latency batches. An accuracy drop above the tolerance removes the INT8 file and says so in ``error``."""
    data = source.data
    pick = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))[:config.calibration_images]
    calibration = Normalizer(data, "cpu")(data.train.x[pick.to(data.train.x.device)].cpu())
    info = quantize_int8(folder / FILES["onnx"][0], folder / INT8_FILE, calibration)
    images, labels = _inputs(data, None), data.val.y.cpu()
    fp32 = accuracy(ort_session(str(folder / FILES["onnx"][0]), config.latency_threads), images, labels)
    session = ort_session(str(folder / INT8_FILE), config.latency_threads)
    int8 = accuracy(session, images, labels)
    drop = round(100 * (fp32 - int8), 2)
    where = f"{len(images)} validation images of {data.source or data.name}"
    result = {**info, "compared_on": where, "fp32_accuracy": round(fp32, 5), "int8_accuracy": round(int8, 5),
              "drop_points": drop, "tolerance_points": config.int8_tolerance, "error": None}
    if latency is not None:
        result["latency"] = {f"b{b}": ort_latency(session, shape, b, config.latency_threads,
                                                  repeats=config.repeats).to_dict() for b in LATENCY_BATCHES}
        fp32_ms = latency["ms"]["onnxruntime"]
        result["speedup"] = {b: round(fp32_ms[b]["median_ms"] / result["latency"][b]["median_ms"], 3)
                             for b in result["latency"]}
        slower = [b[1:] for b, x in result["speedup"].items() if x < 1]
        if slower:  # the 1.07-MFLOPs digits winner: 0.50x at batch 1, 0.69x at 32 (benchmarks/RESULTS.md, issue 30)
            result["note"] = (f"INT8 is slower than FP32 at batch {' and '.join(slower)}: in a network this small the "
                              f"time goes to per-operator overhead, which quantizing and dequantizing adds to")
    if drop > config.int8_tolerance:
        (folder / INT8_FILE).unlink()
        result["file"] = None
        result["error"] = (f"INT8 loses {drop:.2f} accuracy points against FP32 on {where} (FP32 {fp32:.4f}, INT8 "
                           f"{int8:.4f}; --int8-tolerance {config.int8_tolerance:g}): {INT8_FILE} was not kept")
    return result


def _versions() -> dict[str, str]:
    versions = {"nasprune": __version__, "torch": torch.__version__, "python": platform.python_version()}
    for name in ("onnx", "onnxruntime"):
        with contextlib.suppress(ImportError):
            versions[name] = importlib.import_module(name).__version__
    return versions


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished folder ``tmp`` to ``out``; an earlier export there is replaced only at this point."""
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}") if out.exists() else None
    if old is not None:
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _attach(config: ExportConfig, source: _Source, files: list[Path]) -> int:
    """Attach the files to the study trial they came from, for the dashboard (a folder has no trial)."""
    picked = source.picked
    if picked is None or not config.artifacts:
        return 0
    store = artifact_store(artifacts_root(picked.study, picked.study_dir))
    return len(attach_to_finished_trial(store, files, picked.study, picked.trial))


def export(config: ExportConfig, on_event: OnEvent | None = None) -> ExportResult:
    """Export a saved model (a study trial or a model folder, searched, channel-pruned or block-pruned) as ONNX,
    TorchScript and a standalone plain-PyTorch file, check each against PyTorch and measure its latency.

    Each file is read back as a user would read it (ONNX Runtime's CPU execution provider, ``torch.jit.load``, the
    .py file imported from disk) and run on the validation images; the largest logit difference and the top-1
    agreement are recorded in ``export.json``, and a difference above ``config.tolerance`` is an error. The files
    are written to a temporary folder beside ``out`` and moved into place at the end, so a failed export leaves
    nothing behind (and an earlier export stays as it was). A study trial gets the files as dashboard artifacts.

    >>> result = export(ExportConfig(study="default-digits"))  # doctest: +SKIP
    >>> result.summary["checks"]["onnx"]["top1_agreement"]      # doctest: +SKIP
    1.0

    Raises:
        ConfigError: an unknown format, onnx/onnxruntime missing for ``onnx``, no data to compare on, an ``out``
            that holds something else. CheckpointError / StudyError: the model cannot be loaded.
        ExportError: a format cannot express the network, or its outputs differ from PyTorch's; with ``int8``, ONNX
            Runtime cannot quantize it, or INT8 loses more than ``int8_tolerance`` points (raised after the FP32
            files and export.json, which records both accuracies, are in place).
    """
    if "onnx" in config.formats:
        require_onnx(config.onnx_exporter)
    source = _source(config)
    if config.int8 and source.data is None:
        raise ConfigError(f"--int8 calibrates on the model's training images, but {source.label} records no data; "
                          f"pass --data NAME[:PATH] (the data it was trained on)")
    source.model = source.model.cpu().float().to(memory_format=torch.contiguous_format).eval()
    shape = tuple(source.inputs.shape[1:])
    out = _out_dir(config, source)
    mflops, params = count_macs(source.model, shape) / 1e6, count_params(source.model)
    emit(on_event, Note(f"nasprune export: {source.label} ({describe_model(source.model)}"
                        f"{', channel-pruned' if source.history else ''}), {mflops:.3f} MFLOPs, {params:,} params"))
    made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]  # removed again if the export fails
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")  # beside out: the final rename stays on one disk
    tmp.mkdir()
    try:
        written = _write_all(config, source, shape, tmp, _source_info(source, shape, mflops, params), on_event)
        emit(on_event, Note(f"  comparing with PyTorch on {source.compared_on}"))
        checks = _check(config, source, written)
        if config.latency:
            emit(on_event, Note(f"  timing at batch {' and '.join(map(str, LATENCY_BATCHES))} on "
                                f"{config.latency_threads} CPU thread{'s' * (config.latency_threads != 1)}"))
        latency = _latency(config, source, shape, written) if config.latency else None
        if config.int8:
            emit(on_event, Note(f"  int8: quantizing model.onnx on {config.calibration_images} training images, "
                                f"scoring FP32 and INT8 on the validation split"))
        int8 = _int8(config, source, shape, tmp, latency) if config.int8 else None
        summary = {
            "source": {"label": source.label, "arch": describe_model(source.model), "pruned": bool(source.history),
                       "study": source.picked.study.study_name if source.picked else None,
                       "trial": source.picked.trial.number if source.picked else None,
                       "folder": str(source.folder) if source.folder else source.picked.attrs.get("checkpoint")},
            "input_shape": list(shape), "num_classes": source.spec.arch.num_classes,
            "classes": list(source.data.classes) if source.data else None,
            "normalization": ({"mean": list(source.data.mean), "std": list(source.data.std)} if source.data else None),
            "mflops": round(mflops, 4), "params": params,
            "files": {w.format: [f.name for f in w.files] for w in written},
            "formats": {w.format: w.info for w in written},
            "compared_on": source.compared_on, "tolerance": config.tolerance, "checks": checks,
            "latency": latency, "int8": int8, "versions": _versions(),
            "created": _dt.datetime.now().isoformat(timespec="seconds"),
        }
        (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in made:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    files = [out / f.name for w in written for f in w.files] + ([out / INT8_FILE] if int8 and int8["file"] else [])
    files.append(out / SUMMARY_FILE)
    attached = _attach(config, source, files)
    if int8 and int8["error"]:
        raise ExportError(f"{int8['error']}; the FP32 files are in {out}")
    return ExportResult(out, files, summary, attached)
