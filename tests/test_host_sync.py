"""No host synchronization inside the training step, for every block x norm x activation x optimizer, in fp32 and
under bf16 autocast: a captured CUDA graph cannot hold one (capture fails), and an eager step stalls on each.

The detector (tests/cuda_fakes.py) sees the ATen operations the step dispatches on the CPU; the CUDA build runs the
same Python and the same operators (the optimizers' CPU kernels differ: AdamW is also ``capturable`` there)."""

import itertools

import pytest
import torch
from cuda_fakes import HostSyncDetector, HostSyncError
from torch import nn

from nasprune import ArchSpec, StageSpec, TrainSpec, build_model, resolve_runtime
from nasprune.data import BatchAugment, Normalizer
from nasprune.nn import ACTIVATIONS, BLOCKS, NORMS
from nasprune.nn.network import is_blind
from nasprune.spec import OPTIMIZERS
from nasprune.steps import EagerStep
from nasprune.train import make_optimizer

PRECISIONS = ("fp32", "bf16")


def _checked_steps(arch: ArchSpec, optimizer: str, grad_clip: float = 0.0) -> None:
    """One step in fp32 and one under bf16 autocast on 3x8x8 inputs, after the optimizer made its state (a
    captured step is never the first: the capture follows warm-up steps)."""
    torch.manual_seed(0)
    model = build_model(arch)
    opt, _ = make_optimizer(model, TrainSpec(optimizer=optimizer, lr=0.01), torch.device("cpu"))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()  # momentum buffers, Adam's moments and step count, as after the warm-up steps
    x, y = torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,))
    for precision in PRECISIONS:
        step = EagerStep(model, opt, nn.CrossEntropyLoss(), resolve_runtime("cpu", precision), grad_clip=grad_clip)
        with HostSyncDetector():
            step(x, y)


@pytest.mark.parametrize("norm", list(NORMS))
@pytest.mark.parametrize("block", list(BLOCKS))
def test_a_training_step_never_waits_for_the_device(block, norm):
    if is_blind(block, norm):
        pytest.skip("refused as a candidate: its pooled features are constant (nasprune.nn.network)")
    # every activation x optimizer x precision in one test per block and norm: 720 steps in 20 tests (a test
    # each would spend more time in pytest than in the steps)
    flagged = []
    for act, optimizer in itertools.product(ACTIVATIONS, OPTIMIZERS):
        arch = ArchSpec(3, 10, (StageSpec(1, 8, 1), StageSpec(1, 8, 2)), block=block, norm=norm, act=act,
                        stem_channels=8)
        try:
            _checked_steps(arch, optimizer)
        except HostSyncError as exc:
            flagged.append(f"{act}/{optimizer}: {exc}")
    assert not flagged, "\n".join(flagged)


@pytest.mark.parametrize("features", [
    dict(se_ratio=0.25), dict(shortcut="pad"), dict(dropout=0.2, head_hidden=8), dict(downsample="maxpool"),
    dict(downsample="avgpool"), dict(stem="mobilenet"), dict(stem="imagenet"), dict(kernel_size=5),
], ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
def test_the_optional_parts_and_gradient_clipping_never_wait_for_the_device(features):
    arch = ArchSpec(3, 10, (StageSpec(1, 8, 1), StageSpec(1, 16, 2)), stem_channels=8, **features)
    for optimizer in OPTIMIZERS:
        _checked_steps(arch, optimizer, grad_clip=1.0)


def test_augmentation_and_normalization_never_wait_for_the_device(digits):
    normalize = Normalizer(digits)
    augment = BatchAugment(digits, normalize, torch.Generator().manual_seed(0))
    with HostSyncDetector():
        augment(digits.train.x[:16])
        normalize(digits.val.x[:16])


@pytest.mark.parametrize("syncing", [
    lambda t: t.sum().item(), lambda t: t[t > 0], lambda t: t.nonzero(), lambda t: torch.unique(t),
    lambda t: t.masked_select(t > 0), lambda t: bool(t.sum() > 0), lambda t: float(t.mean()),
    lambda t: t.tolist(), lambda t: torch.equal(t, t), lambda t: t.repeat_interleave(t.long().abs()),
    lambda t: torch.where(t > 0), lambda t: t.index_put_((t > 0,), torch.zeros(())),
], ids=["item", "mask index", "nonzero", "unique", "masked_select", "bool", "float", "tolist", "equal",
        "repeat_interleave", "where", "masked index_put"])
def test_the_detector_catches_every_kind_of_host_sync(syncing):
    with pytest.raises(HostSyncError), HostSyncDetector():
        syncing(torch.randn(8))
