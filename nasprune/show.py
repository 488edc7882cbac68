"""What a search space or preset describes, before any training: ``nasprune show``.

For a preset (every value fixed): its one network's parameters, MACs and depth. For a search space:
the parameters Optuna will search (names and distributions) and a few random candidates with their costs.
"""

from __future__ import annotations

from typing import Any

import optuna
import torch

from ._optuna import quiet_optuna
from .errors import SpaceError
from .measure import count_macs, count_params
from .nn import build_model, weighted_depth
from .space import SearchSpace, fixed_spec, sample_spec
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


def _samples(space: SearchSpace, n: int, seed: int, channels: int, classes: int) -> tuple[list[TrialSpec], dict]:
    """``n`` random candidates, and the union of parameter distributions seen over many draws."""
    with quiet_optuna():
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    specs, distributions = [], {}
    for i in range(max(n, 256)):  # enough draws to meet every conditional parameter of a bundled space
        trial = study.ask()
        spec = sample_spec(space, trial, channels, classes)
        distributions.update(trial.distributions)
        if i < n:
            specs.append(spec)
    return specs, distributions


def _distribution_text(d: optuna.distributions.BaseDistribution) -> str:
    if isinstance(d, optuna.distributions.CategoricalDistribution):
        return "one of " + ", ".join(map(str, d.choices))
    scale = " (log scale)" if getattr(d, "log", False) else ""
    step = f" step {d.step:g}" if getattr(d, "step", None) not in (None, 1) else ""
    return f"{d.low:g} .. {d.high:g}{step}{scale}"


def show(space: SearchSpace, input_shape: tuple[int, int, int] | None = None, num_classes: int | None = None,
         samples: int = 5, seed: int = 0) -> dict[str, Any]:
    """Describe ``space`` for one input shape (default: the file's ``input``; else 3x32x32).

    Returns a JSON-ready dict: for a preset, ``params``, ``mflops`` (millions of multiply-adds), ``depth``,
    ``arch`` and the ``spec``; for a search space, ``parameters`` (Optuna name -> distribution) and
    ``samples`` (random candidates with the same fields).
    """
    shape = input_shape or space.input_shape or (3, 32, 32)
    classes = num_classes or space.num_classes or 10
    out: dict[str, Any] = {"name": space.name, "file": space.source, "description": space.description,
                           "input": list(shape), "num_classes": classes, "fixed": space.is_fixed}
    if space.is_fixed:
        spec = fixed_spec(space, shape[0], classes)
        out.update(_network(spec, shape), spec=spec.to_dict())
        return out
    specs, distributions = _samples(space, samples, seed, shape[0], classes)
    out["parameters"] = {name: _distribution_text(d) for name, d in distributions.items()}
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
    lines.append(f"  {len(info['samples'])} random candidates (MFLOPs = multiply-adds per image):")
    lines += [f"    {s['mflops']:9.3f} MFLOPs  {s['params']:>10,} params  depth {s['depth']:3d}  {s['arch']}"
              for s in info["samples"]]
    return "\n".join(lines)
