"""The three forms a value of a search space takes, and how each is parsed and sampled.

In YAML::

    norm: batch                                   # Fixed: always this value
    norm: {choices: [batch, group, none]}         # Choice: categorical
    lr: {low: 0.01, high: 0.3, log: true}         # Range: int or float, optional step / log

A :class:`Field` says what a key accepts (its type, bounds or vocabulary); :func:`parse_value` turns raw
YAML into a validated form or raises :class:`SpaceError` naming the key path; :func:`suggest` samples
a form with an Optuna trial under a fixed parameter name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

import optuna

from ..errors import SpaceError

__all__ = ["Field", "Fixed", "Choice", "Range", "Value", "parse_value", "suggest", "value_bounds", "space_error"]


@dataclass(frozen=True)
class Fixed:
    value: Any


@dataclass(frozen=True)
class Choice:
    choices: tuple


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    step: float | None = None  # None: continuous floats, 1 for ints
    log: bool = False
    integer: bool = False


Value = Union[Fixed, Choice, Range]


@dataclass(frozen=True)
class Field:
    """What one key accepts.

    kind: ``int``, ``float`` or ``name``; numbers are bounded by ``low``/``high`` (inclusive), names by
    ``names`` (a tuple, or a function returning one, so registries can grow). ``searchable=False``
    allows only a fixed value.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    names: tuple[str, ...] | Callable[[], tuple[str, ...]] = ()
    odd: bool = False
    searchable: bool = True
    help: str = ""

    def vocabulary(self) -> tuple[str, ...]:
        return self.names() if callable(self.names) else self.names

    def allowed(self) -> str:
        """What this key accepts, for error messages."""
        if self.kind == "name":
            return "one of " + ", ".join(self.vocabulary())
        what = {"int": "an integer", "float": "a number"}[self.kind]
        if self.odd:
            what = "an odd integer"
        return f"{what} in [{self.low:g}, {self.high:g}]"


def space_error(source: str, path: str, problem: str) -> SpaceError:
    """``file: key.path: problem``; a problem of the whole file has no key path (``file: the file ...``)."""
    return SpaceError(f"{source}: {path}: {problem}" if path else f"{source}: the file {problem}")


def _scalar(field: Field, raw: Any, source: str, path: str) -> Any:
    """Validate one scalar for ``field``; returns it normalized (ints stay ints, floats become float)."""
    if field.kind == "name":
        if not isinstance(raw, str) or raw not in field.vocabulary():
            raise space_error(source, path, f"got {raw!r}; allowed: {field.allowed()}")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise space_error(source, path, f"got {raw!r} ({type(raw).__name__}); allowed: {field.allowed()}")
    if field.kind == "int" and not (isinstance(raw, int) or float(raw).is_integer()):
        raise space_error(source, path, f"got {raw!r}; allowed: {field.allowed()}")
    value = int(raw) if field.kind == "int" else float(raw)
    if not math.isfinite(value) or not (field.low <= value <= field.high):
        raise space_error(source, path, f"got {raw!r}, out of range; allowed: {field.allowed()}")
    if field.odd and value % 2 == 0:
        raise space_error(source, path, f"got {raw!r}; allowed: {field.allowed()}")
    return value


def parse_value(field: Field, raw: Any, source: str, path: str) -> Value:
    """Parse the YAML value ``raw`` of the key at ``path`` (e.g. ``architecture.norm``) of file ``source``."""
    if isinstance(raw, list):
        raise space_error(source, path, f"a list is not a value here; to search over values write {{choices: {raw}}}")
    if not isinstance(raw, dict):
        return Fixed(_scalar(field, raw, source, path))
    if not field.searchable:
        raise space_error(source, path, f"must be fixed, not searched; allowed: {field.allowed()}")
    if "choices" in raw:
        return _parse_choice(field, raw, source, path)
    if "low" in raw or "high" in raw:
        return _parse_range(field, raw, source, path)
    raise space_error(source, path, "expected a value, {choices: [...]} or {low: ..., high: ...}"
                             f" (got keys {', '.join(map(str, raw)) or 'none'})")


def _parse_choice(field: Field, raw: dict, source: str, path: str) -> Value:
    extra = sorted(set(map(str, raw)) - {"choices"})
    if extra:
        raise space_error(source, path, f"unknown key {extra[0]!r} beside choices")
    choices = raw["choices"]
    if not isinstance(choices, list) or not choices:
        raise space_error(source, path + ".choices", "must be a non-empty list")
    values = tuple(_scalar(field, c, source, f"{path}.choices[{i}]") for i, c in enumerate(choices))
    if len(set(values)) != len(values):
        raise space_error(source, path + ".choices", f"has a duplicate value ({list(values)})")
    return Choice(values) if len(values) > 1 else Fixed(values[0])


def _parse_range(field: Field, raw: dict, source: str, path: str) -> Value:
    if field.kind == "name":
        raise space_error(source, path, f"names cannot be a range; write {{choices: [...]}} ({field.allowed()})")
    extra = sorted(set(map(str, raw)) - {"low", "high", "step", "log"})
    if extra:
        raise space_error(source, path, f"unknown key {extra[0]!r}; a range takes low, high, step, log")
    for key in ("low", "high"):
        if key not in raw:
            raise space_error(source, path, f"a range needs both low and high (missing {key})")
    low = _scalar(field, raw["low"], source, path + ".low")
    high = _scalar(field, raw["high"], source, path + ".high")
    if high < low:
        raise space_error(source, path + ".high", f"must be >= low (got {high:g} < {low:g})")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise space_error(source, path + ".log", f"must be true or false (got {log!r})")
    if log and low <= 0:
        raise space_error(source, path + ".low", f"must be > 0 with log: true (got {low:g})")
    step = raw.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0 or not math.isfinite(step):
            raise space_error(source, path + ".step", f"must be a number > 0 (got {step!r})")
        if field.kind == "int" and not float(step).is_integer():
            raise space_error(source, path + ".step", f"must be an integer for an integer key (got {step!r})")
        if log:
            raise space_error(source, path, "step and log: true cannot be combined (Optuna samples either)")
    if field.odd and (step is None or step % 2):
        raise space_error(source, path, "an odd-only key needs step: 2 (or use {choices: [...]})")
    if low == high:
        return Fixed(low)
    if field.kind == "int":
        return Range(low, high, int(step or 1), log, integer=True)
    return Range(low, high, float(step) if step is not None else None, log)


def suggest(trial: optuna.Trial, name: str, value: Value) -> Any:
    """Sample ``value`` under the parameter ``name``; a :class:`Fixed` value is returned as it is and
    does not become a parameter of the trial."""
    if isinstance(value, Fixed):
        return value.value
    if isinstance(value, Choice):
        return trial.suggest_categorical(name, list(value.choices))
    if value.integer:
        return trial.suggest_int(name, int(value.low), int(value.high), step=int(value.step or 1), log=value.log)
    return trial.suggest_float(name, value.low, value.high, step=value.step, log=value.log)


def value_bounds(value: Value) -> tuple[Any, Any]:
    """Smallest and largest value a form can take (for numbers), for consistency checks."""
    if isinstance(value, Fixed):
        return value.value, value.value
    if isinstance(value, Choice):
        return min(value.choices), max(value.choices)
    return value.low, value.high
