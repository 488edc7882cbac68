"""Shared fixtures: everything runs on the CPU with tiny inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nasprune.data import load_data

TINY_SPACE = """\
name: tiny
architecture:
  stem: cifar
  stem_channels: 8
  block: {choices: [plain, basic]}
  stages:
    count: {low: 1, high: 2}
    repeats: {low: 1, high: 2}
    channels: {choices: [8, 16]}
  norm: batch
  act: relu
training:
  epochs: 2
  batch_size: 64
  lr: {low: 0.05, high: 0.1}
  label_smoothing: 0.1
"""


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


def make_folder(root: Path, classes=("cat", "dog", "fox"), per_class=6, size=(12, 10), mode="RGB",
                splits=("train",), ext=".png", seed=0) -> Path:
    """root/<split>/<class>/<i>.<ext> (or root/<class>/ if splits is None); each class has its own colour,
    so labels can be checked from pixels."""
    rng = np.random.default_rng(seed)
    for split in splits or (None,):
        for c, name in enumerate(classes):
            folder = root / split / name if split else root / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                level = 40 + 80 * c  # class c is roughly this bright
                pixels = np.clip(rng.normal(level, 5, (size[0], size[1], 3)), 0, 255).astype(np.uint8)
                image = Image.fromarray(pixels, "RGB")
                (image.convert("L") if mode == "L" else image).save(folder / f"{i:03d}{ext}")
    return root


@pytest.fixture
def image_folder(tmp_path):
    def build(**kw):
        return make_folder(tmp_path / kw.pop("name", "data"), **kw)

    return build


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    # never read or write the user's real cache from the tests
    monkeypatch.setenv("NASPRUNE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def digits():
    return load_data("digits")


@pytest.fixture
def write_space(tmp_path: Path):
    """Write YAML text to a file under tmp_path and return its path."""

    def write(text: str, name: str = "space.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def tiny_space(write_space) -> Path:
    return write_space(TINY_SPACE, "tiny.yaml")
