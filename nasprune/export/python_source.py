"""A saved network as one plain-PyTorch Python file: ``python model.py`` runs it with torch alone.

The file is written from the built (and possibly pruned) module, not from the spec alone: channel pruning leaves
every layer its own width, a pad shortcut its own channel selection and a group norm its original group count,
so each layer is written with the numbers it has. Module names match nasprune's (``stem.0.conv``,
``stages.1.blocks.0.conv2.norm``, ``head.fc``), so the saved state dict loads into the written network as is.
Only the classes the network uses are written. A module type without a writer is an :class:`ExportError`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from ..errors import ExportError
from ..nn import BasicBlock, Bottleneck, LayerNorm2d, MBConv, Network, PlainBlock
from ..nn.layers import ConvNormAct, PadShortcut, SqueezeExcite
from ..nn.network import Head, Stage

__all__ = ["SourceInfo", "python_source"]

_WIDTH = 116  # longest generated line before a call is split over several lines
_LEAD = 14  # room for what precedes an expression on its line ("self.stages = ", "shortcut=") and a comma


@dataclass(frozen=True)
class SourceInfo:
    """What the file's header and constants say besides the network itself."""

    title: str  # first line of the docstring: what this network is and where it came from
    description: str  # nasprune.describe(arch), with the MFLOPs and parameters
    input_shape: tuple[int, int, int]  # (C, H, W)
    weights: str  # file name of the state dict, beside the .py file
    mean: tuple[float, ...] | None = None  # per-channel normalization of the training images (None: not known)
    std: tuple[float, ...] | None = None
    classes: tuple[str, ...] | None = None  # class names, in the order of the logits (None: not known)
    name: str = "model.py"  # the file's own name, for its usage line
    made_by: str = "nasprune"  # "nasprune 0.1.0 (torch 2.13.0) on 2026-12-02"


# ---------------------------------------------------------------------------------------------------------
# the classes the file may need, written out as they will appear in it

_LAYER_NORM = '''
class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of each pixel of an (N, C, H, W) tensor (as in ConvNeXt)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # (N, H, W, C): normalize over C
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
'''

_CONV_NORM_ACT = '''
class ConvNormAct(nn.Sequential):
    """conv -> norm -> activation ({act_false}). "Same" padding: the stride alone sets the output size."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, groups: int = 1,
                 act: bool = True{group_arg}) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding=kernel_size // 2, groups=groups,
                              bias={bias})
        self.norm = norm(out_ch{group_call})
        self.act = activation() if act else nn.Identity()
'''

_SQUEEZE_EXCITE = '''
class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): channel gates from globally pooled features."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = activation()
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)  # (N, C, 1, 1)
        return x * torch.sigmoid(self.expand(self.act(self.reduce(s))))
'''

_PAD_SHORTCUT = '''
class PadShortcut(nn.Module):
    """Parameter-free shortcut (He et al. 2016, option A): subsample by the stride, then output channel o copies
    input channel source[o], or is zero where source[o] is -1."""

    def __init__(self, stride: int, source: list[int]) -> None:
        super().__init__()
        self.stride = stride
        self.register_buffer("source", torch.tensor(source, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        keep = (self.source >= 0).to(x.dtype).view(1, -1, 1, 1)
        return x.index_select(1, self.source.clamp_min(0)) * keep
'''

_BLOCKS = {
    PlainBlock: '''
class PlainBlock(nn.Module):
    """conv -> norm -> act (-> squeeze-excite), no shortcut."""

    def __init__(self, conv: nn.Module, se: nn.Module | None = None) -> None:
        super().__init__()
        self.conv = conv
        self.se = se or nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.conv(x))
''',
    BasicBlock: '''
class BasicBlock(nn.Module):
    """Two kxk convs with a residual shortcut (He et al. 2016)."""

    def __init__(self, conv1: nn.Module, conv2: nn.Module, se: nn.Module | None = None,
                 shortcut: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv1, conv2
        self.se = se or nn.Identity()
        self.shortcut = shortcut or nn.Identity()
        self.act = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.se(self.conv2(self.conv1(x))) + self.shortcut(x))
''',
    Bottleneck: '''
class Bottleneck(nn.Module):
    """1x1 reduce -> kxk -> 1x1 expand with a residual shortcut (He et al. 2016; stride on the kxk conv)."""

    def __init__(self, conv1: nn.Module, conv2: nn.Module, conv3: nn.Module, se: nn.Module | None = None,
                 shortcut: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3 = conv1, conv2, conv3
        self.se = se or nn.Identity()
        self.shortcut = shortcut or nn.Identity()
        self.act = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.se(self.conv3(self.conv2(self.conv1(x)))) + self.shortcut(x))
''',
    MBConv: '''
class MBConv(nn.Module):
    """Inverted residual (Sandler et al. 2018): 1x1 expand -> depthwise kxk -> (squeeze-excite) -> linear 1x1
    project, plus the input where the block keeps its shape (skip)."""

    def __init__(self, dw: nn.Module, project: nn.Module, expand: nn.Module | None = None,
                 se: nn.Module | None = None, skip: bool = False) -> None:  # called with keywords, in data-flow order
        super().__init__()
        self.expand = expand or nn.Identity()
        self.dw = dw
        self.se = se or nn.Identity()
        self.project = project
        self.skip = skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.dw(self.expand(x))))
        return out + x if self.skip else out
''',
}

_NETWORK = '''
class Stage(nn.Module):
    """An optional downsampling pool, then the blocks."""

    def __init__(self, *blocks: nn.Module, pool: nn.Module | None = None) -> None:
        super().__init__()
        self.pool = pool or nn.Identity()
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.pool(x))


class Head(nn.Module):
    """Global average pool -> (hidden linear -> activation) -> (dropout) -> linear classifier."""

    def __init__(self, fc: nn.Module, hidden: nn.Module | None = None, dropout: nn.Module | None = None) -> None:
        super().__init__()
        self.hidden = hidden or nn.Identity()
        self.dropout = dropout or nn.Identity()
        self.fc = fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x.mean((2, 3)), 1)  # (N, C)
        return self.fc(self.dropout(self.hidden(x)))


class Network(nn.Module):
    """{description}"""

    def __init__(self) -> None:
        super().__init__()
{body}

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, classes)
        return self.head(self.stages(self.stem(x)))
'''

_LOAD = '''
def load(weights: str | Path = Path(__file__).with_name(WEIGHTS)) -> Network:
    """The network with its trained weights (a plain state dict, loaded without unpickling code), in eval mode."""
    model = Network()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()
'''

_MAIN = '''
if __name__ == "__main__":
    model = load()
    generator = torch.Generator().manual_seed(0)
    x = {batch}
    with torch.inference_mode():
        logits = model(x)
    predicted = logits.argmax(1).tolist()
    print(f"{{Path(__file__).name}}: a batch of {{tuple(x.shape)}} -> logits {{tuple(logits.shape)}}; "
          f"predicted classes {{[CLASSES[i] for i in predicted] if CLASSES else predicted}}")
'''

_PREPROCESS = '''

def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, C, H, W) in 0..255 -> the normalized float input the network was trained on."""
    mean = torch.tensor(MEAN).view(1, -1, 1, 1)
    std = torch.tensor(STD).view(1, -1, 1, 1)
    return (images.float() / 255 - mean) / std
'''


# ---------------------------------------------------------------------------------------------------------
# modules -> Python expressions


def _call(name: str, args: Sequence[str], indent: int) -> str:
    """``name(a, b, c)`` on one line if it fits, else one argument per line, indented under ``indent``."""
    line = f"{name}({', '.join(args)})"
    if indent + len(line) + _LEAD <= _WIDTH or not args:
        return line
    inner = " " * (indent + 4)
    return f"{name}(\n" + "".join(f"{inner}{a},\n" for a in args) + " " * indent + ")"


class _Writer:
    """Walks a :class:`Network` and writes each module as the expression that builds it."""

    def __init__(self, model: Network) -> None:
        self.model = model
        self.act = self._network_act()
        self.norm = self._network_norm()
        self.used: set[type] = set()

    def _network_act(self) -> str:
        acts = {repr(m) for m in self.model.modules() if type(m).__module__.startswith("torch.nn.modules.activation")}
        if len(acts) != 1:
            raise ExportError(f"expected one activation throughout the network, found {sorted(acts) or 'none'}")
        (act,) = acts
        return act

    def _network_norm(self) -> type:
        kinds = {type(m.norm) for m in self.model.modules() if isinstance(m, ConvNormAct)}
        if len(kinds) != 1:
            raise ExportError(f"expected one norm throughout the network, found {sorted(k.__name__ for k in kinds)}")
        (kind,) = kinds
        return kind

    def expr(self, m: nn.Module, indent: int) -> str:
        """The expression that builds ``m`` (its submodules' widths written in)."""
        write = {ConvNormAct: self._conv_norm_act, SqueezeExcite: self._se, PadShortcut: self._pad,
                 PlainBlock: self._block, BasicBlock: self._block, Bottleneck: self._block, MBConv: self._mbconv,
                 Stage: self._stage, Head: self._head, nn.Sequential: self._sequential, nn.Linear: self._linear,
                 nn.MaxPool2d: self._pool, nn.AvgPool2d: self._pool, nn.Dropout: lambda d, _: f"nn.Dropout({d.p})",
                 nn.Identity: lambda *_: "nn.Identity()"}.get(type(m))
        if write is None:
            if repr(m) == self.act:
                return "activation()"
            raise ExportError(f"cannot write {type(m).__module__}.{type(m).__name__} as plain PyTorch "
                              f"(no writer for it)")
        return write(m, indent)

    def _conv_norm_act(self, m: ConvNormAct, indent: int) -> str:
        conv = m.conv
        k, stride = conv.kernel_size[0], conv.stride[0]
        same = conv.padding == (k // 2, k // 2) and conv.dilation == (1, 1) and conv.kernel_size == (k, k)
        if not same or (conv.bias is not None) != isinstance(m.norm, nn.Identity):
            raise ExportError(f"unexpected conv in a ConvNormAct: {conv!r}")
        args = [str(conv.in_channels), str(conv.out_channels), str(k)]
        args += [f"stride={stride}"] * (stride != 1) + [f"groups={conv.groups}"] * (conv.groups != 1)
        if isinstance(m.act, nn.Identity):
            args.append("act=False")
        elif repr(m.act) != self.act:
            raise ExportError(f"unexpected activation {m.act!r} (the network's is {self.act})")
        if isinstance(m.norm, nn.GroupNorm):
            args.append(f"norm_groups={m.norm.num_groups}")
        return _call("ConvNormAct", args, indent)

    def _se(self, m: SqueezeExcite, indent: int) -> str:
        self.used.add(SqueezeExcite)
        return f"SqueezeExcite({m.reduce.in_channels}, {m.reduce.out_channels})"

    def _pad(self, m: PadShortcut, indent: int) -> str:
        self.used.add(PadShortcut)
        return _call("PadShortcut", [str(m.stride), _selection(m.source.tolist())], indent)

    def _optional(self, m: nn.Module, names: Sequence[str], indent: int) -> list[str]:
        """``name=expr`` for each submodule that is not the default (an identity)."""
        return [f"{n}={self.expr(getattr(m, n), indent + 4)}" for n in names
                if not isinstance(getattr(m, n), nn.Identity)]

    def _block(self, m: nn.Module, indent: int) -> str:
        self.used.add(type(m))
        convs = {PlainBlock: ("conv",), BasicBlock: ("conv1", "conv2"), Bottleneck: ("conv1", "conv2", "conv3")}
        args = [f"{n}={self.expr(getattr(m, n), indent + 4)}" for n in convs[type(m)]]
        args += self._optional(m, ("se", "shortcut") if hasattr(m, "shortcut") else ("se",), indent)
        return _call(type(m).__name__, args, indent)

    def _mbconv(self, m: MBConv, indent: int) -> str:
        self.used.add(MBConv)
        args = self._optional(m, ("expand",), indent) + [f"dw={self.expr(m.dw, indent + 4)}"]
        args += self._optional(m, ("se",), indent) + [f"project={self.expr(m.project, indent + 4)}"]
        return _call("MBConv", args + ["skip=True"] * m.has_skip, indent)

    def _stage(self, m: Stage, indent: int) -> str:
        args = [self.expr(b, indent + 4) for b in m.blocks] + self._optional(m, ("pool",), indent)
        return _call("Stage", args, indent)

    def _head(self, m: Head, indent: int) -> str:
        return _call("Head", [f"fc={self.expr(m.fc, indent + 4)}"] + self._optional(m, ("hidden", "dropout"), indent),
                     indent)

    def _sequential(self, m: nn.Sequential, indent: int) -> str:
        return _call("nn.Sequential", [self.expr(c, indent + 4) for c in m], indent)

    def _linear(self, m: nn.Linear, indent: int) -> str:
        return f"nn.Linear({m.in_features}, {m.out_features}" + (", bias=False" if m.bias is None else "") + ")"

    def _pool(self, m: nn.Module, indent: int) -> str:
        args = [str(m.kernel_size), f"stride={m.stride}"] + [f"padding={m.padding}"] * (m.padding != 0)
        args += ["ceil_mode=True"] * m.ceil_mode
        if isinstance(m, nn.AvgPool2d) and not m.count_include_pad:
            args.append("count_include_pad=False")
        return f"nn.{type(m).__name__}({', '.join(args)})"

    def norm_source(self) -> str:
        """``def norm(...)``: the network's norm, as a function of the channel count (and the group count)."""
        kind = self.norm
        self._check_norm_defaults()
        if kind is nn.GroupNorm:
            return "def norm(channels: int, groups: int) -> nn.Module:\n    return nn.GroupNorm(groups, channels)\n"
        body = {nn.BatchNorm2d: "nn.BatchNorm2d(channels)", LayerNorm2d: "LayerNorm2d(channels, eps=1e-6)",
                nn.InstanceNorm2d: "nn.InstanceNorm2d(channels, affine=True)", nn.Identity: "nn.Identity()"}.get(kind)
        if body is None:
            raise ExportError(f"cannot write norm {kind.__name__} as plain PyTorch (no writer for it)")
        return f"def norm(channels: int) -> nn.Module:\n    return {body}\n"

    def _check_norm_defaults(self) -> None:
        """The norm function writes each norm's default settings: make sure every norm of the network has them."""
        want = {nn.BatchNorm2d: 1e-5, nn.GroupNorm: 1e-5, LayerNorm2d: 1e-6, nn.InstanceNorm2d: 1e-5}.get(self.norm)
        for name, m in self.model.named_modules():
            if isinstance(m, ConvNormAct) and want is not None and m.norm.eps != want:
                raise ExportError(f"{name}.norm has eps {m.norm.eps}, not the {want} the written file would use")

    def conv_norm_act_source(self) -> str:
        group = self.norm is nn.GroupNorm
        return _CONV_NORM_ACT.format(act_false="act=False: none", bias=self.norm is nn.Identity,
                                     group_arg=", *, norm_groups: int" if group else "",
                                     group_call=", norm_groups" if group else "")


def _selection(source: list[int]) -> str:
    """A channel selection as runs: ``[-1] * 8 + list(range(0, 16)) + [-1] * 8`` instead of 32 numbers."""
    parts, i = [], 0
    while i < len(source):
        j = i + 1
        if source[i] == -1:
            while j < len(source) and source[j] == -1:
                j += 1
            parts.append(f"[-1] * {j - i}" if j - i > 1 else "[-1]")
        else:
            while j < len(source) and source[j] == source[j - 1] + 1:
                j += 1
            parts.append(f"list(range({source[i]}, {source[j - 1] + 1}))" if j - i > 2 else
                         f"[{', '.join(map(str, source[i:j]))}]")
        i = j
    return " + ".join(parts) or "[]"


def _constants(info: SourceInfo) -> str:
    floats = lambda xs: "(" + ", ".join(f"{x:.6g}" for x in xs) + ("," if len(xs) == 1 else "") + ")"  # noqa: E731
    lines = [f"INPUT_SHAPE = {tuple(info.input_shape)}  # (C, H, W) of one image"]
    if info.mean is not None and info.std is not None:
        lines += [f"MEAN = {floats(info.mean)}  # per channel, of the training images on the [0, 1] scale",
                  f"STD = {floats(info.std)}"]
    classes = list(info.classes or ())
    names = "(" + ", ".join(json.dumps(c) for c in classes) + ("," if len(classes) == 1 else "") + ")"
    lines.append(f"CLASSES = {names}  # the class of each logit, in order" if info.classes
                 else "CLASSES = None  # the class names were not recorded with the model")
    lines.append(f"WEIGHTS = {json.dumps(info.weights)}  # the state dict, beside this file")
    return "\n".join(lines) + "\n"


def _header(info: SourceInfo, layer_norm: bool) -> str:
    c, h, w = info.input_shape
    normalized = info.mean is not None and info.std is not None
    return "\n".join([
        f'"""{info.title}', "",
        f"{info.description}.",
        f"Plain PyTorch: this file needs torch only. Written by {info.made_by} from the network as saved, with",
        "every layer's width as it is (after pruning, if it was pruned).", "",
        f"Input: float images (N, {c}, {h}, {w})" + (
            ", normalized per channel as (pixels / 255 - MEAN) / STD (see preprocess)." if normalized else
            ", normalized as the network was trained (not recorded with it)."),
        "Output: (N, classes) logits.", "",
        f"    python {info.name}    # loads {info.weights} from beside this file and classifies one batch",
        '"""', "", "from __future__ import annotations", "", "from pathlib import Path", "", "import torch",
        *(["import torch.nn.functional as F"] if layer_norm else []), "from torch import nn"])


def python_source(model: Network, info: SourceInfo) -> str:
    """The text of a Python file that defines ``model``'s network in plain torch and, run as a script, loads
    ``info.weights`` (``model``'s state dict, saved beside it) and classifies one batch.

    Raises:
        ExportError: a module the writer does not know (the network is not one nasprune built).
    """
    if not isinstance(model, Network):
        raise ExportError(f"the standalone Python export writes nasprune networks, not {type(model).__name__}")
    w = _Writer(model)
    body = "\n".join(f"        self.{name} = {w.expr(getattr(model, name), 8)}" for name in ("stem", "stages", "head"))
    normalized = info.mean is not None and info.std is not None
    batch = ("preprocess(torch.randint(0, 256, (4, *INPUT_SHAPE), dtype=torch.uint8, generator=generator))"
             if normalized else "torch.randn(4, *INPUT_SHAPE, generator=generator)")
    sections = [_header(info, w.norm is LayerNorm2d), _constants(info), w.norm_source(),
                f"def activation() -> nn.Module:\n    return nn.{w.act}\n",
                *([_LAYER_NORM] if w.norm is LayerNorm2d else []), w.conv_norm_act_source(),
                *([_SQUEEZE_EXCITE] if SqueezeExcite in w.used else []),
                *([_PAD_SHORTCUT] if PadShortcut in w.used else []),
                *(src for cls, src in _BLOCKS.items() if cls in w.used),
                _NETWORK.format(description=info.description, body=body), _LOAD,
                *([_PREPROCESS] if normalized else []), _MAIN.format(batch=batch)]
    return "\n\n\n".join(section.strip("\n") for section in sections) + "\n"
