"""Every block x norm x activation the registries offer builds, runs forward and backward, and its spec
round-trips through JSON."""

import itertools

import pytest
import torch

from nasprune import ArchSpec, SpecError, StageSpec, TrialSpec, build_model, weighted_depth
from nasprune.nn import ACTIVATIONS, BLOCKS, NORMS, LayerNorm2d
from nasprune.nn.network import is_blind

COMBOS = list(itertools.product(BLOCKS.names(), NORMS.names(), ACTIVATIONS.names()))


def small(block, norm, act, **kw):
    return ArchSpec(in_channels=3, num_classes=5, stages=(StageSpec(2, 8, 1), StageSpec(1, 16, 2)), block=block,
                    norm=norm, act=act, stem_channels=8, **kw)


@pytest.mark.parametrize("block, norm, act", COMBOS)
def test_every_combination_builds_trains_and_round_trips(block, norm, act):
    spec = small(block, norm, act, se_ratio=0.25 if act == "relu" else 0.0)
    if is_blind(block, norm):
        with pytest.raises(SpecError, match=f"ends in a linear projection, and {norm} norm"):
            build_model(spec)
        return
    model = build_model(spec)
    x = torch.randn(4, 3, 8, 8)
    out = model(x)
    assert out.shape == (4, 5)
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    assert TrialSpec.from_json(TrialSpec(spec).to_json()).arch == spec


@pytest.mark.parametrize("block", BLOCKS.names())
@pytest.mark.parametrize("downsample", ["conv", "maxpool", "avgpool"])
@pytest.mark.parametrize("stem", ["cifar", "mobilenet", "imagenet"])
def test_downsampling_and_stems_reach_the_expected_resolution(block, downsample, stem):
    model = build_model(small(block, "batch", "relu", downsample=downsample, stem=stem))
    features = model.stages(model.stem(torch.randn(2, 3, 32, 32)))
    side = 32 // {"cifar": 1, "mobilenet": 2, "imagenet": 4}[stem] // 2  # the stem, then stage 2 halves
    assert features.shape[2:] == (side, side)


def test_no_norm_means_conv_bias_and_norm_means_none():
    with_norm = build_model(small("plain", "batch", "relu"))
    without = build_model(small("plain", "none", "relu"))
    assert with_norm.stem[0].conv.bias is None
    assert without.stem[0].conv.bias is not None


def test_layer_norm_normalizes_each_pixel_over_channels():
    ln = LayerNorm2d(6)
    y = ln(torch.randn(2, 6, 4, 4) * 5 + 3)
    assert torch.allclose(y.mean(1), torch.zeros(2, 4, 4), atol=1e-5)


def test_residual_and_mbconv_shortcuts():
    basic = build_model(small("basic", "batch", "relu"))
    assert isinstance(basic.stages[0].blocks[1].shortcut, torch.nn.Identity)
    assert basic.stages[1].blocks[0].shortcut.conv.stride == (2, 2)
    mb = build_model(small("mbconv", "batch", "relu", expansion=4.0))
    assert mb.stages[0].blocks[1].has_skip and not mb.stages[1].blocks[0].has_skip


def test_pad_shortcut_cannot_shrink_channels():
    spec = ArchSpec(3, 10, (StageSpec(1, 32, 1), StageSpec(1, 16, 2)), stem_channels=32, shortcut="pad")
    with pytest.raises(SpecError, match="shortcut 'pad' cannot map 32 channels to fewer"):
        build_model(spec)


@pytest.mark.parametrize("field, kind, value, valid", [
    ("block", "block", "dense", "plain, basic"), ("norm", "norm", "batchnorm", "batch"),
    ("act", "activation", "swish", "relu"), ("stem", "stem", "vit", "cifar")])
def test_unknown_names_list_the_valid_ones(field, kind, value, valid):
    with pytest.raises(SpecError, match=f"unknown {kind} {value!r}; valid: {valid}"):
        build_model(small("plain", "batch", "relu").replace(**{field: value}))


def test_depth_counts_weighted_layers_on_the_main_path():
    assert weighted_depth(build_model(small("plain", "batch", "relu"))) == 1 + 3 + 1
    assert weighted_depth(build_model(small("basic", "batch", "relu", head_hidden=32))) == 1 + 6 + 2
    assert weighted_depth(build_model(small("bottleneck", "batch", "relu", expansion=4.0))) == 1 + 9 + 1


def test_building_is_a_pure_function_of_the_spec():
    spec = small("basic", "group", "gelu")
    torch.manual_seed(3)
    a = build_model(spec)
    torch.manual_seed(3)
    b = build_model(spec)
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(a(x), b(x))
