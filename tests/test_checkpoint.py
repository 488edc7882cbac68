import os
import pickle

import pytest
import torch

from nasprune import ArchSpec, CheckpointError, StageSpec, TrialSpec, build_model, load_model, save_model
from nasprune.checkpoint import load_weights

SPEC = TrialSpec(ArchSpec(3, 4, (StageSpec(1, 8, 1), StageSpec(2, 16, 2)), block="mbconv", expansion=2.0,
                          se_ratio=0.25, norm="group", act="silu"))


def test_saved_model_reloads_to_identical_outputs(tmp_path):
    model = build_model(SPEC.arch).eval()
    save_model(tmp_path / "m", SPEC, model)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["spec.json", "weights.pt"]
    spec, again = load_model(tmp_path / "m")
    again.eval()
    x = torch.randn(2, 3, 16, 16)
    assert spec == SPEC and torch.equal(model(x), again(x))
    state = torch.load(tmp_path / "m" / "weights.pt", weights_only=True)  # plain tensors, nothing pickled
    assert all(isinstance(v, torch.Tensor) for v in state.values())


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(1), "x": Exploit()}, path)
    with pytest.raises(CheckpointError, match="refused to load: the file holds objects other than tensors"):
        load_weights(path)
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(CheckpointError, match="refused|not a readable"):
        load_weights(raw)


def test_corrupt_truncated_and_mismatched_files(tmp_path):
    save_model(tmp_path / "m", SPEC, build_model(SPEC.arch))
    weights = tmp_path / "m" / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_model(tmp_path / "m")
    other = TrialSpec(SPEC.arch.replace(stages=(StageSpec(1, 8, 1),)))
    save_model(tmp_path / "m", SPEC, build_model(other.arch))
    with pytest.raises(CheckpointError, match="the weights do not fit the spec"):
        load_model(tmp_path / "m")
    with pytest.raises(CheckpointError, match="not a saved model"):
        load_model(tmp_path)
    (tmp_path / "m" / "spec.json").write_text("{")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(tmp_path / "m")


def test_no_temporary_files_are_left_behind(tmp_path):
    save_model(tmp_path / "m", SPEC, build_model(SPEC.arch))
    assert not [p for p in (tmp_path / "m").iterdir() if p.name.startswith(".")]


def test_files_written_atomically_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from nasprune.checkpoint import atomic_write

    previous = os.umask(0o022)
    try:
        atomic_write(tmp_path / "report.md", lambda tmp: tmp.write_text("x"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "report.md").stat().st_mode) == 0o644  # as the PNGs beside it, not 0600
