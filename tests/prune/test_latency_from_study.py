"""nasprune prune measures latency where the study being pruned measured it: a study searched with a latency objective
or budget records its runtime, batch and threads in its stamp, and prune takes each of them the options leave out
(saying so); an option given wins. The measurement is injected where a test asserts what prune asked for, never a
timing; one test times ONNX Runtime for real."""

import importlib

import pytest

from nasprune import PruneConfig, SearchConfig, prune, search
from nasprune.cli import main
from nasprune.events import Note
from nasprune.measure import Latency
from nasprune.prune import LATENCY_DEFAULTS, resolve_latency

ORT_STAMP = {"objectives": "accuracy,latency", "max_latency_ms": None,
             "latency": {"runtime": "onnxruntime", "batch": 4, "threads": 2, "where": "ONNX Runtime CPU batch 4, 2 threads"}}


def _search(space, results, study, **options):
    search(SearchConfig(space=str(space), trials=1, results_dir=results, study=study, **options))


@pytest.fixture(scope="module")
def results(tmp_path_factory, latency_space):
    """Three studies on digits: ``lat`` optimizes latency in PyTorch at batch 2, 2 threads; ``budget`` only budgets
    it (``--max-latency-ms``) at batch 3; ``plain`` optimizes MFLOPs (its stamp records no latency)."""
    results = tmp_path_factory.mktemp("latency-from-study") / "results"
    _search(latency_space, results, "lat", objectives="accuracy,latency", latency_batch=2, latency_threads=2)
    _search(latency_space, results, "budget", max_latency_ms=1e4, latency_batch=3)
    _search(latency_space, results, "plain")
    return results


@pytest.fixture
def asked(monkeypatch):
    """Every (runtime, batch, threads) prune measures a network at, instead of timing it."""
    calls = []
    run = importlib.import_module("nasprune.prune.run")  # the module: nasprune.prune.run is also the function's name

    def fake(model, shape, runtime="torch", batch_size=1, threads=1, **timing):
        calls.append((runtime, batch_size, threads))
        return Latency(1.0, 0.97, 1.03, 50, batch_size, "cpu", threads, runtime=runtime)

    monkeypatch.setattr(run, "runtime_latency", fake)
    return calls


def config(results, study, **kw):
    return PruneConfig(**{"study": study, "results_dir": results, "finetune_epochs": 0, "record": False, **kw})


def test_the_study_s_runtime_batch_and_threads_fill_what_the_options_leave_out():
    resolved, taken = resolve_latency(PruneConfig(study="s", target_latency=0.5), ORT_STAMP)
    assert (resolved.latency_runtime, resolved.latency_batch, resolved.latency_threads) == ("onnxruntime", 4, 2)
    assert taken == ("latency_runtime", "latency_batch", "latency_threads")
    # an option given wins, field by field
    resolved, taken = resolve_latency(PruneConfig(study="s", latency_runtime="torch", latency_threads=1), ORT_STAMP)
    assert (resolved.latency_runtime, resolved.latency_batch, resolved.latency_threads) == ("torch", 4, 1)
    assert taken == ("latency_batch",)


@pytest.mark.parametrize("stamp", [{}, {"objectives": "accuracy,mflops", "latency": None}])
def test_a_study_that_measured_no_latency_for_a_decision_leaves_the_defaults(stamp):
    resolved, taken = resolve_latency(PruneConfig(study="s"), stamp)
    assert taken == () and {k: getattr(resolved, k) for k in LATENCY_DEFAULTS} == LATENCY_DEFAULTS


def test_prune_measures_where_the_latency_study_measured_and_says_so(results, asked):
    notes = []
    result = prune(config(results, "lat", name="from-study", target_latency=0.9),
                   on_event=lambda e: notes.append(e.text) if isinstance(e, Note) else None)
    assert asked and set(asked) == {("torch", 2, 2)}  # the target's steps and the slower-than-source check
    deployed = result.summary["deployed"]
    assert (deployed["runtime"], deployed["batch"], deployed["threads"]) == ("torch", 2, 2)
    assert deployed["from_study"] == ["latency_runtime", "latency_batch", "latency_threads"]
    assert ("  latency measured in PyTorch CPU batch 2, 2 threads: the study's (searched with --objectives "
            "accuracy,latency); --latency-runtime, --latency-batch, --latency-threads choose another") in notes
    assert "- latency in PyTorch CPU batch 2, 2 threads (the study's):" in (result.out / "summary.md").read_text()


def test_a_latency_budget_s_study_gives_its_settings_too(results, asked):
    notes = []
    result = prune(config(results, "budget", name="budget", latency_threads=1),
                   on_event=lambda e: notes.append(e.text) if isinstance(e, Note) else None)
    assert set(asked) == {("torch", 3, 1)} and result.summary["deployed"]["from_study"] == ["latency_runtime",
                                                                                            "latency_batch"]
    assert any("the study's (searched with --max-latency-ms 10000); --latency-runtime, --latency-batch choose "
               "another" in n for n in notes)


def test_an_option_given_on_the_command_line_wins(results, asked, capsys):
    code = main(["prune", "--study", "lat", "--results-dir", str(results), "--finetune-epochs", "0", "--no-record",
                 "--target-latency", "0.9", "--latency-batch", "1", "--name", "cli-batch1"])
    out = capsys.readouterr().out
    assert code == 0 and set(asked) == {("torch", 1, 2)}
    assert "latency measured in PyTorch CPU batch 1, 2 threads: the study's" in out
    assert "--latency-runtime, --latency-threads choose another" in out
    asked.clear()
    code = main(["prune", "--study", "lat", "--results-dir", str(results), "--finetune-epochs", "0", "--no-record",
                 "--target-latency", "0.9", "--latency-runtime", "torch", "--latency-batch", "1",
                 "--latency-threads", "1", "--name", "cli-all-given"])
    out = capsys.readouterr().out
    assert code == 0 and set(asked) == {("torch", 1, 1)} and "the study's" not in out


def test_a_study_without_a_latency_decision_is_pruned_with_the_defaults(results, asked, capsys):
    code = main(["prune", "--study", "plain", "--results-dir", str(results), "--finetune-epochs", "0",
                 "--no-record", "--name", "plain"])
    out = capsys.readouterr().out
    assert code == 0 and set(asked) == {("torch", 1, 1)} and "the study's" not in out


def test_an_onnx_runtime_study_is_pruned_in_onnx_runtime_for_real(results, latency_space):
    pytest.importorskip("onnxruntime", reason="the export extra: pip install -e '.[export]'")
    _search(latency_space, results, "ort", objectives="accuracy,latency", latency_runtime="onnxruntime")
    result = prune(config(results, "ort", name="ort", target_latency=0.9))
    deployed = result.summary["deployed"]
    assert deployed["runtime"] == "onnxruntime" and deployed["where"] == "ONNX Runtime CPU batch 1, 1 thread"
    assert deployed["latency"]["before"]["runtime"] == "onnxruntime" and deployed["from_study"]
    assert result.summary["round_to"] == importlib.import_module("nasprune.deploy").fast_channels("onnxruntime")
