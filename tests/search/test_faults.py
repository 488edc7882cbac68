"""Faults a long search must survive without losing a finished trial: killed workers (on a journal file and
on PostgreSQL), SIGINT/SIGTERM, out of memory, a full disk, an unreachable storage, a crafted pickle."""

import contextlib
import errno
import gc
import os
import signal
import time
import weakref

import optuna
import pytest
import torch
from optuna.trial import TrialState
from searching import run_here, running, search_cmd, side_by_side

from nasprune import DiskFullError, SearchConfig, load_model, search
from nasprune.cli import main
from nasprune.record import OUTCOMES, finished_count, open_storage, outcome_of, reason_of, recover_dead_trials
from nasprune.search import objective as objective_module

FINAL = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def wait_for_running_trial(storage, study_name, pid, timeout=120):
    """The number of a trial that process ``pid`` is in the middle of (at least one epoch trained)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(KeyError):  # the study does not exist yet
            study = optuna.load_study(study_name=study_name, storage=storage)
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if t.user_attrs.get("worker", "").endswith(f":{pid}") and t.user_attrs.get("history"):
                    return t.number
        time.sleep(0.1)
    raise AssertionError(f"process {pid} never got into a trial")


def assert_study_intact(study, budget, results):
    trials = study.get_trials()
    assert finished_count(study) == budget
    assert all(t.state in FINAL for t in trials), [(t.number, t.state) for t in trials]
    for t in trials:  # every trial ended in a final state with a reason
        assert outcome_of(t) in OUTCOMES
        if t.state != TrialState.COMPLETE:
            assert reason_of(t), t.number
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        load_model(t.user_attrs["checkpoint"])  # every completed trial's checkpoint loads
    assert not [p for p in results.rglob("*") if ".tmp" in p.name], "a half-written file was left behind"


@pytest.mark.parametrize("backend", ["journal", "postgresql"])
def test_a_worker_killed_mid_trial_loses_nothing_and_the_other_finishes_the_budget(
        tmp_path, tiny_space, backend, request):
    # two workers share the study as two machines would (two commands, one storage); one is killed with
    # SIGKILL in the middle of a trial; the other fails that trial, runs it again and finishes the budget
    results = tmp_path / "results"
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
        extra = ["--storage", url, "--study", f"kill-{os.getpid()}-{time.monotonic_ns()}", "--heartbeat", "1"]
        storage, name = open_storage(url), extra[3]
    else:
        extra, name = [], "tiny-digits"
        storage = open_storage(results / name / "study.journal")
    cmd = search_cmd(tiny_space, results, "--trials", "6", "--epochs", "6", *extra)
    with running(cmd, env=side_by_side()) as victim:
        killed = wait_for_running_trial(storage, name, victim.pid)
        with running(cmd, env=side_by_side()) as survivor:
            victim.send_signal(signal.SIGKILL)
            victim.communicate(timeout=30)
            out, err = survivor.communicate(timeout=400)
    assert survivor.returncode == 0, err
    study = optuna.load_study(study_name=name, storage=storage)
    assert_study_intact(study, 6, results)
    dead = study.trials[killed]
    assert dead.state == TrialState.FAIL and outcome_of(dead) == "worker died"
    retries = [t for t in study.trials if t.user_attrs.get("retry_of") == killed]
    assert len(retries) == 1 and retries[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert retries[0].params == dead.params  # the same candidate, run again
    if hasattr(storage, "engine"):
        storage.engine.dispose()


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_trial_whose_heartbeat_stops_is_failed_and_retried(tmp_path):
    # a worker on another machine cannot be checked by pid: its trial is failed when its heartbeat stops
    storage = open_storage(f"sqlite:///{tmp_path / 'hb.db'}", heartbeat=1, max_retries=1)
    study = optuna.create_study(storage=storage, study_name="hb")
    lost = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    lost.set_user_attr("worker", "another-machine:4242")
    storage.record_heartbeat(lost._trial_id)
    silent_since = time.monotonic()
    assert recover_dead_trials(study, storage) == []  # still within the grace period
    found = []
    while not found and time.monotonic() - silent_since < 10:
        time.sleep(0.25)
        found = recover_dead_trials(study, storage)
    # grace period: twice the heartbeat (SQLite keeps the heartbeat's time to the second: up to 1 s later)
    assert found == [lost.number] and 2 <= time.monotonic() - silent_since < 5.5
    failed = study.trials[lost.number]
    assert failed.state == TrialState.FAIL and outcome_of(failed) == "worker died"
    assert "heartbeat" in reason_of(failed)
    retry = study.trials[-1]
    assert retry.state == TrialState.WAITING and retry.params == failed.params
    assert retry.user_attrs["retry_of"] == lost.number and "stopped sending heartbeats" in retry.user_attrs["retry_reason"]
    storage.engine.dispose()


def test_sigint_and_sigterm_record_the_trial_exit_quickly_and_rerunning_resumes(tmp_path, tiny_space, capfd):
    results = tmp_path / "results"
    cmd = search_cmd(tiny_space, results, "--trials", "3", "--epochs", "6")
    storage = open_storage(results / "tiny-digits" / "study.journal")
    # Ctrl-C, then a kill (SIGTERM) of the run that resumed it: each records its trial, and the next run resumes
    for signum, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        with running(cmd) as proc:
            number = wait_for_running_trial(storage, "tiny-digits", proc.pid)
            sent = time.monotonic()
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=30)
            assert time.monotonic() - sent < 10
        assert proc.returncode == code, err
        assert signal.Signals(signum).name in err and "Traceback" not in err
        study = optuna.load_study(study_name="tiny-digits", storage=storage)
        t = study.trials[number]
        assert t.state == TrialState.FAIL and outcome_of(t) == "interrupted"
        assert reason_of(t) == f"interrupted ({signal.Signals(signum).name})"
    code, _, err = run_here(cmd, capfd)
    assert code == 0, err
    assert_study_intact(optuna.load_study(study_name="tiny-digits", storage=storage), 3, results)


def test_out_of_memory_in_training_fails_the_trial_releases_it_and_the_search_goes_on(tmp_path, tiny_space, monkeypatch):
    models = []
    real_train = objective_module.train

    def train(model, *args, **kw):
        models.append(weakref.ref(model))
        if len(models) == 1:  # the kind of error PyTorch raises when an allocation fails mid-step
            raise RuntimeError("CUDA error: out of memory")
        return real_train(model, *args, **kw)

    monkeypatch.setattr(objective_module, "train", train)
    config = SearchConfig(space=tiny_space, trials=3, results_dir=tmp_path / "results", latency=False)
    result = search(config)
    study = optuna.load_study(study_name=result.study_name, storage=open_storage(result.storage))
    first = study.trials[0]
    assert first.state == TrialState.FAIL and reason_of(first) == "out of memory (RuntimeError: CUDA error: out of memory)"
    assert finished_count(study) == 3 and len(models) == 3  # the worker went on with the next trials
    gc.collect()
    assert models[0]() is None  # the failed trial's network was released


def test_a_full_disk_stops_the_search_with_one_line_and_keeps_the_finished_trials(
        tmp_path, tiny_space, monkeypatch, capsys):
    real_save = objective_module.save_model
    saves = {"n": 0}

    def save_model(directory, *args, **kw):
        saves["n"] += 1
        if saves["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(directory / "weights.pt"))
        return real_save(directory, *args, **kw)

    monkeypatch.setattr(objective_module, "save_model", save_model)
    results = tmp_path / "results"
    argv = ["search", "--space", str(tiny_space), "--trials", "4", "--results-dir", str(results), "--no-latency",
            "--quiet", "--pruner", "none"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no space left on the device while writing" in err and "rerun" in err
    storage = open_storage(results / "tiny-digits" / "study.journal")
    study = optuna.load_study(study_name="tiny-digits", storage=storage)
    first, second = study.trials[:2]
    assert first.state == TrialState.COMPLETE
    load_model(first.user_attrs["checkpoint"])
    assert second.state == TrialState.FAIL and outcome_of(second) == "disk full"
    assert main(argv) == 0  # space again: the same command finishes the budget
    assert_study_intact(optuna.load_study(study_name="tiny-digits", storage=storage), 4, results)


def test_disk_full_is_a_search_error_not_a_candidate_failure(tmp_path, tiny_space, monkeypatch):
    def save_model(directory, *args, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(directory))

    monkeypatch.setattr(objective_module, "save_model", save_model)
    with pytest.raises(DiskFullError):
        search(SearchConfig(space=tiny_space, trials=4, results_dir=tmp_path / "r", latency=False,
                            pruner="none"))


@pytest.mark.parametrize("url", ["postgresql://nasprune@127.0.0.1:1/nasprune",  # nothing listens on port 1
                                 "postgresql://nasprune:secret@10.255.255.1:5432/nasprune"])  # nothing answers
def test_an_unreachable_storage_is_a_clear_error_within_seconds(tmp_path, tiny_space, capsys, url):
    started = time.monotonic()
    code = main(["search", "--space", str(tiny_space), "--storage", url, "--results-dir", str(tmp_path / "r"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and time.monotonic() - started < 15
    assert err.startswith("nasprune: error: cannot open the storage") and err.count("\n") == 1, err
    assert "secret" not in err  # the password is not printed
    assert not (tmp_path / "r").exists()


def test_a_pickle_crafted_to_run_code_is_refused_by_eval(tmp_path, capsys):
    # what a downloaded "model" could hold: loading it with pickle would run os.system
    import nasprune

    spec = nasprune.fixed_spec(nasprune.load_space("resnet20"), 1, 10)
    model_dir = nasprune.save_model(tmp_path / "model", spec, nasprune.build_model(spec.arch))
    marker = tmp_path / "PWNED"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    torch.save({"weights": Exploit()}, model_dir / "weights.pt")
    code = main(["eval", str(model_dir), "--data", "digits"])
    err = capsys.readouterr().err
    assert code == 2 and "refused to load" in err and "could run code" in err and err.count("\n") == 1
    assert not marker.exists()
