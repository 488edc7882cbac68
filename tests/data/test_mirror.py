"""--augment auto chooses flips from the data: a quick classifier's accuracy on mirrored held-out images says
whether a mirror keeps the class."""

import numpy as np
import pytest
import torch

from nasprune import load_data
from nasprune.data.mirror import KEEP, MirrorTest, mirror_test
from nasprune.options import DataOptions


def _patches() -> dict[str, np.ndarray]:
    top, bottom, box, cross = (np.zeros((8, 8), np.uint8) for _ in range(4))
    top[:, :2] = top[:2, :] = 255  # a hook like ┌
    bottom[:, :2] = bottom[6:, :] = 255  # └
    box[[0, 7], :] = box[:, [0, 7]] = 255
    cross[3:5, :] = cross[:, 3:5] = 255
    return {"top": top, "bottom": bottom, "box": box, "cross": cross}


def shapes(mirror_classes: bool, n=600, side=16, seed=0):
    """Images of a shape at a random place on noise, four classes. mirror_classes: classes 0/1 (and 2/3) are
    each other's mirror image, as b and d are; otherwise the classes are four different shapes, each drawn in
    either orientation at random, as a photo's cat faces either way."""
    g = np.random.default_rng(seed)
    p = _patches()
    kinds = ([p["top"], p["top"][:, ::-1], p["bottom"], p["bottom"][:, ::-1]] if mirror_classes
             else [p["top"], p["bottom"], p["box"], p["cross"]])
    y = np.arange(n) % 4
    x = g.integers(0, 60, size=(n, 1, side, side)).astype(np.uint8)
    for i, c in enumerate(y):
        patch = kinds[c] if mirror_classes or g.random() < 0.5 else kinds[c][:, ::-1]
        r, col = g.integers(0, side - 8, size=2)
        x[i, 0, r:r + 8, col:col + 8] = np.maximum(x[i, 0, r:r + 8, col:col + 8], patch)
    return torch.from_numpy(x), torch.from_numpy(y)


def test_classes_that_a_mirror_swaps_get_no_flips():
    result = mirror_test(*shapes(mirror_classes=True))
    assert result.evidence and not result.flip
    assert result.kept < KEEP and "a mirror changes the class" in result.reason()


def test_classes_a_mirror_keeps_get_flips():
    result = mirror_test(*shapes(mirror_classes=False))
    assert result.evidence and result.flip, result
    assert "a mirror keeps the class" in result.reason()


def test_no_evidence_means_no_flip():
    result = MirrorTest(accuracy=0.12, mirrored=0.12, chance=0.08)
    assert not result.flip and "too close to chance" in result.reason()


def test_the_test_is_deterministic():
    x, y = shapes(mirror_classes=True, n=200)
    assert mirror_test(x, y, seed=3) == mirror_test(x, y, seed=3)


@pytest.mark.parametrize("mirror_classes, flip", [(True, False), (False, True)])
def test_auto_augmentation_of_a_folder_follows_the_evidence(tmp_path, mirror_classes, flip):
    from PIL import Image

    x, y = shapes(mirror_classes, n=400)
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        folder = tmp_path / f"class{int(label)}"
        folder.mkdir(exist_ok=True)
        Image.fromarray(image[0].numpy()).save(folder / f"{i}.png")
    data = load_data(f"imagefolder:{tmp_path}", DataOptions(cache=False))
    assert data.flip is flip and data.crop_padding == 2  # crop: an eighth of the short side
    assert ("so a mirror keeps the class" if flip else "so a mirror changes the class") in data.augment_note
    asked = load_data(f"imagefolder:{tmp_path}", DataOptions(cache=False, augment="crop,flip"))
    assert asked.flip and asked.augment_note == "as asked"  # an explicit --augment is kept


def test_known_data_sets_keep_their_rule():
    data = load_data("digits")
    assert not data.flip and not data.crop_padding and "auto for digits" in data.augment_note
