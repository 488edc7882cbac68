"""nasprune prune --target-latency, and the slower-than-source check every prune makes: the latency measurement is
injected (a function of the network's MACs), so the tests assert what pruning does with the figures, never a
timing; one run times ONNX Runtime for real and asserts only that the figures are there."""

import importlib
import json

import pytest

import nasprune.deploy
from nasprune import ConfigError, PruneConfig, SearchConfig, prune, search
from nasprune.choices import LATENCY_RUNTIMES
from nasprune.cli import main
from nasprune.measure import Latency, count_macs
from nasprune.prune.latency import prune_to_latency

SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def study(tmp_path_factory, latency_space):
    root = tmp_path_factory.mktemp("latency-target")
    search(SearchConfig(space=str(latency_space), trials=2, results_dir=root / "results", latency=False,
                        study="s"))
    return root / "results"


def fake(ms: float) -> Latency:
    return Latency(ms, 0.97 * ms, 1.03 * ms, 50, 1, "cpu", 1, runtime="onnxruntime")


def by_macs(model):
    """A runtime where latency follows the MACs exactly (0.01 ms per MFLOP)."""
    return fake(0.01 * count_macs(model, SHAPE) / 1e6)


def against_macs(model):
    """A runtime where fewer MACs run slower (as ONNX Runtime did on the 8x8 winner halved in MACs)."""
    return fake(1e4 / count_macs(model, SHAPE))


def config(results, **kw):
    return PruneConfig(**{"study": "s", "results_dir": results, "finetune_epochs": 0, "record": False, **kw})


def test_a_latency_target_prunes_in_measured_steps_until_it_is_met(study):
    result = prune(config(study, name="half", target_latency=0.5), latency=by_macs)
    s = result.summary
    assert s["target"]["kind"] == "latency" and s["target"]["reached"] and s["error"] is None
    assert s["target"]["latency_kept"] <= 0.5 and s["after"]["mflops"] <= 0.5 * s["before"]["mflops"]
    steps = s["target"]["steps"]
    assert steps["stopped"] == "reached" and len(steps["steps"]) >= 2
    assert [step["latency_ms"] for step in steps["steps"]] == sorted(step["latency_ms"] for step in steps["steps"])[::-1]
    assert s["deployed"]["runtime"] == "torch" and s["deployed"]["kept"] == s["target"]["latency_kept"]
    assert s["round_to"] == nasprune.deploy.fast_channels("torch")
    assert all(c["after"] % s["round_to"] == 0 or c["after"] == c["before"] for c in s["channels"]
               if c["layer"] != "head.fc")
    assert "keep 50% of the latency in PyTorch CPU batch 1, 1 thread" in (result.out / "summary.md").read_text()


def test_a_pruned_model_slower_than_its_source_is_an_error_the_summary_names(study):
    result = prune(config(study, name="slower", target_mflops=0.5), latency=against_macs)
    s = result.summary
    assert s["deployed"]["slower"] and s["error"].startswith("the pruned model is ") and "slower than its source" in s["error"]
    assert json.loads((result.out / "summary.json").read_text())["error"] == s["error"]
    assert f"**ERROR**: {s['error']}" in (result.out / "summary.md").read_text()
    # within the source's own spread is not slower
    same = prune(config(study, name="same", target_mflops=0.5), latency=lambda m: fake(0.2))
    assert same.summary["error"] is None and not same.summary["deployed"]["slower"]


def test_a_latency_target_that_only_gets_slower_keeps_the_source(study):
    result = prune(config(study, name="only-slower", target_latency=0.5), latency=against_macs)
    s = result.summary
    assert s["target"]["steps"]["stopped"] == "no faster" and s["target"]["steps"]["kept_steps"] == 0
    assert not s["target"]["reached"] and s["after"]["mflops"] == s["before"]["mflops"] and s["error"] is None


def test_a_latency_target_that_ends_slower_fails_on_the_command_line(study, monkeypatch, capsys):
    """Met while pruning, slower in the final measurement (the machine got busy after fine-tuning began): the
    summary names it and the command exits with 1."""
    run = importlib.import_module("nasprune.prune.run")  # the module: nasprune.prune.run is also the function's name
    busy, finetune = [], run._finetune
    monkeypatch.setattr(run, "_finetune", lambda *a, **k: busy.append(True) or finetune(*a, **k))
    monkeypatch.setattr(run, "runtime_latency",
                        lambda model, *a, **k: fake(by_macs(model).median_ms * (10 if busy else 1)))
    code = main(["prune", "--study", "s", "--results-dir", str(study), "--finetune-epochs", "0", "--no-record",
                 "--target-latency", "0.5", "--name", "cli-slower"])
    captured = capsys.readouterr()
    assert code == 1 and "nasprune: error: the pruned model is" in captured.err and "slower than its source" in captured.err
    assert "target 50%: NOT reached" in captured.out
    summary = json.loads((study / "s" / "pruned" / "cli-slower" / "summary.json").read_text())
    assert summary["target"]["steps"]["stopped"] == "reached" and summary["deployed"]["slower"]


def test_prune_to_latency_keeps_the_fastest_network_when_latency_no_longer_falls(study):
    from nasprune.record import load_picked

    model = load_picked(study="s", results_dir=study, purpose="prune").model
    macs = count_macs(model, SHAPE)
    times = iter([1.0, 0.8, 0.8, 0.8, 0.8])  # the first step is faster, the next three are not
    model, log, latency = prune_to_latency(model, SHAPE, 0.5, "l1", lambda m: fake(next(times)))
    assert not log.reached and latency.stopped == "no faster" and len(latency.steps) == 4
    assert latency.kept_step == 1 and count_macs(model, SHAPE) / 1e6 == pytest.approx(latency.steps[0]["mflops"], abs=1e-4)
    assert count_macs(model, SHAPE) < macs and log.history  # the first step's pruning, replayable


def test_onnx_runtime_for_real(study):
    pytest.importorskip("onnxruntime", reason="the export extra: pip install -e '.[export]'")
    result = prune(config(study, name="ort", target_latency=0.9, latency_runtime="onnxruntime"))
    deployed = result.summary["deployed"]
    assert deployed["runtime"] == "onnxruntime" and deployed["where"].startswith("ONNX Runtime CPU batch 1, 1 thread")
    assert deployed["latency"]["after"]["runtime"] == "onnxruntime" and deployed["after_ms"] > 0
    assert result.summary["target"]["steps"]["steps"] or result.summary["target"]["reached"]


@pytest.mark.parametrize("argv, message", [
    (["--target-latency", "0"], "--target-latency must be > 0 and <= 1 (got 0)"),
    (["--target-latency", "1.5"], "--target-latency must be > 0 and <= 1 (got 1.5)"),
    (["--target-latency", "0.5", "--target-mflops", "0.5"], "give one target"),
    (["--target-latency", "0.5", "--sparse-epochs", "1"], "--sparse-epochs works with"),
    (["--latency-runtime", "tensorrt"], "invalid choice: 'tensorrt'"),
    (["--latency-batch", "0"], "--latency-batch must be between 1 and 4096"),
])
def test_bad_latency_options_are_one_line_errors(argv, message, capsys):
    code = main(["prune", "--study", "s", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_onnxruntime_missing_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setattr(nasprune.deploy, "onnx_missing", lambda exporter="torchscript": ["onnxruntime"])
    with pytest.raises(ConfigError, match=r"--latency-runtime onnxruntime needs onnxruntime, not installed here: "
                                          r"pip install -e '.\[export\]'"):
        PruneConfig(study="s", target_latency=0.5, latency_runtime="onnxruntime")
    assert main(["prune", "--study", "s", "--latency-runtime", "onnxruntime"]) == 2
    assert "pip install" in capsys.readouterr().err


def test_target_latency_one_is_allowed_and_the_cli_offers_the_runtimes_deploy_measures():
    assert PruneConfig(study="s", target_latency=1.0).target.describe() == "keep 100% of the latency"
    assert LATENCY_RUNTIMES == nasprune.deploy.LATENCY_RUNTIMES  # one registry (choices), deploy's is it
    assert all(runtime in nasprune.deploy.RUNTIME_NAMES for runtime in LATENCY_RUNTIMES)


def test_the_unchanged_source_is_not_measured_again_before_the_first_step(study):
    """A second measurement of the source, 10% faster by noise alone, once met a 0.9 goal before any step, so
    nothing was pruned and the target was reported missed after fine-tuning."""
    from nasprune.record import load_picked

    model = load_picked(study="s", results_dir=study, purpose="prune").model
    measured = []

    def noisy(m):  # every measurement below the goal
        measured.append(m)
        return fake(0.85)

    model, log, latency = prune_to_latency(model, SHAPE, 0.9, "l1", noisy, base=fake(1.0), now=fake(1.0))
    assert latency.stopped == "reached" and len(latency.steps) == 1 and len(measured) == 1 and log.history
