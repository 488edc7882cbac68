"""nasprune export --int8: model.int8.onnx beside the FP32 files, both accuracies on the validation split, INT8's
latency; a drop above the tolerance fails with the numbers and leaves the FP32 export in place; bad input refused
in one line. No timing is asserted (the speed target lives in benchmarks/deployed_int8.py)."""

import importlib
import json

import onnx
import pytest
import torch

from nasprune import (
    ArchSpec,
    ConfigError,
    ExportConfig,
    ExportError,
    StageSpec,
    TrialSpec,
    build_model,
    export,
    save_model,
)
from nasprune.cli import main
from nasprune.prune import Target, prune_channels

pytest.importorskip("onnxruntime", reason="the export extra: pip install -e '.[export]'")

ARCH = ArchSpec(1, 10, (StageSpec(1, 8, 1), StageSpec(1, 16, 2)), stem_channels=8)


def test_int8_writes_the_quantized_model_and_reports_both_accuracies(study, tmp_path, capsys):
    argv = ["export", "--study", "s", "--results-dir", str(study), "--format", "onnx", "--int8", "--out",
            str(tmp_path / "e"), "--calibration-images", "128"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "int8: model.int8.onnx (QDQ" in out and "accuracy FP32 0." in out and "INT8 in ONNX Runtime: batch 1" in out
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == ["export.json", "model.int8.onnx", "model.onnx"]
    int8 = json.loads((tmp_path / "e" / "export.json").read_text())["int8"]
    assert int8["file"] == "model.int8.onnx" and int8["error"] is None and int8["calibration_images"] == 128
    assert 0 <= int8["int8_accuracy"] <= 1 and 0 <= int8["fp32_accuracy"] <= 1
    assert int8["drop_points"] == pytest.approx(100 * (int8["fp32_accuracy"] - int8["int8_accuracy"]), abs=0.01)
    assert int8["compared_on"] == "360 validation images of digits" and "Conv" in int8["quantized_ops"]
    assert set(int8["latency"]) == {"b1", "b32"} and int8["latency"]["b32"]["runtime"] == "onnxruntime"
    assert set(int8["speedup"]) == {"b1", "b32"}
    graph = onnx.load(str(tmp_path / "e" / "model.int8.onnx")).graph
    quantized_weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4]
    assert quantized_weights and any(n.op_type == "QuantizeLinear" for n in graph.node)  # QDQ, INT8 conv weights
    scales = [t for t in graph.initializer if t.name.endswith("_scale") and len(t.dims) == 1 and t.dims[0] > 1]
    assert scales  # per-channel weight scales


def test_a_drop_above_the_tolerance_fails_with_the_numbers_and_keeps_the_fp32_files(study, tmp_path, monkeypatch):
    scores = iter([0.95, 0.90])  # FP32, then INT8
    run = importlib.import_module("nasprune.export.run")  # the module: nasprune.export.run is also the function's name
    monkeypatch.setattr(run, "accuracy", lambda *a: next(scores))
    out = tmp_path / "e"
    with pytest.raises(ExportError, match=r"INT8 loses 5\.00 accuracy points against FP32 on 360 validation images of "
                                          r"digits \(FP32 0\.9500, INT8 0\.9000; --int8-tolerance 1\): model\.int8\.onnx "
                                          r"was not kept; the FP32 files are in "):
        export(ExportConfig(study="s", results_dir=study, out=out, int8=True, latency=False, formats="onnx,python",
                            calibration_images=64))
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "model.onnx", "model.py", "model_weights.pt"]
    summary = json.loads((out / "export.json").read_text())
    assert summary["int8"]["file"] is None and summary["int8"]["drop_points"] == 5.0 and summary["int8"]["error"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing half-written beside it


def test_a_model_onnx_runtime_cannot_quantize_is_one_line(study, tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise NotImplementedError("Quantization of operator FancyOp is not supported\nmore lines")

    monkeypatch.setattr("onnxruntime.quantization.quantize_static", refuse)
    code = main(["export", "--study", "s", "--results-dir", str(study), "--format", "onnx", "--int8", "--no-latency",
                 "--out", str(tmp_path / "e")])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "ONNX Runtime cannot quantize this model to INT8: NotImplementedError: Quantization of operator FancyOp" in err
    assert not (tmp_path / "e").exists()  # failed before anything was moved into place


@pytest.mark.parametrize("argv, message", [
    (["--format", "python"], "--int8 quantizes model.onnx: keep onnx in --format"),
    (["--int8-tolerance", "-1"], "--int8-tolerance must be between 0 and 100 accuracy points (got -1)"),
    (["--calibration-images", "0"], "--calibration-images must be >= 1 (got 0)"),
])
def test_bad_int8_options_are_one_line_errors(argv, message, capsys):
    code = main(["export", "--study", "s", "--int8", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_int8_needs_the_models_training_images(tmp_path):
    """A pruned folder that records its input shape but not its data: the FP32 files could be compared on random
    inputs, but INT8 has nothing to calibrate on."""
    torch.manual_seed(0)
    model, log = prune_channels(build_model(ARCH).eval(), (1, 8, 8), Target("mflops", 0.7), "l1")
    folder = save_model(tmp_path / "m", TrialSpec(ARCH), model, log.history, (1, 8, 8))  # no data record
    with pytest.raises(ConfigError, match=r"--int8 calibrates on the model's training images, but .* records no data; "
                                          r"pass --data"):
        export(ExportConfig(model=folder, int8=True, latency=False))
