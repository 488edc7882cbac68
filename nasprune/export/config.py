"""Settings and result of ``nasprune export``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..choices import EXPORT_FORMATS as FORMATS
from ..choices import ONNX_EXPORTERS
from ..errors import ConfigError

__all__ = ["ExportConfig", "ExportResult", "FORMATS", "parse_formats"]



def parse_formats(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"onnx,python"`` (or a sequence of names) -> ``("onnx", "python")``, in FORMATS order, duplicates dropped.

    Raises:
        ConfigError: an unknown name, or none at all.
    """
    names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text)]
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown export format {unknown[0]!r}; valid: {', '.join(FORMATS)} (comma-separated)")
    if not names:
        raise ConfigError(f"no export format given; valid: {', '.join(FORMATS)} (comma-separated)")
    return tuple(f for f in FORMATS if f in names)


@dataclass(frozen=True)
class ExportConfig:
    """Settings of ``nasprune export``: which model, which formats, where, and how the files are checked.

    The model is a trial of ``study`` (``trial``, default: the most accurate Pareto trial) or the saved model
    folder ``model`` (a search trial's, a pruned model's). Each exported file is run on the validation images
    (the study's split, or the data the folder records; ``data`` and ``data_changes`` ask for others) and its
    logits compared with PyTorch's: a difference above ``tolerance`` is an :class:`~nasprune.errors.ExportError`.
    With ``int8``, ``model.onnx`` is also quantized to ``model.int8.onnx`` (calibrated on ``calibration_images``
    training images) and both are scored on the validation split; INT8 losing more than ``int8_tolerance`` points
    is an ExportError raised after the FP32 files are in place.
    """

    study: str | None = None
    trial: int | None = None  # with ``study``: its trial N (default: the most accurate Pareto trial)
    model: Path | None = None  # a saved model folder instead of a study
    formats: tuple[str, ...] = FORMATS  # any of FORMATS (a comma-separated string is accepted)
    out: Path | None = None  # default: RESULTS_DIR/STUDY/export/trialN, or DIR/export for a folder
    data: str | None = None  # with ``model``: other data than it records
    data_changes: Mapping[str, Any] = field(default_factory=dict)  # with ``model``: changes to its recorded split
    download: bool = False
    cache: bool = True
    storage: str | None = None
    results_dir: Path = Path("results")
    tolerance: float = 1e-3  # largest absolute difference of a logit from PyTorch's that passes
    compare_images: int | None = None  # validation images the files are compared on (None: all of them)
    latency_threads: int = 1  # CPU threads of every latency figure (PyTorch and ONNX Runtime alike)
    latency: bool = True  # measure latency at batch 1 and 32
    repeats: int = 20  # timed runs per latency figure (the median is reported)
    opset: int | None = None  # ONNX operator set (None: the exporter's default; recorded either way)
    onnx_exporter: str = "torchscript"  # torch.onnx's TorchScript-based exporter or dynamo (nasprune.deploy)
    artifacts: bool = True  # attach the files to the study trial, for the dashboard
    int8: bool = False  # also write model.int8.onnx: ONNX Runtime static quantization (QDQ, per-channel weights)
    int8_tolerance: float = 1.0  # accuracy points INT8 may lose against FP32 on the validation split
    calibration_images: int = 512  # training images the INT8 activation ranges are calibrated on

    def __post_init__(self) -> None:
        object.__setattr__(self, "formats", parse_formats(self.formats))
        if (self.study is None) == (self.model is None):
            raise ConfigError("say which model to export: a saved model folder DIR, or --study NAME (with --trial N)")
        if self.trial is not None and self.study is None:
            raise ConfigError("--trial chooses from a study; use it with --study NAME")
        if not self.tolerance > 0:
            raise ConfigError(f"--tolerance must be > 0 (got {self.tolerance})")
        if self.compare_images is not None and self.compare_images < 1:
            raise ConfigError(f"--compare-images must be >= 1 (got {self.compare_images})")
        if not 1 <= self.latency_threads <= 1024:
            raise ConfigError(f"--latency-threads must be between 1 and 1024 (got {self.latency_threads})")
        if self.repeats < 1:
            raise ConfigError(f"--repeats must be >= 1 (got {self.repeats})")
        if self.int8 and "onnx" not in self.formats:
            raise ConfigError("--int8 quantizes model.onnx: keep onnx in --format")
        if not 0 <= self.int8_tolerance <= 100:
            raise ConfigError(f"--int8-tolerance must be between 0 and 100 accuracy points (got {self.int8_tolerance:g})")
        if self.calibration_images < 1:
            raise ConfigError(f"--calibration-images must be >= 1 (got {self.calibration_images})")
        if self.onnx_exporter not in ONNX_EXPORTERS:
            raise ConfigError(f"unknown ONNX exporter {self.onnx_exporter!r}; valid: {', '.join(ONNX_EXPORTERS)}")
        for name in ("model", "out", "results_dir"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))


@dataclass
class ExportResult:
    """What ``nasprune export`` wrote and measured."""

    out: Path  # the folder with the files and export.json
    files: list[Path]  # every file written, export.json last
    summary: dict[str, Any]  # export.json's content: source, checks per format, latency, versions
    artifacts: int = 0  # files attached to the study trial (0 for a folder, or with artifacts=False)
