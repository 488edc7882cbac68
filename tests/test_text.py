"""The before/after table of a pruned model says which way each measure moved."""

from nasprune.text import comparison_rows


def test_a_change_for_the_worse_is_named_as_such_not_as_a_factor_below_one():
    # a pruned model that ran slower in ONNX Runtime was shown as "0.70x faster"
    before = {"val_accuracy": 0.9, "test_accuracy": 0.9, "mflops": 4.0, "params": 1000,
              "latency_ms": {"cpu_b1": 0.6, "ort_b1": 0.058}}
    after = {"val_accuracy": 0.88, "test_accuracy": 0.91, "mflops": 2.0, "params": 1200,
             "latency_ms": {"cpu_b1": 0.5, "ort_b1": 0.082}}
    rows = {r["measure"]: r["change"] for r in comparison_rows(before, after)}
    changes = list(rows.values())
    assert "2.00x smaller" in changes  # MFLOPs
    assert "1.20x larger" in changes  # params
    assert "1.20x faster" in changes  # PyTorch
    assert "1.41x slower" in changes  # ONNX Runtime
    assert "-2.00 points" in changes and "+1.00 points" in changes
