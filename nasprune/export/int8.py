"""INT8: ONNX Runtime's static quantization of an exported ``model.onnx``, calibrated on training images, and the
accuracy of both models on the validation split.

The quantized model is QDQ (QuantizeLinear/DequantizeLinear pairs around each quantized operator, which ONNX Runtime
fuses into integer kernels), with per-channel INT8 weights and INT8 activations whose ranges are the MinMax of the
calibration images' activations. onnx and onnxruntime are the export extra: imported inside the functions.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..deploy import INPUT_NAME, ort_run
from ..errors import ExportError, first_line

__all__ = ["quantize_int8", "accuracy", "CALIBRATION_BATCH", "INT8_FILE"]

INT8_FILE = "model.int8.onnx"
#: images per calibration batch (the activation ranges are taken over all of them)
CALIBRATION_BATCH = 64
_EVAL_BATCH = 256  # images per pass while measuring accuracy


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _reader(images: torch.Tensor) -> Any:
    """An onnxruntime.quantization CalibrationDataReader over (N, C, H, W) normalized float images, in batches."""
    from onnxruntime.quantization import CalibrationDataReader

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([images[i:i + CALIBRATION_BATCH].contiguous().numpy()
                                 for i in range(0, len(images), CALIBRATION_BATCH)])

        def get_next(self) -> dict | None:
            batch = next(self.batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    return Batches()


def quantize_int8(fp32: Path, out: Path, calibration: torch.Tensor) -> dict[str, Any]:
    """Write ``out``: ``fp32`` (an ONNX file with a dynamic batch size) quantized by ONNX Runtime's
    ``quantize_static`` (QDQ format, per-channel INT8 weights, INT8 activations, MinMax ranges) over
    ``calibration`` (N, C, H, W normalized float images). Returns what to record: the calibration images, the
    operators quantized, the time it took.

    Raises:
        ExportError: ONNX Runtime could not quantize the model, or quantized none of its operators.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    started = time.perf_counter()
    prepared = out.with_name(f".{out.name}.pre.onnx")
    try:
        with _quiet_root_logger():  # the quantizer logs its advice through the root logger
            # ONNX Runtime's pre-processing (shape inference, constant folding, graph fusions) first: without it a
            # conv bias the exporter left as a Constant node stays float, and the INT8 model measured 1.0-1.2x the
            # FP32 speed instead of ~3x (a 64-128-256 plain CNN at 3x32x32, AVX-512 VNNI CPU)
            quant_pre_process(str(fp32), str(prepared))
            quantize_static(str(prepared), str(out), _reader(calibration), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
    except Exception as exc:  # an operator or a graph the quantizer cannot handle
        out.unlink(missing_ok=True)
        raise ExportError(f"ONNX Runtime cannot quantize this model to INT8: {first_line(exc)}; export it without "
                          f"--int8") from exc
    finally:
        prepared.unlink(missing_ok=True)
    graph = onnx.load(str(out)).graph
    quantized = sorted({n.op_type for n in graph.node
                        if n.op_type not in ("QuantizeLinear", "DequantizeLinear")
                        and any(i.endswith("_DequantizeLinear_Output") for i in n.input)})
    if not quantized:
        out.unlink(missing_ok=True)
        raise ExportError("ONNX Runtime quantized none of this model's operators to INT8; export it without --int8")
    return {"file": out.name, "format": "QDQ", "weights": "int8 per channel", "activations": "int8",
            "calibration": "MinMax", "calibration_images": len(calibration), "quantized_ops": quantized,
            "seconds": round(time.perf_counter() - started, 3)}


def accuracy(session: Any, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of an ONNX Runtime session on (N, C, H, W) normalized images and their labels."""
    right = 0
    for start in range(0, len(images), _EVAL_BATCH):
        logits = ort_run(session, images[start:start + _EVAL_BATCH])
        right += (logits.argmax(1) == labels[start:start + _EVAL_BATCH].cpu()).sum().item()
    return right / len(images)
