"""Gradient norms per part of the network, recorded at a few fixed training steps.

Vanishing gradients show as a first layer that gets almost no gradient while the classifier gets plenty,
exploding ones as the reverse: the headline number is the ratio of the gradient norm of the first weighted
layer (the stem conv) to that of the last one (the classifier), ``first / last``. The recorder also keeps the
gradient norm of each stage's weights (and of the stem and head), so a reader sees where along the depth the
signal fades or grows.

What the ratio does not see: a weight's gradient is its layer's input times the gradient arriving at its
output, so when the forward signal fades as fast as the backward one (a deep plain network without norm,
He-initialized, zero biases) every layer's gradient shrinks alike and the ratio stays near 1. Measured: with
PyTorch's default initialization (biases keep the forward signal alive) a 20-layer plain network without
norm records ~1e-9 against ~0.2 with residual connections; with nasprune's He initialization both stay
between 0.3 and 3. Deep plain networks *with* batch norm explode instead (Yang et al. 2019, "A Mean Field
Theory of Batch Normalization"): on CIFAR-10 images at initialization plain-56 measured 990, ResNet-56 0.18
(benchmarks/RESULTS.md).

Cost: it records at :data:`RECORD_STEPS` steps spread evenly over the planned training (not every step);
each recording computes the norms on the device and keeps them there, and the one host synchronization is
in :meth:`GradientRecorder.summary`. It reads ``.grad`` after the optimizer step, which also works with the
CUDA-graph step of :mod:`nasprune.steps`: a captured step's gradients are static tensors that each replay
refills, so the recorder never forces a step to run eagerly. (A batch of another shape than the captured one
would run eagerly and leave ``.grad`` pointing elsewhere; the pipeline never makes one, it drops the last
partial batch.)
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["GradientRecorder", "GradientSummary", "weight_groups", "measure_gradients", "RECORD_STEPS"]

#: recordings per training run, spread evenly from the first step to the last planned one
RECORD_STEPS = 5


def _is_weight(p: nn.Parameter) -> bool:
    return p.requires_grad and p.ndim > 1  # conv and linear weights; not norms or biases


def weight_groups(model: nn.Module) -> tuple[list[str], list[nn.Parameter], list[int], str, str]:
    """How the weights of a nasprune network are grouped: (group names, weights, group index of each
    weight, name of the first weighted layer's weight, name of the last one's). Groups are ``stem``,
    ``stage1`` ... ``stageK`` and ``head``; any other weight goes to ``other``."""
    names, weights, index = [], [], []
    groups: list[str] = ["stem"] + [f"stage{i + 1}" for i in range(len(getattr(model, "stages", [])))] + ["head"]
    for name, p in model.named_parameters():
        if not _is_weight(p):
            continue
        top, _, rest = name.partition(".")
        group = f"stage{int(rest.split('.')[0]) + 1}" if top == "stages" else top
        if group not in groups:
            group = "other"
            if group not in groups:
                groups.append(group)
        names.append(name)
        weights.append(p)
        index.append(groups.index(group))
    return groups, weights, index, names[0], names[-1]


@dataclass(frozen=True)
class GradientSummary:
    """Gradient norms (L2, of the weights only) at the recorded steps."""

    steps: list[int]  # 0-based training steps at which norms were recorded
    total_steps: int  # steps the training run planned
    groups: dict[str, list[float]]  # stem / stage1.. / head -> norm at each recorded step
    first_layer: str  # parameter name of the first weighted layer (the stem conv)
    last_layer: str  # and of the last (the classifier)
    first: list[float]
    last: list[float]
    source: str = "training"  # "training": recorded while the trial trained; "trained weights" / "initialization"
    seconds: float = 0.0  # time the recorder spent (every call, the recordings and the read-back): its overhead

    @property
    def ratios(self) -> list[float]:
        """first / last at each recorded step (inf where the last layer got no gradient)."""
        return [f / last if last > 0 else math.inf for f, last in zip(self.first, self.last, strict=True)]

    @property
    def ratio(self) -> float | None:
        """The headline number: of the recorded steps' first / last ratios, the one farthest from 1 on a log
        scale (a pathology shows where it is worst, often at the start of training); None if nothing was
        recorded."""
        if not self.steps:
            return None
        return max(self.ratios, key=lambda r: abs(math.log10(r)) if 0 < r < math.inf else math.inf)

    @property
    def ratio_step(self) -> int | None:
        """The training step whose ratio is the headline."""
        return self.steps[self.ratios.index(self.ratio)] if self.steps else None

    @property
    def median_ratio(self) -> float | None:
        return statistics.median(self.ratios) if self.steps else None

    def to_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}  # the headline, for readers of the stored record

    @classmethod
    def from_dict(cls, data: dict) -> GradientSummary:
        return cls(**{k: v for k, v in data.items() if k != "ratio"})


class GradientRecorder:
    """Pass as ``train(..., after_step=recorder)``; read :meth:`summary` after training.

    >>> recorder = GradientRecorder(model)                      # doctest: +SKIP
    >>> train(model, data, spec, runtime, after_step=recorder)  # doctest: +SKIP
    >>> recorder.summary().ratio                                # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, records: int = RECORD_STEPS) -> None:
        self.groups, self.weights, index, self.first_layer, self.last_layer = weight_groups(model)
        self.index = torch.tensor(index, device=self.weights[0].device)
        self.first_i, self.last_i = 0, len(self.weights) - 1
        self.records = records
        self.planned: set[int] | None = None
        self.total = 0
        self.steps: list[int] = []
        self.rows: list[torch.Tensor] = []  # one (groups + 2,) tensor on the device per recording
        self.seconds = 0.0

    def plan(self, total: int) -> set[int]:
        """The steps to record out of ``total``: ``records`` steps evenly spaced from the first to the last."""
        if total <= self.records:
            return set(range(total))
        return {round(i * (total - 1) / (self.records - 1)) for i in range(self.records)}

    def __call__(self, step: int, total: int) -> None:
        t0 = time.perf_counter()  # every call is timed, not only the recordings: the overhead is all of it
        if self.planned is None:
            self.planned, self.total = self.plan(total), total
        if step in self.planned:
            self.record(step)
        self.seconds += time.perf_counter() - t0

    @torch.no_grad()
    def record(self, step: int) -> None:
        """Record the gradient norms now in ``.grad`` (on the device; nothing is read back here)."""
        device = self.weights[0].device
        if self.index.device != device:  # the model moved since (train() moves it to the runtime's device)
            self.index = self.index.to(device)
        norms = torch.stack([torch.linalg.vector_norm(p.grad.float()) if p.grad is not None
                             else torch.zeros((), device=device) for p in self.weights])  # (weights,)
        per_group = torch.zeros(len(self.groups), device=device).index_add_(0, self.index, norms.square()).sqrt()
        self.rows.append(torch.cat([per_group, norms[[self.first_i, self.last_i]]]))
        self.steps.append(step)

    def summary(self, source: str = "training") -> GradientSummary:
        """The recorded norms, read back from the device in one transfer."""
        t0 = time.perf_counter()
        table = torch.stack(self.rows).double().cpu().tolist() if self.rows else []  # the one host sync
        self.seconds += time.perf_counter() - t0
        k = len(self.groups)
        return GradientSummary(
            steps=list(self.steps), total_steps=self.total or len(self.steps),
            groups={g: [row[i] for row in table] for i, g in enumerate(self.groups)},
            first_layer=self.first_layer, last_layer=self.last_layer,
            first=[row[k] for row in table], last=[row[k + 1] for row in table], source=source,
            seconds=round(self.seconds, 6))


def measure_gradients(model: nn.Module, batches, normalize, runtime, source: str = "trained weights",
                      criterion: nn.Module | None = None) -> GradientSummary:
    """Gradient norms of ``model`` as it is now, one recording per batch of ``batches`` ((uint8 x, y) pairs
    on the device), in training mode; the model's ``.grad`` is cleared afterwards and its weights are not
    changed (norm layers' running statistics are restored)."""
    criterion = criterion or nn.CrossEntropyLoss()
    state = {k: v.clone() for k, v in model.state_dict().items()}  # running statistics move in train mode
    recorder = GradientRecorder(model)
    was_training = model.training
    model.train()
    try:
        for i, (x, y) in enumerate(batches):
            model.zero_grad(set_to_none=True)
            with runtime.autocast():
                loss = criterion(model(normalize(x)).float(), y)
            loss.backward()
            recorder.record(i)
    finally:
        model.zero_grad(set_to_none=True)
        model.load_state_dict(state)
        model.train(was_training)
    recorder.total = len(recorder.steps)
    return recorder.summary(source)
