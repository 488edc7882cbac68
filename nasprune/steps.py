"""The training step: eager, or captured once as a CUDA graph and replayed.

Small networks are bound by kernel-launch overhead, not arithmetic: on one H100 the captured step of
ResNet-20 at batch 512 ran 105,600 images/s against 40,700 eager (see ../shared/NOTES.md and
benchmarks/RESULTS.md). A captured step needs static shapes (the pipeline drops the last partial batch),
static input buffers (each batch is copied in), no host synchronization (losses accumulate on the device),
and a learning rate in a device tensor (:func:`nasprune.train.make_optimizer`). Capture follows PyTorch's
whole-network recipe: a few eager steps on a side stream (with ``cudnn.benchmark`` on, they also pick the
convolution kernels), ``zero_grad(set_to_none=True)``, then forward, backward and ``optimizer.step()`` inside
``torch.cuda.graph``.

Rules from torch's own ``torch/cuda/graphs.py`` (2.13) that the step keeps:

- every CUDA call names the runtime's device: the capture stream is made on it and passed as ``stream=``
  (without it, ``torch.cuda.graph`` makes its stream on the *current* device, cuda:0, and a model on cuda:1 is
  not captured at all), and warm-up, capture and replay run under ``torch.cuda.device(runtime.device)``;
- ``graph.__exit__`` ends the capture before it leaves its stream context, so a capture that fails can leave
  the capture stream current: the step restores the stream it had;
- data streamed by a DataLoader has a pin-memory thread that allocates pinned memory at any time, which the
  default ("global") capture mode forbids to every thread: streamed data is captured in "thread_local" mode;
- after the capture the graph owns the gradients (the recorder of nasprune.diagnostics reads them): nothing
  sets them to None again, not even an eager step for a batch of another shape.

A capture that fails leaves the step eager for the rest of the trial, and CUDA graphs off for the rest of the
process (``mode`` says why); a failure that broke the CUDA context (a sticky error: every later CUDA call fails)
raises :class:`CudaContextLost`, since nothing in this process can use the GPU again.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable

import torch
from torch import nn

from .errors import NaspruneError, first_line

__all__ = ["EagerStep", "GraphStep", "make_step", "WARMUP_STEPS", "CudaContextLost", "cuda_context_lost",
           "graphs_off_reason"]

#: eager steps before capture (PyTorch's recipe uses a few, so lazy initializations happen outside the graph)
WARMUP_STEPS = 3
log = logging.getLogger("nasprune")

#: why CUDA graphs are off for the rest of this process (the first failed capture), None while they are on
_graphs_off: str | None = None


class CudaContextLost(NaspruneError):
    """The process's CUDA context broke (a sticky error such as an illegal memory access): no later CUDA call in
    this process can succeed. A search worker exits with this code, and its trial runs again in another one."""

    exit_code = 3  # not 1 or 2: the main process tells a lost GPU from a failed worker by it


def cuda_context_lost(device: torch.device) -> str | None:
    """The sticky CUDA error that broke ``device``'s context, or None if it still works (or is not CUDA).
    A non-sticky error (out of memory, an invalidated capture) leaves the context usable; a sticky one makes
    every later call fail, which is what this tries."""
    if device.type != "cuda":
        return None
    try:
        torch.cuda.synchronize(device)
    except RuntimeError as exc:
        return first_line(exc)
    return None


def graphs_off_reason() -> str | None:
    """Why CUDA graphs are off for the rest of this process (a capture failed in it), or None."""
    return _graphs_off


def _root_cause(exc: BaseException) -> BaseException:
    """The error that started it: an error inside the capture makes ``capture_end`` fail too, and the second
    error ("operation failed due to a previous error during capture") hides the first."""
    for _ in range(8):
        if exc.__context__ is None:
            break
        exc = exc.__context__
    return exc


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

    def _zero_grad(self) -> None:
        self.opt.zero_grad(set_to_none=True)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self._zero_grad()
        self._forward_backward(x, y)
        self.seen += len(y)

    def epoch_totals(self) -> tuple[float, float]:
        """(mean loss, accuracy) of the epoch so far: the one host synchronization per epoch."""
        n = max(1, self.seen)
        return self.loss_sum.item() / n, self.correct.item() / n


class GraphStep(EagerStep):
    """The same step, captured on CUDA after WARMUP_STEPS eager ones and replayed for every later batch.

    ``capture_mode``: torch's ``capture_error_mode``; "thread_local" when other threads of the process use CUDA
    while the step is captured (a DataLoader's pin-memory thread), else "global"."""

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, criterion: nn.Module, runtime,
                 grad_clip: float = 0.0, capture_mode: str = "global") -> None:
        super().__init__(model, opt, criterion, runtime, grad_clip=grad_clip)
        # an autograd graph of this model from before (torch-pruning's traced one stays alive in reference cycles
        # after pruning) keeps the parameters' gradient accumulators bound to the default stream; the warm-up on
        # the side stream then reuses them and the capture fails ("operation would make the legacy stream depend
        # on a capturing blocking stream", seen on an H200 fine-tuning a pruned ResNet-56). Collect it first.
        gc.collect()
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_x: torch.Tensor | None = None
        self.static_y: torch.Tensor | None = None
        self.steps = 0
        self.failed: str | None = None
        self.capture_mode = capture_mode
        self.side = torch.cuda.Stream(runtime.device)  # warm-up and capture run here, on the runtime's device
        self.mode = "cuda graph" if capture_mode == "global" else (
            f"cuda graph (captured in {capture_mode} mode: the data loader's threads use CUDA meanwhile)")

    def _zero_grad(self) -> None:
        # once captured, the graph's gradients are the .grad tensors for good: replays write them, the gradient
        # recorder reads them. Setting them to None would leave both pointing at different tensors.
        self.opt.zero_grad(set_to_none=self.graph is None)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self.failed is not None or (self.static_x is not None and x.shape != self.static_x.shape):
            return super().__call__(x, y)  # eager fallback, or an odd-sized batch the graph was not made for
        device = self.runtime.device
        with torch.cuda.device(device):
            if self.graph is None and self.steps < WARMUP_STEPS:
                self.side.wait_stream(torch.cuda.current_stream(device))
                with torch.cuda.stream(self.side):
                    super().__call__(x, y)
                torch.cuda.current_stream(device).wait_stream(self.side)
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
        """Record the step into ``self.graph`` (called under ``torch.cuda.device(runtime.device)``)."""
        device = self.runtime.device
        self.static_x, self.static_y = x.clone(), y.clone()
        previous = torch.cuda.current_stream(device)
        try:
            graph = torch.cuda.CUDAGraph()
            self.opt.zero_grad(set_to_none=True)  # the graph allocates the gradients from its own pool
            with torch.cuda.graph(graph, stream=self.side, capture_error_mode=self.capture_mode):
                self._forward_backward(self.static_x, self.static_y)
            self.graph = graph
        except Exception as exc:  # any capture problem: train on eagerly, and say why
            torch.cuda.set_stream(previous)  # torch's __exit__ may have left the capture stream current
            self._fall_back(first_line(_root_cause(exc)))

    def _fall_back(self, reason: str) -> None:
        global _graphs_off
        self.failed, self.graph = reason, None
        self.mode = f"eager (CUDA graph capture failed: {reason})"
        lost = cuda_context_lost(self.runtime.device)
        if lost is not None:
            raise CudaContextLost(f"CUDA graph capture failed ({reason}) and left a sticky CUDA error ({lost}); "
                                  f"this process cannot use the GPU again")
        _graphs_off = _graphs_off or reason
        log.warning("CUDA graph capture failed, training eagerly (and without CUDA graphs for the rest of this "
                    "process): %s", reason)
        self.opt.zero_grad(set_to_none=True)


def make_step(model: nn.Module, opt: torch.optim.Optimizer, criterion: nn.Module, runtime,
              after_backward: Callable[[], None] | None = None, grad_clip: float = 0.0,
              streamed: bool = False) -> EagerStep:
    """A captured step where it can work (CUDA, graphs on, no fp16 gradient scaler, no Python hook between
    backward and update, no failed capture earlier in this process), else an eager one; ``step.mode`` tells
    which, and why not. ``streamed``: the batches come from DataLoader workers (see :class:`GraphStep`).
    On CUDA this turns ``torch.backends.cudnn.benchmark`` on: shapes are static, and the first steps (eager,
    before any capture) try the convolution algorithms, so the graph records the fastest."""
    cuda = runtime.device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    graphable = runtime.amp_dtype is not torch.float16 and after_backward is None
    if cuda and runtime.cuda_graph and graphable and _graphs_off is None:
        return GraphStep(model, opt, criterion, runtime, grad_clip, "thread_local" if streamed else "global")
    step = EagerStep(model, opt, criterion, runtime, after_backward, grad_clip)
    if cuda:
        step.mode = ("eager (fp16 needs a gradient scaler, which a graph cannot hold)"
                     if runtime.amp_dtype is torch.float16 else
                     "eager (a hook runs between backward and update)" if after_backward else
                     "eager (--no-cuda-graph)" if not runtime.cuda_graph else
                     f"eager (CUDA graphs off in this process after a failed capture: {_graphs_off})")
    return step
