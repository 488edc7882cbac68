import numpy as np
import pytest
import torch
from PIL import Image

from nasprune import DataError
from nasprune.data import DataOptions, load_data
from nasprune.data.imagefolder import read_imagefolder, scan_imagefolder


def test_single_folder_is_decoded_and_split(image_folder):
    root = image_folder(splits=None, per_class=10)
    raw = read_imagefolder(root)
    x, y = raw.splits["train"]
    assert raw.classes == ("cat", "dog", "fox") and x.shape == (30, 3, 12, 10) and x.dtype == np.uint8
    # class c was drawn around brightness 40 + 80c: labels follow the folders, channels are CHW
    for c in range(3):
        assert abs(x[y == c].mean() - (40 + 80 * c)) < 3
    data = load_data(f"imagefolder:{root}", DataOptions(val_fraction=0.2, test_fraction=0.2))
    assert (len(data.train), len(data.val), len(data.test)) == (18, 6, 6)
    assert sorted(torch.bincount(data.val.y).tolist()) == [2, 2, 2]  # stratified
    assert data.input_shape == (3, 12, 10) and data.crop_padding == 1  # a folder's default: crop ...
    assert data.flip is data.augment_note.startswith("auto: flip:")  # ... and flips where the data shows
    # that a mirror keeps the class (tests/data/test_mirror.py)


def test_train_val_test_folders_are_used_as_they_are(image_folder):
    root = image_folder(splits=("train", "val", "test"), per_class=4, mode="L", ext=".jpg")
    data = load_data(f"imagefolder:{root}")
    assert (len(data.train), len(data.val), len(data.test)) == (12, 12, 12)
    assert data.input_shape == (1, 12, 10)  # all grayscale: one channel
    assert data.augment_note.startswith("auto: ")  # grayscale or colour, the same evidence decides flips


def test_missing_val_is_split_off_train(image_folder):
    root = image_folder(splits=("train", "test"), per_class=10)
    data = load_data(f"imagefolder:{root}", DataOptions(val_fraction=0.2))
    assert (len(data.train), len(data.val), len(data.test)) == (24, 6, 30)


def test_mixed_grayscale_and_colour_becomes_rgb(image_folder):
    root = image_folder(splits=None)
    gray = Image.open(root / "cat" / "000.png").convert("L")
    gray.save(root / "cat" / "000.png")
    x, _ = read_imagefolder(root).splits["train"]
    assert x.shape[1] == 3
    first = x[0]
    assert np.array_equal(first[0], first[1]) and np.array_equal(first[1], first[2])  # repeated gray


def test_different_sizes_need_image_size(image_folder):
    root = image_folder(splits=None)
    Image.new("RGB", (20, 20)).save(root / "dog" / "big.png")
    with pytest.raises(DataError, match=r"different sizes .*pass --image-size"):
        read_imagefolder(root)
    x, _ = read_imagefolder(root, image_size=(8, 8)).splits["train"]
    assert x.shape[2:] == (8, 8)


def test_broken_images_are_named(image_folder):
    root = image_folder(splits=None)
    (root / "fox" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(DataError, match=r"1 image\(s\) cannot be read: .*fox/broken.png .*--skip-broken-images"):
        read_imagefolder(root)
    x, _ = read_imagefolder(root, skip_broken=True).splits["train"]
    assert len(x) == 18


@pytest.mark.parametrize("setup, message", [
    (lambda r: None, "no such folder"),
    (lambda r: (r / "only").mkdir(parents=True), "found 1 class folder"),
    (lambda r: [(r / c).mkdir(parents=True) for c in ("a", "b")], "a: class folder with no images"),
])
def test_layout_errors(tmp_path, setup, message):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(DataError, match=message):
        scan_imagefolder(root)


def test_mismatched_split_classes(image_folder):
    root = image_folder(splits=("train",))
    image_folder(name="data", splits=("test",), classes=("cat", "dog", "owl"))
    with pytest.raises(DataError, match=r"classes differ .*missing: fox; extra: owl"):
        scan_imagefolder(root)


def test_many_files_decode_in_a_process_pool(image_folder):
    root = image_folder(splits=None, per_class=700, size=(4, 4))  # over the pool threshold
    serial = read_imagefolder(root, workers=1).splits["train"]
    pooled = read_imagefolder(root, workers=2).splits["train"]
    assert np.array_equal(serial[0], pooled[0]) and np.array_equal(serial[1], pooled[1])
