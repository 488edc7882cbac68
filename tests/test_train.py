import math

import pytest
import torch

from nasprune import ArchSpec, ConfigError, DivergedError, StageSpec, TrainSpec, build_model, resolve_runtime, train
from nasprune.data import Normalizer
from nasprune.data.placement import place_data
from nasprune.train import evaluate, lr_factor, make_optimizer

ARCH = ArchSpec(1, 10, (StageSpec(1, 16, 1), StageSpec(1, 32, 2)), stem_channels=16)


def test_training_learns_digits_and_reports_every_epoch(digits):
    runtime = resolve_runtime("cpu")
    torch.manual_seed(0)
    model = build_model(ARCH)
    seen = []
    result = train(model, digits, TrainSpec(epochs=4, batch_size=64, lr=0.05), runtime,
                   on_epoch=lambda s: seen.append(s.epoch))
    assert seen == [1, 2, 3, 4] and [h.epoch for h in result.history] == seen
    assert result.final.val_acc > 0.8  # this tiny ResNet reaches ~0.9 in 4 epochs; chance is 0.1
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.final.lr == pytest.approx(0, abs=1e-3)  # cosine ends at zero
    assert evaluate(model, digits.val, Normalizer(digits), runtime)[1] == pytest.approx(result.final.val_acc)


def test_on_epoch_can_stop_training(digits):
    result = train(build_model(ARCH), digits, TrainSpec(epochs=5, batch_size=128), resolve_runtime("cpu"),
                   on_epoch=lambda s: "enough" if s.epoch == 2 else None)
    assert result.stopped == "enough" and len(result.history) == 2


def test_on_epoch_can_shorten_training_and_the_schedule_still_ends(digits):
    # a retraining that must end by a time budget's deadline: fewer epochs, the learning rate annealed by the end
    spec = TrainSpec(epochs=5, batch_size=128, lr=0.05)
    result = train(build_model(ARCH), digits, spec, resolve_runtime("cpu"),
                   on_epoch=lambda s: 3 if s.epoch == 2 else None)
    assert result.stopped is None and [h.epoch for h in result.history] == [1, 2, 3]
    assert result.history[1].lr > 0.02  # epoch 2 on the 5-epoch schedule
    assert result.final.lr == pytest.approx(0, abs=1e-3)  # the shortened schedule reached its end
    longer = train(build_model(ARCH), digits, TrainSpec(epochs=2, batch_size=128, lr=0.05), resolve_runtime("cpu"),
                   on_epoch=lambda s: 4)  # more epochs than planned (the caller bounds them): the schedule stretches
    ends_now = train(build_model(ARCH), digits, spec, resolve_runtime("cpu"), on_epoch=lambda s: 0)
    assert len(longer.history) == 4 and longer.final.lr == pytest.approx(0, abs=1e-3)
    assert len(ends_now.history) == 1 and ends_now.stopped is None
    back = train(build_model(ARCH), digits, spec, resolve_runtime("cpu"),
                 on_epoch=lambda s: 2 if s.epoch == 1 else 5)  # shortened by a slow spell, then given its epochs back
    assert len(back.history) == 5 and back.final.lr == pytest.approx(0, abs=1e-3)


def test_same_seed_same_result(digits):
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        r = train(build_model(ARCH), digits, TrainSpec(epochs=1, batch_size=128), resolve_runtime("cpu"), seed=3)
        runs.append(r.final.val_loss)
    assert runs[0] == runs[1]


@pytest.mark.parametrize("optimizer, schedule", [("adamw", "onecycle"), ("sgd", "constant")])
def test_optimizers_and_schedules(digits, optimizer, schedule):
    r = train(build_model(ARCH), digits, TrainSpec(epochs=2, batch_size=128, optimizer=optimizer, schedule=schedule,
                                                   lr=0.01 if optimizer == "adamw" else 0.05), resolve_runtime("cpu"))
    assert r.final.val_acc > 0.3


def test_divergence_is_detected_after_the_epoch(digits):
    model = build_model(ARCH)
    with torch.no_grad():
        model.head.fc.weight[0, 0] = float("inf")
    with pytest.raises(DivergedError, match=r"training loss is nan after epoch 1 \(diverged\)"):
        train(model, digits, TrainSpec(epochs=3, batch_size=128), resolve_runtime("cpu"))


def test_runtime_policy():
    cpu = resolve_runtime("cpu")
    assert cpu.precision == "fp32" and not cpu.channels_last
    assert resolve_runtime("cpu", "bf16").amp_dtype is torch.bfloat16
    with pytest.raises(ConfigError, match="fp16 training needs a CUDA device"):
        resolve_runtime("cpu", "fp16")
    with pytest.raises(ConfigError, match="unknown precision"):
        resolve_runtime("cpu", "fp8")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_runtime("cuda")


def test_bf16_autocast_trains_on_cpu(digits):
    r = train(build_model(ARCH), digits, TrainSpec(epochs=1, batch_size=256), resolve_runtime("cpu", "bf16"))
    assert math.isfinite(r.final.train_loss)


@pytest.mark.parametrize("total", [10, 37, 1000])
def test_onecycle_follows_torch(total):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=total, cycle_momentum=False)
    theirs = []
    for _ in range(total):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    ours = [lr_factor("onecycle", step, total) for step in range(total)]
    assert max(abs(a - b) for a, b in zip(ours, theirs, strict=True)) < 0.05  # rise length rounds to a step
    assert ours[0] == pytest.approx(1 / 25) and max(ours) == pytest.approx(1, abs=1e-3)
    assert ours[-1] == pytest.approx(1 / 25 / 1e4, rel=1e-3)


def test_cosine_with_warmup_and_constant():
    lrs = [lr_factor("cosine", s, 100, warmup=10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False)) and lrs[-1] < 0.001
    assert lr_factor("constant", 50, 100) == 1.0


def test_one_learning_rate_tensor_drives_every_parameter_group():
    model = build_model(ARCH)
    opt, lr = make_optimizer(model, TrainSpec(lr=0.3), torch.device("cpu"))
    assert len(opt.param_groups) == 2 and all(g["lr"] is lr for g in opt.param_groups)
    assert opt.param_groups[0]["weight_decay"] > 0 and opt.param_groups[1]["weight_decay"] == 0
    lr.fill_(0.0)  # a zero learning rate freezes every parameter
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.randn(4, 1, 8, 8)).sum().backward()
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_streamed_data_trains_like_resident_data(digits):
    runs = {}
    for mode in ("device", "stream"):
        torch.manual_seed(0)
        model = build_model(ARCH)
        data = place_data(digits, torch.device("cpu"), mode)
        assert data.streamed == (mode == "stream")
        runs[mode] = train(model, data, TrainSpec(epochs=2, batch_size=128), resolve_runtime("cpu", loader_workers=2))
    # the same batches in another order within each batch: equal up to float rounding
    assert runs["stream"].final.val_acc == pytest.approx(runs["device"].final.val_acc, abs=0.02)
    assert runs["stream"].final.train_loss == pytest.approx(runs["device"].final.train_loss, rel=0.02)


def test_step_mode_on_the_cpu(digits):
    result = train(build_model(ARCH), digits, TrainSpec(epochs=1, batch_size=256), resolve_runtime("cpu"))
    assert result.step_mode == "eager"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.1), ("adamw", 0.003)])
def test_captured_step_trains_like_the_eager_step(digits, optimizer, lr):
    runs = {}
    for graph in (False, True):
        torch.manual_seed(0)
        runtime = resolve_runtime("cuda", "fp32", cuda_graph=graph)
        data = place_data(digits, runtime.device, "device")
        spec = TrainSpec(epochs=3, batch_size=64, optimizer=optimizer, lr=lr)
        runs[graph] = train(build_model(ARCH), data, spec, runtime, seed=1)
    assert runs[True].step_mode == "cuda graph" and runs[False].step_mode.startswith("eager")
    assert runs[True].final.train_loss == pytest.approx(runs[False].final.train_loss, rel=0.05)
    assert runs[True].final.val_acc == pytest.approx(runs[False].final.val_acc, abs=0.03)
    assert [h.lr for h in runs[True].history] == pytest.approx([h.lr for h in runs[False].history])


def test_gradient_clipping_bounds_the_global_norm(digits):
    from torch import nn

    from nasprune.steps import EagerStep

    runtime = resolve_runtime("cpu")
    model = build_model(ArchSpec(1, 10, (StageSpec(1, 16, 1),), norm="none"))
    opt, _ = make_optimizer(model, TrainSpec(lr=1e-9), runtime.device)  # the step barely moves the weights
    x = (digits.train.x[:64].float() - 8) * 100  # huge inputs: huge gradients
    norms = {}
    for clip in (0.0, 1.0):
        step = EagerStep(model, opt, nn.CrossEntropyLoss(), runtime, grad_clip=clip)
        step(x, digits.train.y[:64])
        norms[clip] = torch.norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert norms[0.0] > 10 and norms[1.0] == pytest.approx(1.0, rel=1e-3)


def test_a_network_without_a_norm_trains_at_a_high_rate_with_clipping(digits):
    arch = ArchSpec(1, 10, (StageSpec(2, 32, 1), StageSpec(2, 64, 2)), block="basic", norm="none", stem_channels=16)
    results = {}
    for clip in (0.0, 2.0):
        torch.manual_seed(0)
        spec = TrainSpec(epochs=3, batch_size=64, optimizer="sgd", lr=0.3, grad_clip=clip)
        try:
            results[clip] = train(build_model(arch), digits, spec, resolve_runtime("cpu")).final.val_acc
        except DivergedError:
            results[clip] = 0.0
    assert results[2.0] > 0.5 and results[2.0] > results[0.0] + 0.2, results  # measured: 0.65 against 0.18


def test_a_warm_up_never_takes_more_than_the_one_cycle_rise(digits, monkeypatch):
    import sys

    seen = set()

    def spy(schedule, step, total, warmup=0):
        seen.add((total, warmup))
        return lr_factor(schedule, step, total, warmup)

    monkeypatch.setattr(sys.modules["nasprune.train"], "lr_factor", spy)  # the package exports train(), the function
    spec = TrainSpec(epochs=2, batch_size=128, warmup_epochs=1.5, lr=0.1)  # 75% of the run asked for
    train(build_model(ARCH), digits, spec, resolve_runtime("cpu"))
    total = 2 * (len(digits.train) // 128)
    assert seen == {(total, round(0.3 * total))}
