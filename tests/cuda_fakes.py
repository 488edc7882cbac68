"""What a CPU can check of nasprune's CUDA code: a host-sync detector and a fake of the few ``torch.cuda`` calls
the training step makes.

- :class:`HostSyncDetector` fails on every operation that makes the host wait for the device: reading a value
  (``.item()``, ``_local_scalar_dense``, ``if tensor:``) or an output whose size depends on the data (``nonzero``,
  ``masked_select``, ``unique``, a boolean mask as an index, ...). Inside a CUDA graph capture each one is an error;
  in an eager step each one stalls the launch queue.
- :class:`FakeCuda` stands in for ``torch.cuda``'s streams, devices, ``synchronize`` and ``CUDAGraph`` while the
  real ``torch.cuda.graph`` context manager (torch's own capture logic, stream handling included) runs on top.
  A capture records every ATen operation the step runs (below autograd, as a CUDA graph records kernels) and a
  replay runs the recorded operations again on the same tensors, writing each output into the tensor the
  capture produced, as a graph writes into its static memory. A Python float baked into an operation stays
  baked in, a tensor replaced between replays is not seen, and operations launched on a stream other than the
  capture stream (another device's) are not recorded. The one difference from a real capture: the recorded
  operations also run once while they are recorded.
"""

from __future__ import annotations

import contextlib
import traceback

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

aten = torch.ops.aten

#: operations whose result the host must read: every one is a device-to-host synchronization on CUDA
_SYNCING = {
    aten._local_scalar_dense.default, aten.item.default, aten.is_nonzero.default, aten.equal.default,
    aten.allclose.default,
    # outputs whose size depends on the values
    aten.nonzero.default, aten.argwhere.default, aten.masked_select.default, aten._unique.default,
    aten._unique2.default, aten.unique_dim.default, aten.unique_consecutive.default,
    aten.unique_dim_consecutive.default, aten.bincount.default, aten.where.default,
}
_SIZED_BY_REPEATS = {aten.repeat_interleave.Tensor, aten.repeat_interleave.self_Tensor}  # unless given output_size
_MASK_INDEXED = {aten.index.Tensor, aten.index_put.default, aten.index_put_.default, aten._index_put_impl_.default}


class HostSyncError(AssertionError):
    """An operation inside the checked code makes the host wait for the device."""


def host_sync_reason(func, args: tuple, kwargs: dict) -> str | None:
    """Why ``func(*args, **kwargs)`` synchronizes with the host, or None."""
    if func in _SYNCING:
        return f"{func} reads a value or a data-dependent size back to the host"
    if func in _SIZED_BY_REPEATS and kwargs.get("output_size") is None:
        return f"{func} without output_size (its size is the sum of the repeats)"
    if func in _MASK_INDEXED:
        indices = args[1] if len(args) > 1 else kwargs.get("indices", ())
        if any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in indices or ()):
            return f"{func} with a boolean mask (its size depends on the values: an implicit nonzero)"
    return None


def _where() -> str:
    """The innermost frames of the code that made the call, for the error message."""
    frames = [f for f in traceback.extract_stack()[:-3] if "/torch/" not in f.filename and "cuda_fakes" not in f.filename]
    return " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(frames[-4:]))


class _SyncingOps(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        reason = host_sync_reason(func, args, kwargs)
        if reason is not None:
            raise HostSyncError(f"{reason}, at {_where()}")
        return func(*args, **kwargs)


#: Tensor methods that hand a value to Python without dispatching an operation on a CPU tensor (its memory is read
#: directly; on CUDA each is a device-to-host copy): replaced for the duration of the check
_HOST_READS = ("tolist", "numpy", "cpu", "__array__")


def _refuse(name: str):
    def read(self, *args, **kwargs):
        raise HostSyncError(f"Tensor.{name} hands a value to the host, at {_where()}")
    return read


class HostSyncDetector:
    """Fails on the first host synchronization (see the module docstring) inside its ``with`` block: an
    operation that reads back a value or a data-dependent size (``.item()`` and ``if tensor:`` dispatch
    ``_local_scalar_dense``), or a method that hands a tensor's memory to Python."""

    def __enter__(self) -> HostSyncDetector:
        self._saved = {name: torch.Tensor.__dict__.get(name) for name in _HOST_READS}
        for name in _HOST_READS:
            setattr(torch.Tensor, name, _refuse(name))
        self._ops = _SyncingOps()
        self._ops.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._ops.__exit__(*exc)
        for name, method in self._saved.items():
            if method is None:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, method)


class FakeStream:
    """A CUDA stream as far as the step can tell: a device and an identity."""

    def __init__(self, index: int, name: str) -> None:
        self.device_index, self.name = index, name
        self.device = torch.device("cuda", index)
        self.waited_on: list[FakeStream] = []

    def wait_stream(self, other: FakeStream) -> None:
        self.waited_on.append(other)

    def __repr__(self) -> str:
        return f"<{self.name} stream on cuda:{self.device_index}>"


class _Recording(TorchDispatchMode):
    """Records the operations of a capture (see the module docstring)."""

    def __init__(self, cuda: FakeCuda, graph: FakeGraph) -> None:
        super().__init__()
        self.cuda, self.graph = cuda, graph

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        reason = host_sync_reason(func, args, kwargs)
        if reason is None and self.cuda.fail_capture_at is not None and self.cuda.fail_capture_at(func):
            reason = "the fake was told to fail here"
        if reason is not None:
            self.graph.invalidated = True
            raise RuntimeError(f"CUDA error: operation not permitted when stream is capturing ({reason})")
        out = func(*args, **kwargs)
        # kernels go to the current stream of the device they run on: the capture sees them only if that is
        # the capture stream
        if self.cuda.current_stream(self.cuda.model_device) is self.graph.stream:
            self.graph.ops.append((func, args, kwargs, out))
        return out


class FakeGraph:
    """``torch.cuda.CUDAGraph``: capture_begin / capture_end / replay (see the module docstring)."""

    def __init__(self, cuda: FakeCuda) -> None:
        self.cuda = cuda
        self.ops: list = []
        self.invalidated = False
        self.stream: FakeStream | None = None
        self._recording: _Recording | None = None

    def capture_begin(self, pool=None, capture_error_mode: str = "global", **_: object) -> None:
        self.stream = self.cuda.current_stream()
        self.cuda.captures.append({"device": self.cuda.current, "stream": self.stream, "mode": capture_error_mode})
        self._recording = _Recording(self.cuda, self)
        self._recording.__enter__()

    def capture_end(self) -> None:
        self._recording.__exit__(None, None, None)
        if self.invalidated:
            raise RuntimeError("CUDA error: operation failed due to a previous error during capture")

    def replay(self) -> None:
        self.cuda.replays.append({"device": self.cuda.current, "stream": self.cuda.current_stream()})
        with torch.no_grad():
            for func, args, kwargs, captured in self.ops:
                out = func(*args, **kwargs)
                for old, new in zip(tree_flatten(captured)[0], tree_flatten(out)[0], strict=True):
                    if isinstance(old, torch.Tensor) and not _same_memory(old, new):
                        old.copy_(new)  # the graph's output lives where the capture put it


def _same_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride()


class _CpuForCuda(TorchFunctionMode):
    """Tensors asked for on a CUDA device are made on the CPU (the step's accumulators on ``runtime.device``)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        device = kwargs.get("device")
        if device is not None and torch.device(device).type == "cuda":
            kwargs["device"] = "cpu"
        return func(*args, **kwargs)


class _StreamContext:
    """torch.cuda.StreamContext: makes ``stream`` current (and its device), and on exit the streams it replaced.
    A class, not a generator: torch's ``graph.__exit__`` can skip this exit, and a generator's ``finally`` would
    still run when it is collected."""

    def __init__(self, cuda: FakeCuda, stream: FakeStream) -> None:
        self.cuda, self.stream = cuda, stream

    def __enter__(self) -> None:
        self.source = self.cuda.current_stream()
        self.target = self.cuda.current_stream(self.stream.device_index)
        self.cuda.set_stream(self.stream)

    def __exit__(self, *exc) -> None:
        if self.source.device_index != self.stream.device_index:
            self.cuda.set_stream(self.target)
        self.cuda.set_stream(self.source)


class _DeviceContext:
    """torch.cuda.device: makes a device current, and on exit the one before."""

    def __init__(self, cuda: FakeCuda, index: int) -> None:
        self.cuda, self.index = cuda, index

    def __enter__(self) -> None:
        self.previous, self.cuda.current = self.cuda.current, self.index

    def __exit__(self, *exc) -> None:
        self.cuda.current = self.previous


class FakeCuda:
    """The ``torch.cuda`` calls of nasprune.steps, on a CPU. ``model_device``: the index of the CUDA device the
    step is told the model lives on. Install with :meth:`install`."""

    def __init__(self, model_device: int = 1, devices: int = 2) -> None:
        self.model_device, self.devices = model_device, devices
        self.current = 0  # the current device, as cudaSetDevice leaves it
        self.defaults = {i: FakeStream(i, "default") for i in range(devices)}
        self.streams = dict(self.defaults)  # device -> its current stream
        self.captures: list[dict] = []
        self.replays: list[dict] = []
        self.synchronized: list[int] = []
        self.fail_capture_at = None  # op -> bool: the capture fails at the first op for which it says True
        self.sticky: str | None = None  # a sticky error every synchronize raises from now on

    def _index(self, device=None) -> int:
        if device is None:
            return self.current
        if isinstance(device, int):
            return device
        device = torch.device(device)
        return self.current if device.index is None else device.index

    # the torch.cuda API the step uses
    def Stream(self, device=None, priority: int = 0) -> FakeStream:  # noqa: N802 - torch's name
        return FakeStream(self._index(device), "side")

    def current_stream(self, device=None) -> FakeStream:
        return self.streams[self._index(device)]

    def set_stream(self, stream: FakeStream) -> None:
        self.current = stream.device_index  # torch._C._cuda_setStream also makes the stream's device current
        self.streams[stream.device_index] = stream

    def stream(self, stream: FakeStream) -> _StreamContext:
        return _StreamContext(self, stream)

    def device(self, device) -> _DeviceContext:
        return _DeviceContext(self, self._index(device))

    def synchronize(self, device=None) -> None:
        self.synchronized.append(self._index(device))
        if self.sticky:
            raise RuntimeError(f"CUDA error: {self.sticky}")

    def CUDAGraph(self) -> FakeGraph:  # noqa: N802 - torch's name
        return FakeGraph(self)

    def install(self, monkeypatch) -> FakeCuda:
        """Patch ``torch.cuda`` for the rest of the test (monkeypatch undoes it); make tensors asked for on CUDA
        on the CPU."""
        for name in ("Stream", "current_stream", "set_stream", "stream", "device", "synchronize", "CUDAGraph"):
            monkeypatch.setattr(torch.cuda, name, getattr(self, name))
        monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
        monkeypatch.setattr(torch._C, "_host_emptyCache", lambda: None, raising=False)
        # torch.cuda.graph keeps the stream it made without stream= in a class attribute
        monkeypatch.setattr(torch.cuda.graphs.graph, "default_capture_stream", None)
        return self

    @contextlib.contextmanager
    def tensors_on_cpu(self):
        with _CpuForCuda():
            yield
