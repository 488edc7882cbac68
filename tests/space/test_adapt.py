"""The default space fits itself to the input: stem and strides bring the last feature map to a few pixels
at every resolution, and what a file states explicitly is kept."""

import pytest
import torch

from nasprune import SpaceError, load_space
from nasprune.nn import build_model
from nasprune.space import candidates, fit_space, fixed_spec, parameters, space_hash, stem_plan
from nasprune.space.adapt import stage_caps, width_cap


@pytest.mark.parametrize("shape, stems, first_stride", [
    ((1, 8, 8), ["cifar"], 1),
    ((3, 16, 16), ["cifar"], 1),
    ((1, 28, 28), ["cifar", "mobilenet"], 1),
    ((3, 32, 32), ["cifar", "mobilenet"], 1),
    ((3, 48, 64), ["mobilenet", "imagenet"], 1),
    ((3, 64, 64), ["mobilenet", "imagenet"], 1),
    ((3, 128, 128), ["mobilenet", "imagenet"], 2),
    ((3, 224, 224), ["imagenet"], 2),
])
def test_the_rule_for_each_resolution(shape, stems, first_stride):
    assert stem_plan(shape[1], shape[2], 3) == (stems, first_stride)
    space = fit_space(load_space("default"), shape)
    assert [s.values[0].value for s in [space.stages["stride"]]] == [first_stride]
    if len(stems) > 1:
        assert parameters(space)["stem"].choices == tuple(stems)
    else:
        assert "stem" not in parameters(space) and space.arch["stem"].value == stems[0]


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 48, 64), (3, 96, 96), (3, 224, 224)])
def test_every_candidate_ends_with_a_map_of_a_few_pixels(shape):
    space = fit_space(load_space("default"), shape)
    for spec in candidates(space, shape[0], 10, random=20, seed=1):
        if len(spec.arch.stages) < 3:
            continue  # fewer stages halve less: the rule is stated for the deepest networks of the space
        model = build_model(spec.arch).eval()
        with torch.no_grad():
            side = min(model.stages(model.stem(torch.zeros(1, *shape))).shape[2:])
        assert 1 <= side <= 8, (shape, spec.arch.stem, side)
        assert side >= 2 or min(shape[1:]) < 16


@pytest.mark.parametrize("shape, stem", [((1, 8, 8), "cifar"), ((3, 32, 32), "mobilenet"), ((3, 64, 64), "imagenet")])
def test_start_candidates_are_a_narrow_and_a_wide_sound_network_at_the_coarser_stem(shape, stem):
    first = candidates(fit_space(load_space("default"), shape), shape[0], 10)
    assert [s.arch.stem for s in first] == [stem, stem]
    narrow, wide = (s.arch for s in first)
    assert (narrow.block, narrow.norm, narrow.widths) == ("basic", "batch", (16, 32, 64))
    assert (wide.block, wide.norm, wide.downsample) == ("plain", "batch", "maxpool")
    assert all(w >= n for w, n in zip(wide.widths, narrow.widths, strict=True)) and wide.widths > narrow.widths


@pytest.mark.parametrize("shape, classes, cap", [
    ((1, 8, 8), 10, 64), ((3, 16, 16), 10, 128), ((1, 28, 28), 10, 128), ((3, 32, 32), 10, 256),
    ((3, 32, 48), 12, 256), ((3, 224, 224), 10, 256), ((3, 8, 8), 100, 256), ((3, 32, 32), 1000, 512),
])
def test_widths_grow_with_the_resolution_and_the_classes(shape, classes, cap):
    assert width_cap(shape[1], shape[2], classes) == cap
    space = fit_space(load_space("default"), shape, classes)
    caps = stage_caps(cap, 3)
    assert caps[-1] == cap and all(c >= 64 for c in caps) and caps == sorted(caps)
    reached = [max(parameters(space)[f"s{i}_channels"].choices) for i in (1, 2, 3)]
    assert reached == [min(c, 256) for c in caps]  # the file offers up to 256: the cap trims, never adds
    assert f"stages up to {'-'.join(map(str, caps))} channels" in space.description
    wide = candidates(space, shape[0], classes)[1].arch
    # the wide start candidate (64-128-256 in the file), narrowed to what the data allows, never widened
    assert list(wide.widths) == [min(r, w) for r, w in zip(reached, (64, 128, 256), strict=True)]


def test_a_sampled_network_never_puts_a_wide_stage_at_full_resolution():
    space = fit_space(load_space("default"), (3, 32, 32))
    widths = [spec.arch.widths for spec in candidates(space, 3, 10, random=40, seed=3)]
    assert all(w[0] <= 64 and w[1:2] <= (128,) for w in widths)
    assert any(256 in w for w in widths)  # while the last stage can reach 256


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 16, 16), (3, 32, 32), (3, 48, 32)])
def test_no_sampled_network_of_the_default_narrows_with_depth(shape):
    # before stages.widen: 19 of 44 draws with several stages narrowed somewhere at 16x16, 17 of 46 at 48x32
    # ([64, 8], [16, 32, 8]): a network that ends in 8 channels before its head, whatever it spent before
    space = fit_space(load_space("default"), shape, 12)
    caps = stage_caps(width_cap(shape[1], shape[2], 12), 3)
    for spec in candidates(space, shape[0], 12, random=60, seed=1):
        widths = list(spec.arch.widths)
        assert widths == sorted(widths)
        assert all(w <= c for w, c in zip(widths, caps, strict=False))  # stage i keeps stage i's cap


def test_widen_raises_a_narrower_draw_and_is_off_unless_asked(write_space):
    text = ("architecture:\n  stages:\n    count: 2\n    repeats: 1\n    channels: [32, 8]\n{}"
            "  norm: batch\n")
    fixed = load_space(str(write_space(text.format("    widen: true\n"), "wide.yaml")))
    assert fixed_spec(fixed, 1, 10).arch.widths == (32, 32)
    assert fixed_spec(load_space(str(write_space(text.format(""), "plain.yaml"))), 1, 10).arch.widths == (32, 8)
    with pytest.raises(SpaceError, match="architecture.stages.widen: must be true or false"):
        load_space(str(write_space(text.format("    widen: 1\n"), "bad.yaml")))


def test_keys_the_file_states_are_kept(write_space):
    path = write_space("""\
adapt: true
architecture:
  stem: cifar
  stages:
    count: 2
    repeats: 1
    channels: 8
    stride: [2, 2]
start_with:
  - {s1_repeats: 1}
""")
    with pytest.raises(SpaceError, match=r"start_with\[0\]\.s1_repeats: is not a searched parameter"):
        load_space(path)
    path.write_text(path.read_text().replace("    repeats: 1\n", "    repeats: {low: 1, high: 2}\n"))
    fitted = fit_space(load_space(path), (3, 224, 224))
    assert fitted.arch["stem"].value == "cifar"
    assert [v.value for v in fitted.stages["stride"].values] == [2, 2]


def test_the_fitted_space_is_recorded_as_searched():
    a, b = (fit_space(load_space("default"), shape) for shape in ((1, 8, 8), (3, 32, 32)))
    assert space_hash(a) != space_hash(b)
    assert "fitted to 3x32x32" in b.description and not b.adapt
    assert fit_space(load_space("resnet"), (3, 64, 64)) == load_space("resnet")  # no adapt: unchanged


@pytest.mark.parametrize("entry, words", [
    ("start_with: {block: basic}", "start_with: must be a list"),
    ("start_with: [basic]", r"start_with\[0\]: must be a non-empty mapping"),
    ("start_with: [{}]", r"start_with\[0\]: must be a non-empty mapping"),
    ("start_with: [{block: densenet}]", r"start_with\[0\]\.block: got 'densenet'; this space allows plain, basic"),
    ("start_with: [{lr: 5}]", r"start_with\[0\]\.lr: got 5; this space allows 0.05 .. 0.1"),
    ("start_with: [{s3_repeats: 1}]", r"start_with\[0\]\.s3_repeats: is not a searched parameter"),
    ("adapt: yes please", "adapt: must be true or false"),
])
def test_bad_start_candidates_name_the_key_and_what_is_allowed(write_space, tiny_space, entry, words):
    with pytest.raises(SpaceError, match=words):
        load_space(write_space(tiny_space.read_text() + entry + "\n", "bad.yaml"))
