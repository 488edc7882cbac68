"""Shared fixtures: everything runs on the CPU with tiny inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

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
