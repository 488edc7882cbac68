"""``nasprune diagnose`` as a function: load a trained network (a study's trial or a saved model folder),
gather the three depth diagnostics (generalization gap, first/last gradient ratio, redundant blocks and near-zero
channels; nasprune.diagnostics measures them), turn them into a verdict and write it as JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data import DataSplits, Normalizer, train_batches
from ..data.placement import place_data
from ..diagnostics import (
    Diagnosis,
    Generalization,
    GradientSummary,
    estimate_drops,
    findings,
    head_of,
    measure_gradients,
    probe_batch,
    probe_redundancy,
    summarize_history,
    write_diagnosis,
)
from ..errors import ConfigError
from ..measure import count_macs
from ..nn import build_model, describe_model, weighted_depth
from ..options import flag
from ..record import Picked, load_picked
from ..spec import describe
from ..train import Runtime, evaluate, resolve_runtime

__all__ = ["DiagnoseConfig", "DiagnoseResult", "diagnose"]


@dataclass(frozen=True)
class DiagnoseConfig:
    """Settings of ``nasprune diagnose``: a trial of a study (``study``, ``trial``; default: the most accurate
    Pareto trial) or a saved model folder (``model``, with ``data``).

    Example::

        import nasprune
        result = nasprune.diagnose(nasprune.DiagnoseConfig(study="default-digits", trial=3))
        print("\\n".join(f.message for f in result.diagnosis.findings))
    """

    study: str | None = None
    trial: int | None = None
    model: Path | None = None  # a saved model folder instead of a study trial
    data: str | None = None  # with ``model``: other data than it records (a study always uses its own)
    data_changes: Mapping[str, Any] = field(default_factory=dict)  # with ``model``: changes to its recorded split
    download: bool = False  # fetch a torchvision data set that is not on disk
    cache: bool = True  # use the decoded-image cache
    storage: str | None = None
    results_dir: Path = Path("results")
    out: Path | None = None  # the JSON (default: RESULTS_DIR/STUDY/diagnose/trialN.json or RESULTS_DIR/diagnose/DIR.json)
    probe_images: int = 256  # validation images of the probe batch (CKA, bypass test, near-zero channels)
    gradient_batches: int = 4  # training batches for gradient norms when the trial recorded none
    estimate_images: int = 2000  # validation images on which bypassing a redundant run is measured (0: all)
    device: str = "auto"

    def __post_init__(self) -> None:
        if (self.study is None) == (self.model is None):
            raise ConfigError("say which model to diagnose: --study NAME (a trial of a study) or --model DIR")
        if self.study is None and self.trial is not None:
            raise ConfigError("--trial chooses from a study; use it with --study")
        for name in ("probe_images", "gradient_batches"):
            if getattr(self, name) < 2:
                raise ConfigError(f"{flag(name)} must be >= 2 (got {getattr(self, name)})")
        if self.estimate_images < 0:
            raise ConfigError(f"estimate_images must be >= 0 (got {self.estimate_images})")
        object.__setattr__(self, "results_dir", Path(self.results_dir))


@dataclass
class DiagnoseResult:
    """What :func:`diagnose` found (the verdict and its numbers) and the JSON file it wrote."""

    diagnosis: Diagnosis
    out: Path  # the JSON written


def _load(config: DiagnoseConfig) -> tuple[Picked, Path]:
    """(the network and its data, where its verdict goes by default)."""
    picked = load_picked(study=config.study, trial=config.trial, model=config.model, data=config.data,
                         changes=config.data_changes, download=config.download, cache=config.cache,
                         storage=config.storage, results_dir=config.results_dir, weights=False, purpose="diagnose")
    folder = config.results_dir / config.study if config.study else config.results_dir
    return picked, folder / "diagnose" / f"{picked.name}.json"


def _measured_gradients(loaded: Picked, data: DataSplits, runtime: Runtime, batches: int
                        ) -> tuple[GradientSummary | None, GradientSummary | None]:
    """(gradients, gradients at initialization): the trial's training record when it has one; otherwise
    measured now on a few training batches, on the trained weights and on freshly initialized ones."""
    if loaded.attrs.get("gradients"):
        return GradientSummary.from_dict(loaded.attrs["gradients"]), None
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    size = min(loaded.spec.train.batch_size, len(data.train))

    def batches_of() -> list:
        order = torch.Generator(device=data.train.x.device).manual_seed(0)
        out = []
        for i, batch in enumerate(train_batches(data.train, size, order, runtime.device, data.streamed,
                                                 runtime.loader_workers)):
            if i == batches:
                break
            out.append(batch)
        return out

    trained = measure_gradients(loaded.model, batches_of(), normalize, runtime) if loaded.model is not None else None
    torch.manual_seed(0)
    fresh = build_model(loaded.spec.arch).to(runtime.device, memory_format=runtime.memory_format)
    return trained, measure_gradients(fresh, batches_of(), normalize, runtime, source="initialization")


def _generalization(loaded: Picked, data: DataSplits, runtime: Runtime) -> Generalization | None:
    """From the trial's history; for a saved model, train and validation accuracy measured now (eval mode, no
    augmentation, at most 10,000 training images)."""
    summary = summarize_history(loaded.attrs.get("history") or [])
    if summary is not None or loaded.model is None:
        return summary
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    train_loss, train_acc = evaluate(loaded.model, head_of(data.train, 10_000), normalize, runtime, data.streamed)
    val_loss, val_acc = evaluate(loaded.model, data.val, normalize, runtime, data.streamed)
    gap = round(train_acc - val_acc, 4)
    return Generalization(epochs=1, best_epoch=1, train_acc=round(train_acc, 4), val_acc=round(val_acc, 4), gap=gap,
                          loss_gap=round(val_loss - train_loss, 4), gap_last=gap, gap_trend=None, val_loss_rise=None,
                          source="measured now")


def diagnose(config: DiagnoseConfig) -> DiagnoseResult:
    """Diagnose one trained network and write the verdict to JSON (see the module docstring).

    Raises:
        NaspruneError: bad input (study, trial, model folder, data); nothing is written in that case.
    """
    runtime = resolve_runtime(config.device)
    loaded, default_out = _load(config)
    data = place_data(loaded.data, runtime.device)
    arch = loaded.spec.arch
    model = loaded.model.to(runtime.device, memory_format=runtime.memory_format) if loaded.model else None
    gradients, gradients_init = _measured_gradients(loaded, data, runtime, config.gradient_batches)
    generalization = _generalization(loaded, data, runtime)
    redundancy, mflops, val_acc, depth = None, loaded.attrs.get("mflops"), loaded.attrs.get("val_accuracy"), None
    if model is not None:
        model.eval()
        redundancy = probe_redundancy(model, probe_batch(data, config.probe_images, runtime))
        redundancy = estimate_drops(model, redundancy, data, runtime, config.estimate_images)
        mflops, depth = round(count_macs(model, data.input_shape) / 1e6, 4), weighted_depth(model)
        if val_acc is None:
            normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
            val_acc = round(evaluate(model, data.val, normalize, runtime, data.streamed)[1], 5)
    source = f"{loaded.label} of study {loaded.study.study_name!r}" if loaded.study else loaded.label
    described = describe_model(model) if model is not None else describe(arch)  # a pruned model's real widths
    diagnosis = Diagnosis(source=source, arch=described, block=arch.block, norm=arch.norm,
                          depth=depth or loaded.attrs.get("depth") or weighted_depth(build_model(arch)),
                          mflops=mflops, val_accuracy=val_acc, generalization=generalization, gradients=gradients,
                          gradients_init=gradients_init, redundancy=redundancy, num_classes=arch.num_classes,
                          data_note=loaded.data_note)
    diagnosis = dataclasses.replace(diagnosis, findings=findings(diagnosis))
    out = write_diagnosis(config.out or default_out, diagnosis)
    return DiagnoseResult(diagnosis, out)
