"""What a search space or preset describes, before any training: ``nasprune show``.

For a preset (every value fixed): its one network's parameters, MACs and depth. For a search space:
the parameters Optuna will search (names and distributions) and a few random candidates with their costs.
"""

from __future__ import annotations

from typing import Any

import torch

from .errors import SpaceError
from .measure import count_macs, count_params
from .nn import build_model, weighted_depth
from .space import SearchSpace, candidates, fit_space, fixed_spec, parameters
from .space.values import Choice, Value
from .spec import TrialSpec, describe

__all__ = ["show", "format_show", "parse_shape"]


def parse_shape(text: str) -> tuple[int, int, int]:
    """'3x32x32' -> (3, 32, 32)."""
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise SpaceError(f"input shape {text!r} must be CxHxW with positive integers, e.g. 3x32x32")
    return tuple(int(p) for p in parts)


def _network(spec: TrialSpec, input_shape: tuple[int, int, int]) -> dict[str, Any]:
    torch.manual_seed(0)
    model = build_model(spec.arch)
    return {"arch": describe(spec.arch), "params": count_params(model),
            "mflops": round(count_macs(model, input_shape) / 1e6, 4), "depth": weighted_depth(model)}


def _value_text(v: Value) -> str:
    if isinstance(v, Choice):
        return "one of " + ", ".join(map(str, v.choices))
    scale = " (log scale)" if v.log else ""
    step = f" step {v.step:g}" if v.step not in (None, 1) else ""
    return f"{v.low:g} .. {v.high:g}{step}{scale}"


def show(space: SearchSpace, input_shape: tuple[int, int, int] | None = None, num_classes: int | None = None,
         samples: int = 5, seed: int = 0) -> dict[str, Any]:
    """Describe ``space`` for one input shape (default: the file's ``input``; else 3x32x32).

    Returns a JSON-ready dict: for a preset, ``params``, ``mflops`` (millions of multiply-adds), ``depth``,
    ``arch`` and the ``spec``; for a search space, ``parameters`` (Optuna name -> distribution) and
    ``samples`` (random candidates with the same fields).
    """
    shape = input_shape or space.input_shape or (3, 32, 32)
    classes = num_classes or space.num_classes or 10
    space = fit_space(space, shape, classes)
    out: dict[str, Any] = {"name": space.name, "file": space.source, "description": space.description,
                           "input": list(shape), "num_classes": classes, "fixed": space.is_fixed}
    if space.is_fixed:
        spec = fixed_spec(space, shape[0], classes)
        out.update(_network(spec, shape), spec=spec.to_dict())
        return out
    drawn = candidates(space, shape[0], classes, samples, seed)
    first, specs = drawn[:len(space.start_with)], drawn[len(space.start_with):]
    out["parameters"] = {name: _value_text(v) for name, v in parameters(space).items()}
    out["start_with"] = [_network(spec, shape) for spec in first]
    out["samples"] = [_network(spec, shape) for spec in specs]
    return out


def format_show(info: dict[str, Any]) -> str:
    """Human-readable text of :func:`show`'s result."""
    shape = "x".join(map(str, info["input"]))
    lines = [f"{info['name']}: {info['description']}".rstrip(": "), f"  file          {info['file']}",
             f"  input         {shape}, {info['num_classes']} classes"]
    if info["fixed"]:
        lines += [f"  architecture  {info['arch']}",
                  f"  params        {info['params']:,} ({info['params'] / 1e6:.2f}M)",
                  f"  MFLOPs        {info['mflops']:.2f} (multiply-adds per image, fvcore)",
                  f"  depth         {info['depth']} weighted layers"]
        return "\n".join(lines)
    lines.append(f"  searched parameters ({len(info['parameters'])}, as Optuna names them):")
    width = max(map(len, info["parameters"]), default=0)
    lines += [f"    {name.ljust(width)}  {text}" for name, text in info["parameters"].items()]
    row = "    {mflops:9.3f} MFLOPs  {params:>10,} params  depth {depth:3d}  {arch}".format
    if info.get("start_with"):
        lines.append("  tried first (start_with):")
        lines += [row(**s) for s in info["start_with"]]
    lines.append(f"  {len(info['samples'])} random candidates (MFLOPs = multiply-adds per image):")
    lines += [row(**s) for s in info["samples"]]
    return "\n".join(lines)
