"""nasprune.deploy's latency in a named runtime: the figure records its runtime, batch and threads, an architecture
is measured once however often it is asked for, and a bad or missing runtime is one line. No timing is asserted."""

import pytest

import nasprune.deploy as deploy
from nasprune import ArchSpec, ConfigError, StageSpec, build_model
from nasprune.deploy import ArchLatency, runtime_latency

ARCH = ArchSpec(1, 10, (StageSpec(1, 8, 1),), block="plain", stem_channels=8)
SHAPE = (1, 8, 8)
QUICK = {"max_seconds": 0.05, "repeats": 5}


@pytest.mark.parametrize("runtime", deploy.LATENCY_RUNTIMES)
def test_a_figure_records_its_runtime_batch_and_threads(runtime):
    if runtime == "onnxruntime":
        pytest.importorskip("onnxruntime", reason="the export extra: pip install -e '.[export]'")
    latency = runtime_latency(build_model(ARCH), SHAPE, runtime, batch_size=4, threads=1, **QUICK)
    assert latency.runtime == runtime and latency.batch_size == 4 and latency.threads == 1 and latency.device == "cpu"
    assert latency.to_dict()["runtime"] == runtime and 0 < latency.p10_ms <= latency.median_ms <= latency.p90_ms


def test_each_architecture_is_measured_once(monkeypatch):
    calls = []
    real = deploy.runtime_latency
    monkeypatch.setattr(deploy, "runtime_latency", lambda model, *a, **k: calls.append(model) or real(model, *a, **k))
    latency = ArchLatency(SHAPE, "torch", batch_size=2, threads=1, **QUICK)
    first = latency(ARCH)
    assert latency(ArchSpec.from_dict(ARCH.to_dict())) is first and len(calls) == 1  # an equal spec: the cache
    assert latency(ARCH.replace(stem_channels=16)) is not first and len(calls) == 2
    assert first.batch_size == 2 and latency.describe() == "PyTorch CPU batch 2, 1 thread"


def test_bad_or_missing_runtimes_are_one_line(monkeypatch):
    with pytest.raises(ConfigError, match=r"unknown --latency-runtime 'tensorrt'; valid: torch, onnxruntime"):
        ArchLatency(SHAPE, "tensorrt")
    with pytest.raises(ConfigError, match="latency batch and threads must be >= 1"):
        ArchLatency(SHAPE, "torch", batch_size=0)
    monkeypatch.setattr(deploy, "onnx_missing", lambda exporter="torchscript": ["onnx", "onnxruntime"])
    with pytest.raises(ConfigError, match=r"needs onnx and onnxruntime, not installed here: pip install -e "
                                          r"'.\[export\]' \(or: pip install onnx onnxruntime\), or use "
                                          r"--latency-runtime torch"):
        runtime_latency(build_model(ARCH), SHAPE, "onnxruntime")


def test_the_fast_channel_multiple_follows_the_cpu(monkeypatch):
    monkeypatch.setattr(deploy, "_cpu_flags", lambda: {"avx2", "avx512f"})
    assert deploy.fast_channels("onnxruntime") == 16
    monkeypatch.setattr(deploy, "_cpu_flags", lambda: {"avx2"})
    assert deploy.fast_channels("onnxruntime") == 8
