"""Channel pruning to a target: iterative torch-pruning steps until the measured cost reaches it.

The target is a share of the original multiply-adds or parameters to keep, or a share of channels to remove.
Pruning takes ``steps`` coarse steps toward the ratio the target suggests, then small increments, and stops
at the first one whose measured cost is at or below the target; a step that jumps far past it is undone and
redone finer, so the result lands within a few percent of the target.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..choices import IMPORTANCES as IMPORTANCE_NAMES
from ..errors import ConfigError
from ..measure import count_macs, count_params
from ..nn.graph import CUSTOM_PRUNERS, tp

__all__ = ["Target", "IMPORTANCES", "make_importance", "prune_channels", "PruneLog"]

#: importance name (nasprune.choices.IMPORTANCES) -> (factory, needs gradients)
IMPORTANCES: dict[str, tuple[Callable[[], object], bool]] = {
    "l1": (lambda: tp.importance.GroupMagnitudeImportance(p=1), False),  # weight magnitude (Li et al. 2017)
    "l2": (lambda: tp.importance.GroupMagnitudeImportance(p=2), False),
    "taylor": (lambda: tp.importance.GroupTaylorImportance(), True),  # |w * dL/dw| (Molchanov et al. 2019)
    "bn": (lambda: tp.importance.BNScaleImportance(), False),  # batch-norm scales (Liu et al. 2017)
    "lamp": (lambda: tp.importance.LAMPImportance(p=2), False),  # layer-adaptive magnitude (Lee et al. 2021)
    "random": (lambda: tp.importance.RandomImportance(), False),  # the control: a criterion should beat it
}
assert tuple(IMPORTANCES) == IMPORTANCE_NAMES, "nasprune.choices.IMPORTANCES lists the names offered here"
#: after the coarse steps, each increment removes this much more of every layer's channels
FINE = 0.005
#: a step that lands more than this share below the target is undone and redone finer
TOLERANCE = 0.03
#: the redo removes up to 90% of all channels in this many global steps (0.5% each). Finer steps did not land
#: closer where group norm limits a layer to shrinking by whole multiples of its 8 groups
LANDING_STEPS = 180


@dataclass(frozen=True)
class Target:
    """What to keep: ``kind`` is ``mflops`` or ``params`` (``value`` = share kept, e.g. 0.5 keeps half), or
    ``channels`` (``value`` = share of channels removed per layer), or ``latency`` (``value`` = share of the source's
    latency in the chosen runtime, 0 < value <= 1: 1 asks for a model no slower than its source)."""

    kind: str
    value: float

    def __post_init__(self) -> None:
        if self.kind not in ("mflops", "params", "channels", "latency"):
            raise ConfigError(f"unknown target {self.kind!r}; valid: mflops, params, channels, latency")
        if self.kind == "latency" and not 0 < self.value <= 1:
            raise ConfigError(f"--target-latency must be > 0 and <= 1 (got {self.value:g}): the share of the source's "
                              f"latency to keep, e.g. 0.5 for twice as fast")
        if self.kind != "latency" and not 0 < self.value < 1:
            flag = "--channel-ratio" if self.kind == "channels" else f"--target-{self.kind}"
            raise ConfigError(f"{flag} must be between 0 and 1, exclusive (got {self.value:g}); "
                              f"e.g. 0.5 {'removes' if self.kind == 'channels' else 'keeps'} half")

    def describe(self) -> str:
        if self.kind == "channels":
            return f"remove {self.value:.0%} of the channels"
        if self.kind == "latency":
            return f"keep {self.value:.0%} of the latency"
        return f"keep {self.value:.0%} of the {'MFLOPs' if self.kind == 'mflops' else 'parameters'}"


def make_importance(name: str) -> tuple[object, bool]:
    """(torch-pruning importance, whether it needs gradients) for a name in IMPORTANCES."""
    if name not in IMPORTANCES:
        raise ConfigError(f"unknown importance {name!r}; valid: {', '.join(IMPORTANCES)}")
    factory, needs_grad = IMPORTANCES[name]
    return factory(), needs_grad


@dataclass
class PruneLog:
    """How pruning went: cost after each increment, and torch-pruning's history to rebuild the shapes."""

    history: list = field(default_factory=list)
    trace: list[tuple[float, int]] = field(default_factory=list)  # (conv/linear MFLOPs, params) after each increment
    reached: bool = False


def _estimate(target: Target) -> float:
    """The channel ratio that should meet the target: for a cost share t, uniform pruning of a share p of
    every layer leaves about (1 - p)^2 of the multiply-adds (both sides of each conv shrink)."""
    return target.value if target.kind == "channels" else 1 - math.sqrt(target.value)


def _schedule(coarse_steps: int, estimate: float, cap: float) -> tuple[Callable, int]:
    """A torch-pruning schedule: ``coarse_steps`` even steps to 80% of the estimate, then FINE increments up
    to ``cap``, where the target check stops it. Returns (scheduler, number of steps)."""
    start = 0.8 * estimate if cap > estimate else estimate
    fine = math.ceil((cap - start) / FINE) if cap > start else 0

    def scheduler(pruning_ratio: float, steps: int) -> list[float]:
        coarse = [start * i / coarse_steps for i in range(coarse_steps + 1)]
        return coarse + [min(cap, start + FINE * j) for j in range(1, steps - coarse_steps + 1)]

    return scheduler, coarse_steps + fine


class MacCounter:
    """Multiply-adds of the convs and linears from their shapes, without a forward pass: pruning changes
    channels, never spatial sizes, so each layer's output size is recorded once. A cheap proxy for fvcore's
    count inside the pruning loop (fvcore also counts norms and pools, a few percent)."""

    def __init__(self, model: nn.Module, input_shape: tuple[int, int, int]) -> None:
        self.pixels: dict[str, int] = {}
        names = {m: n for n, m in model.named_modules()}

        def record(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            self.pixels[names[module]] = output[0, 0].numel() if isinstance(module, nn.Conv2d) else 1

        hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        device = next(model.parameters()).device
        was_training = model.training
        try:
            with torch.no_grad():
                model.eval()(torch.zeros(1, *input_shape, device=device))
        finally:
            model.train(was_training)
            for h in hooks:
                h.remove()

    def __call__(self, model: nn.Module) -> int:
        total = 0
        for name, m in model.named_modules():
            if isinstance(m, nn.Conv2d) and name in self.pixels:
                k = m.kernel_size[0] * m.kernel_size[1]
                total += m.out_channels * (m.in_channels // m.groups) * k * self.pixels[name]
            elif isinstance(m, nn.Linear):
                total += m.out_features * m.in_features
        return total


def _pruner(model: nn.Module, example: torch.Tensor, imp: object, ratio: float, steps: int, *,
            global_pruning: bool, round_to: int | None, scheduler: Callable | None = None,
            cls: type | None = None, kwargs: dict | None = None) -> object:
    options = {"iterative_pruning_ratio_scheduler": scheduler} if scheduler else {}
    with torch.enable_grad():
        return (cls or tp.pruner.MetaPruner)(
            model, example, importance=imp, pruning_ratio=ratio, iterative_steps=steps,
            ignored_layers=[model.head.fc], round_to=round_to, global_pruning=global_pruning,
            max_pruning_ratio=0.9, customized_pruners=CUSTOM_PRUNERS, **options, **(kwargs or {}))


class _Goal:
    """Whether a model meets the target and how far below it lands: MACs measured by fvcore, once the cheap
    proxy says the target may be met."""

    def __init__(self, model: nn.Module, input_shape: tuple[int, int, int], target: Target) -> None:
        self.shape, self.target = input_shape, target
        self.proxy = MacCounter(model, input_shape)
        self.base = {"proxy": self.proxy(model), "mflops": count_macs(model, input_shape),
                     "params": count_params(model)}

    def share(self, model: nn.Module) -> float | None:
        """The share of the original cost left, or None if the target is certainly not met yet (and for
        channel targets, which the schedule meets by construction)."""
        if self.target.kind == "params":
            return count_params(model) / self.base["params"]
        if self.target.kind == "mflops" and self.proxy(model) <= self.target.value * self.base["proxy"]:
            return count_macs(model, self.shape) / self.base["mflops"]
        return None

    def met(self, share: float | None) -> bool:
        return share is not None and share <= self.target.value

    def undershot(self, share: float | None) -> bool:
        return self.met(share) and share < self.target.value * (1 - TOLERANCE)


def prune_channels(model: nn.Module, input_shape: tuple[int, int, int], target: Target, importance: str,
                   steps: int = 5, global_pruning: bool = False, round_to: int | None = None,
                   gradients: Callable[[nn.Module], None] | None = None, pruner_cls: type | None = None,
                   pruner_kwargs: dict | None = None, after_increment: Callable[[nn.Module], None] | None = None,
                   prepare: Callable[[object], None] | None = None) -> tuple[nn.Module, PruneLog]:
    """Prune ``model`` until ``target`` is met; returns (the pruned model, the log). The classifier
    (``head.fc``) keeps its outputs. The model passed in may be pruned in place or replaced by a copy.

    Args:
        steps: coarse steps toward the estimated ratio; increments of FINE follow until the target is met.
            A step that lands more than TOLERANCE below the target is undone and redone in small global
            increments (needed where channel groups, e.g. of group norm, make every step a big one).
        gradients: fills ``.grad`` (a few training batches) for gradient-based importances; called before
            each coarse step and every fourth fine one.
        pruner_cls, pruner_kwargs: another torch-pruning pruner (the group-norm pruner of the sparse phase).
        after_increment: called after every increment (restore channels_last, report progress).
        prepare: called with the pruner before the first step (sparse training with its regularizer).
    """
    imp, needs_grad = make_importance(importance)
    if needs_grad and gradients is None:
        raise ConfigError(f"importance {importance!r} needs gradients: pass training data")
    example = torch.zeros(1, *input_shape, device=next(model.parameters()).device)
    goal = _Goal(model, input_shape, target)
    estimate = _estimate(target)
    cap = estimate if target.kind == "channels" else min(0.95, max(1.5 * estimate, estimate + 0.1))
    steps = max(1, steps)
    scheduler, total = _schedule(steps, estimate, cap)
    pruner = _pruner(model, example, imp, cap, total, global_pruning=global_pruning, round_to=round_to,
                     scheduler=scheduler, cls=pruner_cls, kwargs=pruner_kwargs)
    if prepare is not None:
        prepare(pruner)
    log, history = PruneLog(), None
    model.eval()
    for k in range(total):
        before, done = copy.deepcopy(model), len(pruner.DG.pruning_history())
        if needs_grad and (k < steps or (k - steps) % 4 == 0):
            _refresh(model, gradients)
        with torch.enable_grad():
            pruner.step()
        if after_increment:
            after_increment(model)
        share = goal.share(model)
        if goal.undershot(share):  # the step jumped far past the target: redo it finer
            model, fine = _land(before, example, imp, goal, round_to, gradients if needs_grad else None,
                                after_increment)
            history = pruner.DG.pruning_history()[:done] + fine
            share = goal.share(model)
        log.trace.append((goal.proxy(model) / 1e6, count_params(model)))  # the proxy: no forward pass
        if goal.met(share):
            break
    log.reached = goal.met(goal.share(model)) or target.kind == "channels"
    log.history = [list(step) for step in (history if history is not None else pruner.DG.pruning_history())]
    model.zero_grad(set_to_none=True)
    return model, log


def _refresh(model: nn.Module, gradients: Callable[[nn.Module], None]) -> None:
    model.zero_grad(set_to_none=True)
    gradients(model)
    model.eval()


def _land(model: nn.Module, example: torch.Tensor, imp: object, goal: _Goal, round_to: int | None,
          gradients: Callable | None, after_increment: Callable | None) -> tuple[nn.Module, list]:
    """From the model before the step that jumped past the target, remove the least important channels of
    the whole network (a global ranking) LANDING_STEPS at a time until the target is met."""
    fine = _pruner(model, example, imp, 0.9, LANDING_STEPS, global_pruning=True, round_to=round_to)
    for _ in range(LANDING_STEPS):
        if gradients is not None:
            _refresh(model, gradients)
        with torch.enable_grad():
            fine.step()
        if after_increment:
            after_increment(model)
        if goal.met(goal.share(model)):
            break
    return model, [list(step) for step in fine.DG.pruning_history()]
