"""A built network described with the widths it has: every block type reads its output channels, and a network
whose channels were removed shows them, per stage or as a range where its blocks differ."""

import pytest
import torch
import torch_pruning as tp

from nasprune import ArchSpec, StageSpec, build_model, describe, describe_model
from nasprune.nn import BLOCKS, block_widths


@pytest.mark.parametrize("block", BLOCKS.names())
def test_an_unpruned_network_reads_the_widths_of_its_spec(block):
    arch = ArchSpec(in_channels=1, num_classes=3, block=block, stem_channels=8, se_ratio=0.25,
                    stages=(StageSpec(2, 16, 1), StageSpec(1, 24, 2)))
    model = build_model(arch)
    assert block_widths(model) == ((16, 16), (24,))
    assert describe_model(model) == describe(arch)


def test_a_pruned_network_shows_its_real_widths_and_a_range_where_blocks_differ():
    arch = ArchSpec(in_channels=1, num_classes=3, block="plain", stem_channels=8,
                    stages=(StageSpec(3, 16, 1), StageSpec(1, 32, 2)))
    model = build_model(arch)
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, 1, 8, 8))
    for conv, drop in ((model.stages[0].blocks[1].conv.conv, 6), (model.stages[1].blocks[0].conv.conv, 10),
                       (model.stem[0].conv, 2)):
        graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=list(range(drop))).prune()
    assert block_widths(model) == ((16, 10, 16), (22,))
    assert describe_model(model).startswith("plain[3,1]x[10-16,22] cifar/6 ")
    assert describe(arch).startswith("plain[3,1]x[16,32] cifar/8 ")  # the spec it was pruned from


def test_describe_takes_the_widths_as_built():
    arch = ArchSpec(in_channels=3, num_classes=10, block="basic", stages=(StageSpec(1, 64, 1), StageSpec(2, 16, 2)))
    assert describe(arch, widths=((45,), (11, 11)), stem_channels=12).startswith("basic[1,2]x[45,11] cifar/12 k3")
