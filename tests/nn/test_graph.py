"""DepGraph handles every structure nasprune builds: removing channels that are exactly zero (their
producers' weights and norm parameters set to zero) must leave the network's outputs unchanged. With batch
norm (per-channel statistics) this holds exactly, so any mis-coupled channel shows up as a difference."""

import copy

import pytest
import torch
from torch import nn

from nasprune import ArchSpec, StageSpec, build_model
from nasprune.nn.graph import apply_history, dependency_graph, tp
from nasprune.nn.layers import PadShortcut


def _silence(group) -> None:
    """Zero what produces the group's channels, so they carry zeros everywhere."""
    for dep, idxs in group:
        layer, handler = dep.target.module, getattr(dep.handler, "__name__", "")
        if "out_channels" not in handler:
            continue
        with torch.no_grad():
            if isinstance(layer, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
                layer.weight[idxs] = 0
                if layer.bias is not None:
                    layer.bias[idxs] = 0
            elif isinstance(layer, PadShortcut):
                layer.source[idxs] = -1


def mismatched_groups(arch: ArchSpec) -> list[str]:
    torch.manual_seed(0)
    model = build_model(arch).eval()
    for m in model.modules():  # statistics that are not the identity
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
    x = torch.randn(2, arch.in_channels, 16, 16)
    bad = []
    roots = [name for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and name != "head.fc"]
    for name in roots:
        copy_ = copy.deepcopy(model)
        graph = dependency_graph(copy_, x)
        root = dict(copy_.named_modules())[name]
        n = root.out_channels if isinstance(root, nn.Conv2d) else root.out_features
        if isinstance(root, nn.Conv2d) and root.groups > 1:
            continue  # a depthwise conv is pruned through the group of the conv that feeds it
        fn = tp.prune_conv_out_channels if isinstance(root, nn.Conv2d) else tp.prune_linear_out_channels
        group = graph.get_pruning_group(root, fn, list(range(0, n, 2)))
        _silence(group)
        reference = copy_(x)
        group.prune()
        if (copy_(x) - reference).abs().max() > 1e-4:
            bad.append(name)
    return bad


ARCHS = [(block, extra) for block in ("plain", "basic", "bottleneck", "mbconv")
         for extra in ({}, {"se_ratio": 0.25}, {"downsample": "maxpool"}, {"head_hidden": 16}, {"stem": "imagenet"},
                       {"shortcut": "pad"}) if not (extra.get("shortcut") == "pad" and block in ("plain", "mbconv"))]


@pytest.mark.parametrize("block, extra", ARCHS)
def test_pruning_zero_channels_changes_nothing(block, extra):
    arch = ArchSpec(3, 5, (StageSpec(2, 8, 1), StageSpec(2, 16, 2)), block=block, stem_channels=8,
                    expansion={"bottleneck": 4.0, "mbconv": 2.0}.get(block, 1.0), **extra)
    assert mismatched_groups(arch) == []


def test_pad_shortcut_as_plain_pad_would_be_mispruned():
    # the reason for PadShortcutPruner: without it torch-pruning takes the shortcut for an element-wise op
    arch = ArchSpec(3, 5, (StageSpec(1, 8, 1), StageSpec(1, 16, 2)), stem_channels=8, shortcut="pad")
    model = build_model(arch).eval()
    graph = tp.DependencyGraph().build_dependency(model, torch.zeros(1, 3, 16, 16))
    stem_group = graph.get_pruning_group(model.stem[0].conv, tp.prune_conv_out_channels, [0])
    assert not any(isinstance(dep.target.module, PadShortcut) for dep, _ in stem_group)
    ours = dependency_graph(model, torch.zeros(1, 3, 16, 16))
    stem_group = ours.get_pruning_group(model.stem[0].conv, tp.prune_conv_out_channels, [0])
    assert any(isinstance(dep.target.module, PadShortcut) for dep, _ in stem_group)


def test_history_replay_rebuilds_the_pruned_shapes():
    arch = ArchSpec(3, 5, (StageSpec(2, 16, 1), StageSpec(2, 32, 2)), shortcut="pad", stem_channels=16, se_ratio=0.25)
    torch.manual_seed(0)
    model = build_model(arch).eval()
    x = torch.zeros(1, 3, 16, 16)
    pruner = tp.pruner.MetaPruner(model, x, tp.importance.GroupMagnitudeImportance(), pruning_ratio=0.4,
                                  ignored_layers=[model.head.fc],
                                  customized_pruners={PadShortcut: dependency_graph.__globals__["PadShortcutPruner"]()})
    pruner.step()
    rebuilt = apply_history(build_model(arch).eval(), pruner.DG.pruning_history(), (3, 16, 16))
    rebuilt.load_state_dict(model.state_dict())
    probe = torch.randn(2, 3, 16, 16)
    assert torch.equal(rebuilt(probe), model(probe))
    assert rebuilt.stages[1].blocks[0].shortcut.source.tolist() == model.stages[1].blocks[0].shortcut.source.tolist()
