import pytest
from torch import nn

from nasprune import ArchSpec, StageSpec, build_model, count_macs, count_params, fixed_spec, load_space, measure


def test_macs_of_a_hand_counted_network():
    # no norm, so only convs and the classifier do multiply-adds:
    # stem 1->4 3x3 at 8x8: 4*1*9*64 = 2304; block 4->8 3x3 at 8x8: 8*4*9*64 = 18432;
    # block 8->8 3x3 stride 2 -> 4x4: 8*8*9*16 = 9216; linear 8->10: 80. Total 30032.
    spec = ArchSpec(1, 10, (StageSpec(1, 8, 1), StageSpec(1, 8, 2)), block="plain", norm="none", stem_channels=4)
    assert count_macs(build_model(spec), (1, 8, 8)) == 2304 + 18432 + 9216 + 80


def test_macs_of_resnet18_match_torchvision():
    # torchvision's table: 1.81 GFLOPS (multiply-adds, batch norm not counted); fvcore adds batch norm
    model = build_model(fixed_spec(load_space("resnet18")).arch)
    assert count_macs(model, (3, 224, 224)) / 1e9 == pytest.approx(1.819, abs=0.002)


def test_measure_leaves_the_model_as_it_was():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    model.train()
    cost = measure(model, (3, 8, 8))
    assert model.training
    assert cost.params == count_params(model) == 3 * 4 * 9 + 4 + 8
    assert cost.latency_ms > 0 and cost.mflops > 0 and cost.device == "cpu"
    assert measure(model, (3, 8, 8), latency=False).latency_ms is None


def test_macs_scale_with_resolution():
    spec = fixed_spec(load_space("resnet20"))
    model = build_model(spec.arch)
    assert count_macs(model, (3, 64, 64)) == pytest.approx(4 * count_macs(model, (3, 32, 32)), rel=0.01)
