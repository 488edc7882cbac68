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
file says is kept. A candidate in ``start_with`` that does not name the stem takes the coarser of the two (the
cheaper network; at 32x32 the finer stem's copy of the narrow start candidate was never the answer,
benchmarks/RESULTS.md round 5): the space's narrow and wide start candidates give the front two capacities.

Widths follow the data too. The widest stage may have ``width_cap`` channels: 64 below 16 pixels, 128 from 16,
256 from 32 (a 48x32 set of small glyphs on clutter stayed at chance with 16-32-64 channels and learned with
32-64-128 and with a 32-256 plain CNN), and at least the power of two at or above twice the classes (at most
512), so the last features are not fewer than the classes. Width doubles as resolution halves (ResNet, VGG), so
each earlier stage's cap is half the next one's, never below 64: every stage costs about the same, and a
sampled network cannot put 256 channels at full resolution. Channel choices above a stage's cap are left out;
a start candidate wider than a cap is narrowed to it.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from .schema import SearchSpace, validate_space
from .values import value_bounds

__all__ = ["fit_space", "stem_plan", "width_cap", "stage_caps"]

#: the short side of the last feature map the plan aims for, in pixels
TARGET_SIDE = 4
#: the widest stage below 16 pixels (what the default offered at every resolution before widths followed the data)
BASE_WIDTH = 64
#: no stage of a fitted space is wider, however many classes
MAX_WIDTH = 512


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


def width_cap(height: int, width: int, num_classes: int) -> int:
    """Channels the widest stage may have for ``num_classes`` classes of ``height`` x ``width`` images (see the
    module docstring)."""
    side = min(height, width)
    cap = BASE_WIDTH * 2 ** min(2, max(0, math.floor(math.log2(side / 8)))) if side >= 8 else BASE_WIDTH
    return min(MAX_WIDTH, max(cap, 2 ** math.ceil(math.log2(2 * num_classes))))


def stage_caps(cap: int, stages: int) -> list[int]:
    """The widest each of ``stages`` stages may be: ``cap`` for the last, half the next one's before it, at
    least ``BASE_WIDTH``."""
    return [max(BASE_WIDTH, cap >> (stages - i)) for i in range(1, stages + 1)]


def _cap_channels(raw: dict[str, Any], caps: list[int]) -> None:
    """Per-stage channel choices of ``raw`` without those above each stage's cap; start candidates narrowed to
    the widest choice their stage keeps. Only a plain list of choices is capped: a per-stage list, a geometric
    width or a fixed width states what the file wants."""
    stages = raw["architecture"]["stages"]
    form = stages.get("channels")
    if not (isinstance(form, dict) and isinstance(form.get("choices"), list)):
        return
    choices = sorted(form["choices"])
    per_stage = [[c for c in choices if c <= cap] or choices[:1] for cap in caps]
    stages["channels"] = [{"choices": kept} if len(kept) > 1 else kept[0] for kept in per_stage]
    narrowed: list[dict[str, Any]] = []
    for candidate in raw.get("start_with", []):
        candidate = dict(candidate)
        for i, kept in enumerate(per_stage, start=1):
            if f"s{i}_channels" in candidate:  # the widest choice kept that is not wider than the candidate's
                candidate[f"s{i}_channels"] = max([c for c in kept if c <= candidate[f"s{i}_channels"]],
                                                  default=kept[0])
        if candidate not in narrowed:  # two candidates narrowed to one network are tried once
            narrowed.append(candidate)
    raw["start_with"] = narrowed


def fit_space(space: SearchSpace, input_shape: tuple[int, int, int], num_classes: int = 10) -> SearchSpace:
    """``space`` fitted to ``num_classes`` classes of images of ``input_shape`` (C, H, W) when it says
    ``adapt: true``; else ``space``.

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
        if len(stems) > 1:  # a start candidate that leaves the stem out takes the coarser, cheaper one
            raw["start_with"] = [c if "stem" in c else {**c, "stem": stems[-1]} for c in raw.get("start_with", [])]
    if "stride" not in stages:
        stages["stride"] = [first_stride] + [2] * (count - 1)
    caps = stage_caps(width_cap(input_shape[1], input_shape[2], num_classes), count)
    _cap_channels(raw, caps)
    raw.pop("adapt")
    shape = "x".join(map(str, input_shape))
    raw["description"] = (f"{space.description} (fitted to {shape} inputs, {num_classes} classes: "
                          f"stages up to {'-'.join(map(str, caps))} channels)").lstrip()
    return validate_space(raw, space.source)
