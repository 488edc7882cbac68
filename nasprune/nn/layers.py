"""Layer factories: a name becomes a layer, so blocks take ``act`` and ``norm`` by injection.

``get_act("gelu")`` returns a zero-argument factory, ``get_norm("group")`` a factory of the channel count.
Blocks never name a concrete layer class; swapping the norm of a whole network is one field of its spec.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SpecError
from ._registry import Registry

__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "ActFactory",
    "NormFactory",
    "get_act",
    "get_norm",
    "LayerNorm2d",
    "ConvNormAct",
    "SqueezeExcite",
    "PadShortcut",
    "make_shortcut",
    "GROUP_NORM_GROUPS",
    "CHANNELWISE_NORMS",
    "group_count",
    "SHORTCUTS",
]

ActFactory = Callable[[], nn.Module]
NormFactory = Callable[[int], nn.Module]

#: activation name -> zero-argument factory
ACTIVATIONS: Registry[ActFactory] = Registry("activation")
for _name, _factory in {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leaky_relu": lambda: nn.LeakyReLU(0.1),  # slope 0.1 as in YOLO/Darknet; torch's 0.01 is nearly ReLU
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "hardswish": nn.Hardswish,
    "mish": nn.Mish,
    "tanh": nn.Tanh,  # saturating: the classic way to make gradients vanish in deep plain networks
}.items():
    ACTIVATIONS.register(_name, _factory)

#: Group norm uses gcd(channels, 8) groups: 8 groups where the width allows (Wu & He 2018 found 8-32
#: groups equally good), fewer for widths not divisible by 8, so any channel count is valid.
GROUP_NORM_GROUPS = 8


def group_count(channels: int) -> int:
    """Groups of the group norm over ``channels``: gcd(channels, 8), halved while a group would hold a single
    channel. A group of one channel is instance norm: it sets that channel's spatial mean to its bias, and
    where it is the last layer before the global-average-pooling head (an MBConv's linear projection) the
    classifier sees a constant for every input (measured: an mbconv network ending in GroupNorm(8, 8) had
    logits identical across inputs at initialization and stayed at chance for 20 epochs)."""
    groups = math.gcd(channels, GROUP_NORM_GROUPS)
    while groups > 1 and channels // groups < 2:
        groups //= 2
    return groups


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of each pixel of an (N, C, H, W) tensor, as in ConvNeXt and timm."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # (N, H, W, C): normalize over C
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


#: norm name -> factory of the channel count
NORMS: Registry[NormFactory] = Registry("norm")
NORMS.register("batch", nn.BatchNorm2d)
NORMS.register("group", lambda c: nn.GroupNorm(group_count(c), c))
NORMS.register("layer", LayerNorm2d)
# affine=True so instance norm has the same learnable scale and shift as the others (and can be pruned)
NORMS.register("instance", lambda c: nn.InstanceNorm2d(c, affine=True))
NORMS.register("none", lambda c: nn.Identity())
#: norms whose statistics are each channel's own, over space: they set every channel's spatial mean to its bias,
#: so none may be the last layer before the global-average-pooling head (see nasprune.nn.network)
CHANNELWISE_NORMS = ("instance",)


def get_act(name: str) -> ActFactory:
    """Factory of the activation called ``name`` (see :data:`ACTIVATIONS`)."""
    return ACTIVATIONS.get(name)


def get_norm(name: str) -> NormFactory:
    """Factory of the norm called ``name``, taking the channel count (see :data:`NORMS`)."""
    return NORMS.get(name)


class ConvNormAct(nn.Sequential):
    """conv -> norm -> act. The conv has a bias only when there is no norm to absorb it."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int, norm: NormFactory,
                 act: ActFactory | None, groups: int = 1) -> None:
        norm_layer = norm(out_ch)
        conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding=kernel_size // 2, groups=groups,
                         bias=isinstance(norm_layer, nn.Identity))
        super().__init__()
        self.conv = conv
        self.norm = norm_layer
        self.act = act() if act is not None else nn.Identity()


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): channel gates from globally pooled features."""

    def __init__(self, channels: int, ratio: float, act: ActFactory) -> None:
        super().__init__()
        reduced = max(1, round(channels * ratio))
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = act()
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)  # (N, C, 1, 1)
        return x * torch.sigmoid(self.expand(self.act(self.reduce(s))))


class PadShortcut(nn.Module):
    """Parameter-free shortcut (He et al. 2016, option A): subsample by the stride, zero-pad the channels.

    Held as a channel selection: output channel ``o`` copies input channel ``source[o]``, or is zero where
    ``source[o]`` is -1. Option A is the contiguous case (zeros at both ends); channel pruning removes
    entries and renumbers them (see :mod:`nasprune.prune.graph`), which plain ``F.pad`` could not express.
    The selection is rebuilt from the spec (and a pruning history), so it is not saved with the weights.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        if out_ch < in_ch:
            raise SpecError(f"shortcut 'pad' cannot map {in_ch} channels to fewer ({out_ch}); use shortcut: conv")
        self.stride, self.in_channels = stride, in_ch
        front = (out_ch - in_ch) // 2
        source = torch.full((out_ch,), -1, dtype=torch.long)
        source[front:front + in_ch] = torch.arange(in_ch)
        self.register_buffer("source", source, persistent=False)

    @property
    def out_channels(self) -> int:
        return len(self.source)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, in, H, W) -> (N, out, H / stride, W / stride)
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        keep = (self.source >= 0).to(x.dtype).view(1, -1, 1, 1)
        return x.index_select(1, self.source.clamp_min(0)) * keep


#: shortcut kinds for residual blocks whose input and output shapes differ
SHORTCUTS = ("conv", "pad")


def make_shortcut(in_ch: int, out_ch: int, stride: int, kind: str, norm: NormFactory) -> nn.Module:
    """The residual branch's shortcut: identity when shapes match, else ``conv`` (1x1 conv + norm,
    option B) or ``pad`` (option A)."""
    if in_ch == out_ch and stride == 1:
        return nn.Identity()
    if kind == "conv":
        return ConvNormAct(in_ch, out_ch, 1, stride, norm, act=None)
    if kind == "pad":
        return PadShortcut(in_ch, out_ch, stride)
    raise SpecError(f"unknown shortcut {kind!r}; valid: {', '.join(SHORTCUTS)}")
