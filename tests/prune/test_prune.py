"""nasprune prune end to end on a small digits study, as a user runs it."""

import json
import re

import optuna
import pytest

import nasprune
from nasprune import PruneConfig, SearchConfig, StudyError, load_model, prune, search
from nasprune.cli import main
from nasprune.nn import block_widths
from nasprune.record import finished_count, open_storage

SPACE = """\
architecture:
  stem_channels: 16
  block: {choices: [basic, plain]}
  stages: {count: 2, repeats: 1, channels: [16, 32]}
training: {epochs: 2, batch_size: 64, lr: 0.1}
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("prune")
    (root / "space.yaml").write_text(SPACE)
    result = search(SearchConfig(space=str(root / "space.yaml"), trials=3, results_dir=root / "results", latency=False, study="s"))
    return root, result


def config(made, **kw):
    root, _ = made
    return PruneConfig(**{"study": "s", "results_dir": root / "results", "finetune_epochs": 1, **kw})


def load_study(study):
    root, result = study
    return optuna.load_study(study_name="s", storage=open_storage(result.storage))


def test_prune_the_best_trial_of_a_study(study):
    _, searched = study
    budget_before = finished_count(load_study(study))
    result = prune(config(study, name="best"))
    best = searched.winners[0]
    assert result.out == study[0] / "results" / "s" / "pruned" / "best"
    summary = json.loads((result.out / "summary.json").read_text())
    assert summary["source"]["trial"] == best["trial"] and summary["before"]["mflops"] == pytest.approx(best["mflops"])
    assert summary["before"]["val_accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-4)
    assert 0.475 <= summary["after"]["mflops"] / summary["before"]["mflops"] <= 0.5
    assert summary["after"]["params"] < summary["before"]["params"]
    assert {"cpu_b1"} <= set(summary["after"]["latency_ms"]) and summary["channels"]
    assert any(c["after"] < c["before"] for c in summary["channels"])
    assert "| val accuracy |" in (result.out / "summary.md").read_text()
    # the pruned model reloads in one call, weights only, to the numbers the summary reports
    spec, model = load_model(result.out)
    assert nasprune.count_params(model) == summary["after"]["params"]
    evaluated = nasprune.eval(result.out)  # on the data and split it records, without being told
    assert evaluated["data_note"] is None
    assert evaluated["test_accuracy"] == pytest.approx(summary["after"]["test_accuracy"], abs=1e-4)
    # recorded in the study's companion s.pruned, linked to its source: the search's study, its budget and its
    # winners (optuna-dashboard's Best Trials) stay the search's own
    companion = optuna.load_study(study_name="s.pruned", storage=open_storage(study[1].storage))
    linked = companion.trials[result.linked_trial]
    assert linked.user_attrs["pruned_from"] == best["trial"] and linked.values[1] == summary["after"]["mflops"]
    assert finished_count(load_study(study)) == budget_before and len(load_study(study).trials) == 3
    assert [t.number for t in load_study(study).best_trials] == sorted(w["trial"] for w in searched.winners)


def test_a_named_trial_and_a_repeated_name(study):
    result = prune(config(study, trial=0, name="t0", importance="taylor", target_params=0.6))
    assert json.loads((result.out / "summary.json").read_text())["source"]["trial"] == 0
    with pytest.raises(StudyError, match="exists already; pass --name"):
        prune(config(study, trial=0, name="t0"))


@pytest.mark.parametrize("kw, message", [
    ({"trial": 99}, r"cannot prune trial 99 of study 's': no such trial; completed trials: 0"),
    ({"pick_mflops": 0.0001}, "no completed trial on its Pareto front within 0.0001 MFLOPs"),
    ({"study": "missing"}, "no study 'missing'"),
])
def test_bad_choices_are_one_line_errors(study, kw, message):
    with pytest.raises(StudyError, match=message):
        prune(config(study, **kw))


def test_a_saved_model_folder_and_pruning_it_again(study):
    root, searched = study
    first = prune(PruneConfig(model=searched.winners[0]["checkpoint"], data="digits", results_dir=root / "results",
                              finetune_epochs=1, name="from-folder"))
    assert first.out == root / "results" / "pruned" / "from-folder" and first.linked_trial is None
    second = prune(PruneConfig(model=first.out, data="digits", results_dir=root / "results", finetune_epochs=1, name="again", target_mflops=0.7))
    _, model = load_model(second.out)  # both pruning histories replay from the original spec
    assert nasprune.count_macs(model, (1, 8, 8)) / 1e6 == pytest.approx(second.after["mflops"], rel=1e-3)
    assert second.after["mflops"] < first.after["mflops"]


def test_sparse_learning_before_pruning(study):
    result = prune(config(study, name="sparse", sparse_epochs=1, finetune_epochs=0))
    assert result.summary["sparse_epochs"] == 1 and result.summary["finetune"]["epochs"] == 0


def test_the_command_prints_the_before_after_table(study, capsys):
    root, _ = study
    code = main(["prune", "--study", "s", "--results-dir", str(root / "results"), "--finetune-epochs", "1",
                 "--name", "cli", "--importance", "random"])
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"^MFLOPs \(MACs\) +[\d.]+ +[\d.]+ +[\d.]+x smaller$", out, re.M)
    assert re.search(r"^val accuracy +0\.\d{4} +0\.\d{4} +[-+][\d.]+ points$", out, re.M)
    assert "recorded as trial" in out
    code = main(["eval", str(root / "results" / "s" / "pruned" / "cli")])
    assert code == 0 and "(pruned)" in capsys.readouterr().out


def test_a_pruned_model_is_described_with_its_real_widths(study, capsys):
    root, _ = study
    result = prune(config(study, name="widths", target_mflops=0.4))
    spec, model = load_model(result.out)
    ints = lambda xs: ",".join(map(str, xs))  # noqa: E731
    real, before = f"x[{ints(w for (w,) in block_widths(model))}]", f"x[{ints(spec.arch.widths)}]"  # 1 block a stage
    ends = [c["after"] for c in result.summary["channels"]  # the chart's numbers: the last conv of each block
            if re.fullmatch(r"stages\.\d+\.blocks\.0\.conv2?\.conv", c["layer"])]
    assert real != before and real == f"x[{ints(ends)}]"
    assert real in result.summary["arch"] and before in result.summary["source"]["arch"]
    assert f"- pruned: {result.summary['arch']}" in (result.out / "summary.md").read_text()
    companion = optuna.load_study(study_name="s.pruned", storage=open_storage(study[1].storage))
    assert real in companion.trials[result.linked_trial].user_attrs["arch"]
    for argv in (["eval", str(result.out)], ["eval", str(result.out), "--json"],
                 ["diagnose", "--model", str(result.out), "--out", str(root / "widths.json")]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert real in out and before not in out, (argv, out)


@pytest.mark.parametrize("argv, message", [
    (["prune"], "say which model to prune"),
    (["prune", "--model", "x"], "x: no such folder; give the folder of a saved model"),
    (["prune", "--study", "s", "--target-mflops", "0.5", "--target-params", "0.5"], "give one target"),
    (["prune", "--study", "s", "--target-mflops", "0"], "--target-mflops must be between 0 and 1"),
    (["prune", "--study", "s", "--importance", "magic"], "invalid choice: 'magic'"),
])
def test_bad_prune_options(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
