"""One training loop for every candidate, on CUDA or CPU from the same code.

Mixed precision: bf16 autocast on GPUs that support it, fp16 with a gradient scaler on older ones, fp32
on request and by default on the CPU (CPU autocast is slower than fp32 for small convs on most CPUs;
``precision="bf16"`` turns it on there). On CUDA the model and its inputs use channels_last.

The loop does not synchronize with the host inside an epoch: losses and correct counts accumulate on the
device and are read once per epoch, when ``on_epoch`` gets the epoch's numbers and may stop the run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .data import DataSplits, Normalizer, eval_batches, train_batches
from .data.splits import Split
from .errors import ConfigError, DivergedError
from .spec import TrainSpec

__all__ = ["Runtime", "resolve_runtime", "EpochStats", "TrainResult", "train", "evaluate", "PRECISIONS"]

PRECISIONS = ("auto", "bf16", "fp16", "fp32")


@dataclass(frozen=True)
class Runtime:
    """Where and how training runs. Build with :func:`resolve_runtime`."""

    device: torch.device
    amp_dtype: torch.dtype | None  # None: fp32
    channels_last: bool

    @property
    def precision(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16", None: "fp32"}[self.amp_dtype]

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    def describe(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "CPU"
        return f"{self.device} ({name}), {self.precision}{', channels_last' if self.channels_last else ''}"


def resolve_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    """Pick the device (``auto``: CUDA if present, else CPU; or ``cpu``, ``cuda``, ``cuda:1``) and the
    precision (``auto``, ``bf16``, ``fp16``, ``fp32``; see the module docstring)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    try:
        dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                           "cpu" if device == "auto" else device)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu")
    cuda = dev.type == "cuda"
    if precision == "auto":
        amp = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else None
    else:
        amp = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[precision]
    if amp is torch.float16 and not cuda:
        raise ConfigError("fp16 training needs a CUDA device; use --precision bf16 or fp32 on the CPU")
    return Runtime(dev, amp, channels_last=cuda)


@dataclass(frozen=True)
class EpochStats:
    """What one epoch measured (accuracies in [0, 1], losses per image)."""

    epoch: int  # 1-based
    train_loss: float
    train_acc: float  # on augmented batches, with dropout active
    val_loss: float
    val_acc: float
    lr: float  # learning rate at the end of the epoch
    seconds: float  # wall time of the epoch, validation included

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class TrainResult:
    history: list[EpochStats] = field(default_factory=list)
    stopped: str | None = None  # why training stopped before the last epoch, if it did
    seconds: float = 0.0

    @property
    def final(self) -> EpochStats:
        return self.history[-1]


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    # no weight decay on norm scales/shifts and biases (1-D tensors): decaying them only hurts
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _optimizer(model: nn.Module, spec: TrainSpec) -> torch.optim.Optimizer:
    groups = _param_groups(model, spec.weight_decay)
    if spec.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum, nesterov=spec.momentum > 0)
    return torch.optim.AdamW(groups, lr=spec.lr)


def _scheduler(opt: torch.optim.Optimizer, spec: TrainSpec, steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    total = spec.epochs * steps_per_epoch
    if spec.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec.lr, total_steps=total)
    if spec.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    warmup = round(spec.warmup_epochs * steps_per_epoch)

    def cosine(step: int) -> float:  # linear warm-up from 1/warmup, then cosine decay to 0 at the last step
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(opt, cosine)


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, normalize: Normalizer, runtime: Runtime,
             batch_size: int = 1024) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``split``; one host sync at the end."""
    model.eval()
    loss = torch.zeros((), device=runtime.device)
    correct = torch.zeros((), device=runtime.device, dtype=torch.long)
    for x, y in eval_batches(split, batch_size, normalize):
        with runtime.autocast():
            logits = model(x)
        loss += nn.functional.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
    n = max(1, len(split))
    return loss.item() / n, correct.item() / n


def train(model: nn.Module, data: DataSplits, spec: TrainSpec, runtime: Runtime, *, seed: int = 0,
          on_epoch: Callable[[EpochStats], str | None] | None = None) -> TrainResult:
    """Train ``model`` on ``data.train`` for ``spec.epochs`` epochs, validating after each.

    Args:
        model: the network (moved to ``runtime.device`` here).
        data: splits already on ``runtime.device`` (``data.to(device)``).
        spec: the training recipe.
        runtime: device and precision from :func:`resolve_runtime`.
        seed: seeds batch order and augmentation (seed the model's initialization before building it).
        on_epoch: called after each epoch; a returned string stops training and becomes
            ``TrainResult.stopped``.

    Raises:
        DivergedError: the training loss is not finite after an epoch.
    """
    model.to(runtime.device, memory_format=runtime.memory_format)
    normalize = Normalizer(data, runtime.memory_format)
    generator = torch.Generator(device=runtime.device).manual_seed(seed)
    batch_size = min(spec.batch_size, len(data.train))
    steps = max(1, len(data.train) // batch_size)
    opt = _optimizer(model, spec)
    sched = _scheduler(opt, spec, steps)
    scaler = torch.amp.GradScaler(runtime.device.type, enabled=runtime.amp_dtype is torch.float16)
    criterion = nn.CrossEntropyLoss(label_smoothing=spec.label_smoothing)
    result, start = TrainResult(), time.perf_counter()
    for epoch in range(1, spec.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=runtime.device)
        correct = torch.zeros((), device=runtime.device, dtype=torch.long)
        seen = 0
        for x, y in train_batches(data, batch_size, normalize, generator):
            with runtime.autocast():
                logits = model(x)
                loss = criterion(logits, y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            loss_sum += loss.detach() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            seen += len(y)
        train_loss = loss_sum.item() / seen  # the epoch's one host sync
        if not math.isfinite(train_loss):
            raise DivergedError(f"training loss is {train_loss} after epoch {epoch} (diverged)")
        val_loss, val_acc = evaluate(model, data.val, normalize, runtime)
        stats = EpochStats(epoch, train_loss, correct.item() / seen, val_loss, val_acc,
                           opt.param_groups[0]["lr"], time.perf_counter() - t0)
        result.history.append(stats)
        reason = on_epoch(stats) if on_epoch else None
        if reason:
            result.stopped = reason
            break
    result.seconds = time.perf_counter() - start
    return result
