"""The captured training step against PyTorch's CUDA-graph rules, on a CPU: tests/cuda_fakes.py stands in for the
``torch.cuda`` calls the step makes (torch's own ``torch.cuda.graph`` runs on top), records the capture and
replays it. The model is told it lives on cuda:1 while cuda:0 is current, as in ``--device cuda:1``."""

import pytest
import torch
from cuda_fakes import FakeCuda
from torch import nn

from nasprune import ArchSpec, StageSpec, TrainSpec, build_model
from nasprune import steps as steps_module
from nasprune.steps import WARMUP_STEPS, CudaContextLost, EagerStep, GraphStep, make_step
from nasprune.train import Runtime, make_optimizer

ARCH = ArchSpec(1, 10, (StageSpec(1, 8, 1), StageSpec(1, 8, 2)), stem_channels=8)
ON_CUDA1 = Runtime(torch.device("cuda", 1), None, channels_last=False, cuda_graph=True)


@pytest.fixture
def cuda(monkeypatch):
    monkeypatch.setattr(steps_module, "_graphs_off", None)  # one test's failed capture must not reach the next
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    fake = FakeCuda(model_device=1).install(monkeypatch)
    with fake.tensors_on_cpu():
        yield fake


def graph_step(optimizer="sgd", streamed=False, lr=0.05):
    torch.manual_seed(0)
    model = build_model(ARCH)
    opt, lr_tensor = make_optimizer(model, TrainSpec(optimizer=optimizer, lr=lr), torch.device("cpu"))
    step = make_step(model, opt, nn.CrossEntropyLoss(), ON_CUDA1, streamed=streamed)
    return step, model, lr_tensor


def batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def params_of(model):
    return [p.detach().clone() for p in model.parameters()]


def changed(before, model):
    return any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_warm_up_steps_then_one_capture_then_replays(cuda):
    step, model, _ = graph_step()
    assert isinstance(step, GraphStep) and step.mode == "cuda graph"
    for i in range(WARMUP_STEPS + 4):
        before = params_of(model)
        step(*batch(seed=i))
        assert changed(before, model), f"step {i} did not train"
    assert len(cuda.captures) == 1
    assert len(cuda.replays) == 4  # the capturing batch is replayed too: a capture only records
    assert step.seen == 8 * (WARMUP_STEPS + 4)


def test_capture_and_replay_run_on_the_runtime_device_and_its_stream(cuda):
    step, _, _ = graph_step()
    for i in range(WARMUP_STEPS + 2):
        step(*batch(seed=i))
    (capture,) = cuda.captures
    assert capture["device"] == 1, "capture ran with another device current than the model's"
    assert capture["stream"] is step.side and step.side.device == torch.device("cuda", 1)
    assert all(r["device"] == 1 and r["stream"] is cuda.defaults[1] for r in cuda.replays)
    assert cuda.current == 0 and cuda.streams[1] is cuda.defaults[1]  # nothing left switched afterwards


def test_gradients_and_static_buffers_keep_their_identity_also_after_an_odd_sized_batch(cuda):
    step, model, _ = graph_step()
    for i in range(WARMUP_STEPS + 1):
        step(*batch(seed=i))
    grads = [p.grad for p in model.parameters()]
    static = (step.static_x, step.static_y)
    assert all(g is not None for g in grads)
    step(*batch(n=5, seed=10))  # a batch the graph was not made for runs eagerly
    step(*batch(seed=11))
    assert all(p.grad is g for p, g in zip(model.parameters(), grads, strict=True)), \
        "an eager step after capture replaced the graph's gradients"
    assert step.static_x is static[0] and step.static_y is static[1]
    # and a replay still writes the gradients the recorder reads
    before = [g.clone() for g in grads]
    step(*batch(seed=12))
    assert any(not torch.equal(a, g) for a, g in zip(before, grads, strict=True))


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_a_learning_rate_change_reaches_the_replayed_update(cuda, optimizer):
    step, model, lr = graph_step(optimizer)
    for i in range(WARMUP_STEPS + 1):
        step(*batch(seed=i))
    lr.fill_(0.0)
    before = params_of(model)
    step(*batch(seed=20))
    assert not changed(before, model), "the replay used the learning rate of the capture"
    lr.fill_(0.05)
    step(*batch(seed=21))
    assert changed(before, model)


def test_a_failed_capture_restores_the_stream_trains_on_eagerly_and_turns_graphs_off(cuda):
    cuda.fail_capture_at = lambda op: op == torch.ops.aten.convolution.default
    step, model, _ = graph_step()
    for i in range(WARMUP_STEPS + 1):
        step(*batch(seed=i))
    assert cuda.streams == cuda.defaults, "the capture stream was left current"
    assert step.mode.startswith("eager (CUDA graph capture failed: RuntimeError: CUDA error: operation not permitted")
    assert cuda.current == 0 and not cuda.replays
    before = params_of(model)
    step(*batch(seed=30))
    assert changed(before, model) and len(cuda.captures) == 1  # eager from now on, no second try
    other = make_step(model, step.opt, nn.CrossEntropyLoss(), ON_CUDA1)
    assert type(other) is EagerStep and "CUDA graphs off in this process after a failed capture" in other.mode


def test_a_sticky_error_after_a_failed_capture_ends_the_process_use_of_the_gpu(cuda):
    cuda.fail_capture_at = lambda op: op == torch.ops.aten.convolution.default
    step, _, _ = graph_step()
    for i in range(WARMUP_STEPS):
        step(*batch(seed=i))
    cuda.sticky = "an illegal memory access was encountered"
    with pytest.raises(CudaContextLost, match="illegal memory access"):
        step(*batch(seed=3))
    assert CudaContextLost.exit_code not in (0, 1, 2)


@pytest.mark.parametrize("streamed, mode", [(False, "global"), (True, "thread_local")])
def test_streamed_data_is_captured_in_thread_local_mode(cuda, streamed, mode):
    step, _, _ = graph_step(streamed=streamed)
    for i in range(WARMUP_STEPS + 1):
        step(*batch(seed=i))
    assert [c["mode"] for c in cuda.captures] == [mode]
    assert ("thread_local" in step.mode) == streamed and step.mode.startswith("cuda graph")


def test_cudnn_benchmark_is_on_before_the_warm_up_steps(cuda):
    graph_step()
    assert torch.backends.cudnn.benchmark


def test_the_harness_catches_a_host_sync_inside_the_capture(cuda, monkeypatch):
    # the fake capture is strict where CUDA is: a value read back during capture invalidates it
    original = EagerStep._forward_backward

    def reads_the_loss(self, x, y):
        original(self, x, y)
        float(self.loss_sum)

    monkeypatch.setattr(EagerStep, "_forward_backward", reads_the_loss)
    step, _, _ = graph_step()
    for i in range(WARMUP_STEPS + 1):
        step(*batch(seed=i))
    assert "operation not permitted when stream is capturing" in step.mode
