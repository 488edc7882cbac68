"""The repeated units. Every block has one contract::

    Block(in_ch, out_ch, stride, act, norm, *, kernel_size, se_ratio, expansion, shortcut)

and registers in :data:`BLOCKS` with what the search space needs to know about it (whether it has a
residual shortcut, whether and how it uses ``expansion``). Each block exposes ``weighted_layers``: the
number of convs on its main path, which is how ResNet-20 counts to 20; a block with an identity-capable
shortcut names the last layer of its residual branch (a ConvNormAct) in ``branch_end`` (None without one):
:func:`nasprune.nn.build_model` starts a norm-free branch at zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ._registry import Registry
from .layers import ActFactory, ConvNormAct, NormFactory, SqueezeExcite, make_shortcut

__all__ = ["BLOCKS", "BlockInfo", "PlainBlock", "BasicBlock", "Bottleneck", "MBConv"]


def _se(channels: int, ratio: float, act: ActFactory) -> nn.Module:
    return SqueezeExcite(channels, ratio, act) if ratio > 0 else nn.Identity()


class PlainBlock(nn.Module):
    """conv -> norm -> act (-> SE): one layer of a VGG-like network, no shortcut."""

    weighted_layers = 1
    branch_end = None

    def __init__(self, in_ch: int, out_ch: int, stride: int, act: ActFactory, norm: NormFactory, *,
                 kernel_size: int = 3, se_ratio: float = 0.0, expansion: float = 1.0, shortcut: str = "conv") -> None:
        super().__init__()
        self.conv = ConvNormAct(in_ch, out_ch, kernel_size, stride, norm, act)
        self.se = _se(out_ch, se_ratio, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.conv(x))


class BasicBlock(nn.Module):
    """Two kxk convs with a residual shortcut (He et al. 2016, ResNet-18/34 and the CIFAR ResNets)."""

    weighted_layers = 2
    branch_end = "conv2"

    def __init__(self, in_ch: int, out_ch: int, stride: int, act: ActFactory, norm: NormFactory, *,
                 kernel_size: int = 3, se_ratio: float = 0.0, expansion: float = 1.0, shortcut: str = "conv") -> None:
        super().__init__()
        self.conv1 = ConvNormAct(in_ch, out_ch, kernel_size, stride, norm, act)
        self.conv2 = ConvNormAct(out_ch, out_ch, kernel_size, 1, norm, act=None)
        self.se = _se(out_ch, se_ratio, act)
        self.shortcut = make_shortcut(in_ch, out_ch, stride, shortcut, norm)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.se(self.conv2(self.conv1(x))) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce -> kxk -> 1x1 expand with a residual shortcut (ResNet-50). The stride sits on the kxk
    conv, as in torchvision ("ResNet v1.5"); the inner width is ``out_ch / expansion``."""

    weighted_layers = 3
    branch_end = "conv3"

    def __init__(self, in_ch: int, out_ch: int, stride: int, act: ActFactory, norm: NormFactory, *,
                 kernel_size: int = 3, se_ratio: float = 0.0, expansion: float = 4.0, shortcut: str = "conv") -> None:
        super().__init__()
        mid = max(1, round(out_ch / expansion))
        self.conv1 = ConvNormAct(in_ch, mid, 1, 1, norm, act)
        self.conv2 = ConvNormAct(mid, mid, kernel_size, stride, norm, act)
        self.conv3 = ConvNormAct(mid, out_ch, 1, 1, norm, act=None)
        self.se = _se(out_ch, se_ratio, act)
        self.shortcut = make_shortcut(in_ch, out_ch, stride, shortcut, norm)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.se(self.conv3(self.conv2(self.conv1(x)))) + self.shortcut(x))


class MBConv(nn.Module):
    """Inverted residual (MobileNetV2, Sandler et al. 2018): 1x1 expand to ``in_ch * expansion`` ->
    depthwise kxk -> (SE, as in MobileNetV3/EfficientNet) -> linear 1x1 project. The identity shortcut
    exists only where input and output shapes match, as in the paper."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, act: ActFactory, norm: NormFactory, *,
                 kernel_size: int = 3, se_ratio: float = 0.0, expansion: float = 6.0, shortcut: str = "conv") -> None:
        super().__init__()
        mid = max(1, round(in_ch * expansion))
        self.expand = ConvNormAct(in_ch, mid, 1, 1, norm, act) if mid != in_ch else nn.Identity()
        self.dw = ConvNormAct(mid, mid, kernel_size, stride, norm, act, groups=mid)
        self.se = _se(mid, se_ratio, act)
        self.project = ConvNormAct(mid, out_ch, 1, 1, norm, act=None)
        self.has_skip = stride == 1 and in_ch == out_ch
        self.weighted_layers = 2 + (mid != in_ch)
        self.branch_end = "project" if self.has_skip else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.dw(self.expand(x))))
        return out + x if self.has_skip else out


@dataclass(frozen=True)
class BlockInfo:
    """What the search space and the builder know about a block type."""

    cls: type[nn.Module]
    residual: bool  # has a shortcut whose kind (conv | pad) the spec chooses
    default_expansion: float | None  # None: the block does not use ``expansion``
    linear_end: bool = False  # its output is a norm with no activation after it (MBConv's linear projection)


#: block name -> BlockInfo
BLOCKS: Registry[BlockInfo] = Registry("block")
BLOCKS.register("plain", BlockInfo(PlainBlock, residual=False, default_expansion=None))
BLOCKS.register("basic", BlockInfo(BasicBlock, residual=True, default_expansion=None))
BLOCKS.register("bottleneck", BlockInfo(Bottleneck, residual=True, default_expansion=4.0))
BLOCKS.register("mbconv", BlockInfo(MBConv, residual=False, default_expansion=6.0, linear_end=True))
