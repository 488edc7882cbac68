"""SearchSpace + Optuna trial -> TrialSpec. The only module that touches ``optuna.Trial``.

Parameter names are fixed across trials, so Optuna's samplers see one distribution per name: global
choices under their key (``block``, ``norm``, ``lr``), per-stage ones as ``s<i>_<key>`` (``s2_repeats``),
sampled only for the stages a trial has. Keys a block does not use (``expansion`` for a basic block,
``shortcut`` for a block without one) are not sampled and take a neutral value, so two specs that build
the same network are equal.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import optuna

from .._optuna import quiet_optuna
from ..errors import SpaceError
from ..nn import BLOCKS
from ..spec import ArchSpec, StageSpec, TrainSpec, TrialSpec
from .schema import Geometric, PerStage, SearchSpace, StageValue
from .values import Fixed, Value, suggest

__all__ = ["sample_spec", "fixed_spec", "candidates"]


class _Draw:
    """Samples forms with ``trial``; with no trial, only fixed values can be drawn."""

    def __init__(self, space: SearchSpace, trial: optuna.Trial | None) -> None:
        self.space, self.trial = space, trial

    def __call__(self, name: str, value: Value) -> Any:
        if self.trial is None and not isinstance(value, Fixed):
            raise SpaceError(f"{self.space.source}: '{name}' is searched, so the space is not a single "
                             f"network; sample it with a trial or fix every value")
        return suggest(self.trial, name, value)

    def stage(self, key: str, value: StageValue, i: int) -> Any:
        if isinstance(value, PerStage):
            return self(f"s{i}_{key}", value.values[i - 1])
        if isinstance(value, Geometric):
            base = self(f"{key}_base", value.base)
            return max(1, round(base * self(f"{key}_multiplier", value.multiplier) ** (i - 1)))
        return self(f"s{i}_{key}", value)


def _arch(space: SearchSpace, draw: _Draw, in_channels: int, num_classes: int) -> ArchSpec:
    a = space.arch
    fields: dict[str, Any] = {}
    block = fields["block"] = draw("block", a["block"]) if "block" in a else ArchSpec.block
    info = BLOCKS.get(block)
    for key in ("stem", "stem_channels", "kernel_size", "norm", "act", "se_ratio", "downsample",
                "head_hidden", "dropout"):
        if key in a:
            fields[key] = draw(key, a[key])
    if info.default_expansion is not None:
        fields["expansion"] = draw("expansion", a["expansion"]) if "expansion" in a else info.default_expansion
    if info.residual and "shortcut" in a:
        fields["shortcut"] = draw("shortcut", a["shortcut"])
    count = draw("stages", space.stage_count)
    stages = [StageSpec(**{key: draw.stage(key, space.stages[key], i) for key in ("repeats", "channels", "stride")})
              for i in range(1, count + 1)]
    for i in range(1, count if space.widen else 0):  # no stage narrower than the one before it
        stages[i] = replace(stages[i], channels=max(stages[i].channels, stages[i - 1].channels))
    return ArchSpec(in_channels=in_channels, num_classes=num_classes, stages=tuple(stages), **fields)


def sample_spec(space: SearchSpace, trial: optuna.Trial | None, in_channels: int, num_classes: int) -> TrialSpec:
    """Sample one candidate of ``space`` with ``trial`` (None for a preset, whose values are all fixed).

    Args:
        space: a validated search space (:func:`nasprune.load_space`).
        trial: the Optuna trial that chooses the searched values, or None for a fixed space.
        in_channels: channels of the data's images; num_classes: classes of the data.

    Returns:
        The :class:`TrialSpec`; training fields the space does not give keep :class:`TrainSpec` defaults.
    """
    draw = _Draw(space, trial)
    arch = _arch(space, draw, in_channels, num_classes)
    train = TrainSpec(**{key: draw(key, value) for key, value in space.train.items()})
    return TrialSpec(arch, train)


def fixed_spec(space: SearchSpace, in_channels: int | None = None, num_classes: int | None = None) -> TrialSpec:
    """The single network of a preset (a space whose values are all fixed). Input channels and classes
    default to the preset's ``input`` and ``num_classes``."""
    in_channels = in_channels or (space.input_shape[0] if space.input_shape else None)
    num_classes = num_classes or space.num_classes
    if in_channels is None or num_classes is None:
        raise SpaceError(f"{space.source}: say the input channels and classes (the file has no 'input' "
                         f"or 'num_classes')")
    return sample_spec(space, None, in_channels, num_classes)


def candidates(space: SearchSpace, in_channels: int, num_classes: int, random: int = 0,
               seed: int = 0) -> list[TrialSpec]:
    """The space's ``start_with`` candidates (what a search tries first; parameters they leave out drawn at
    random), then ``random`` candidates drawn at random, without a study on disk."""
    with quiet_optuna():
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        for params in space.start_with:
            study.enqueue_trial(params)
        return [sample_spec(space, study.ask(), in_channels, num_classes)
                for _ in range(len(space.start_with) + random)]
