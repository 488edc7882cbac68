import itertools

import pytest
import torch

from nasprune import ArchSpec, ConfigError, StageSpec, TrialSpec, build_model, count_macs, count_params, load_model
from nasprune.checkpoint import save_model
from nasprune.nn import BLOCKS, NORMS
from nasprune.nn.network import is_blind
from nasprune.prune import IMPORTANCES, Target, prune_channels

SHAPE = (3, 8, 8)


def wide(block, norm, **kw):
    # wide enough that group norm (which shrinks a layer by multiples of its 8 groups) can land near a target
    return ArchSpec(3, 5, (StageSpec(2, 48, 1), StageSpec(2, 96, 2)), block=block, norm=norm, stem_channels=48,
                    se_ratio=0.25, expansion={"bottleneck": 4.0, "mbconv": 2.0}.get(block, 1.0), **kw)


@pytest.mark.parametrize("block, norm", [c for c in itertools.product(BLOCKS.names(), NORMS.names()) if not is_blind(*c)])
def test_every_block_and_norm_prunes_to_the_target_and_reloads(block, norm, tmp_path):
    arch = wide(block, norm)
    torch.manual_seed(0)
    model = build_model(arch)
    base = count_macs(model, SHAPE)
    model, log = prune_channels(model, SHAPE, Target("mflops", 0.5), "l1", steps=3)
    kept = count_macs(model, SHAPE) / base
    assert log.reached and 0.475 <= kept <= 0.5, kept  # at the target, within 5% below it
    model.train()
    out = model(torch.randn(4, *SHAPE))
    assert out.shape == (4, 5)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    save_model(tmp_path / "m", TrialSpec(arch), model, log.history, SHAPE)
    state = torch.load(tmp_path / "m" / "weights.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    _, again = load_model(tmp_path / "m")
    probe = torch.randn(3, *SHAPE)
    assert torch.equal(again.eval()(probe), model(probe))


@pytest.mark.parametrize("kind, value", [("params", 0.4), ("channels", 0.3)])
def test_parameter_and_channel_targets(kind, value):
    model = build_model(wide("basic", "batch"))
    base = count_params(model)
    widths = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    model, log = prune_channels(model, SHAPE, Target(kind, value), "l2")
    if kind == "params":
        assert 0.38 <= count_params(model) / base <= 0.4
    else:
        after = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        assert all(abs(a / b - (1 - value)) < 0.05 for a, b in zip(after, widths, strict=True))
    assert log.reached


@pytest.mark.parametrize("importance", sorted(IMPORTANCES))
def test_every_importance_prunes(importance):
    model = build_model(wide("basic", "batch"))
    x, y = torch.randn(16, *SHAPE), torch.randint(0, 5, (16,))
    calls = []

    def gradients(m):
        calls.append(1)
        torch.nn.functional.cross_entropy(m.train()(x), y).backward()

    base = count_macs(model, SHAPE)
    model, log = prune_channels(model, SHAPE, Target("mflops", 0.6), importance, gradients=gradients)
    assert log.reached and count_macs(model, SHAPE) <= 0.6 * base
    assert bool(calls) == (importance == "taylor")  # only Taylor asks for gradients


def test_the_classifier_keeps_its_outputs():
    model, _ = prune_channels(build_model(wide("plain", "batch")), SHAPE, Target("mflops", 0.3), "random")
    assert model.head.fc.out_features == 5


def test_round_to_keeps_channel_counts_multiples():
    model, _ = prune_channels(build_model(wide("basic", "batch")), SHAPE, Target("mflops", 0.5), "l1", round_to=8)
    assert all(m.out_channels % 8 == 0 for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.out_channels > 5)


@pytest.mark.parametrize("kind, value, message", [
    ("mflops", 0.0, "--target-mflops must be between 0 and 1"), ("mflops", 1.0, "between 0 and 1"),
    ("params", -0.5, "--target-params"), ("channels", 1.2, "--channel-ratio"), ("flops", 0.5, "unknown target")])
def test_bad_targets_are_refused(kind, value, message):
    with pytest.raises(ConfigError, match=message):
        Target(kind, value)


def test_gradient_importance_without_gradients_is_refused():
    with pytest.raises(ConfigError, match="needs gradients"):
        prune_channels(build_model(wide("basic", "batch")), SHAPE, Target("mflops", 0.5), "taylor")
