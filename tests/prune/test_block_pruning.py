"""Depth pruning: whole identity-shortcut blocks out, a valid smaller spec and its weights saved."""

import json

import pytest
import torch

from nasprune import (
    ArchSpec,
    ConfigError,
    PruneConfig,
    StageSpec,
    TrainSpec,
    TrialSpec,
    build_model,
    load_model,
    prune,
    resolve_runtime,
    save_model,
    train,
)
from nasprune.cli import main
from nasprune.data import Normalizer
from nasprune.prune.blocks import removable_blocks, remove_blocks

ARCH = ArchSpec(1, 10, (StageSpec(2, 16, 1), StageSpec(2, 32, 2)), stem_channels=16)
RECIPE = TrainSpec(epochs=2, batch_size=64, lr=0.05)


@pytest.fixture(scope="module")
def models(tmp_path_factory, digits):
    """A trained basic[2,2] network, and the same network with an identity block inserted as stage 1's second
    block (its residual branch's last norm zeroed: it computes relu(0 + x) = x on the previous ReLU's output)."""
    root = tmp_path_factory.mktemp("blocks")
    torch.manual_seed(0)
    trained = build_model(ARCH)
    train(trained, digits, RECIPE, resolve_runtime("cpu"))
    bigger = build_model(ARCH.replace(stages=(StageSpec(3, 16, 1), StageSpec(2, 32, 2))))
    state = {k.replace("stages.0.blocks.1.", "stages.0.blocks.2."): v for k, v in trained.state_dict().items()}
    bigger.load_state_dict(state, strict=False)  # the new block 1 keeps its fresh weights ...
    with torch.no_grad():
        bigger.stages[0].blocks[1].conv2.norm.weight.zero_()  # ... and passes its input through
        bigger.stages[0].blocks[1].conv2.norm.bias.zero_()
    save_model(root / "trained", TrialSpec(ARCH, RECIPE), trained)
    save_model(root / "with-identity", TrialSpec(bigger.arch, RECIPE), bigger)
    return root, trained.eval(), bigger.eval()


def outputs(model, digits):
    return model.eval()(Normalizer(digits)(digits.val.x))


def test_remove_blocks_gives_a_smaller_spec_and_identical_outputs(models, digits):
    _, trained, bigger = models
    assert removable_blocks(bigger) == [(0, 0), (0, 1), (0, 2), (1, 1)]  # stage 2's first block strides
    smaller = remove_blocks(bigger, [(0, 1)])
    assert smaller.arch.repeats == (2, 2) and smaller.arch == trained.arch
    with torch.no_grad():
        assert torch.allclose(outputs(smaller, digits), outputs(trained, digits), atol=1e-6)
    assert bigger.arch.repeats == (3, 2)  # the model passed in is left as it was
    with pytest.raises(ConfigError, match="stage 2, block 1 cannot be removed"):
        remove_blocks(bigger, [(1, 0)])


def test_prune_blocks_removes_the_identity_block_with_identical_outputs(models, digits, tmp_path, capsys):
    root, trained, _ = models
    code = main(["prune", "--model", str(root / "with-identity"), "--data", "digits", "--blocks", "--block-max-drop",
                 "0", "--finetune-epochs", "0", "--results-dir", str(tmp_path), "--device", "cpu"])
    assert code == 0
    out = tmp_path / "pruned" / "with-identity-blocks"
    assert "blocks: 1 removed" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert [(b["stage"], b["block"]) for b in summary["blocks"]["removed"]] == [(1, 2)]
    assert summary["target"]["kind"] == "blocks" and summary["after"]["mflops"] < summary["before"]["mflops"]
    assert not (out / "pruning.json").exists()  # a plain smaller spec: nothing to replay
    spec, model = load_model(out)
    assert spec.arch.repeats == (2, 2)
    with torch.no_grad():
        assert torch.allclose(outputs(model, digits), outputs(trained, digits), atol=1e-6)
    assert "blocks removed" in (out / "summary.md").read_text()


def test_blocks_then_channels_to_a_target_of_the_original(models, digits, tmp_path):
    root, _, _ = models
    result = prune(PruneConfig(model=root / "with-identity", data="digits", blocks=True, target_mflops=0.6,
                               finetune_epochs=1, results_dir=tmp_path, device="cpu"))
    assert result.out.name == "with-identity-blocks-l1-mflops0.6"
    assert 0.5 <= result.after["mflops"] / result.before["mflops"] <= 0.6
    spec, model = load_model(result.out)  # the channel history replays on the smaller spec
    assert spec.arch.repeats == (2, 2)
    assert sum(p.numel() for p in model.parameters()) == result.after["params"]
    with pytest.raises(ConfigError, match="--blocks needs a model whose channels were not pruned"):
        prune(PruneConfig(model=result.out, data="digits", blocks=True, results_dir=tmp_path,
                          device="cpu", name="again"))
