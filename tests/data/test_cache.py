import os
import time

import numpy as np

from nasprune.data import DataOptions, load_data
from nasprune.data import cache as cache_module


def entries(tmp_path):
    root = tmp_path / "cache"
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) if root.exists() else []


def test_decoded_once_then_loaded_from_the_cache(image_folder, tmp_path, monkeypatch):
    root = image_folder(splits=None)
    first = load_data(f"imagefolder:{root}")
    assert len(entries(tmp_path)) == 1
    calls = []
    monkeypatch.setattr("nasprune.data.load.read_imagefolder", lambda *a, **k: calls.append(1))
    again = load_data(f"imagefolder:{root}")
    assert not calls  # nothing decoded the second time
    assert np.array_equal(first.train.x.numpy(), again.train.x.numpy())


def test_a_changed_file_or_option_gives_a_new_entry(image_folder, tmp_path):
    root = image_folder(splits=None)
    load_data(f"imagefolder:{root}")
    load_data(f"imagefolder:{root}", DataOptions(image_size=(6, 6)))
    assert len(entries(tmp_path)) == 2
    later = time.time() + 5
    os.utime(root / "cat" / "000.png", (later, later))
    load_data(f"imagefolder:{root}")
    assert len(entries(tmp_path)) == 3


def test_splitting_does_not_touch_the_cache(image_folder, tmp_path):
    root = image_folder(splits=None, per_class=10)
    a = load_data(f"imagefolder:{root}", seed=0)
    b = load_data(f"imagefolder:{root}", seed=1)
    assert len(entries(tmp_path)) == 1 and not np.array_equal(a.test.x.numpy(), b.test.x.numpy())


def test_a_damaged_entry_is_rebuilt(image_folder, tmp_path, caplog):
    root = image_folder(splits=None)
    load_data(f"imagefolder:{root}")
    entry = tmp_path / "cache" / entries(tmp_path)[0]
    (entry / "train_x.npy").write_bytes(b"garbage")
    data = load_data(f"imagefolder:{root}")
    assert data.train.x.shape[1:] == (3, 12, 10) and "damaged" in caplog.text


def test_no_cache_and_an_unwritable_cache(image_folder, tmp_path, monkeypatch, caplog):
    root = image_folder(splits=None)
    load_data(f"imagefolder:{root}", DataOptions(cache=False))
    assert entries(tmp_path) == []
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("NASPRUNE_CACHE_DIR", str(blocker / "sub"))  # a path under a file: cannot be created
    data = load_data(f"imagefolder:{root}")
    assert len(data.train) and "continuing without it" in caplog.text


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("NASPRUNE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_module.cache_root() == tmp_path / "xdg" / "nasprune"
