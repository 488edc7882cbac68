"""Sampling: fixed parameter names and distributions across trials, conditional parameters only where
they exist, presets as fixed specs."""

import optuna
import pytest

from nasprune import SpaceError, fixed_spec, load_space, sample_spec
from nasprune.space.values import Fixed


def random_specs(space, n=60, seed=0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append((trial, sample_spec(space, trial, 1, 10)))
    return out


def test_parameter_names_keep_one_distribution_across_trials():
    space = load_space("default")
    seen = {}
    for trial, spec in random_specs(space):
        for name, dist in trial.distributions.items():
            assert seen.setdefault(name, dist) == dist, name
        stages = trial.params["stages"]
        assert len(spec.arch.stages) == stages
        # per-stage parameters exist exactly for the stages the trial has
        assert {n for n in trial.params if n.startswith("s") and n[1].isdigit()} == {
            f"s{i}_{k}" for i in range(1, stages + 1) for k in ("repeats", "channels")}


def test_values_stay_inside_the_space():
    space = load_space("default")
    for _, spec in random_specs(space):
        a = spec.arch
        assert a.block in ("plain", "basic", "mbconv") and a.norm in ("batch", "group", "none")
        assert all(1 <= s.repeats <= 3 and s.channels in (8, 16, 32, 64, 128, 256) for s in a.stages)
        assert a.downsample in ("conv", "maxpool", "avgpool")
        assert [s.stride for s in a.stages] == [1, 2, 2][: len(a.stages)]
        lr = space.train["lr"]  # a range of the file
        assert lr.low <= spec.train.lr <= lr.high and spec.train.epochs == 10 and spec.train.label_smoothing == 0.1


def test_block_specific_keys_are_sampled_only_for_blocks_that_use_them():
    space = load_space("default")
    for trial, spec in random_specs(space):
        if spec.arch.block == "mbconv":
            assert "expansion" in trial.params and spec.arch.expansion in (2.0, 4.0)
        else:
            assert "expansion" not in trial.params and spec.arch.expansion == 1.0


def test_geometric_widths(write_space):
    space = load_space(write_space("""\
architecture:
  stages:
    count: 3
    repeats: 1
    channels: {base: {choices: [16, 24]}, multiplier: 2}
"""))
    for trial, spec in random_specs(space, 10):
        base = trial.params["channels_base"]
        assert spec.arch.widths == (base, 2 * base, 4 * base)


def test_per_stage_lists_can_hold_searched_entries(write_space):
    space = load_space(write_space("""\
architecture:
  stages:
    repeats: [1, {low: 2, high: 4}]
    channels: [16, 32]
    stride: [1, {choices: [1, 2]}]
"""))
    for trial, spec in random_specs(space, 10):
        assert spec.arch.repeats[0] == 1 and spec.arch.repeats[1] == trial.params["s2_repeats"]
        assert set(trial.params) == {"s2_repeats", "s2_stride"}


def test_sampling_is_reproducible_with_a_seed():
    space = load_space("resnet")
    a = [s for _, s in random_specs(space, 5, seed=7)]
    b = [s for _, s in random_specs(space, 5, seed=7)]
    assert a == b


def test_fixed_spec_of_a_space_with_choices_is_refused():
    with pytest.raises(SpaceError, match="'block' is searched"):
        fixed_spec(load_space("default"))


def test_preset_is_fixed_and_takes_the_data_shape():
    space = load_space("resnet20")
    assert space.is_fixed and all(isinstance(v, Fixed) for v in space.arch.values())
    spec = fixed_spec(space, in_channels=1, num_classes=7)
    assert (spec.arch.in_channels, spec.arch.num_classes) == (1, 7)
    assert spec.arch.shortcut == "pad" and spec.arch.repeats == (3, 3, 3)
