"""The training step: eager, or captured once as a CUDA graph and replayed.

Small networks are bound by kernel-launch overhead, not arithmetic: on one H100 the captured step of
ResNet-20 at batch 512 ran 105,600 images/s against 40,700 eager (see ../shared/NOTES.md and
benchmarks/RESULTS.md). A captured step needs static shapes (the pipeline drops the last partial batch),
static input buffers (each batch is copied in), no host synchronization (losses accumulate on the device),
and a learning rate in a device tensor (:func:`nasprune.train.make_optimizer`). Capture follows PyTorch's
whole-network recipe: a few eager steps on a side stream, ``zero_grad(set_to_none=True)``, then forward,
backward and ``optimizer.step()`` inside ``torch.cuda.graph``. If anything about capture fails, the step
stays eager for the rest of the trial and ``mode`` says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["EagerStep", "GraphStep", "make_step", "WARMUP_STEPS"]

#: eager steps before capture (PyTorch's recipe uses a few, so lazy initializations happen outside the graph)
WARMUP_STEPS = 3
log = logging.getLogger("nasprune")


class EagerStep:
    """forward -> loss -> backward -> optimizer step, accumulating the epoch's loss and accuracy on the
    device. fp16 uses a gradient scaler; bf16 and fp32 need none."""

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, criterion: nn.Module, runtime,
                 after_backward: Callable[[], None] | None = None, grad_clip: float = 0.0) -> None:
        self.model, self.opt, self.criterion, self.runtime = model, opt, criterion, runtime
        self.after_backward = after_backward  # e.g. torch-pruning's sparsity regularizer, on unscaled gradients
        self.grad_clip = grad_clip  # global gradient-norm bound (0 = off); computed on the device, no host sync
        self.params = [p for group in opt.param_groups for p in group["params"]]
        self.scaler = torch.amp.GradScaler(runtime.device.type, enabled=runtime.amp_dtype is torch.float16)
        self.loss_sum = torch.zeros((), device=runtime.device)
        self.correct = torch.zeros((), device=runtime.device, dtype=torch.long)
        self.seen = 0
        self.mode = "eager"

    def reset(self) -> None:
        """Start an epoch's totals (in place: a captured graph keeps pointing at the same tensors)."""
        self.loss_sum.zero_()
        self.correct.zero_()
        self.seen = 0

    def _forward_backward(self, x: torch.Tensor, y: torch.Tensor) -> None:
        with self.runtime.autocast():
            logits = self.model(x)
            loss = self.criterion(logits, y)
        self.scaler.scale(loss).backward()
        if self.after_backward is not None or self.grad_clip:
            self.scaler.unscale_(self.opt)  # a no-op without fp16 scaling
        if self.grad_clip:
            # foreach norms and a device-side clip coefficient (clamped to 1): nothing reads back to the host,
            # so the step stays capturable
            nn.utils.clip_grad_norm_(self.params, self.grad_clip, foreach=True)
        if self.after_backward is not None:
            self.after_backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.loss_sum.add_(loss.detach() * len(y))
        self.correct.add_((logits.detach().argmax(1) == y).sum())

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        self._forward_backward(x, y)
        self.seen += len(y)

    def epoch_totals(self) -> tuple[float, float]:
        """(mean loss, accuracy) of the epoch so far: the one host synchronization per epoch."""
        n = max(1, self.seen)
        return self.loss_sum.item() / n, self.correct.item() / n


class GraphStep(EagerStep):
    """The same step, captured on CUDA after WARMUP_STEPS eager ones and replayed for every later batch."""

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, criterion: nn.Module, runtime,
                 grad_clip: float = 0.0) -> None:
        super().__init__(model, opt, criterion, runtime, grad_clip=grad_clip)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_x: torch.Tensor | None = None
        self.static_y: torch.Tensor | None = None
        self.steps = 0
        self.failed: str | None = None
        self.side = torch.cuda.Stream(runtime.device)
        self.mode = "cuda graph"

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self.failed is not None or (self.static_x is not None and x.shape != self.static_x.shape):
            return super().__call__(x, y)  # eager fallback, or an odd-sized batch the graph was not made for
        if self.graph is None and self.steps < WARMUP_STEPS:
            self.side.wait_stream(torch.cuda.current_stream(self.runtime.device))
            with torch.cuda.stream(self.side):
                super().__call__(x, y)
            torch.cuda.current_stream(self.runtime.device).wait_stream(self.side)
            self.steps += 1
            return None
        if self.graph is None:
            self._capture(x, y)
            if self.graph is None:
                return super().__call__(x, y)
        self.static_x.copy_(x)
        self.static_y.copy_(y)
        self.graph.replay()
        self.seen += len(y)
        return None

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.static_x, self.static_y = x.clone(), y.clone()
        try:
            graph = torch.cuda.CUDAGraph()
            self.opt.zero_grad(set_to_none=True)
            with torch.cuda.graph(graph):
                self._forward_backward(self.static_x, self.static_y)
            self.graph = graph
        except Exception as exc:  # any capture problem: train on eagerly, and say why
            self.failed = f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            self.mode = f"eager (CUDA graph capture failed: {self.failed})"
            log.warning("CUDA graph capture failed, training eagerly: %s", self.failed)
            self.graph = None
            self.opt.zero_grad(set_to_none=True)
            torch.cuda.synchronize(self.runtime.device)


def make_step(model: nn.Module, opt: torch.optim.Optimizer, criterion: nn.Module, runtime,
              after_backward: Callable[[], None] | None = None, grad_clip: float = 0.0) -> EagerStep:
    """A captured step where it can work (CUDA, graphs on, no fp16 gradient scaler, no Python hook between
    backward and update), else an eager one; ``step.mode`` tells which, and why not."""
    graphable = runtime.amp_dtype is not torch.float16 and after_backward is None
    if runtime.device.type == "cuda" and runtime.cuda_graph and graphable:
        return GraphStep(model, opt, criterion, runtime, grad_clip)
    step = EagerStep(model, opt, criterion, runtime, after_backward, grad_clip)
    if runtime.device.type == "cuda":
        step.mode = ("eager (fp16 needs a gradient scaler, which a graph cannot hold)"
                     if runtime.amp_dtype is torch.float16 else
                     "eager (a hook runs between backward and update)" if after_backward else "eager (--no-cuda-graph)")
    return step
