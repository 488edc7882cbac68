"""Presets match their published models."""

import pytest
import torch

from nasprune import build_model, count_macs, count_params, fixed_spec, load_space, weighted_depth


@pytest.mark.parametrize("name, params, depth, mflops", [
    ("resnet20", 269_722, 20, 40.9),  # He et al. 2016, Table 6: 0.27M; ~41M FLOPs (multiply-adds)
    ("resnet56", 853_018, 56, 126.6),  # 0.85M
    ("plain20", 269_722, 20, 40.9),  # ResNet-20's convs without its (parameter-free) shortcuts
    ("plain56", 853_018, 56, 126.6),
    ("resnet18", 11_689_512, 18, 1819.0),  # torchvision.models.resnet18(): 11,689,512; "1.81 GFLOPS"
    ("resnet50", 25_557_032, 50, 4111.5),  # torchvision.models.resnet50(): 25,557,032; "4.09 GFLOPS" (+BN)
])
def test_preset_matches_the_published_model(name, params, depth, mflops):
    space = load_space(name)
    model = build_model(fixed_spec(space).arch)
    assert count_params(model) == params
    assert weighted_depth(model) == depth
    if name.startswith("resnet5") or name == "resnet18":
        return  # MACs of the ImageNet models at 224x224 are checked in test_measure (one is enough here)
    assert count_macs(model, space.input_shape) / 1e6 == pytest.approx(mflops, abs=0.1)


def test_resnet20_runs_on_cifar_sized_input():
    model = build_model(fixed_spec(load_space("resnet20")).arch)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
