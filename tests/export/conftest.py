"""Export tests run tiny networks: one CPU thread each (several threads on a busy 2-core machine only wait on
each other, and tripled these tests' time)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
