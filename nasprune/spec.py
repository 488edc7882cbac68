"""The description of one candidate: :class:`ArchSpec` (the network) and :class:`TrainSpec` (how it is
trained), bundled as :class:`TrialSpec`.

A spec is frozen and JSON-serializable. It is the one thing a trial stores and the one thing every later
stage (training, measurement, pruning, reports) rebuilds from: ``build_model(spec.arch)`` is a pure
function of it. Names (block, norm, activation) are checked against the layer registries when the network
is built, not here, so this module does not depend on :mod:`nasprune.nn`.

Example::

    >>> spec = ArchSpec(in_channels=3, num_classes=10, stages=(StageSpec(3, 16, 1),))
    >>> ArchSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    True
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import SpecError

__all__ = ["StageSpec", "ArchSpec", "TrainSpec", "TrialSpec", "describe", "OPTIMIZERS", "SCHEDULES"]

#: Optimizers and learning-rate schedules the trainer implements (nasprune.train).
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "onecycle", "constant")


@dataclass(frozen=True)
class StageSpec:
    """One stage: ``repeats`` blocks of the same width at the same resolution."""

    repeats: int  # blocks in this stage (>= 1)
    channels: int  # output channels of every block of the stage
    stride: int = 1  # 2 halves the resolution at the start of the stage, 1 keeps it


@dataclass(frozen=True)
class ArchSpec:
    """A whole network: stem -> stages of repeated blocks -> head.

    The block, norm and activation are shared by every stage; the depth is the number of stages and the
    repeats per stage, the width the channels per stage.
    """

    in_channels: int  # channels of the input images (1 grayscale, 3 RGB)
    num_classes: int  # outputs of the classifier
    stages: tuple[StageSpec, ...]  # at least one
    block: str = "basic"  # repeated unit: plain | basic | bottleneck | mbconv (nasprune.nn.BLOCKS)
    stem: str = "cifar"  # cifar: 3x3 conv; mobilenet: 3x3/2 conv; imagenet: 7x7/2 conv + 3x3/2 max pool
    stem_channels: int = 16  # output channels of the stem conv
    kernel_size: int = 3  # spatial kernel of the blocks' main convs (odd)
    norm: str = "batch"  # batch | group | layer | instance | none (nasprune.nn.NORMS)
    act: str = "relu"  # activation name (nasprune.nn.ACTIVATIONS)
    se_ratio: float = 0.0  # squeeze-excitation reduction (0 = no SE; 0.25 = squeeze to a quarter)
    expansion: float = 1.0  # bottleneck: inner = out / expansion (ResNet: 4); mbconv: inner = in * expansion (MobileNetV2: 6)
    downsample: str = "conv"  # conv: stride the first block of a stage; maxpool | avgpool: pool before it
    shortcut: str = "conv"  # residual shortcut when shapes change: conv (1x1 conv + norm) | pad (zero-pad, He et al. option A)
    head_hidden: int = 0  # width of an optional hidden layer in the head (0 = global pool + linear)
    dropout: float = 0.0  # dropout before the classifier

    def __post_init__(self) -> None:
        stages = tuple(s if isinstance(s, StageSpec) else StageSpec(**s) for s in self.stages)
        object.__setattr__(self, "stages", stages)
        _check_arch(self)

    @property
    def repeats(self) -> tuple[int, ...]:
        """Blocks per stage."""
        return tuple(s.repeats for s in self.stages)

    @property
    def widths(self) -> tuple[int, ...]:
        """Output channels per stage."""
        return tuple(s.channels for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (stages as a list of dicts)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchSpec:
        """Rebuild from :meth:`to_dict` output; unknown or missing keys are a :class:`SpecError`."""
        data = _known_keys(cls, data, "arch")
        try:
            stages = tuple(StageSpec(**_known_keys(StageSpec, s, "arch.stages[]")) for s in data["stages"])
        except (TypeError, KeyError) as exc:
            raise SpecError(f"arch.stages: each stage needs repeats, channels, stride ({exc})") from None
        return _construct(cls, {**data, "stages": stages}, "arch")

    def replace(self, **changes: Any) -> ArchSpec:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class TrainSpec:
    """How a candidate is trained. Searched or fixed by the ``training`` section of a search space."""

    epochs: int = 10  # full passes over the training split
    batch_size: int = 128  # images per optimizer step
    optimizer: str = "sgd"  # sgd (Nesterov momentum) | adamw
    lr: float = 0.1  # peak learning rate
    momentum: float = 0.9  # SGD momentum (ignored by adamw)
    weight_decay: float = 5e-4  # applied to conv and linear weights only, not to norms and biases
    schedule: str = "cosine"  # cosine (linear warm-up, cosine decay to 0) | onecycle | constant
    warmup_epochs: float = 0.0  # linear warm-up length for the cosine schedule (at most 30% of the steps)
    label_smoothing: float = 0.0  # cross-entropy label smoothing
    grad_clip: float = 0.0  # clip the global gradient norm to this before each step (0 = off)

    def __post_init__(self) -> None:
        _check_train(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSpec:
        return _construct(cls, _known_keys(cls, data, "train"), "train")

    def replace(self, **changes: Any) -> TrainSpec:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class TrialSpec:
    """Everything a trial decided: the network and its training recipe."""

    arch: ArchSpec
    train: TrainSpec = field(default_factory=TrainSpec)

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch.to_dict(), "train": self.train.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialSpec:
        if not isinstance(data, dict) or "arch" not in data:
            raise SpecError("trial spec: expected a JSON object with 'arch' (and optionally 'train')")
        return cls(ArchSpec.from_dict(data["arch"]), TrainSpec.from_dict(data.get("train", {})))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrialSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"trial spec is not valid JSON ({exc})") from None
        return cls.from_dict(data)


def _width(channels: Sequence[int]) -> str:
    return str(channels[0]) if min(channels) == max(channels) else f"{min(channels)}-{max(channels)}"


def describe(arch: ArchSpec, widths: Sequence[Sequence[int]] | None = None, stem_channels: int | None = None) -> str:
    """One readable line for tables and logs, e.g. ``basic[3,3,3]x[16,32,64] cifar/16 k3 batch relu``.

    ``widths`` (the output channels of each block, per stage) and ``stem_channels`` give the network's widths as
    built where they differ from the spec's, as after channel pruning (``nasprune.nn.describe_model`` passes
    them): a stage whose blocks differ shows their range, ``plain[3]x[40-64]``. Options at their defaults are
    left out; the line is a summary, the spec is the record.
    """
    ints = lambda xs: ",".join(str(x) for x in xs)  # noqa: E731
    shown = ",".join(_width(w) for w in widths) if widths is not None else ints(arch.widths)
    parts = [f"{arch.block}[{ints(arch.repeats)}]x[{shown}]", f"{arch.stem}/{stem_channels or arch.stem_channels}",
             f"k{arch.kernel_size}", arch.norm, arch.act]
    if arch.expansion != 1:
        parts.append(f"e{arch.expansion:g}")
    if arch.se_ratio:
        parts.append(f"se{arch.se_ratio:g}")
    if arch.downsample != "conv":
        parts.append(f"down={arch.downsample}")
    if arch.shortcut != "conv":
        parts.append(f"shortcut={arch.shortcut}")
    if arch.head_hidden:
        parts.append(f"hidden{arch.head_hidden}")
    if arch.dropout:
        parts.append(f"drop{arch.dropout:g}")
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------------------
# validation helpers


def _known_keys(cls: type, data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected an object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(names))}")
    return dict(data)


def _construct(cls: type, data: dict[str, Any], where: str) -> Any:
    try:
        return cls(**data)
    except TypeError as exc:
        raise SpecError(f"{where}: {exc}") from None


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise SpecError(message)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_arch(a: ArchSpec) -> None:
    for name in ("in_channels", "num_classes", "stem_channels", "kernel_size"):
        value = getattr(a, name)
        _require(_is_int(value) and value >= 1, f"arch.{name} must be a positive integer (got {value!r})")
    _require(a.kernel_size % 2 == 1, f"arch.kernel_size must be odd (got {a.kernel_size})")
    _require(len(a.stages) >= 1, "arch.stages must hold at least one stage")
    for i, s in enumerate(a.stages, start=1):
        for name in ("repeats", "channels"):
            value = getattr(s, name)
            _require(_is_int(value) and value >= 1,
                     f"arch.stages[{i}].{name} must be a positive integer (got {value!r})")
        _require(s.stride in (1, 2), f"arch.stages[{i}].stride must be 1 or 2 (got {s.stride!r})")
    for name in ("block", "stem", "norm", "act", "downsample", "shortcut"):
        _require(isinstance(getattr(a, name), str), f"arch.{name} must be a name (got {getattr(a, name)!r})")
    _require(_is_num(a.se_ratio) and 0 <= a.se_ratio <= 1, f"arch.se_ratio must be in [0, 1] (got {a.se_ratio!r})")
    _require(_is_num(a.expansion) and a.expansion > 0, f"arch.expansion must be > 0 (got {a.expansion!r})")
    _require(_is_int(a.head_hidden) and a.head_hidden >= 0, f"arch.head_hidden must be >= 0 (got {a.head_hidden!r})")
    _require(_is_num(a.dropout) and 0 <= a.dropout < 1, f"arch.dropout must be in [0, 1) (got {a.dropout!r})")


def _check_train(t: TrainSpec) -> None:
    _require(_is_int(t.epochs) and t.epochs >= 1, f"train.epochs must be a positive integer (got {t.epochs!r})")
    _require(_is_int(t.batch_size) and t.batch_size >= 1,
             f"train.batch_size must be a positive integer (got {t.batch_size!r})")
    for name in ("lr", "momentum", "weight_decay", "warmup_epochs", "label_smoothing", "grad_clip"):
        value = getattr(t, name)
        _require(_is_num(value) and value >= 0, f"train.{name} must be a number >= 0 (got {value!r})")
    _require(t.lr > 0, f"train.lr must be > 0 (got {t.lr})")
    _require(t.label_smoothing < 1, f"train.label_smoothing must be < 1 (got {t.label_smoothing})")
    _require(t.optimizer in OPTIMIZERS, f"train.optimizer must be one of {', '.join(OPTIMIZERS)} (got {t.optimizer!r})")
    _require(t.schedule in SCHEDULES, f"train.schedule must be one of {', '.join(SCHEDULES)} (got {t.schedule!r})")
