import json

import pytest

from nasprune import ArchSpec, SpecError, StageSpec, TrainSpec, TrialSpec, describe


def arch(**kw):
    base = dict(in_channels=3, num_classes=10, stages=(StageSpec(2, 16, 1), StageSpec(2, 32, 2)))
    return ArchSpec(**{**base, **kw})


def test_trial_spec_round_trips_through_json():
    spec = TrialSpec(arch(block="mbconv", expansion=6.0, se_ratio=0.25, act="silu", dropout=0.1),
                     TrainSpec(epochs=3, lr=0.05, optimizer="adamw"))
    again = TrialSpec.from_json(json.dumps(json.loads(spec.to_json())))
    assert again == spec
    assert isinstance(again.arch.stages[0], StageSpec)


def test_specs_are_frozen_and_hashable():
    a = arch()
    with pytest.raises(AttributeError):
        a.block = "plain"
    assert hash(a) == hash(arch())


@pytest.mark.parametrize("change, message", [
    (dict(stages=()), "at least one stage"),
    (dict(stages=(StageSpec(0, 16, 1),)), "stages[1].repeats"),
    (dict(stages=(StageSpec(1, 16, 3),)), "stride must be 1 or 2"),
    (dict(kernel_size=4), "kernel_size must be odd"),
    (dict(se_ratio=1.5), "se_ratio"),
    (dict(dropout=1.0), "dropout"),
    (dict(in_channels=True), "in_channels"),
])
def test_invalid_arch_is_a_spec_error(change, message):
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        arch(**change)


def test_unknown_key_in_json_is_refused():
    data = TrialSpec(arch()).to_dict()
    data["arch"]["blocks"] = "basic"
    with pytest.raises(SpecError, match="unknown key 'blocks'"):
        TrialSpec.from_dict(data)


def test_bad_json_is_a_spec_error():
    with pytest.raises(SpecError, match="not valid JSON"):
        TrialSpec.from_json("{arch:")


@pytest.mark.parametrize("change, message", [
    (dict(optimizer="rmsprop"), "optimizer must be one of sgd, adamw"),
    (dict(schedule="step"), "schedule"),
    (dict(lr=0), "lr must be > 0"),
    (dict(epochs=0), "epochs"),
    (dict(label_smoothing=1.0), "label_smoothing"),
])
def test_invalid_train_spec(change, message):
    with pytest.raises(SpecError, match=message):
        TrainSpec(**change)


def test_describe_is_one_line_with_the_shape_of_the_network():
    text = describe(arch(block="bottleneck", expansion=4.0, se_ratio=0.25, shortcut="pad"))
    assert "\n" not in text
    assert text.startswith("bottleneck[2,2]x[16,32]")
    assert "e4" in text and "se0.25" in text and "shortcut=pad" in text
