"""No blind candidates: every block x norm x activation, at the narrowest widths, gives logits at initialization
that depend on the input, and can fit a small batch. A network whose last norm sets each channel's spatial mean
(group norm with one channel per group, instance norm after an MBConv's linear projection) hands the
global-average-pooling head a constant: it stays at chance however long it trains."""

import itertools

import pytest
import torch

from nasprune import ArchSpec, SpecError, StageSpec, build_model
from nasprune.nn import ACTIVATIONS, BLOCKS, NORMS
from nasprune.nn.layers import group_count
from nasprune.nn.network import is_blind

# the narrowest widths a search can reach (the default's smallest choice is 8), and the shape found blind on
# held-out digits: mbconv[3,2]x[64,8]
WIDTHS = [(8, 8), (64, 8), (4, 2)]


def spec(block, norm, act, widths, repeats=(2, 2)):
    return ArchSpec(in_channels=3, num_classes=4, block=block, norm=norm, act=act, stem_channels=8,
                    stages=tuple(StageSpec(r, w, 1 if i == 0 else 2) for i, (r, w) in enumerate(zip(repeats, widths, strict=True))),
                    expansion={"mbconv": 2.0, "bottleneck": 4.0}.get(block, 1.0))


@pytest.mark.parametrize("block, norm, act", list(itertools.product(BLOCKS.names(), NORMS.names(), ACTIVATIONS.names())))
def test_logits_at_initialization_vary_across_inputs(block, norm, act):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 1, 1, generator=g) + 0.5 * torch.randn(16, 3, 16, 16, generator=g)  # images differ in colour
    for widths in WIDTHS:
        arch = spec(block, norm, act, widths)
        if is_blind(block, norm):
            with pytest.raises(SpecError, match="the same for every input"):
                build_model(arch)
            continue
        torch.manual_seed(0)
        model = build_model(arch).eval()
        with torch.no_grad():
            logits = model(x)  # (16, 4)
        # a blind network's logits agree to ~1e-8; the least varied sighted one measured 1.3e-3
        assert logits.std(0).max() > 1e-4, (widths, logits.std(0))


@pytest.mark.parametrize("block, norm", list(itertools.product(BLOCKS.names(), NORMS.names())))
def test_each_network_fits_a_small_batch(block, norm):
    if is_blind(block, norm):
        pytest.skip("refused: its pooled features are constant")
    acts = ACTIVATIONS.names()
    act = acts[(BLOCKS.names().index(block) * len(NORMS.names()) + NORMS.names().index(norm)) % len(acts)]
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 3, 12, 12, generator=g), torch.arange(16) % 4
    torch.manual_seed(0)
    model = build_model(spec(block, norm, act, (8, 8), repeats=(1, 1)))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    with torch.no_grad():  # in training mode, as it was fitted (batch norm on the batch's statistics)
        fit = (model(x).argmax(1) == y).float().mean().item()
    assert fit >= 0.9, (act, loss.item())


@pytest.mark.parametrize("channels, groups", [(1, 1), (2, 1), (4, 2), (8, 4), (12, 4), (16, 8), (24, 8), (6, 2), (7, 1)])
def test_group_norm_never_holds_one_channel_per_group(channels, groups):
    assert group_count(channels) == groups
    assert channels // group_count(channels) >= 2 or channels == 1
