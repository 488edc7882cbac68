"""Export tests run tiny networks: one CPU thread each (several threads on a busy 2-core machine only wait on
each other, and tripled these tests' time); ``study`` is a two-trial study of a tiny space, made once per module."""

import pytest
import torch

from nasprune import SearchConfig, search

SPACE = """\
architecture:
  stem_channels: 8
  block: {choices: [plain, basic]}
  stages: {count: 2, repeats: 1, channels: [8, 16]}
training: {epochs: 1, batch_size: 64, lr: 0.05}
"""


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The results folder of study ``s``: two trials of a tiny space on digits."""
    root = tmp_path_factory.mktemp("study")
    (root / "space.yaml").write_text(SPACE)
    search(SearchConfig(space=str(root / "space.yaml"), trials=2, results_dir=root / "results", study="s",
                        latency=False))
    return root / "results"
