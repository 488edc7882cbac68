"""Every block x norm x activation the registries offer exports to ONNX, TorchScript and a standalone Python file,
and each file, read back as a user reads it, gives PyTorch's logits: ONNX Runtime's top-1 agrees on every input of
a batch and no logit differs by more than 1e-4."""

import itertools

import pytest
import torch

from nasprune import ArchSpec, StageSpec, build_model
from nasprune.export.formats import compare, write_onnx, write_python, write_torchscript
from nasprune.export.python_source import SourceInfo
from nasprune.nn import ACTIVATIONS, BLOCKS, NORMS
from nasprune.nn.network import is_blind

pytest.importorskip("onnxruntime", reason="the export extra: pip install -e '.[export]'")

COMBOS = [c for c in itertools.product(BLOCKS.names(), NORMS.names(), ACTIVATIONS.names()) if not is_blind(*c[:2])]
SHAPE = (3, 8, 8)
TOLERANCE = 1e-4


def tiny(i, block, norm, act):
    """One block, the smallest network that has it (exporting costs time per layer): on even combinations an
    identity-shortcut block with squeeze-excite, on odd ones a strided block whose shortcut alternates between a 1x1
    conv and the parameter-free pad, so each (block, norm) meets both across its activations."""
    stage = StageSpec(1, 8, 1) if i % 2 == 0 else StageSpec(1, 16, 2)
    return ArchSpec(3, 5, (stage,), block=block, norm=norm, act=act, stem_channels=8,
                    se_ratio=0.25 if i % 2 == 0 else 0.0, shortcut="pad" if i % 4 == 1 else "conv",
                    expansion={"bottleneck": 2.0, "mbconv": 2.0}.get(block, 1.0))


def trained_looking(model):
    """Batch-norm statistics away from their initial 0/1, so the exporters' folding of them is exercised."""
    generator = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
    return model.eval()


@pytest.mark.parametrize("i, block, norm, act", [(i, *c) for i, c in enumerate(COMBOS)],
                         ids=["-".join(c) for c in COMBOS])
def test_every_combination_exports_to_every_format_and_agrees(i, block, norm, act, tmp_path):
    torch.manual_seed(i)
    model = trained_looking(build_model(tiny(i, block, norm, act)))
    x = torch.randn(16, *SHAPE)
    written = [write_onnx(model, SHAPE, tmp_path, None, "torchscript", threads=1), write_torchscript(model, tmp_path),
               write_python(model, SourceInfo("t", "d", SHAPE, "model_weights.pt"), tmp_path)]
    for w in written:
        check = compare(model, w.run, x)
        assert check["top1_agreement"] == 1.0 and check["max_abs_diff"] <= TOLERANCE, (w.format, check)
    assert written[0].info["opset"] >= 17 and written[0].info["dynamic_batch"]
    assert written[0].run(torch.randn(3, *SHAPE)).shape == (3, 5)  # another batch size than exported with
