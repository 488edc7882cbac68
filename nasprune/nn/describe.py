"""A built network in one line, with the widths it has: after channel pruning they are not its spec's."""

from __future__ import annotations

from torch import nn

from ..spec import describe
from .layers import ConvNormAct
from .network import Network

__all__ = ["block_widths", "describe_model"]


def _out_channels(block: nn.Module) -> int:
    """A block's output channels as built: those of the last conv of its main path (its shortcut, when it has
    one, ends in the same channels; squeeze-excitation keeps them)."""
    convs = [m for name, m in block.named_children() if name != "shortcut" and isinstance(m, ConvNormAct)]
    return convs[-1].conv.out_channels


def block_widths(model: Network) -> tuple[tuple[int, ...], ...]:
    """The output channels of every block, per stage, as built: channel pruning leaves them below the spec's
    (and, in a network without shortcuts, different from block to block)."""
    return tuple(tuple(_out_channels(block) for block in stage.blocks) for stage in model.stages)


def describe_model(model: Network) -> str:
    """:func:`nasprune.describe` of a built network with its real widths: a pruned network's line shows the
    channels it has, not those of the spec it was pruned from (``basic[1,1,1]x[45,45,11]``, not ``[64,64,16]``)."""
    return describe(model.arch, block_widths(model), model.stem[0].conv.out_channels)
