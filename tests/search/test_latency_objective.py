"""Latency where the model will run as an objective and a budget (issue 30, item 1): measured before training in
the runtime the user names, once per architecture, recorded with its runtime, batch and threads."""

import optuna
import pytest
from optuna.trial import TrialState

from nasprune import ConfigError, SearchConfig, StudyError, search
from nasprune.cli.parser import build_parser
from nasprune.measure import Latency
from nasprune.record import open_storage, stamp_of
from nasprune.search import objective as objective_module


def run(tmp_path, tiny_space, **kw):
    config = SearchConfig(**{"space": tiny_space, "trials": 4, "epochs": 1, "results_dir": tmp_path, **kw})
    result = search(config)
    return result, optuna.load_study(study_name=result.study_name, storage=open_storage(result.storage))


FIXED = """\
name: fixed
architecture:
  stem: cifar
  stem_channels: 8
  block: plain
  stages: {count: 1, repeats: 1, channels: 8}
  norm: batch
  act: relu
training:
  epochs: 1
"""


def test_latency_is_the_second_objective_measured_once_per_architecture(tmp_path, tiny_space, write_space,
                                                                         monkeypatch):
    calls = []

    def fake(model, shape, runtime, batch, threads):  # the runtime's figure: a function of the architecture
        calls.append(runtime)
        ms = sum(p.numel() for p in model.parameters()) / 1e5
        return Latency(median_ms=ms, p10_ms=ms, p90_ms=ms, repeats=5, batch_size=batch, device="cpu", threads=threads,
                       runtime=runtime)

    monkeypatch.setattr(objective_module, "runtime_latency", fake)
    result, study = run(tmp_path, tiny_space, objectives="accuracy,latency", latency_runtime="onnxruntime",
                        latency_batch=4, trials=6)
    assert study.metric_names == ["val_accuracy", "latency_ms (onnxruntime, batch 4, 1 thread)"]
    assert stamp_of(study)["latency"] == {"runtime": "onnxruntime", "batch": 4, "threads": 1,
                                          "where": "ONNX Runtime CPU batch 4, 1 thread"}
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    for t in complete:
        assert t.values[1] == t.user_attrs["latency_ms"]
        assert t.user_attrs["latency"]["runtime"] == "onnxruntime" and t.user_attrs["latency"]["batch_size"] == 4
        assert "mflops" in t.user_attrs  # MFLOPs stay beside it
    measured = [t for t in study.trials if "latency_ms" in t.user_attrs]
    assert len(calls) == len({t.user_attrs["arch"] for t in measured})  # one measurement per distinct architecture
    assert result.metric_names[1].startswith("latency_ms (onnxruntime")
    calls.clear()  # a space of one network: three trials, one measurement
    fixed = write_space(FIXED, "fixed.yaml")
    _, study = run(tmp_path, fixed, objectives="accuracy,latency", latency_runtime="onnxruntime", trials=3)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3 and calls == ["onnxruntime"]


def test_a_latency_budget_stops_slower_candidates_before_training(tmp_path, tiny_space, monkeypatch):
    def fake(model, shape, runtime, batch, threads):
        ms = 9.0 if sum(p.numel() for p in model.parameters()) > 3000 else 1.0  # the tiny space: 770-13,570
        return Latency(median_ms=ms, p10_ms=ms, p90_ms=ms, repeats=5, batch_size=batch, device="cpu", threads=threads,
                       runtime=runtime)

    monkeypatch.setattr(objective_module, "runtime_latency", fake)
    _, study = run(tmp_path, tiny_space, max_latency_ms=5.0, latency_runtime="onnxruntime", trials=10)
    slow = [t for t in study.trials if t.user_attrs.get("latency_ms") == 9.0]
    fast = [t for t in study.trials if t.user_attrs.get("latency_ms") == 1.0]
    assert slow and fast
    for t in slow:
        assert t.state == TrialState.PRUNED and "over budget: latency_ms 9 > budget 5" in t.user_attrs["reason"]
        assert not t.user_attrs.get("history")  # rejected before training
    assert stamp_of(study)["max_latency_ms"] == 5.0
    # a resume without the budget would mix trials judged by it with trials that were not
    with pytest.raises(StudyError, match="was made with latency=.*onnxruntime.*, this command asks for latency=None"):
        run(tmp_path, tiny_space, latency_runtime="onnxruntime", trials=12)


@pytest.mark.parametrize("kw, words", [
    ({"objectives": "accuracy,latency", "latency": False}, "--no-latency leaves nothing to optimize"),
    ({"latency_batch": 0}, "--latency-batch must be between 1 and 4096"),
    ({"max_latency_ms": 0.0}, "--max-latency-ms must be > 0"),
    ({"objectives": "accuracy,latency", "latency_runtime": "tflite"}, "unknown --latency-runtime 'tflite'"),
])
def test_bad_latency_options_are_one_line(kw, words):
    with pytest.raises(ConfigError, match=words):
        SearchConfig(**kw)


def test_onnxruntime_missing_says_what_to_install(monkeypatch):
    import nasprune.deploy as deploy

    monkeypatch.setattr(deploy, "onnx_missing", lambda: ["onnxruntime"])
    with pytest.raises(ConfigError, match=r"onnxruntime needs onnxruntime, not installed here: pip install"):
        SearchConfig(objectives="accuracy,latency", latency_runtime="onnxruntime")


def test_the_search_command_takes_the_latency_flags():
    args = build_parser().parse_args(["search", "--objectives", "accuracy,latency", "--latency-runtime",
                                      "onnxruntime", "--latency-batch", "8", "--max-latency-ms", "2.5"])
    assert (args.objectives, args.latency_runtime, args.latency_batch, args.max_latency_ms) == (
        "accuracy,latency", "onnxruntime", 8, 2.5)


def test_a_pruned_model_of_a_latency_study_is_recorded_with_its_latency_there(tmp_path, tiny_space):
    from nasprune import PruneConfig, prune

    result, _ = run(tmp_path, tiny_space, objectives="accuracy,latency", latency_batch=2, trials=3)
    pruned = prune(PruneConfig(study=result.study_name, results_dir=tmp_path, target_mflops=0.5, finetune_epochs=0,
                               latency_batch=2))
    companion = optuna.load_study(study_name=f"{result.study_name}.pruned", storage=open_storage(result.storage))
    (trial,) = companion.trials
    assert len(trial.values) == 2  # accuracy and latency, as the study's own trials
    deployed = pruned.summary["deployed"]
    assert (deployed["runtime"], deployed["batch"]) == ("torch", 2)  # where the study measured: its figure is used
    assert trial.values[1] == deployed["after_ms"]
