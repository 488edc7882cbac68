"""torch-pruning's dependency graph for nasprune's networks.

DepGraph (Fang et al. 2023) finds which channels are coupled (a residual add, a depthwise conv, a
squeeze-excitation gate) and removes them together. nasprune's one layer it does not know is the
parameter-free pad shortcut (He et al. option A): traced as ``F.pad`` it would be taken for an element-wise
op and its input and output channels confused. :class:`PadShortcutPruner` tells torch-pruning how the
shortcut's channel selection shrinks instead.

A pruned network is saved as its spec plus torch-pruning's pruning history (layer names and channel
indices, plain JSON) plus plain weights; :func:`apply_history` replays the history on a network freshly built
from the spec, so nothing is ever unpickled.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn

with warnings.catch_warnings():  # torch-pruning imports modules that warn under recent torch
    warnings.simplefilter("ignore")
    import torch_pruning as tp

from .layers import PadShortcut

__all__ = ["PadShortcutPruner", "CUSTOM_PRUNERS", "dependency_graph", "apply_history", "channel_counts", "tp"]


class PadShortcutPruner(tp.pruner.function.BasePruningFunc):
    """Input and output channels of a :class:`PadShortcut` are independent (like a 1x1 conv's): removing
    output channels drops entries of its selection; removing input channels renumbers the entries that
    pointed at later channels and turns the ones that pointed at removed channels into zeros."""

    TARGET_MODULES = PadShortcut

    def prune_out_channels(self, layer: PadShortcut, idxs: Sequence[int]) -> PadShortcut:
        drop = set(idxs)
        keep = torch.tensor([i for i in range(layer.out_channels) if i not in drop], dtype=torch.long)
        layer.source = layer.source[keep.to(layer.source.device)]
        return layer

    def prune_in_channels(self, layer: PadShortcut, idxs: Sequence[int]) -> PadShortcut:
        drop = set(idxs)
        remap = torch.full((layer.in_channels,), -1, dtype=torch.long)
        kept = [c for c in range(layer.in_channels) if c not in drop]
        remap[kept] = torch.arange(len(kept))
        source = layer.source.cpu()
        new = torch.where(source >= 0, remap[source.clamp_min(0)], source)
        layer.source, layer.in_channels = new.to(layer.source.device), len(kept)
        return layer

    def get_out_channels(self, layer: PadShortcut) -> int:
        return layer.out_channels

    def get_in_channels(self, layer: PadShortcut) -> int:
        return layer.in_channels


#: nasprune layers torch-pruning needs to be told about
CUSTOM_PRUNERS = {PadShortcut: PadShortcutPruner()}


def dependency_graph(model: nn.Module, example: torch.Tensor) -> tp.DependencyGraph:
    """DepGraph of ``model`` traced with ``example`` (needs autograd on; run outside ``torch.no_grad``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tp.DependencyGraph().build_dependency(model, example, customized_pruners=CUSTOM_PRUNERS)


def apply_history(model: nn.Module, history: list, input_shape: Sequence[int]) -> nn.Module:
    """Replay a pruning history (``DependencyGraph.pruning_history()``) on a network built from the spec
    of the model it was recorded on; returns the model, pruned in place to the recorded shapes."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.enable_grad():
        graph = dependency_graph(model, torch.zeros(1, *input_shape, device=device))
        graph.load_pruning_history([list(step) for step in history])
    model.train(was_training)
    return model


def channel_counts(model: nn.Module) -> dict[str, int]:
    """Output channels (or features) of every conv and linear layer, by module name."""
    counts = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            counts[name] = m.out_channels
        elif isinstance(m, nn.Linear):
            counts[name] = m.out_features
    return counts
