"""The stratified start tries every choice of every categorical parameter, and a new study runs it first."""

import pytest

from nasprune import load_space
from nasprune.space import fit_space, parameters
from nasprune.space.cover import coverage
from nasprune.space.values import Choice


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32)])
def test_every_choice_of_every_categorical_parameter_is_tried(shape):
    space = fit_space(load_space("default"), shape)
    cover = coverage(space, seed=0)
    categorical = {n: f.choices for n, f in parameters(space).items() if isinstance(f, Choice)}
    assert {"block", "norm", "act", "downsample", "s3_channels"} <= set(categorical)
    assert len(cover) == max(len(c) for c in categorical.values())
    for name, choices in categorical.items():
        assert {c[name] for c in cover} == set(choices), name
    assert all(set(c) == set(categorical) for c in cover)  # numeric parameters are left to the sampler


def test_the_start_is_seeded_and_parameters_do_not_move_together():
    space = fit_space(load_space("default"), (3, 32, 32))
    assert coverage(space, seed=0) == coverage(space, seed=0)
    assert coverage(space, seed=0) != coverage(space, seed=1)
    a = [c["block"] for c in coverage(space, 0)]
    b = [c["norm"] for c in coverage(space, 0)]
    assert len(set(zip(a, b, strict=True))) > 3  # not the same pairing every time: a Latin square, not a diagonal


def test_a_space_without_categorical_parameters_has_no_coverage(write_space, tiny_space):
    text = tiny_space.read_text().replace("{choices: [plain, basic]}", "basic").replace("{choices: [8, 16]}", "8")
    space = load_space(write_space(text, "numeric.yaml"))
    assert "lr" in parameters(space) and coverage(space) == []
