"""The gradient recorder: what it measures, where, and what it costs."""

import pytest
import torch
from torch import nn

from nasprune import ArchSpec, StageSpec, TrainSpec, build_model, resolve_runtime, train
from nasprune.data.placement import place_data
from nasprune.diagnostics import GradientRecorder, GradientSummary
from nasprune.diagnostics.gradients import weight_groups
from nasprune.diagnostics.verdict import VANISHING

SMALL = ArchSpec(1, 10, (StageSpec(1, 16, 1), StageSpec(1, 32, 2)), stem_channels=16)


def classic_init(model: nn.Module) -> nn.Module:
    """PyTorch's default initialization (uniform, scaled by 1/sqrt(fan_in), with biases), the way deep
    networks were initialized before He et al. 2015: too small a gain per layer for ReLU."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.reset_parameters()
    return model


def recorded_ratio(data, block: str, repeats: int) -> float:
    torch.manual_seed(0)
    arch = ArchSpec(1, 10, (StageSpec(repeats, 16, 1),), block=block, norm="none", stem_channels=16)
    model = classic_init(build_model(arch))
    recorder = GradientRecorder(model)
    train(model, data, TrainSpec(epochs=1, batch_size=128, lr=0.01), resolve_runtime("cpu"), after_step=recorder)
    return recorder.summary().ratio


def test_deep_plain_network_without_norm_vanishes_where_residual_one_does_not(digits):
    # the same 20 weighted layers: 18 plain convs, or 9 basic blocks of 2 convs with identity shortcuts
    plain, residual = recorded_ratio(digits, "plain", 18), recorded_ratio(digits, "basic", 9)
    assert plain < VANISHING  # measured ~1e-9: the first layer learns nothing
    assert VANISHING < residual < 10  # measured ~0.2
    assert plain < 1e-3 * residual


def test_records_a_few_fixed_steps_spread_over_training(digits):
    model = build_model(SMALL)
    recorder = GradientRecorder(model)
    spec = TrainSpec(epochs=3, batch_size=64, lr=0.05)
    train(model, digits, spec, resolve_runtime("cpu"), after_step=recorder)
    total = 3 * (len(digits.train) // 64)
    summary = recorder.summary()
    assert summary.total_steps == total
    assert summary.steps == [0, round((total - 1) / 4), round((total - 1) / 2), round(3 * (total - 1) / 4), total - 1]
    assert set(summary.groups) == {"stem", "stage1", "stage2", "head"}
    assert summary.first_layer == "stem.0.conv.weight" and summary.last_layer == "head.fc.weight"
    assert all(len(v) == 5 and all(x > 0 for x in v) for v in summary.groups.values())
    assert summary.first == summary.groups["stem"]  # the stem has one conv: its norm is the group's
    assert summary.ratio in summary.ratios
    assert GradientSummary.from_dict(summary.to_dict()) == summary


def test_norms_are_the_weights_gradient_norms():
    model = build_model(SMALL)
    nn.functional.cross_entropy(model(torch.randn(8, 1, 8, 8)), torch.arange(8)).backward()
    recorder = GradientRecorder(model)
    recorder.record(0)
    summary = recorder.summary()
    groups, weights, index, _, _ = weight_groups(model)
    stage2 = torch.stack([w.grad.norm() for w, i in zip(weights, index, strict=True) if groups[i] == "stage2"])
    assert summary.groups["stage2"][0] == pytest.approx(stage2.norm().item(), rel=1e-5)
    assert summary.last[0] == pytest.approx(model.head.fc.weight.grad.norm().item(), rel=1e-5)


def test_recording_costs_under_two_percent_of_training(digits):
    # the bound of issue 7: recording must cost < ~2% of training time. Measured here on the CPU, where the
    # recorder's work is synchronous, so its own clock (every call, the recordings, the read-back) is its cost.
    torch.manual_seed(0)
    model = build_model(SMALL)
    recorder = GradientRecorder(model)
    result = train(model, digits, TrainSpec(epochs=3, batch_size=64, lr=0.05), resolve_runtime("cpu"),
                   after_step=recorder)
    recorder.summary()
    fraction = recorder.seconds / result.seconds
    print(f"gradient recording: {recorder.seconds * 1000:.2f} ms of {result.seconds:.2f} s training = {fraction:.3%}")
    assert len(recorder.steps) == 5
    assert fraction < 0.01  # half the bound, as margin; measured ~0.1%


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_records_from_a_captured_step_without_leaving_the_graph(digits):
    summaries = {}
    for graph in (False, True):
        runtime = resolve_runtime("cuda", "fp32", cuda_graph=graph)
        data = place_data(digits, runtime.device, "device")
        torch.manual_seed(0)
        model = build_model(SMALL)
        recorder = GradientRecorder(model)
        result = train(model, data, TrainSpec(epochs=2, batch_size=64), runtime, seed=1, after_step=recorder)
        summaries[graph] = (result.step_mode, recorder.summary())
    assert summaries[True][0] == "cuda graph"  # recording did not force eager steps
    eager, graphed = summaries[False][1], summaries[True][1]
    assert graphed.steps == eager.steps
    assert graphed.first[0] == pytest.approx(eager.first[0], rel=1e-3)  # step 0: same weights, same batch
    assert all(x > 0 for x in graphed.last)
