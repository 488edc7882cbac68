"""One training loop for every candidate, on CUDA or CPU from the same code.

Mixed precision: bf16 autocast on GPUs that support it, fp16 with a gradient scaler on older ones, fp32
on request and by default on the CPU (CPU autocast ran 5-14x slower than fp32 on our machines, see
benchmarks/RESULTS.md; ``precision="bf16"`` turns it on there). On CUDA the model and its inputs use
channels_last.

The optimizer is fused and reads its learning rate from a tensor on the device, which the schedule fills
before every step. That makes the step capturable: on CUDA the whole step (forward, backward, update) is
recorded once per trial as a CUDA graph and replayed, which removes the kernel-launch overhead that bounds
small networks (see :mod:`nasprune.steps`). Losses and correct counts accumulate on the device and are
read once per epoch, when ``on_epoch`` gets the epoch's numbers and may stop the run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .choices import PRECISIONS
from .data import BatchAugment, DataSplits, Normalizer, eval_batches, train_batches
from .data.splits import Split
from .errors import ConfigError, DivergedError
from .spec import TrainSpec
from .steps import make_step

__all__ = ["Runtime", "resolve_runtime", "EpochStats", "TrainResult", "train", "evaluate", "lr_factor",
           "make_optimizer", "PRECISIONS"]

WARMUP_CAP = 0.3  # the largest share of a run's steps a cosine schedule's warm-up may take


@dataclass(frozen=True)
class Runtime:
    """Where and how training runs. Build with :func:`resolve_runtime`."""

    device: torch.device
    amp_dtype: torch.dtype | None  # None: fp32
    channels_last: bool
    cuda_graph: bool = True  # capture the training step on CUDA (falls back to eager if capture fails)
    loader_workers: int = 4  # DataLoader workers for data streamed from host memory

    @property
    def precision(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16", None: "fp32"}[self.amp_dtype]

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    @property
    def input_dtype(self) -> torch.dtype:
        """The dtype batches are normalized into: the autocast dtype, so the first conv casts nothing."""
        return self.amp_dtype or torch.float32

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    def describe(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "CPU"
        extras = [self.precision] + (["channels_last"] if self.channels_last else [])
        if self.device.type == "cuda":
            extras.append("CUDA graphs" if self.cuda_graph else "eager (no CUDA graphs)")
        return f"{self.device} ({name}), {', '.join(extras)}"


def resolve_runtime(device: str = "auto", precision: str = "auto", cuda_graph: bool = True,
                    loader_workers: int = 4) -> Runtime:
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
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r} asked for, but only {torch.cuda.device_count()} GPU(s) are visible")
    cuda = dev.type == "cuda"
    if precision == "auto":
        amp = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else None
    else:
        amp = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[precision]
    if amp is torch.float16 and not cuda:
        raise ConfigError("fp16 training needs a CUDA device; use --precision bf16 or fp32 on the CPU")
    if loader_workers < 0:
        raise ConfigError(f"loader workers must be >= 0 (got {loader_workers})")
    return Runtime(dev, amp, channels_last=cuda, cuda_graph=cuda_graph and cuda, loader_workers=loader_workers)


@dataclass(frozen=True)
class EpochStats:
    """What one epoch measured (accuracies in [0, 1], losses per image)."""

    epoch: int  # 1-based
    train_loss: float
    train_acc: float  # on augmented batches, with dropout active
    val_loss: float
    val_acc: float
    lr: float  # learning rate of the epoch's last step
    seconds: float  # wall time of the epoch, validation included

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class TrainResult:
    history: list[EpochStats] = field(default_factory=list)
    stopped: str | None = None  # why training stopped before the last epoch, if it did
    seconds: float = 0.0
    step_mode: str = "eager"  # "cuda graph", or "eager" with the reason capture was not used

    @property
    def final(self) -> EpochStats:
        return self.history[-1]


def lr_factor(schedule: str, step: int, total: int, warmup: int = 0) -> float:
    """Multiplier of the peak learning rate at ``step`` (0-based) of ``total``.

    cosine: linear warm-up over ``warmup`` steps from 1/warmup, then cosine decay to 0 at the last step.
    onecycle: as torch's OneCycleLR for the learning rate (30% cosine rise from 1/25, cosine fall to 1/1e4
    of the start). constant: 1.
    """
    if schedule == "constant":
        return 1.0
    if schedule == "onecycle":
        rise = max(1, round(0.3 * total)) - 1
        start, end = 1 / 25, 1 / 25 / 1e4
        if step <= rise:
            return start + (1 - start) * (1 - math.cos(math.pi * step / max(1, rise))) / 2
        return end + (1 - end) * (1 + math.cos(math.pi * (step - rise) / max(1, total - 1 - rise))) / 2
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    # no weight decay on norm scales/shifts and biases (1-D tensors): decaying them only hurts
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, spec: TrainSpec, device: torch.device) -> tuple[torch.optim.Optimizer, torch.Tensor]:
    """A fused optimizer whose learning rate is one tensor on ``device`` shared by its parameter groups.
    Returns (optimizer, lr tensor); fill the tensor to change the learning rate, also inside a CUDA graph."""
    lr = torch.tensor(spec.lr, dtype=torch.float32, device=device)
    groups = _param_groups(model, spec.weight_decay)
    for group in groups:
        group["lr"] = lr
    if spec.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=lr, momentum=spec.momentum, nesterov=spec.momentum > 0, fused=True)
    else:
        # Adam's step() refuses CUDA graph capture unless every group is capturable (SGD has no such check)
        opt = torch.optim.AdamW(groups, lr=lr, fused=True, capturable=device.type == "cuda")
    return opt, lr


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, normalize: Normalizer, runtime: Runtime, stream: bool = False,
             batch_size: int = 1024) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``split`` (``stream``: through DataLoader workers);
    one host sync at the end."""
    model.eval()
    loss = torch.zeros((), device=runtime.device)
    correct = torch.zeros((), device=runtime.device, dtype=torch.long)
    for x, y in eval_batches(split, batch_size, runtime.device, stream, runtime.loader_workers):
        with runtime.autocast():
            logits = model(normalize(x))
        loss += nn.functional.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
    n = max(1, len(split))
    return loss.item() / n, correct.item() / n


def train(model: nn.Module, data: DataSplits, spec: TrainSpec, runtime: Runtime, *, seed: int = 0,
          on_epoch: Callable[[EpochStats], str | int | None] | None = None,
          after_backward: Callable[[], None] | None = None,
          after_step: Callable[[int, int], None] | None = None) -> TrainResult:
    """Train ``model`` on ``data.train`` for ``spec.epochs`` epochs, validating after each.

    Args:
        model: the network (moved to ``runtime.device`` here).
        data: splits on ``runtime.device`` (resident) or in host memory (streamed); see
            :func:`nasprune.data.placement.place_data`.
        spec: the training recipe.
        runtime: device, precision, CUDA graphs, loader workers (:func:`resolve_runtime`).
        seed: seeds batch order and augmentation (seed the model's initialization before building it).
        on_epoch: called after each epoch; a returned string stops training and becomes ``TrainResult.stopped``;
            a returned number of epochs sets how many the run trains (at least those done), its schedule
            following from the next step: a run that must end by a deadline still finishes its schedule, and is
            complete, not stopped; a run shortened by a slow spell takes its epochs back when they fit again.
        after_backward: called between backward and the optimizer step on unscaled gradients (sparsity
            regularization while pruning); the step then runs eagerly.
        after_step: called after every optimizer step with (step, total steps planned), 0-based. The step's
            gradients are still in ``.grad``, also after a replayed CUDA graph (whose gradients are static
            tensors), so a recorder can read them without forcing eager steps (nasprune.diagnose.gradients).

    Raises:
        DivergedError: the training loss is not finite after an epoch.
    """
    model.to(runtime.device, memory_format=runtime.memory_format)
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    order_gen = torch.Generator(device=data.train.x.device).manual_seed(seed)
    augment = BatchAugment(data, normalize, torch.Generator(device=runtime.device).manual_seed(seed + 1))
    batch_size = min(spec.batch_size, len(data.train))
    steps = len(data.train) // batch_size
    opt, lr = make_optimizer(model, spec, runtime.device)
    step = make_step(model, opt, nn.CrossEntropyLoss(label_smoothing=spec.label_smoothing), runtime, after_backward,
                     spec.grad_clip, streamed=data.streamed)
    epochs = spec.epochs
    total = epochs * steps
    # a warm-up given in epochs can swallow a short run (1 epoch of 2, or all of --epochs 1): it never takes more
    # than the one-cycle schedule's rise, 30% of the steps
    warmup = min(round(spec.warmup_epochs * steps), round(WARMUP_CAP * total))
    result, start, done, epoch = TrainResult(), time.perf_counter(), 0, 0
    while epoch < epochs:
        epoch += 1
        t0 = time.perf_counter()
        model.train()
        step.reset()
        for x, y in train_batches(data.train, batch_size, order_gen, runtime.device, data.streamed,
                                  runtime.loader_workers):
            value = spec.lr * lr_factor(spec.schedule, done, total, warmup)
            lr.fill_(value)  # a device-side fill: no host sync, and a captured step reads it
            step(augment(x), y)
            if after_step is not None:
                after_step(done, total)
            done += 1
        train_loss, train_acc = step.epoch_totals()  # the epoch's one host sync
        if not math.isfinite(train_loss):
            raise DivergedError(f"training loss is {train_loss} after epoch {epoch} (diverged)")
        val_loss, val_acc = evaluate(model, data.val, normalize, runtime, data.streamed)
        stats = EpochStats(epoch, train_loss, train_acc, val_loss, val_acc, value, time.perf_counter() - t0)
        result.history.append(stats)
        verdict = on_epoch(stats) if on_epoch else None
        if isinstance(verdict, str) and verdict:
            result.stopped = verdict
            break
        if isinstance(verdict, int) and verdict != epochs:
            epochs = max(epoch, verdict)
            total = epochs * steps
    result.seconds, result.step_mode = time.perf_counter() - start, step.mode
    return result
