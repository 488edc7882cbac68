"""Channel pruning to a latency target: prune in steps of MACs, measure the latency where the model will run after
each, stop at the first step that meets the target.

MACs are not latency: on an 8x8 digits network halving the MACs made ONNX Runtime 1.41x slower (widths 11 and 45;
README), and ONNX Runtime on an AVX-512 CPU runs a width that is not a multiple of 16 up to 2x slower than the next
multiple (``benchmarks/deployed_widths.py``, ``benchmarks/RESULTS.md``, issue 30). So the latency is measured, not
inferred: each step keeps STEP of the MACs left (by :func:`~nasprune.prune.channels.prune_channels`, channel counts
rounded to the runtime's fast multiple, halved to MIN_ROUND where nothing more can go at it), then the runtime times
the network. Pruning stops when the latency is at or below the target, when PATIENCE steps in a row did not make it
faster (it no longer falls with MACs: the network is bound by per-layer overhead), when no channel can go, or when
less than FLOOR of the MACs is left. Short of the target, the fastest network measured is kept: the steps after it
cost channels and bought no speed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from ..measure import Latency, count_macs, count_params
from .channels import PruneLog, Target, prune_channels

__all__ = ["prune_to_latency", "LatencyLog", "STEP", "FLOOR", "PATIENCE", "MIN_ROUND"]

#: each step keeps this share of the MACs left (15% fewer): fine enough to stop near the target, coarse enough that
#: a step's latency differs from the last one's by more than a median's noise on an idle machine (~5%)
STEP = 0.85
#: pruning gives up below this share of the source's MACs
FLOOR = 0.05
#: steps in a row without a new fastest latency (by 2%) after which pruning stops: the latency no longer follows MACs
PATIENCE = 3
#: where nothing more can go at the runtime's fast multiple (every layer at one multiple already), the multiple is
#: halved down to this: below 16 channels ONNX Runtime's time follows the MACs (8 ran faster than 16; RESULTS.md)
MIN_ROUND = 8


@dataclass
class LatencyLog:
    """The steps of :func:`prune_to_latency`: MACs and parameters kept and the latency measured after each."""

    base: Latency  # the source's latency (before any pruning) in the runtime
    goal_ms: float  # the target: share x the source's median
    steps: list[dict] = field(default_factory=list)  # {mflops, params, latency_ms, busy}
    stopped: str = ""  # why it stopped: reached, no faster, no channel left to prune, floor
    kept_step: int | None = None  # short of the target: the steps kept (the fastest network; later ones are undone)

    def to_dict(self) -> dict:
        return {"base_ms": self.base.median_ms, "goal_ms": round(self.goal_ms, 4), "steps": self.steps,
                "stopped": self.stopped, "kept_steps": self.kept_step}


def prune_to_latency(model: nn.Module, input_shape: tuple[int, int, int], share: float, importance: str,
                     measure: Callable[[nn.Module], Latency], base: Latency | None = None,
                     now: Latency | None = None, on_step: Callable[[dict], None] | None = None,
                     **channel_options: object) -> tuple[nn.Module, PruneLog, LatencyLog]:
    """Prune ``model`` until ``measure(model)`` is at most ``share`` of the source's latency.

    Args:
        share: the latency to keep, a share of ``base`` (0 < share <= 1).
        measure: the latency of a network where it will run (nasprune.deploy.runtime_latency with the runtime,
            batch and threads chosen); called once after each step.
        base: the source's latency in that runtime (measured here when None). Pass it when ``model`` is no longer
            the source (whole blocks removed first), so the target stays a share of the source's.
        now: the latency of ``model`` as given, where it is known already (``base`` itself when nothing has gone
            yet); measured here when None. Measuring the unchanged source again would let one noisy figure below
            ``share`` of the first end the search before its first step.
        on_step: called with each step's record (progress lines).
        channel_options: passed to :func:`~nasprune.prune.channels.prune_channels` (steps, global_pruning, round_to,
            gradients, after_increment).

    Returns:
        (the pruned model, the log of channel pruning with every step's history, the latency log).
    """
    latency = now or measure(model)  # where the model is now (blocks may have gone already)
    base = base or latency
    log = LatencyLog(base, share * base.median_ms)
    round_to = channel_options.pop("round_to", None) or 1
    macs0, history = count_macs(model, input_shape), []
    keep, best, since_best = 1.0, latency.median_ms, 0
    fastest = (copy.deepcopy(model), 0, 0)  # the fastest network yet, its history length and steps
    while latency.median_ms > log.goal_ms:
        keep *= STEP
        now = count_macs(model, input_shape) / macs0
        if keep < FLOOR:
            log.stopped = "floor"
            break
        if now <= keep:  # an earlier step went past this one's share already (and was measured)
            continue
        model, step = prune_channels(model, input_shape, Target("mflops", keep / now), importance, round_to=round_to,
                                     **channel_options)
        history += step.history
        if count_macs(model, input_shape) / macs0 >= now:  # nothing could go while widths stay multiples of round_to
            if round_to <= MIN_ROUND:
                log.stopped = "no channel left to prune"
                break
            round_to, keep = max(MIN_ROUND, round_to // 2), now
            continue
        latency = measure(model)
        record = {"mflops": round(count_macs(model, input_shape) / 1e6, 4), "params": count_params(model),
                  "latency_ms": latency.median_ms, "busy": latency.busy, "round_to": round_to}
        log.steps.append(record)
        if on_step:
            on_step(record)
        if latency.median_ms < 0.98 * best:
            best, since_best = latency.median_ms, 0
            fastest = (copy.deepcopy(model), len(history), len(log.steps))
        else:
            since_best += 1
            if since_best >= PATIENCE and latency.median_ms > log.goal_ms:
                log.stopped = "no faster"
                break
    reached = latency.median_ms <= log.goal_ms
    log.stopped = "reached" if reached else log.stopped
    if not reached and fastest[2] < len(log.steps):  # later steps cost channels and gained no speed: undo them
        model, history, log.kept_step = fastest[0], history[:fastest[1]], fastest[2]
    trace = [(s["mflops"], s["params"]) for s in log.steps]
    return model, PruneLog(history=history, trace=trace, reached=reached), log
