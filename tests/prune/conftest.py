"""The tiny space the prune-latency tests search (two stages of one basic or plain block, one epoch on digits),
written once per session."""

import pytest

SPACE = """\
architecture:
  stem_channels: 16
  block: {choices: [basic, plain]}
  stages: {count: 2, repeats: 1, channels: [24, 40]}
training: {epochs: 1, batch_size: 64, lr: 0.1}
"""


@pytest.fixture(scope="session")
def latency_space(tmp_path_factory):
    """The path of that space's YAML file."""
    path = tmp_path_factory.mktemp("latency-space") / "space.yaml"
    path.write_text(SPACE)
    return path
