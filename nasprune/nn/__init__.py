"""Layer, block and network builders: ArchSpec -> nn.Module."""

from .blocks import BLOCKS, BasicBlock, BlockInfo, Bottleneck, MBConv, PlainBlock
from .describe import block_widths, describe_model
from .layers import ACTIVATIONS, NORMS, SHORTCUTS, LayerNorm2d, get_act, get_norm
from .network import DOWNSAMPLES, STEM_REDUCTION, STEMS, Network, build_model, weighted_depth

__all__ = [
    "ACTIVATIONS", "NORMS", "BLOCKS", "SHORTCUTS", "STEMS", "STEM_REDUCTION", "DOWNSAMPLES",
    "BlockInfo", "PlainBlock", "BasicBlock", "Bottleneck", "MBConv", "LayerNorm2d",
    "Network", "build_model", "weighted_depth", "block_widths", "describe_model", "get_act", "get_norm",
]
