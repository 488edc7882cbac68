"""Diagnostics taken on a trained network: the probe batch, the cost of bypassing redundant blocks, what every
search trial records (:func:`trial_diagnostics`, from numbers it has anyway or can get in one probe batch), and
the verdict read back from that record (:func:`recorded_diagnosis`)."""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..data import DataSplits, Normalizer
from ..data.splits import Split
from ..nn import weighted_depth
from ..spec import ArchSpec, describe
from ..train import Runtime, evaluate
from .gradients import GradientRecorder, GradientSummary
from .overfitting import summarize_history
from .redundancy import Redundancy, probe_redundancy
from .verdict import Diagnosis, findings

__all__ = ["probe_batch", "head_of", "estimate_drops", "trial_diagnostics", "recorded_diagnosis"]

log = logging.getLogger("nasprune")


def probe_batch(data: DataSplits, images: int, runtime: Runtime) -> torch.Tensor:
    """The fixed probe batch: the first ``images`` validation images, normalized, on the runtime's device."""
    normalize = Normalizer(data, runtime.device, runtime.memory_format, torch.float32)
    return normalize(data.val.x[:images].to(runtime.device))


def head_of(split: Split, images: int) -> Split:
    """The first ``images`` of ``split`` (all of it for 0 or more than it holds)."""
    return split if not images or images >= len(split) else Split(split.x[:images], split.y[:images])


def estimate_drops(model: nn.Module, redundancy: Redundancy, data: DataSplits, runtime: Runtime,
                   images: int) -> Redundancy:
    """Measure, on ``images`` validation images, the accuracy each removable run of redundant blocks costs
    when bypassed (the blocks replaced by identities; no fine-tuning)."""
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    val = head_of(data.val, images)
    base = evaluate(model, val, normalize, runtime, data.streamed)[1]
    runs = []
    for run in redundancy.runs:
        if run.identity:
            bypassed = copy.deepcopy(model)
            for j in range(run.first - 1, run.last):
                bypassed.stages[run.stage - 1].blocks[j] = nn.Identity()
            drop = round(base - evaluate(bypassed, val, normalize, runtime, data.streamed)[1], 5)
            run = dataclasses.replace(run, val_drop=drop)
        runs.append(run)
    return Redundancy(redundancy.images, redundancy.mflops, redundancy.blocks, runs)


def trial_diagnostics(number: int, model: nn.Module, data: DataSplits, runtime: Runtime,
                      recorder: GradientRecorder, history: list[dict], probe: bool = True,
                      probe_images: int = 256) -> dict[str, Any]:
    """A search trial's depth diagnostics, as the user attributes the search stores: ``gradients`` (the
    recorder's norms and their headline ``ratio``), ``redundancy`` (the probe batch's per-block CKA, bypass
    agreement and near-zero channels; with ``probe``, i.e. for trials that trained to the end) and
    ``diagnosis`` (the verdict's lines). Diagnostics never fail a trial: an error is logged and returned as
    ``diagnostics_error``."""
    out: dict[str, Any] = {}
    try:
        gradients = recorder.summary()
        out["gradients"] = gradients.to_dict()
        redundancy = None
        if probe:
            redundancy = probe_redundancy(model, probe_batch(data, probe_images, runtime))
            out["redundancy"] = redundancy.to_dict()
        arch = model.arch
        final = history[-1]["val_acc"] if history else None  # the accuracy the trial's line shows
        diagnosis = Diagnosis(source=f"trial {number}", arch=describe(arch), block=arch.block, norm=arch.norm,
                              depth=weighted_depth(model), mflops=None, val_accuracy=final,
                              generalization=summarize_history(history), gradients=gradients, redundancy=redundancy,
                              num_classes=arch.num_classes)
        found = findings(diagnosis)
        out["diagnosis"] = [f.message for f in found]
        out["learned"] = not any(f.kind == "not-learning" for f in found)
    except Exception as exc:  # a diagnostic is worth less than the trial it describes
        log.warning("depth diagnostics of trial %d failed: %s: %s", number, exc.__class__.__name__, exc)
        out["diagnostics_error"] = f"{exc.__class__.__name__}: {exc}"
    return out


def recorded_diagnosis(label: str, attrs: Mapping[str, Any]) -> Diagnosis | None:
    """The diagnosis of a search trial read back from its user attributes (history, gradients, redundancy, spec),
    with the verdict of today's rules, as :func:`trial_diagnostics` would write it now: a report shows the same
    words as ``nasprune diagnose``, whenever the study was searched. None for a trial without diagnostics (a study
    searched before they existed, a trial whose diagnostics failed, a pruned model)."""
    if not attrs.get("gradients") or not (attrs.get("spec") or {}).get("arch"):
        return None
    arch = ArchSpec.from_dict(attrs["spec"]["arch"])
    history = attrs.get("history") or []
    diagnosis = Diagnosis(source=label, arch=attrs.get("arch") or describe(arch), block=arch.block, norm=arch.norm,
                          depth=attrs.get("depth") or 0, mflops=attrs.get("mflops"),
                          val_accuracy=history[-1]["val_acc"] if history else None,
                          generalization=summarize_history(history),
                          gradients=GradientSummary.from_dict(attrs["gradients"]),
                          redundancy=Redundancy.from_dict(attrs["redundancy"]) if attrs.get("redundancy") else None,
                          num_classes=arch.num_classes)
    return dataclasses.replace(diagnosis, findings=findings(diagnosis))
