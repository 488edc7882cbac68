"""Pruned models export and agree; the standalone file is plain torch, written with the pruned widths, and runs in
a Python that cannot import nasprune."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nasprune import ArchSpec, ExportConfig, StageSpec, TrialSpec, build_model, export, save_model
from nasprune.nn.graph import channel_counts
from nasprune.nn.layers import PadShortcut
from nasprune.prune import Target, prune_channels
from nasprune.prune.blocks import remove_blocks

pytest.importorskip("onnxruntime", reason="the export extra: pip install -e '.[export]'")

SHAPE = (1, 8, 8)  # digits
ARCH = ArchSpec(1, 10, (StageSpec(2, 16, 1), StageSpec(1, 32, 2)), stem_channels=16, shortcut="pad")

#: a Python without site-packages' .pth files (the editable nasprune install is one), given torch's folder only
RUNNER = """\
import runpy, sys
sys.path.append({site!r})
try:
    import nasprune.nn
except ImportError:
    pass
else:
    sys.exit("nasprune is importable here: the test proves nothing")
runpy.run_path("model.py", run_name="__main__")
"""


@pytest.fixture(scope="module")
def channel_pruned(tmp_path_factory):
    """ARCH with half its MACs pruned away by L1 magnitude: uneven widths, and a pad shortcut whose channel
    selection pruning renumbered. Saved with its pruning history (and input shape) but no data record."""
    torch.manual_seed(0)
    model, log = prune_channels(build_model(ARCH), SHAPE, Target("mflops", 0.5), "l1", steps=2)
    folder = save_model(tmp_path_factory.mktemp("pruned") / "model", TrialSpec(ARCH), model.eval(), log.history, SHAPE)
    return folder, model


def test_a_channel_pruned_model_exports_with_its_widths_and_agrees(channel_pruned):
    folder, model = channel_pruned
    pad = next(m for m in model.modules() if isinstance(m, PadShortcut))
    selection = pad.source.tolist()
    assert -1 in selection and selection != sorted(selection, key=lambda s: s < 0)  # renumbered, not option A
    result = export(ExportConfig(model=folder, latency=False))
    summary = result.summary
    assert result.out == folder / "export" and summary["source"]["pruned"]
    assert "random normal inputs" in summary["compared_on"]  # the folder records its input shape, not its data
    for fmt in ("onnx", "torchscript", "python"):
        assert summary["checks"][fmt]["top1_agreement"] == 1.0 and summary["checks"][fmt]["max_abs_diff"] <= 1e-4
    # the written network has the pruned model's widths, layer by layer, and the renumbered selection
    namespace = {"__name__": "written", "__file__": str(result.out / "model.py")}
    exec(compile((result.out / "model.py").read_text(), "model.py", "exec"), namespace)  # noqa: S102 - our own file
    written = namespace["Network"]()
    assert channel_counts(written) == channel_counts(model)
    assert channel_counts(model) != channel_counts(build_model(ARCH))  # not the spec's widths
    assert next(m for m in written.modules() if type(m).__name__ == "PadShortcut").source.tolist() == selection


def test_the_standalone_file_imports_torch_only_and_runs_without_nasprune(channel_pruned):
    folder, _ = channel_pruned
    out = export(ExportConfig(model=folder, formats="python", latency=False, out=folder.parent / "standalone")).out
    tree = ast.parse((out / "model.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "pathlib", "torch", "torch.nn", "torch.nn.functional"}
    site = str(Path(torch.__file__).parent.parent)
    run = subprocess.run([sys.executable, "-I", "-S", "-c", RUNNER.format(site=site)], cwd=out, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "model.py: a batch of (4, 1, 8, 8) -> logits (4, 10); predicted" in run.stdout
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "model.py", "model_weights.pt"]


def test_a_block_pruned_model_exports_and_agrees(tmp_path, digits):
    torch.manual_seed(0)
    smaller = remove_blocks(build_model(ARCH).eval(), [(0, 1)])
    assert smaller.arch.repeats == (1, 1)
    folder = save_model(tmp_path / "blocks", TrialSpec(smaller.arch), smaller, data=digits.record())
    summary = export(ExportConfig(model=folder, latency=False)).summary
    assert summary["compared_on"] == f"{len(digits.val)} validation images of digits"
    assert all(c["top1_agreement"] == 1.0 and c["max_abs_diff"] <= 1e-4 for c in summary["checks"].values())
    text = (folder / "export" / "model.py").read_text()
    assert "CLASSES = (\"0\", \"1\"," in text and "def preprocess(" in text  # the data record's classes and norms
    assert json.loads((folder / "export" / "export.json").read_text())["classes"] == list(digits.classes)
