"""What a search-space file may contain, and its validation into a :class:`SearchSpace`.

A search space mirrors :class:`~nasprune.space.spec.TrialSpec`: every field of the network
(``architecture``) and of its training (``training``) is given as a fixed value, a list of choices or a
range (see :mod:`nasprune.space.values`). The stages are the exception: ``stages.count`` is the depth in
stages, and ``repeats``, ``channels`` and ``stride`` are given per stage in one of three ways::

    repeats: {low: 1, high: 4}            # the same form for every stage, sampled per stage (s1_repeats, ...)
    repeats: [3, 4, 6, 3]                 # one entry per stage (each may itself be a choice or range)
    channels: {base: 16, multiplier: 2}   # channels only: stage i has base * multiplier**(i-1)

``stages.widen: true`` makes every stage at least as wide as the one before it (ResNet, VGG and MobileNet widen
with depth): sampled widths are raised to the widest before them, so a search spends no trial on a network that
narrows to 8 channels before its classifier.

A fixed-architecture preset is a search space whose values are all fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Union

from ..nn import ACTIVATIONS, BLOCKS, DOWNSAMPLES, NORMS, SHORTCUTS, STEMS
from ..spec import OPTIMIZERS, SCHEDULES
from .values import Choice, Field, Fixed, Value, parse_value, space_error, value_bounds

__all__ = ["SearchSpace", "PerStage", "Geometric", "StageValue", "ARCH_FIELDS", "STAGE_FIELDS", "STAGE_OPTIONS",
           "TRAIN_FIELDS", "MAX_STAGES", "validate_space", "parameters"]

#: The most stages a space may have (ImageNet networks use 4-5; each stage usually halves the resolution).
MAX_STAGES = 8

ARCH_FIELDS: dict[str, Field] = {
    "block": Field("name", names=BLOCKS.names, help="repeated unit"),
    "stem": Field("name", names=STEMS, help="cifar: 3x3 conv; mobilenet: 3x3/2 conv; imagenet: 7x7/2 conv + max pool"),
    "stem_channels": Field("int", 1, 1024),
    "kernel_size": Field("int", 1, 11, odd=True),
    "norm": Field("name", names=NORMS.names),
    "act": Field("name", names=ACTIVATIONS.names),
    "se_ratio": Field("float", 0, 1, help="squeeze-excitation reduction, 0 = off"),
    "expansion": Field("float", 0.0625, 16, help="bottleneck: out/expansion inner; mbconv: in*expansion"),
    "downsample": Field("name", names=DOWNSAMPLES),
    "shortcut": Field("name", names=SHORTCUTS),
    "head_hidden": Field("int", 0, 16384),
    "dropout": Field("float", 0, 0.95),
}
#: keys of ``architecture.stages`` that are not per-stage values: name -> what it does
STAGE_OPTIONS: dict[str, str] = {
    "widen": "true or false (default false): every stage at least as wide as the one before it; a sampled width "
             "below an earlier stage's is raised to it",
}
STAGE_FIELDS: dict[str, Field] = {
    "repeats": Field("int", 1, 128),
    "channels": Field("int", 1, 8192),
    "stride": Field("int", 1, 2),
}
TRAIN_FIELDS: dict[str, Field] = {
    "epochs": Field("int", 1, 10000, searchable=False),
    "batch_size": Field("int", 1, 65536),
    "optimizer": Field("name", names=OPTIMIZERS),
    "lr": Field("float", 1e-7, 10),
    "momentum": Field("float", 0, 0.999),
    "weight_decay": Field("float", 0, 1),
    "schedule": Field("name", names=SCHEDULES),
    "warmup_epochs": Field("float", 0, 1000),
    "label_smoothing": Field("float", 0, 0.99),
    "grad_clip": Field("float", 0, 1000, help="global gradient-norm clip, 0 = off"),
}
_TOP_KEYS = ("name", "description", "architecture", "training", "input", "num_classes", "adapt", "start_with")


@dataclass(frozen=True)
class PerStage:
    """One value form per stage (stage i uses ``values[i-1]``)."""

    values: tuple[Value, ...]


@dataclass(frozen=True)
class Geometric:
    """Channels growing by a factor per stage: ``round(base * multiplier ** (i - 1))``."""

    base: Value
    multiplier: Value


StageValue = Union[Value, PerStage, Geometric]  # a plain Value is the same form for every stage


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space. Build one with :func:`nasprune.load_space`."""

    name: str
    source: str  # the file it came from, for messages
    description: str
    arch: dict[str, Value]  # only the keys the file gives; the sampler fills in the rest
    stage_count: Value
    stages: dict[str, StageValue]  # repeats, channels, stride
    train: dict[str, Value]
    input_shape: tuple[int, int, int] | None  # (C, H, W) the preset was designed for, if it says
    num_classes: int | None
    raw: dict[str, Any]  # the parsed file, for the study record and hashing
    adapt: bool = False  # stem, strides and batch size not given are fitted to the data (nasprune.space.adapt)
    start_with: tuple[dict[str, Any], ...] = ()  # candidates (parameter name -> value) the search tries first
    widen: bool = False  # architecture.stages.widen: no stage narrower than the one before it

    @property
    def is_fixed(self) -> bool:
        """True for a preset: every value fixed, so it describes exactly one network."""
        forms = [*self.arch.values(), self.stage_count, *self.train.values()]
        for value in self.stages.values():
            forms.extend(value.values if isinstance(value, PerStage) else
                         (value.base, value.multiplier) if isinstance(value, Geometric) else (value,))
        return all(isinstance(f, Fixed) for f in forms)


def _mapping(raw: Any, source: str, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise space_error(source, path, f"must be a mapping of keys ({', '.join(allowed)}), got {type(raw).__name__}")
    for key in raw:
        if key not in allowed:
            raise space_error(source, f"{path}.{key}" if path else str(key), f"unknown key; allowed: {', '.join(allowed)}")
    return raw


def _fields(raw: Any, source: str, path: str, fields: dict[str, Field]) -> dict[str, Value]:
    raw = _mapping(raw, source, path, tuple(fields))
    return {key: parse_value(fields[key], value, source, f"{path}.{key}") for key, value in raw.items()}


def _stage_value(key: str, raw: Any, source: str, path: str, max_count: int) -> StageValue:
    field = STAGE_FIELDS[key]
    if isinstance(raw, list):
        if len(raw) != max_count:
            raise space_error(source, path, f"lists {len(raw)} stages but stages.count is at most {max_count}; "
                                            f"give one entry per stage")
        return PerStage(tuple(parse_value(field, v, source, f"{path}[{i}]") for i, v in enumerate(raw)))
    if key == "channels" and isinstance(raw, dict) and ("base" in raw or "multiplier" in raw):
        _mapping(raw, source, path, ("base", "multiplier"))
        if "base" not in raw or "multiplier" not in raw:
            raise space_error(source, path, "a geometric width needs both base and multiplier")
        multiplier = parse_value(Field("float", 0.25, 8), raw["multiplier"], source, path + ".multiplier")
        return Geometric(parse_value(field, raw["base"], source, path + ".base"), multiplier)
    return parse_value(field, raw, source, path)


def _stages(raw: Any, source: str) -> tuple[Value, dict[str, StageValue]]:
    path = "architecture.stages"
    raw = {k: v for k, v in _mapping(raw, source, path, ("count", *STAGE_FIELDS, *STAGE_OPTIONS)).items()
           if k not in STAGE_OPTIONS}
    for key in ("repeats", "channels"):
        if key not in raw:
            raise space_error(source, f"{path}.{key}", "is required (blocks per stage / output channels per stage)")
    lists = {key: len(v) for key, v in raw.items() if key != "count" and isinstance(v, list)}
    if "count" in raw:
        count = parse_value(Field("int", 1, MAX_STAGES), raw["count"], source, path + ".count")
    elif lists and len(set(lists.values())) == 1:
        count = Fixed(next(iter(lists.values())))
        if count.value > MAX_STAGES:
            raise space_error(source, path, f"has {count.value} stages; at most {MAX_STAGES} are allowed")
    else:
        raise space_error(source, path + ".count", "is required unless per-stage lists of one length give it")
    max_count = value_bounds(count)[1]
    stages = {key: _stage_value(key, value, source, f"{path}.{key}", max_count)
              for key, value in raw.items() if key != "count"}
    # default: full resolution in stage 1, halve it at the start of every later stage (ResNet, VGG)
    stages.setdefault("stride", PerStage(tuple(Fixed(1 if i == 0 else 2) for i in range(max_count))))
    return count, stages


def _input_shape(raw: Any, source: str) -> tuple[int, int, int]:
    if (not isinstance(raw, list) or len(raw) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 65536 for v in raw)):
        raise space_error(source, "input", f"must be [channels, height, width] as positive integers (got {raw!r})")
    return tuple(raw)


def validate_space(raw: Any, source: str) -> SearchSpace:
    """Validate the parsed YAML ``raw`` of file ``source``; raises :class:`SpaceError` at the first problem."""
    raw = _mapping(raw, source, "", _TOP_KEYS)
    if "architecture" not in raw:
        raise space_error(source, "architecture", "is required (the network part of the space)")
    arch_raw = _mapping(raw["architecture"], source, "architecture", ("stages", *ARCH_FIELDS))
    if "stages" not in arch_raw:
        raise space_error(source, "architecture.stages", "is required (count, repeats, channels, stride)")
    count, stages = _stages(arch_raw["stages"], source)
    arch = _fields({k: v for k, v in arch_raw.items() if k != "stages"}, source, "architecture", ARCH_FIELDS)
    train = _fields(raw.get("training") or {}, source, "training", TRAIN_FIELDS)
    for key in ("name", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise space_error(source, key, f"must be a string (got {raw[key]!r})")
    num_classes = raw.get("num_classes")
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                    or not 2 <= num_classes <= 100000):
        raise space_error(source, "num_classes", f"must be an integer >= 2 (got {num_classes!r})")
    warmup, epochs = train.get("warmup_epochs"), train.get("epochs")
    if warmup is not None and epochs is not None and value_bounds(warmup)[1] >= epochs.value:
        raise space_error(source, "training.warmup_epochs", f"must be < training.epochs ({epochs.value})")
    adapt = raw.get("adapt", False)
    if not isinstance(adapt, bool):
        raise space_error(source, "adapt", f"must be true or false (got {adapt!r})")
    widen = arch_raw["stages"].get("widen", False)
    if not isinstance(widen, bool):
        raise space_error(source, "architecture.stages.widen", f"must be true or false (got {widen!r})")
    default_name = source.rsplit("/", 1)[-1].removesuffix(".yaml").removesuffix(".yml")
    space = SearchSpace(
        name=raw.get("name", default_name), source=source, description=raw.get("description", ""),
        arch=arch, stage_count=count, stages=stages, train=train,
        input_shape=_input_shape(raw["input"], source) if "input" in raw else None,
        num_classes=num_classes, raw=raw, adapt=adapt, widen=widen,
    )
    return replace(space, start_with=_start_with(raw.get("start_with", []), space))


def parameters(space: SearchSpace) -> dict[str, Value]:
    """Every parameter a trial of ``space`` can sample, by the name Optuna knows it under, with its form.
    Conditional ones are included (``s3_repeats`` exists only in trials with three or more stages,
    ``expansion`` only for blocks that use it); fixed values are not parameters."""
    found: dict[str, Value] = dict(space.arch)
    found["stages"] = space.stage_count
    for i in range(1, value_bounds(space.stage_count)[1] + 1):
        for key, value in space.stages.items():
            if isinstance(value, PerStage):
                found[f"s{i}_{key}"] = value.values[i - 1]
            elif isinstance(value, Geometric):
                found[f"{key}_base"], found[f"{key}_multiplier"] = value.base, value.multiplier
            else:
                found[f"s{i}_{key}"] = value
    found.update(space.train)
    return {name: value for name, value in found.items() if not isinstance(value, Fixed)}


def _start_with(raw: Any, space: SearchSpace) -> tuple[dict[str, Any], ...]:
    """``start_with``: a list of candidates, each a mapping of parameter names to values the space allows.
    Parameters a candidate leaves out are sampled as usual."""
    source, path = space.source, "start_with"
    if not isinstance(raw, list):
        raise space_error(source, path, f"must be a list of candidates (parameter: value mappings), got "
                                        f"{type(raw).__name__}")
    searched = parameters(space)
    out = []
    for i, candidate in enumerate(raw):
        if not isinstance(candidate, dict) or not candidate:
            raise space_error(source, f"{path}[{i}]", "must be a non-empty mapping of parameter names to values")
        for name, value in candidate.items():
            where = f"{path}[{i}].{name}"
            if name not in searched:
                raise space_error(source, where, f"is not a searched parameter of this space; searched: "
                                                 f"{', '.join(searched) or 'none'}")
            form = searched[name]
            ok = (value in form.choices if isinstance(form, Choice) else
                  not isinstance(value, (bool, str)) and isinstance(value, (int, float))
                  and form.low <= value <= form.high and (not form.integer or float(value).is_integer()))
            if not ok:
                allowed = (", ".join(map(str, form.choices)) if isinstance(form, Choice)
                           else f"{form.low:g} .. {form.high:g}")
                raise space_error(source, where, f"got {value!r}; this space allows {allowed}")
        out.append(dict(candidate))
    return tuple(out)
