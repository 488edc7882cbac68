import math

import pytest
import torch

from nasprune import ArchSpec, ConfigError, DivergedError, StageSpec, TrainSpec, build_model, resolve_runtime, train
from nasprune.data import Normalizer
from nasprune.train import evaluate

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


def test_divergence_is_detected(digits):
    with pytest.raises(DivergedError, match="not finite|nan|inf"):
        train(build_model(ARCH.replace(norm="none")), digits, TrainSpec(epochs=3, lr=1e6, batch_size=128),
              resolve_runtime("cpu"))


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
