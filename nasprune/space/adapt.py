"""Fit a space marked ``adapt: true`` to the data it will search on.

A space written for one resolution wastes a search on another: the bundled default was written for 8x8
digits, and on 28x28 or 32x32 images its networks kept maps of 7-8 pixels at full width until the classifier,
or on 64x64 images 16 pixels. The rule here (also in the README, "The default fits your data"):

- the short side of the input should shrink to about 4 pixels by the last stage: ``n = round(log2(side / 4))``
  halvings in all (none below 8 pixels);
- every stage after the first halves the resolution (ResNet, VGG), which gives ``stages - 1`` of them;
- the stem takes what is left over, ``e = n - (stages - 1)``: where both a final map of about 4 pixels and one
  of about 8 are possible, the search chooses between the two stems that give them (more MACs for more
  detail, a trade-off the Pareto front shows); at e >= 3 the first stage halves as well.

  ====  ============================  =================  ================================
  e     stem                          first stage        e.g. (3 stages)
  ====  ============================  =================  ================================
  <= 0  cifar (3x3 conv)              stride 1           8x8 -> 8, 4, 2; 16x16 -> 16, 8, 4
  1     cifar or mobilenet (3x3/2)    stride 1           32x32 -> last map 8 or 4
  2     mobilenet or imagenet (/4)    stride 1           64x64 -> last map 8 or 4
  3     mobilenet or imagenet         stride 2           128x128 -> last map 8 or 4
  >= 4  imagenet                      stride 2           224x224 -> last map 7
  ====  ============================  =================  ================================

Only keys the file leaves out are filled in (``architecture.stem`` and ``architecture.stages.stride``): what a
file says is kept. Where the stem is searched, a candidate in ``start_with`` that does not name it is tried
with each of the two stems, the finer first: the front starts with a sound network at two costs.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from .schema import SearchSpace, validate_space
from .values import value_bounds

__all__ = ["fit_space", "stem_plan"]

#: the short side of the last feature map the plan aims for, in pixels
TARGET_SIDE = 4


def stem_plan(height: int, width: int, stages: int) -> tuple[list[str], int]:
    """(stem choices, finer first; stride of the first stage) for an input of ``height`` x ``width`` and a
    network of up to ``stages`` stages. See the module docstring for the rule."""
    side = min(height, width)
    halvings = max(0, round(math.log2(side / TARGET_SIDE))) if side >= 8 else 0
    extra = halvings - (stages - 1)
    if extra <= 0:
        return ["cifar"], 1
    if extra == 1:
        return ["cifar", "mobilenet"], 1
    if extra == 2:
        return ["mobilenet", "imagenet"], 1
    if extra == 3:
        return ["mobilenet", "imagenet"], 2
    return ["imagenet"], 2


def fit_space(space: SearchSpace, input_shape: tuple[int, int, int]) -> SearchSpace:
    """``space`` fitted to images of ``input_shape`` (C, H, W) when it says ``adapt: true``; else ``space``.

    The result is an ordinary space (``adapt`` false) whose ``description`` says what it was fitted to and
    whose ``raw`` holds the filled-in keys, so the study records and hashes what was searched."""
    if not space.adapt:
        return space
    raw: dict[str, Any] = copy.deepcopy(space.raw)
    arch, stages = raw["architecture"], raw["architecture"]["stages"]
    count = value_bounds(space.stage_count)[1]
    stems, first_stride = stem_plan(input_shape[1], input_shape[2], count)
    if "stem" not in arch:
        arch["stem"] = stems[0] if len(stems) == 1 else {"choices": stems}
        if len(stems) > 1:  # each start candidate is tried with both stems: a sound network at two costs
            raw["start_with"] = [{**c, "stem": stem} if "stem" not in c else c
                                 for c in raw.get("start_with", []) for stem in stems
                                 if "stem" not in c or stem == stems[0]]
    if "stride" not in stages:
        stages["stride"] = [first_stride] + [2] * (count - 1)
    raw.pop("adapt")
    shape = "x".join(map(str, input_shape))
    raw["description"] = f"{space.description} (fitted to {shape} inputs)".lstrip()
    return validate_space(raw, space.source)
