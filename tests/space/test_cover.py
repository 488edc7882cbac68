"""The stratified start tries every kind of every categorical parameter, at the sizes of a sound network."""

import pytest

from nasprune import load_space
from nasprune.space import fit_space, parameters
from nasprune.space.cover import coverage
from nasprune.space.values import Choice


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (3, 32, 48)])
def test_every_kind_of_every_categorical_parameter_is_tried(shape):
    space = fit_space(load_space("default"), shape)
    cover = coverage(space, seed=0)
    forms = parameters(space)
    kinds = {n: f.choices for n, f in forms.items()
             if isinstance(f, Choice) and any(isinstance(c, str) for c in f.choices)}
    assert {"block", "norm", "act", "downsample"} <= set(kinds) and "s3_channels" in forms
    assert len(cover) == max(len(c) for c in kinds.values())
    for name, choices in kinds.items():
        assert {c[name] for c in cover} == set(choices), name
    assert all(set(c) == set(kinds) for c in cover)  # sizes and rates are left to the sampler


def test_the_rest_of_each_candidate_is_the_base_network_so_it_costs_about_as_much():
    """Dealt over every channel choice too, the candidates at 48x32 cost 15-200 MFLOPs and were stopped as too
    slow; at the first start candidate's sizes each is that network with other kinds of layers."""
    from dataclasses import replace

    from nasprune.measure import count_macs
    from nasprune.nn import build_model
    from nasprune.space import candidates

    space = fit_space(load_space("default"), (3, 32, 48), 12)
    base = space.start_with[0]
    cover = coverage(space, seed=0, base=base | {"not_a_parameter": 1})
    kinds = {"block", "norm", "act", "downsample", "stem"}
    assert all(c[k] == base[k] for c in cover for k in set(base) - kinds)
    assert all("not_a_parameter" not in c for c in cover)
    assert {c["block"] for c in cover} == {"plain", "basic", "mbconv"}
    specs = candidates(replace(space, start_with=[base, *cover]), 3, 12)
    macs = [count_macs(build_model(s.arch), (3, 32, 48)) / 1e6 for s in specs]
    assert max(macs) < 5 * macs[0], macs  # not the 15-200 MFLOPs of channels dealt up to 256


def test_the_start_is_seeded_and_parameters_do_not_move_together():
    space = fit_space(load_space("default"), (3, 32, 32))
    assert coverage(space, seed=0) == coverage(space, seed=0)
    assert coverage(space, seed=0) != coverage(space, seed=1)
    cover = coverage(space, 0)
    orders = {name: tuple(sorted(range(len(cover)), key=lambda i, n=name: str(cover[i][n])))
              for name in ("block", "norm", "act", "downsample")}
    assert len(set(orders.values())) > 1  # each parameter dealt in its own order: a Latin square, not a diagonal


def test_a_space_without_categorical_parameters_has_no_coverage(write_space, tiny_space):
    text = tiny_space.read_text().replace("{choices: [plain, basic]}", "basic").replace("{choices: [8, 16]}", "8")
    space = load_space(write_space(text, "numeric.yaml"))
    assert "lr" in parameters(space) and coverage(space) == []
