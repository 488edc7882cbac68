"""Redundant depth: blocks whose output is nearly their input, and channels that carry almost nothing.

Similarity is **linear CKA** (centered kernel alignment, Kornblith et al. 2019, "Similarity of Neural Network
Representations Revisited", eq. 4 with a linear kernel): for two representations of the same n examples,
flattened to X (n, p1) and Y (n, p2), with Gram matrices K = X X^T and L = Y Y^T and the centering matrix
H = I - 11^T / n,

    CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)),   HSIC(K, L) = tr(K H L H) / (n - 1)^2

(the 1/(n-1)^2 cancels). It is 1 when one representation is an orthogonal transform and scaling of the
other and does not depend on the widths, so a block's output can be compared with its input whatever their
shapes. It works from the n x n Gram matrices, so each block keeps two small matrices, not its activations.

A block's input is the previous block's output (after the stage's pooling, for the first block of a stage),
so "output against input" and "output against the previous block's output" are one comparison per block.
Consecutive redundant blocks form a run while they are redundant together (the last block's output against
the first one's input, and bypassing all of them): small changes can add up to a large one. All measurements are on one fixed probe batch (the first images of the validation split), in eval mode.

CKA alone does not say a block can go: adjacent layers of trained networks commonly have linear CKA above
0.95 (Kornblith et al. 2019; Nguyen et al. 2021, "Do Wide and Deep Networks Learn the Same Things?"), because CKA is dominated by the few directions of
largest variance, and on small ResNets we measured blocks with CKA 0.98-0.99 whose removal cost 20-60 points
of accuracy. So every block whose input and output have the same shape is also **bypassed** on the probe
batch (its output replaced by its input, the rest of the network run from there): ``agreement`` is the share
of the probe's predictions that stay the same. A block is *redundant* when both say so: CKA of at least
:data:`REDUNDANT_CKA` and agreement of at least :data:`REDUNDANT_AGREEMENT`.

A channel counts as near zero when its mean absolute output over the probe batch is below
:data:`NEAR_ZERO` times the mean absolute value of the block's input: whatever it adds is lost in what flows
through the block anyway (a dead ReLU, a zeroed norm scale).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..nn.layers import ConvNormAct

__all__ = ["gram", "linear_cka", "BlockProbe", "RunProbe", "Redundancy", "probe_redundancy", "is_identity_block",
           "bypass", "REDUNDANT_CKA", "REDUNDANT_AGREEMENT", "NEAR_ZERO"]

#: a block whose output has at least this linear CKA with its input barely changes the representation
REDUNDANT_CKA = 0.95
#: ... and if bypassing it leaves at least this share of the probe's predictions unchanged, it is redundant
REDUNDANT_AGREEMENT = 0.98
#: a channel is near zero below this share of the mean absolute value of its block's input
NEAR_ZERO = 0.01


def gram(x: torch.Tensor) -> torch.Tensor:
    """(n, ...) -> the (n, n) Gram matrix X X^T of the flattened examples, in float64."""
    flat = x.reshape(x.shape[0], -1).float()
    return (flat @ flat.T).double()


def _center(k: torch.Tensor) -> torch.Tensor:
    # H K H without forming H: subtract row and column means, add back the grand mean
    return k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()


def linear_cka(k: torch.Tensor, l: torch.Tensor) -> float:  # noqa: E741 - K and L as in the paper
    """Linear CKA of two Gram matrices of the same examples (see the module docstring); NaN when either
    representation is constant over the examples."""
    kc, lc = _center(k), _center(l)
    denominator = (kc.square().sum() * lc.square().sum()).sqrt()
    if denominator <= 0:
        return float("nan")
    return float((kc * lc).sum() / denominator)


def is_identity_block(block: nn.Module) -> bool:
    """Whether a block adds its input unchanged to its output (an identity shortcut): removing it keeps every
    shape valid. Basic and bottleneck blocks whose shortcut is the identity, MBConv blocks with a skip."""
    shortcut = getattr(block, "shortcut", None)
    return isinstance(shortcut, nn.Identity) or bool(getattr(block, "has_skip", False))


@dataclass(frozen=True)
class BlockProbe:
    """One block, measured on the probe batch."""

    stage: int  # 1-based
    block: int  # 1-based within the stage
    name: str  # module name, e.g. stages.2.blocks.3
    cka: float | None  # linear CKA of the block's output with its input (None: a constant representation)
    agreement: float | None  # share of probe predictions unchanged when the block is bypassed (None: shape changes)
    channels: int  # output channels of the block's conv layers, summed
    near_zero: int  # of those, channels whose output is near zero
    mflops: float  # multiply-adds of the block's convs per image, in millions
    identity: bool  # has an identity shortcut (removable by nasprune prune --blocks)

    @property
    def redundant(self) -> bool:
        """Output ~ input by CKA, and the predictions do not depend on the block."""
        return (self.cka is not None and self.cka >= REDUNDANT_CKA
                and self.agreement is not None and self.agreement >= REDUNDANT_AGREEMENT)


@dataclass(frozen=True)
class RunProbe:
    """Consecutive redundant blocks of one stage, taken together."""

    stage: int
    first: int  # 1-based, inclusive
    last: int
    cka: float | None  # the last block's output against the first block's input
    agreement: float  # share of probe predictions unchanged when the whole run is bypassed
    mflops: float  # the blocks' multiply-adds per image, in millions
    identity: bool  # every block of the run has an identity shortcut
    val_drop: float | None = None  # validation accuracy lost when the run is bypassed (no fine-tuning), if measured

    @property
    def label(self) -> str:
        blocks = f"block {self.first}" if self.first == self.last else f"blocks {self.first}-{self.last}"
        return f"stage {self.stage}, {blocks}"


@dataclass(frozen=True)
class Redundancy:
    """Every block and the redundant runs, on a probe of ``images`` validation images."""

    images: int
    mflops: float  # multiply-adds of all convs and linears per image (a run's share is measured against it)
    blocks: list[BlockProbe]
    runs: list[RunProbe]

    @property
    def redundant_blocks(self) -> int:
        return sum(b.redundant for b in self.blocks)

    @property
    def near_zero_share(self) -> float:
        channels = sum(b.channels for b in self.blocks)
        return sum(b.near_zero for b in self.blocks) / channels if channels else 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Redundancy:
        return cls(images=data["images"], mflops=data["mflops"], blocks=[BlockProbe(**b) for b in data["blocks"]],
                   runs=[RunProbe(**r) for r in data["runs"]])


def _conv_macs(conv: nn.Conv2d, out: torch.Tensor) -> int:
    k = conv.kernel_size[0] * conv.kernel_size[1]
    return out[0].numel() * (conv.in_channels // conv.groups) * k  # per image


class _Probe:
    """Forward hooks that record, as the probe batch passes: the Gram matrices of each block's input and
    output (not the activations: memory stays that of one forward pass), each conv layer's mean absolute
    output per channel, and the multiply-adds of every conv and linear."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.blocks = [(s, j, b) for s, stage in enumerate(model.stages) for j, b in enumerate(stage.blocks)]
        self.grams: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}
        self.same_shape: dict[tuple[int, int], bool] = {}
        self.scale: dict[tuple[int, int], float] = {}
        self.channels: dict[tuple[int, int], list[torch.Tensor]] = {}
        self.macs: dict[tuple[int, int], int] = {}
        self.total_macs = 0
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None  # (previous output, its Gram): the next input
        self.handles: list = []

    def _block_hook(self, key: tuple[int, int]):
        def hook(_module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            x = inputs[0]
            g_in = self._last[1] if self._last is not None and self._last[0] is x else gram(x)
            g_out = gram(output)
            self.grams[key] = (g_in, g_out)
            self.same_shape[key] = x.shape == output.shape
            self.scale[key] = float(x.abs().mean())
            self._last = (output, g_out)
        return hook

    def _layer_hook(self, key: tuple[int, int] | None):
        def hook(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            if isinstance(module, ConvNormAct):
                if key is not None:
                    self.channels.setdefault(key, []).append(output.abs().mean((0, 2, 3)).float())  # (C,)
            elif isinstance(module, nn.Conv2d):
                macs = _conv_macs(module, output)
                self.total_macs += macs
                if key is not None:
                    self.macs[key] = self.macs.get(key, 0) + macs
            elif isinstance(module, nn.Linear):
                self.total_macs += module.in_features * module.out_features
        return hook

    def __enter__(self) -> _Probe:
        owner = {}
        for s, j, block in self.blocks:
            self.handles.append(block.register_forward_hook(self._block_hook((s, j))))
            owner.update({m: (s, j) for m in block.modules()})
        for m in self.model.modules():
            if isinstance(m, (ConvNormAct, nn.Conv2d, nn.Linear)):
                self.handles.append(m.register_forward_hook(self._layer_hook(owner.get(m))))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self.handles:
            h.remove()


@torch.no_grad()
def bypass(model: nn.Module, stage: int, first: int, last: int, x: torch.Tensor) -> torch.Tensor:
    """Logits of ``model`` on ``x`` with blocks ``first``..``last`` (0-based, inclusive) of ``stage`` (0-based)
    bypassed: the last one's output is replaced by the first one's input. Hooks, not a copy of the model."""
    blocks = model.stages[stage].blocks
    seen: list[torch.Tensor] = []
    handles = [blocks[first].register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0])),
               blocks[last].register_forward_hook(lambda _m, _inputs, _output: seen[-1])]
    try:
        return model(x)
    finally:
        for h in handles:
            h.remove()


def _finite(value: float) -> float | None:
    return None if value != value else round(value, 4)  # NaN (a constant representation) is stored as None


def _agreement(model: nn.Module, x: torch.Tensor, reference: torch.Tensor, s: int, first: int, last: int) -> float:
    logits = bypass(model, s, first, last, x)
    return round(float((logits.argmax(1) == reference).float().mean()), 4)


def _runs(model: nn.Module, x: torch.Tensor, probe: _Probe, reference: torch.Tensor,
          blocks: list[BlockProbe]) -> list[RunProbe]:
    """Consecutive redundant blocks that are redundant *together*: a run grows by the next redundant block of
    its stage only while the whole run still passes both tests (blocks that each add little can add up)."""
    runs: list[RunProbe] = []
    for b in blocks:
        if not b.redundant:
            continue
        s, j = b.stage - 1, b.block - 1
        last = runs[-1] if runs else None
        if last is not None and last.stage == b.stage and last.last == b.block - 1:
            first = last.first - 1
            cka = linear_cka(probe.grams[(s, first)][0], probe.grams[(s, j)][1])
            if cka >= REDUNDANT_CKA:
                agreement = _agreement(model, x, reference, s, first, j)
                if agreement >= REDUNDANT_AGREEMENT:
                    runs[-1] = RunProbe(b.stage, last.first, b.block, _finite(cka), agreement,
                                        round(last.mflops + b.mflops, 4), last.identity and b.identity)
                    continue
        runs.append(RunProbe(b.stage, b.block, b.block, b.cka, b.agreement, b.mflops, b.identity))
    return runs


@torch.no_grad()
def probe_redundancy(model: nn.Module, x: torch.Tensor) -> Redundancy:
    """Measure every block of a nasprune network on the normalized probe batch ``x`` (n, C, H, W): linear CKA
    of output with input, the bypass test, near-zero channels, multiply-adds; group consecutive blocks that
    are redundant together into runs. The model runs in eval mode and is left in the mode it was in.

    Cost: one forward pass with hooks, plus one forward pass per shape-keeping block (the bypass test) and per
    redundant block that could extend a run; memory: one forward pass of the probe batch.
    """
    was_training = model.training
    model.eval()
    try:
        with _Probe(model) as probe:
            reference = model(x).argmax(1)
        blocks = []
        for s, j, block in probe.blocks:
            g_in, g_out = probe.grams[(s, j)]
            means = probe.channels.get((s, j), [])
            threshold = NEAR_ZERO * probe.scale[(s, j)]
            blocks.append(BlockProbe(
                stage=s + 1, block=j + 1, name=f"stages.{s}.blocks.{j}", cka=_finite(linear_cka(g_in, g_out)),
                agreement=_agreement(model, x, reference, s, j, j) if probe.same_shape[(s, j)] else None,
                channels=sum(len(m) for m in means), near_zero=sum(int((m <= threshold).sum()) for m in means),
                mflops=round(probe.macs.get((s, j), 0) / 1e6, 4), identity=is_identity_block(block)))
        runs = _runs(model, x, probe, reference, blocks)
    finally:
        model.train(was_training)
    return Redundancy(images=len(x), mflops=round(probe.total_macs / 1e6, 4), blocks=blocks, runs=runs)
