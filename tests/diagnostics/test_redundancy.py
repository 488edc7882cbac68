"""Linear CKA and the redundancy probe."""

import pytest
import torch

from nasprune import ArchSpec, StageSpec, build_model
from nasprune.diagnostics import linear_cka, probe_redundancy
from nasprune.diagnostics.redundancy import NEAR_ZERO, Redundancy, gram


def cka_from_features(x: torch.Tensor, y: torch.Tensor) -> float:
    """Kornblith et al. 2019, eq. (5): ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on column-centered features."""
    x = (x - x.mean(0)).double()
    y = (y - y.mean(0)).double()
    return float((y.T @ x).square().sum() / ((x.T @ x).norm() * (y.T @ y).norm()))


def test_linear_cka_is_the_standard_definition():
    torch.manual_seed(0)
    x, y = torch.randn(40, 12), torch.randn(40, 7)
    y = y + x[:, :7]  # related, not identical
    assert linear_cka(gram(x), gram(y)) == pytest.approx(cka_from_features(x, y), rel=1e-9)
    assert linear_cka(gram(x), gram(y)) == pytest.approx(linear_cka(gram(y), gram(x)))  # symmetric


def test_linear_cka_ignores_rotation_scale_and_shift_but_not_new_content():
    torch.manual_seed(0)
    x = torch.randn(64, 20)
    q, _ = torch.linalg.qr(torch.randn(20, 20))
    assert linear_cka(gram(x), gram(3 * x @ q + 5)) == pytest.approx(1.0, abs=1e-9)
    assert linear_cka(gram(x), gram(torch.randn(64, 20))) < 0.6
    assert linear_cka(gram(torch.ones(8, 3)), gram(torch.randn(8, 3))) != linear_cka(gram(x), gram(x))  # NaN


def identity_at(arch: ArchSpec, stage: int, block: int):
    """A network whose given block passes its input through: the residual branch's last norm is zeroed, so
    the block computes relu(0 + x) = x for the non-negative x a previous ReLU produced."""
    torch.manual_seed(0)
    model = build_model(arch).eval()
    with torch.no_grad():
        last = model.stages[stage].blocks[block].conv2.norm
        last.weight.zero_()
        last.bias.zero_()
    return model


def test_an_identity_block_is_redundant_and_its_branch_channels_near_zero():
    arch = ArchSpec(3, 10, (StageSpec(3, 16, 1), StageSpec(2, 32, 2)), shortcut="pad")
    model = identity_at(arch, 0, 1)
    probe = probe_redundancy(model, torch.randn(32, 3, 16, 16))
    by_name = {b.name: b for b in probe.blocks}
    block = by_name["stages.0.blocks.1"]
    assert block.cka == pytest.approx(1.0, abs=1e-6) and block.agreement == 1.0 and block.redundant
    assert block.identity and block.channels == 32 and block.near_zero >= 16  # conv2's 16 channels output 0
    assert by_name["stages.1.blocks.0"].agreement is None and not by_name["stages.1.blocks.0"].identity  # stride 2
    assert any(r.stage == 1 and r.first <= 2 <= r.last and r.identity for r in probe.runs)
    assert sum(b.mflops for b in probe.blocks) < probe.mflops  # the stem and head count in the total only
    assert Redundancy.from_dict(probe.to_dict()) == probe
    assert 0 < NEAR_ZERO < 0.1


def test_plain_blocks_are_bypassed_but_never_identity():
    model = build_model(ArchSpec(1, 10, (StageSpec(3, 8, 1),), block="plain", stem_channels=8))
    probe = probe_redundancy(model, torch.randn(16, 1, 8, 8))
    assert all(b.agreement is not None and not b.identity for b in probe.blocks)
    assert model.training  # the probe put it back in the mode it found it in
