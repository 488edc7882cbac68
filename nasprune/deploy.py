"""A network where it is deployed: ONNX export, ONNX Runtime sessions, and latency in both runtimes.

``nasprune export`` writes and checks the files; ``nasprune prune`` and ``nasprune report`` put ONNX Runtime's
CPU latency beside PyTorch's. onnx and onnxruntime are an optional extra (``pip install -e '.[export]'``): they
are imported inside the functions that use them, and :func:`require_onnx` turns their absence into one line
that says what to install.

Latency in both runtimes is timed by :func:`nasprune.measure.measure_latency` (the same warm-up, repeats, median
and spread), at a stated number of CPU threads in both (1 by default: the figure that depends least on what
else the machine is doing), on zeros of the model's input shape.

Example::

    onnx_model = export_onnx(model, (1, 8, 8))                  # bytes, opset, exporter
    session = ort_session(onnx_model.data, threads=1)
    ms = ort_latency(session, (1, 8, 8), batch_size=32).median_ms
    runtime_latency(model, (1, 8, 8), "onnxruntime", batch_size=1)   # export, session and timing in one call
    per_arch = ArchLatency((1, 8, 8), "onnxruntime")             # one architecture after another, each measured once
    per_arch(spec.arch).median_ms
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib
import io
import json
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .choices import LATENCY_RUNTIMES, ONNX_EXPORTERS
from .errors import ConfigError, ExportError, first_line
from .measure import Latency, measure_latency
from .spec import ArchSpec
from .text import plural

__all__ = ["OnnxModel", "ONNX_EXPORTERS", "LATENCY_BATCHES", "INPUT_NAME", "OUTPUT_NAME", "onnx_missing",
           "require_onnx", "export_onnx", "ort_session", "ort_run", "ort_latency", "torch_latency", "deployed_latency",
           "add_deployed_latency", "LATENCY_RUNTIMES", "RUNTIME_NAMES", "require_runtime", "runtime_latency", "runtime_where",
           "ArchLatency", "fast_channels"]

# torch.onnx's two exporters (ONNX_EXPORTERS). torchscript, the default here: the TorchScript-based one
# (``dynamo=False``), 0.1-0.2 s for a small network, folds batch norm into the convs; deprecated since torch 2.9
# but still there in 2.13. dynamo: the torch.export-based one, torch's default since 2.9 (needs onnxscript), ~2 s
# for the same network, most of it rebuilding its operator registry on every call. Both export all 180 block x
# norm x activation combinations to the same outputs (max difference 4e-7; measured on 2 CPU cores, torch 2.13).
#: the batch sizes latency is measured at: one image (interactive use) and a batch of 32 (throughput)
LATENCY_BATCHES = (1, 32)
INPUT_NAME, OUTPUT_NAME = "images", "logits"
#: the runtimes a CPU latency can be measured in: eager PyTorch, ONNX Runtime's CPU execution provider
#: how a person reads them
RUNTIME_NAMES = {"torch": "PyTorch", "onnxruntime": "ONNX Runtime"}


@dataclass(frozen=True)
class OnnxModel:
    """An exported network: the serialized ONNX ModelProto and how it was made."""

    data: bytes  # the .onnx file's content
    opset: int  # the ai.onnx operator set version it uses
    exporter: str  # torchscript | dynamo (ONNX_EXPORTERS)
    seconds: float  # time the export took


def onnx_missing(exporter: str = "torchscript") -> list[str]:
    """The packages an ONNX export with ``exporter`` needs that are not installed (empty: ready)."""
    needed = ["onnx", "onnxruntime"] + (["onnxscript"] if exporter == "dynamo" else [])
    missing = []
    for name in needed:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def require_onnx(exporter: str = "torchscript") -> None:
    """Raise a one-line :class:`ConfigError` naming what to install when the ONNX packages are missing."""
    if exporter not in ONNX_EXPORTERS:
        raise ConfigError(f"unknown ONNX exporter {exporter!r}; valid: {', '.join(ONNX_EXPORTERS)}")
    missing = onnx_missing(exporter)
    if missing:
        raise ConfigError(f"ONNX export needs {' and '.join(missing)}, not installed here: pip install -e '.[export]' "
                          f"(or: pip install {' '.join(missing)})")


def _cpu_copy(model: nn.Module) -> nn.Module:
    """A float32 CPU copy in eval mode, in the default memory format (the caller's model is left as it is)."""
    return copy.deepcopy(model).cpu().float().to(memory_format=torch.contiguous_format).eval()


def _opset_of(proto: Any) -> int:
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def export_onnx(model: nn.Module, input_shape: Sequence[int], opset: int | None = None,
                exporter: str = "torchscript") -> OnnxModel:
    """Export ``model`` for (N, C, H, W) inputs with a dynamic batch size N, input ``images``, output ``logits``.

    ``opset`` None takes the exporter's default (20 for torch 2.13's TorchScript-based exporter). The result has
    passed ``onnx.checker`` (with shape inference).

    Raises:
        ConfigError: onnx or onnxruntime (or onnxscript, for ``dynamo``) is not installed.
        ExportError: torch.onnx could not export the network, or the checker refused what it wrote.
    """
    require_onnx(exporter)
    import onnx

    net = _cpu_copy(model)
    example = torch.zeros(2, *input_shape)  # batch 2: torch.export specializes a batch of 1 to a constant
    started = time.perf_counter()
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), _quiet_torch_onnx():
            warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice, tracer notes
            if exporter == "torchscript":
                torch.onnx.export(net, (example,), buffer, dynamo=False, opset_version=opset,
                                  input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                  dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
                data = buffer.getvalue()
            else:
                program = torch.onnx.export(net, (example,), dynamo=True, opset_version=opset, verbose=False,
                                            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                            dynamic_shapes=({0: torch.export.Dim("batch")},))
                data = program.model_proto.SerializeToString()
    except Exception as exc:  # an operator the exporter cannot translate, an opset it does not offer
        raise ExportError(f"torch.onnx ({exporter} exporter) could not export {type(model).__name__}: "
                          f"{first_line(exc)}") from exc
    proto = onnx.load_from_string(data)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the ONNX model torch.onnx wrote fails onnx.checker: {first_line(exc)}") from exc
    return OnnxModel(data, _opset_of(proto), exporter, time.perf_counter() - started)


@contextlib.contextmanager
def _quiet_torch_onnx() -> Iterator[None]:
    """The dynamo exporter logs its steps and every torchvision operator it skips; keep that off the terminal."""
    import logging

    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)




def ort_session(model: bytes | str, threads: int = 1) -> Any:
    """An ONNX Runtime inference session on the CPU execution provider with ``threads`` intra-op threads
    (and one inter-op thread: the graph runs its nodes in order). ``model`` is the .onnx content or a path."""
    require_onnx()
    import onnxruntime as ort

    if threads < 1:
        raise ConfigError(f"threads must be >= 1 (got {threads})")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: its notes on folded initializers are not for the user
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def ort_run(session: Any, x: torch.Tensor) -> torch.Tensor:
    """Logits of a (N, C, H, W) float batch through an ONNX Runtime session, as a tensor."""
    out = session.run([OUTPUT_NAME], {INPUT_NAME: x.detach().cpu().float().contiguous().numpy()})[0]
    return torch.from_numpy(out)


class _OrtForward(nn.Module):
    """An ONNX Runtime session behind ``nn.Module``'s call, so that :func:`nasprune.measure.measure_latency` times
    it exactly as it times PyTorch (the same warm-up, repeats and statistics)."""

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session
        self.anchor = nn.Parameter(torch.zeros(0))  # measure_latency finds the device (the CPU) from a parameter

    def forward(self, x: torch.Tensor) -> Any:
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]


def ort_latency(session: Any, input_shape: Sequence[int], batch_size: int = 1, threads: int = 1,
                **timing: Any) -> Latency:
    """Latency of one run of an ONNX Runtime ``session`` (made with ``threads`` threads, which the result records)
    on a batch of ``batch_size`` zeros, timed by :func:`nasprune.measure.measure_latency` (``timing``: its
    ``repeats``, ``max_seconds``, ``min_repeats``)."""
    latency = measure_latency(_OrtForward(session), tuple(input_shape), batch_size, threads=threads, **timing)
    return dataclasses.replace(latency, runtime="onnxruntime")


def torch_latency(model: nn.Module, input_shape: Sequence[int], batch_size: int = 1, threads: int = 1,
                  **timing: Any) -> Latency:
    """Eager PyTorch latency of a float32 CPU copy of ``model`` at ``threads`` threads (see
    :func:`nasprune.measure.measure_latency`; ``model`` itself is left where it is)."""
    return measure_latency(_cpu_copy(model), tuple(input_shape), batch_size, threads=threads, **timing)


def deployed_latency(model: nn.Module, input_shape: Sequence[int], threads: int = 1,
                     batches: Sequence[int] = LATENCY_BATCHES, onnx_model: OnnxModel | None = None,
                     **timing: Any) -> dict[str, Latency]:
    """PyTorch's and ONNX Runtime's CPU latency of ``model`` at each batch size, both at ``threads`` threads:
    ``{"cpu_b1": ..., "ort_b1": ..., "cpu_b32": ..., "ort_b32": ...}`` (nasprune.text.LATENCY_LABELS words the
    keys). ``onnx_model`` is exported here when not given. Empty when onnx or onnxruntime is not installed (an
    optional extra), so callers add the figures where they can be measured.

    Raises:
        ExportError: the network could not be exported to ONNX.
    """
    if onnx_missing():
        return {}
    onnx_model = onnx_model or export_onnx(model, input_shape)
    session = ort_session(onnx_model.data, threads)
    out = {}
    for batch in batches:
        out[f"cpu_b{batch}"] = torch_latency(model, input_shape, batch, threads, **timing)
        out[f"ort_b{batch}"] = ort_latency(session, input_shape, batch, threads, **timing)
    return out


def add_deployed_latency(measured: dict[str, Any], model: nn.Module, input_shape: Sequence[int],
                         threads: int = 1) -> str | None:
    """Add :func:`deployed_latency`'s figures that ``measured`` lacks to its ``latency_ms`` (medians) and
    ``latency`` (the details) records, as :func:`nasprune.evaluation.measure_model` writes them. Returns why
    ONNX Runtime's figures are missing (not installed, the export failed), or None; it never raises for that."""
    missing = onnx_missing()
    if missing:
        return f"ONNX Runtime latency not measured: {' and '.join(missing)} not installed (pip install -e '.[export]')"
    try:
        figures = deployed_latency(model, input_shape, threads)
    except ExportError as exc:
        return f"ONNX Runtime latency not measured: {exc}"
    for key, latency in figures.items():
        if key not in measured.setdefault("latency_ms", {}):
            measured["latency_ms"][key] = latency.median_ms
            measured.setdefault("latency", {})[key] = latency.to_dict()
    return None


def require_runtime(runtime: str, option: str = "--latency-runtime") -> None:
    """Raise a one-line :class:`ConfigError` for a runtime not in LATENCY_RUNTIMES, or for ``onnxruntime`` where
    onnx or onnxruntime is not installed (saying what to install)."""
    if runtime not in LATENCY_RUNTIMES:
        raise ConfigError(f"unknown {option} {runtime!r}; valid: {', '.join(LATENCY_RUNTIMES)}")
    missing = onnx_missing() if runtime == "onnxruntime" else []
    if missing:
        raise ConfigError(f"{option} onnxruntime needs {' and '.join(missing)}, not installed here: "
                          f"pip install -e '.[export]' (or: pip install {' '.join(missing)}), or use {option} torch")


def runtime_latency(model: nn.Module, input_shape: Sequence[int], runtime: str = "torch", batch_size: int = 1,
                    threads: int = 1, **timing: Any) -> Latency:
    """CPU latency of ``model`` in ``runtime`` (LATENCY_RUNTIMES: eager PyTorch on a float32 copy, or ONNX Runtime
    on a fresh export) at ``threads`` threads on a batch of ``batch_size`` zeros; the result records the runtime,
    batch and threads. ``timing``: :func:`nasprune.measure.measure_latency`'s ``repeats``, ``max_seconds``,
    ``min_repeats``. ``model`` is left as it is.

    Raises:
        ConfigError: an unknown runtime, or onnxruntime not installed. ExportError: the ONNX export failed.
    """
    require_runtime(runtime)
    if runtime == "torch":
        return torch_latency(model, input_shape, batch_size, threads, **timing)
    session = ort_session(export_onnx(model, input_shape).data, threads)
    return ort_latency(session, input_shape, batch_size, threads, **timing)


class ArchLatency:
    """The latency of architectures in one runtime, each distinct architecture measured once.

    Calling it with an :class:`~nasprune.spec.ArchSpec` builds the network (random weights: latency does not depend
    on them), measures it with :func:`runtime_latency` and keeps the figure under the spec's JSON, so the same
    architecture asked for again (a search sampling it twice, a retrained trial) costs nothing. Every figure records
    its runtime, batch size and threads; the cache holds one runtime, batch, thread count and input shape.

    Example::

        latency = ArchLatency((3, 32, 32), "onnxruntime", batch_size=1, threads=1)
        ms = latency(spec.arch).median_ms
        latency.describe()     # 'ONNX Runtime CPU batch 1, 1 thread'
    """

    def __init__(self, input_shape: Sequence[int], runtime: str = "torch", batch_size: int = 1, threads: int = 1,
                 **timing: Any) -> None:
        require_runtime(runtime)
        if batch_size < 1 or threads < 1:
            raise ConfigError(f"latency batch and threads must be >= 1 (got batch {batch_size}, threads {threads})")
        self.input_shape, self.runtime = tuple(input_shape), runtime
        self.batch_size, self.threads, self.timing = batch_size, threads, timing
        self.cache: dict[str, Latency] = {}

    @staticmethod
    def key(arch: ArchSpec) -> str:
        return json.dumps(arch.to_dict(), sort_keys=True)

    def __call__(self, arch: ArchSpec) -> Latency:
        key = self.key(arch)
        if key not in self.cache:
            from .nn import build_model  # the network builders, only when a network is measured

            model = build_model(arch).eval()
            self.cache[key] = runtime_latency(model, self.input_shape, self.runtime, self.batch_size, self.threads,
                                              **self.timing)
        return self.cache[key]

    def describe(self) -> str:
        return runtime_where(self.runtime, self.batch_size, self.threads)


def runtime_where(runtime: str, batch_size: int, threads: int) -> str:
    """Where a CPU latency was measured, in words: ``ONNX Runtime CPU batch 1, 1 thread``."""
    return f"{RUNTIME_NAMES[runtime]} CPU batch {batch_size}, {plural(threads, 'thread')}"


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            return set(next(line for line in f if line.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):  # not Linux: assume the common case, AVX2
        return {"avx2"}


def fast_channels(runtime: str) -> int:
    """The multiple of channels ``runtime`` runs fast on this CPU, which pruning to a latency target keeps every
    layer's width at (torch-pruning's ``round_to``; a layer narrower than it keeps its width).

    ONNX Runtime's CPU convolutions (MLAS's NCHWc kernels) work on blocks of 16 channels on AVX-512 CPUs (8 on AVX2
    ones): measured on an AVX-512 EPYC core, a width between multiples of 16 ran 1.5-4.5x slower than the multiple of
    16 below it and, in 82% of the widths from 8 to 72, slower than the multiple above. Eager PyTorch (oneDNN) runs
    in steps of 16 there too: widths 33-48 cost what 48 costs at batch 1 (``benchmarks/deployed_widths.py``,
    ``benchmarks/RESULTS.md``, issue 30). ``runtime`` is in the signature for runtimes whose rule differs.
    """
    return 16 if "avx512f" in _cpu_flags() else 8
