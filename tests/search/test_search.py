"""End-to-end searches on digits with a tiny space: what a user relies on."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState
from searching import side_by_side

import nasprune
from nasprune import SearchConfig, StudyError, load_model, search
from nasprune.record import artifacts_root, dead_trial_text, finished_count, open_storage, recover_dead_trials
from nasprune.search import objective as objective_module


def config(tmp_path, space, **kw):
    base = dict(space=space, trials=4, results_dir=tmp_path / "results", seed=0)
    return SearchConfig(**{**base, **kw})


def load(result):
    return optuna.load_study(study_name=result.study_name, storage=open_storage(result.storage))


def test_tiny_search_end_to_end(tmp_path, tiny_space):
    result = search(config(tmp_path, tiny_space))
    assert result.study_name == "tiny-digits"
    assert result.study_dir == tmp_path / "results" / "tiny-digits"
    assert (result.study_dir / "study.journal").is_file()
    study = load(result)
    trials = study.get_trials()
    assert len(trials) == 4 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    summary = json.loads(result.summary_path.read_text())
    assert summary["winners"] and summary["trials"]["complete"] >= 1
    assert [w["trial"] for w in summary["winners"]] == [t.number for t in sorted(
        study.best_trials, key=lambda t: (-t.values[0], t.values[1]))]
    for w in summary["winners"]:
        assert set(w) >= {"trial", "arch", "params", "mflops", "val_accuracy", "test_accuracy"}
        assert 0.1 < w["test_accuracy"] <= 1
        spec, model = load_model(w["checkpoint"])
        assert nasprune.count_params(model) == w["params"]
        assert spec == nasprune.TrialSpec.from_dict(w["spec"])
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        a = t.user_attrs
        assert {"spec", "arch", "mflops", "params", "latency_ms", "depth", "history", "train_seconds",
                "wall_seconds", "checkpoint", "worker", "block", "repeats", "widths"} <= set(a)
        assert len(a["history"]) == 2 and set(a["history"][0]) >= {"train_acc", "train_loss", "val_acc", "val_loss"}
        assert t.values[0] == pytest.approx(a["history"][-1]["val_acc"], abs=1e-5) and t.values[1] == pytest.approx(a["mflops"], rel=1e-3)
        # per-epoch validation accuracy as intermediate values (steps from 0), for the dashboard's curves
        assert t.intermediate_values == pytest.approx({h["epoch"] - 1: h["val_acc"] for h in a["history"]})
        # any trial can be rebuilt exactly from its stored spec
        rebuilt = nasprune.build_model(nasprune.TrialSpec.from_dict(a["spec"]).arch)
        assert nasprune.count_params(rebuilt) == a["params"]


def test_a_new_study_tries_every_categorical_choice_first(tmp_path, tiny_space):
    study = load(search(config(tmp_path, tiny_space, trials=3)))
    first = [t for t in study.get_trials() if "cover" in t.user_attrs]
    assert [t.user_attrs["cover"] for t in first] == [0, 1] and [t.number for t in first] == [0, 1]
    assert {t.params["block"] for t in first} == {"plain", "basic"}
    assert {t.params["s1_channels"] for t in first} == {8, 16}


def test_rerunning_resumes_instead_of_starting_over(tmp_path, tiny_space):
    first = search(config(tmp_path, tiny_space, trials=3))
    before = load(first).get_trials()
    again = search(config(tmp_path, tiny_space, trials=3))
    assert len(load(again).get_trials()) == 3  # budget already reached: nothing new
    assert [w["trial"] for w in again.winners] == [w["trial"] for w in first.winners]
    more = search(config(tmp_path, tiny_space, trials=5))
    trials = load(more).get_trials()
    assert len(trials) == 5
    assert [t.params for t in trials[:3]] == [t.params for t in before]
    # the resumed run's sampler has a fresh seed stream: it does not replay the first random candidates
    assert trials[3].params != trials[0].params


def test_a_study_made_with_other_settings_is_refused(tmp_path, tiny_space):
    result = search(config(tmp_path, tiny_space, trials=1))
    journal = Path(result.storage)
    size = journal.stat().st_size
    with pytest.raises(StudyError, match="was made with epochs=2, this command asks for epochs=3"):
        search(config(tmp_path, tiny_space, trials=1, epochs=3))
    with pytest.raises(StudyError, match="optimizes maximize, minimize"):
        search(config(tmp_path, tiny_space, trials=1, objectives="accuracy"))
    assert journal.stat().st_size == size  # a refused resume writes nothing to the study


FAILING_SPACE = """\
architecture:
  stem_channels: 16
  block: basic
  shortcut: pad
  stages:
    count: 1
    repeats: 1
    channels: {choices: [8, 16]}
training:
  epochs: 1
"""


def test_a_failing_candidate_does_not_stop_the_study(tmp_path, write_space):
    # 16 -> 8 channels through a zero-padding shortcut cannot be built: those trials fail, others go on
    result = search(config(tmp_path, write_space(FAILING_SPACE), trials=8))
    trials = load(result).get_trials()
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert failed and result.counts["complete"] >= 1 and len(trials) == 8
    assert all(t.params["s1_channels"] == 8 for t in failed)
    assert all("shortcut 'pad' cannot map 16 channels to fewer" in t.user_attrs["reason"] for t in failed)


def test_repeated_failures_stop_the_search_with_the_reason(tmp_path, write_space):
    space = write_space(FAILING_SPACE.replace("{choices: [8, 16]}", "8"))
    with pytest.raises(StudyError, match="the last 2 trials failed .*shortcut 'pad'"):
        search(config(tmp_path, space, trials=5, max_failures=2))


def test_out_of_memory_and_divergence_are_recorded(tmp_path, tiny_space, monkeypatch):
    calls = {"n": 0}
    real_build = objective_module.build_model

    def build(arch):
        calls["n"] += 1
        if calls["n"] == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_build(arch)

    monkeypatch.setattr(objective_module, "build_model", build)
    result = search(config(tmp_path, tiny_space, trials=2))
    first = load(result).trials[0]
    assert first.state == TrialState.FAIL and first.user_attrs["reason"].startswith("out of memory")
    assert result.counts["complete"] + result.counts["stopped"] == 1


def test_diverging_candidate_is_pruned_with_the_reason(tmp_path, tiny_space, monkeypatch):
    def diverging(model, *args, **kwargs):
        with torch.no_grad():
            model.head.fc.weight[0, 0] = float("nan")  # the loss becomes NaN in the first step
        return real_train(model, *args, **kwargs)

    real_train = objective_module.train
    monkeypatch.setattr(objective_module, "train", diverging)
    result = search(config(tmp_path, tiny_space, trials=1))
    t = load(result).trials[0]
    assert t.state == TrialState.PRUNED and t.user_attrs["reason"] == "training loss is nan after epoch 1 (diverged)"


def test_budgets_reject_candidates_before_training(tmp_path, tiny_space):
    result = search(config(tmp_path, tiny_space, trials=6, max_mflops=0.1))
    trials = load(result).get_trials()
    over = [t for t in trials if t.user_attrs["mflops"] > 0.1]
    assert over, "the tiny space has candidates above 0.1 MFLOPs"
    for t in over:
        assert t.state == TrialState.PRUNED and t.user_attrs["reason"].startswith("over budget: mflops")
        assert "history" not in t.user_attrs  # no training time spent
        assert t.system_attrs["constraints:mflops"] > 0 and t.user_attrs["max_mflops"] == 0.1
    assert all(w["mflops"] <= 0.1 for w in result.winners)


def test_baseline_preset_is_a_trial_of_the_study(tmp_path, tiny_space, write_space):
    preset = write_space("name: mini\narchitecture:\n  block: basic\n  stages: {repeats: [1], channels: [8]}\n"
                         "training:\n  epochs: 5\n  batch_size: 128\n", "mini.yaml")
    result = search(config(tmp_path, tiny_space, trials=2, baselines=(str(preset),)))
    baseline = [t for t in load(result).get_trials() if t.user_attrs.get("baseline")]
    assert len(baseline) == 1 and baseline[0].params == {}
    spec = nasprune.TrialSpec.from_dict(baseline[0].user_attrs["spec"])
    assert spec.arch.repeats == (1,) and spec.train.epochs == 2 and spec.train.batch_size == 128
    search(config(tmp_path, tiny_space, trials=3, baselines=(str(preset),)))  # not enqueued twice
    assert sum(bool(t.user_attrs.get("baseline")) for t in load(result).get_trials()) == 1


def test_single_objective_reports_every_epoch_to_optuna(tmp_path, tiny_space):
    result = search(config(tmp_path, tiny_space, trials=3, objectives="accuracy", pruner="median"))
    study = load(result)
    assert len(study.directions) == 1 and len(result.winners) == 1
    assert all(len(t.intermediate_values) == len(t.user_attrs["history"]) for t in study.get_trials())
    assert result.winners[0]["trial"] == study.best_trial.number


def test_ctrl_c_marks_the_trial_and_rerunning_finishes_the_budget(tmp_path, tiny_space, monkeypatch):
    real_train = objective_module.train
    calls = {"n": 0}

    def train(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_train(*args, **kw)

    monkeypatch.setattr(objective_module, "train", train)
    with pytest.raises(KeyboardInterrupt):
        search(config(tmp_path, tiny_space, trials=3))
    cfg = config(tmp_path, tiny_space, trials=3)
    study = optuna.load_study(study_name="tiny-digits", storage=open_storage(
        cfg.results_dir / "tiny-digits" / "study.journal"))
    interrupted = study.trials[1]
    assert interrupted.state == TrialState.FAIL and interrupted.user_attrs["outcome"] == "interrupted"
    assert study.trials[0].state != TrialState.FAIL  # finished before the interrupt: kept
    result = search(cfg)
    counted = [t for t in load(result).get_trials() if t.user_attrs.get("outcome") != "interrupted"]
    assert len(counted) == 3


def test_trials_of_a_dead_worker_are_marked_failed_and_queued_again(tmp_path):
    storage = open_storage(tmp_path / "s.journal")
    study = optuna.create_study(storage=storage, study_name="s")
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    orphan = study.ask()
    orphan.set_user_attr("worker", f"{os.uname().nodename}:{dead_pid}")
    alive = study.ask()
    alive.set_user_attr("worker", f"{os.uname().nodename}:{os.getppid()}")
    orphan.set_user_attr("spec", {"placeholder": 1})
    assert recover_dead_trials(study, storage, max_retries=1) == [orphan.number]
    t = study.trials[orphan.number]
    assert t.state == TrialState.FAIL and t.user_attrs["outcome"] == "worker died"
    assert study.trials[alive.number].state == TrialState.RUNNING
    retry = study.trials[-1]  # queued with what the dead trial sampled, marked as a retry
    assert retry.state == TrialState.WAITING and retry.user_attrs["retry_of"] == orphan.number
    assert retry.user_attrs["spec"] == {"placeholder": 1} and "worker" not in retry.user_attrs
    assert "ended during the trial" in retry.user_attrs["retry_reason"]


def test_a_trial_whose_process_ended_before_it_said_who_it_was_is_failed_after_the_grace(tmp_path, monkeypatch):
    # seen in the PostgreSQL outage test: the database stopped in the instant after a worker created its next trial;
    # that trial had no worker and no heartbeat, Optuna's fail_stale_trials never fails such a trial, and the
    # resumed search waited for it for good
    from nasprune.record import liveness

    storage = open_storage(tmp_path / "s.journal")
    study = optuna.create_study(storage=storage, study_name="s")
    never_began, retried = study.ask(), study.ask()  # nothing written: as the process left them
    retried.set_user_attr("spec", {"placeholder": 1})  # a queued retry it had taken: its candidate runs again
    claimed = study.ask()
    claimed.set_user_attr("worker", f"{os.uname().nodename}:{os.getpid()}")
    assert recover_dead_trials(study, storage) == []  # within the grace: a live process may be about to say so
    monkeypatch.setattr(liveness, "_orphan_seconds", lambda: -1.0)
    assert recover_dead_trials(study, storage) == [never_began.number, retried.number]
    for number in (never_began.number, retried.number):
        t = study.trials[number]
        assert t.state == TrialState.FAIL and t.user_attrs["outcome"] == "worker died"
        assert "ended before it began" in t.user_attrs["reason"]
    assert study.trials[claimed.number].state == TrialState.RUNNING
    queued = study.get_trials(states=(TrialState.WAITING,))
    assert [t.user_attrs["retry_of"] for t in queued] == [retried.number]  # the one that never sampled: no retry
    assert dead_trial_text(study, retried.number) == f"trial {retried.number}: its worker died; queued to run again"
    assert "not run again" in dead_trial_text(study, never_began.number)  # before: "queued to run again" as well


def test_bad_input_writes_nothing(tmp_path, write_space):
    bad = write_space("architecture: {blok: 1}\n")
    with pytest.raises(nasprune.SpaceError):
        search(config(tmp_path, bad))
    with pytest.raises(nasprune.DataError):
        search(config(tmp_path, "default", data="nope"))
    with pytest.raises(nasprune.SpaceError):
        search(config(tmp_path, "default", baselines=("no-such-preset",)))
    assert not (tmp_path / "results").exists()


def test_two_worker_processes_share_one_study_and_its_budget(tmp_path, tiny_space):
    # the default storage (a journal file) is shared by two processes started at once; together they
    # finish exactly the budget, and every completed trial's weights load
    cmd = [sys.executable, "-m", "nasprune", "search", "--space", str(tiny_space), "--trials", "6",
           "--results-dir", str(tmp_path / "results"), "--no-latency", "--quiet"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=side_by_side())
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    study = optuna.load_study(study_name="tiny-digits", storage=open_storage(
        tmp_path / "results" / "tiny-digits" / "study.journal"))
    counted = [t for t in study.trials if t.user_attrs.get("outcome") in ("complete", "stopped", "failed")]
    assert len(counted) == 6
    assert all(t.state != TrialState.RUNNING for t in study.trials)
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2  # both processes ran trials
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        load_model(t.user_attrs["checkpoint"])


def test_a_trial_started_after_the_budget_is_taken_is_surplus(tmp_path, tiny_space, digits):
    result = search(config(tmp_path, tiny_space, trials=2))
    study = load(result)
    objective = objective_module.Objective(nasprune.load_space(tiny_space), digits, nasprune.resolve_runtime("cpu"),
                                           result.study_dir, 2, 0, "accuracy,mflops", [], budget=2)
    # what a second worker does when it asks for a trial in the same instant as the last one that fits
    study.optimize(objective, n_trials=3, catch=(nasprune.CandidateError,))
    late = study.trials[-1]
    assert len(study.trials) == 3  # the surplus trial stopped its worker
    assert late.state == TrialState.FAIL and late.user_attrs["outcome"] == "surplus"
    assert "history" not in late.user_attrs and "spec" not in late.user_attrs  # nothing was sampled or trained
    assert finished_count(study) == 2  # surplus trials do not use the budget


def test_search_on_an_image_folder_with_streamed_data(tmp_path, tiny_space, image_folder):
    root = image_folder(splits=("train", "test"), per_class=20, size=(8, 8), mode="L")
    result = search(config(tmp_path, tiny_space, trials=2, data=f"imagefolder:{root}", placement="stream",
                           loader_workers=1))
    assert result.study_name == "tiny-imagefolder" and result.counts["complete"] + result.counts["stopped"] == 2
    stamp = load(result).user_attrs["nasprune"]
    assert stamp["augment"] == "auto" and stamp["data"] == f"imagefolder:{root}"
    summary = json.loads(result.summary_path.read_text())
    assert "1x8x8, 3 classes, augmentation crop (pad 1)" in summary["data"]
    assert all(w["test_accuracy"] is not None for w in summary["winners"])


def test_workers_share_the_study_and_the_main_process_reports(tmp_path, tiny_space):
    cmd = [sys.executable, "-m", "nasprune", "search", "--space", str(tiny_space), "--trials", "4", "--workers", "2",
           "--results-dir", str(tmp_path / "results"), "--no-latency", "--epochs", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "2 workers on cpu" in proc.stdout
    assert len(re.findall(r"^trial +\d+  (complete|stopped|failed)", proc.stdout, re.M)) == 4
    study = optuna.load_study(study_name="tiny-digits", storage=open_storage(
        tmp_path / "results" / "tiny-digits" / "study.journal"))
    workers = {t.user_attrs["worker"] for t in study.trials if t.user_attrs.get("outcome") != "surplus"}
    assert len(workers) == 2 and finished_count(study) == 4
    assert json.loads((tmp_path / "results" / "tiny-digits" / "summary.json").read_text())["winners"]


def test_checkpoints_and_artifacts_go_to_the_shared_path(tmp_path, tiny_space):
    shared = tmp_path / "shared"
    result = search(config(tmp_path, tiny_space, trials=2, artifacts_dir=shared, pruner="none"))
    study = load(result)
    assert artifacts_root(study, result.study_dir) == shared  # what prune, report and the dashboard use
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        assert t.user_attrs["checkpoint"].startswith(str(shared / "trials"))
        load_model(t.user_attrs["checkpoint"])
    assert (shared / "artifacts").is_dir() and not (result.study_dir / "trials").exists()
