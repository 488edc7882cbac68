"""A shared study on PostgreSQL through its own start, a database outage and a worker that dies after saving
(issue 17): workers started together on an empty database, a restart of the server mid-search survived, an outage
longer than the retry window ended in one line and resumed exactly, and model folders that always equal the
complete trials."""

import os
import subprocess
import sys
import time

import optuna
from optuna.trial import TrialState
from searching import search_cmd, side_by_side

from nasprune.record import (
    finished_count,
    mark_finished,
    open_storage,
    outcome_of,
    record_finished,
    remove_unfinished_folders,
    trial_dir,
)


def pg_search_cmd(tiny_space, results, url, name, *extra):
    return search_cmd(tiny_space, results, "--storage", url, "--study", name, "--heartbeat", "3", *extra)


def folders_match_complete_trials(study, results, name):
    folders = {int(p.name) for p in (results / name / "trials").glob("[0-9]" * 5)}
    return folders == {t.number for t in study.get_trials(states=(TrialState.COMPLETE,))}


def test_workers_started_together_on_an_empty_database_all_work(tmp_path, tiny_space, postgres_server):
    # before: the second of two (2 of 3 tries) exited 2 with UniqueViolation on pg_type_typname_nsp_index,
    # both creating Optuna's tables at once
    url = postgres_server.new_database("empty")
    cmd = pg_search_cmd(tiny_space, tmp_path / "results", url, "together", "--trials", "4", "--epochs", "1")
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=side_by_side())
             for _ in range(4)]
    ends = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in ends]
    storage = open_storage(url)
    assert finished_count(optuna.load_study(study_name="together", storage=storage)) == 4
    storage.engine.dispose()


def _wait_study(url, name, condition, timeout=180):
    """Wait until ``condition(study)`` holds for the study ``name`` at ``url``."""
    storage = open_storage(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if name in optuna.get_all_study_names(storage) and condition(
                    optuna.load_study(study_name=name, storage=storage)):
                return
            time.sleep(0.2)
    finally:
        storage.engine.dispose()
    raise AssertionError(f"the study never got there in {timeout} s")


def _mid_trial(study):
    return any(t.user_attrs.get("history") for t in study.get_trials(states=(TrialState.RUNNING,)))


def test_a_database_restart_mid_search_costs_nothing_and_a_long_outage_ends_in_one_line(
        tmp_path, tiny_space, postgres_server):
    url = postgres_server.new_database("outage")
    results = tmp_path / "results"
    # trials of a few seconds, none stopped early: one is under way after the restart, to be cut by the outage
    cmd = pg_search_cmd(tiny_space, results, url, "outage", "--trials", "6", "--epochs", "8", "--workers", "2",
                        "--pruner", "none")
    env = {**os.environ, "NASPRUNE_OUTAGE_SECONDS": "8"}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        # a restart of a few seconds: the search goes on as if nothing had happened
        _wait_study(url, "outage", _mid_trial)
        postgres_server.stop()
        time.sleep(3)
        postgres_server.start()
        _wait_study(url, "outage", lambda study: finished_count(study) >= 2 and _mid_trial(study))
        assert proc.poll() is None, proc.communicate()[1]
        storage = open_storage(url)
        ended = [outcome_of(t) for t in optuna.load_study(study_name="outage", storage=storage).trials
                 if t.state.is_finished()]
        storage.engine.dispose()
        assert len(ended) >= 2 and set(ended) == {"complete"}, ended  # the restart cost no trial
        # then an outage longer than the window: one line, exit 75
        postgres_server.stop()
        stopped = time.monotonic()
        out, err = proc.communicate(timeout=300)
        took = time.monotonic() - stopped
    # before: 316 lines of 7 chained tracebacks (670 with --workers 2) and exit 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 75, err
    back = next(i for i, line in enumerate(lines) if "answers again; the search goes on" in line)  # the restart
    assert "Traceback" not in err and len(lines[back + 1:]) <= 3, err
    assert "stopped answering" in err and "run the same command again" in err
    assert took < 8 + 60, took  # the window, plus what the last epochs and the workers' stop take
    postgres_server.start()
    # the same command finishes the study exactly: nothing the restart or the outage cut is lost or counted twice
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert "Traceback" not in rerun.stderr
    storage = open_storage(url)
    study = optuna.load_study(study_name="outage", storage=storage)
    assert finished_count(study) == 6
    assert not study.get_trials(states=(TrialState.RUNNING,))
    # the outage cut the trials under way (two workers: two at most), each trained again once (one the outage
    # caught as it began, before it sampled, has no candidate to train again)
    outcomes = [outcome_of(t) for t in study.trials]
    cut = [t for t in study.trials if outcome_of(t) == "worker died"]
    assert set(outcomes) <= {"complete", "worker died"} and len(cut) <= 2, outcomes
    assert sorted(t.user_attrs["retry_of"] for t in study.trials if "retry_of" in t.user_attrs) == [
        t.number for t in cut if t.params]
    assert folders_match_complete_trials(study, results, "outage")
    storage.engine.dispose()


def _dead_pid():
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_trial_saved_but_never_recorded_is_recorded_on_the_next_start_not_trained_again(tmp_path):
    # before: the resume failed it as "worker died", trained it again, and left trials/00000 behind for a FAIL trial
    import socket

    storage = open_storage(tmp_path / "study.journal")
    study = optuna.create_study(study_name="s", storage=storage, directions=["maximize", "minimize"])
    dead = f"{socket.gethostname()}:{_dead_pid()}"
    saved, unsaved = study.ask(), study.ask()
    for t in (saved, unsaved):
        t.set_user_attr("worker", dead)
    trial_dir(tmp_path, saved.number).mkdir(parents=True)  # its model was saved, then the database went away
    mark_finished(trial_dir(tmp_path, saved.number), [0.9, 1.5], {"checkpoint": "x", "outcome": "complete"})
    trial_dir(tmp_path, unsaved.number).mkdir(parents=True)  # saved, but died before its result was written
    assert record_finished(study, storage, tmp_path) == [saved.number]
    done = study.trials[saved.number]
    assert done.state == TrialState.COMPLETE and done.values == [0.9, 1.5]
    assert done.user_attrs["checkpoint"] == "x" and done.user_attrs["recorded_late"] is True
    assert record_finished(study, storage, tmp_path) == []  # once only

    from nasprune.record import recover_dead_trials

    assert recover_dead_trials(study, storage) == [unsaved.number]  # failed, and queued to run again
    assert remove_unfinished_folders(study, tmp_path) == [unsaved.number]
    assert sorted(p.name for p in (tmp_path / "trials").iterdir()) == [f"{saved.number:05d}"]


class _Denied(Exception):
    sqlstate = "42501"  # PostgreSQL's insufficient_privilege, as psycopg reports it


def test_calls_outlast_a_short_outage_give_up_after_the_window_in_one_line_and_name_missing_rights(
        tmp_path, monkeypatch):
    import pytest
    from sqlalchemy import exc as sa_exc

    from nasprune.errors import StorageLostError, StudyError
    from nasprune.record import outage

    monkeypatch.setattr(outage, "_FIRST_PAUSE", 0.01)
    storage = open_storage(f"sqlite:///{tmp_path / 'x.db'}")
    assert isinstance(storage, outage.ResilientRDBStorage)
    down = sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
    calls = []

    def flaky(self, failures):
        calls.append(1)
        if len(calls) <= failures:
            raise down
        return "answer"

    assert storage._call(flaky, 3) == "answer" and len(calls) == 4  # three lost connections, then back

    monkeypatch.setattr(outage, "OUTAGE_SECONDS", 0.05)
    calls.clear()
    with pytest.raises(StorageLostError, match="stopped answering .*server closed the connection.* run the same"):
        storage._call(flaky, 10**6)
    tried = len(calls)
    with pytest.raises(StorageLostError):  # given up: the next call fails at once, without waiting again
        storage._call(flaky, 0)
    assert len(calls) == tried

    def denied(self):  # before: "invalid data in the commit, e.g. exceeding max length"
        raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from \
            sa_exc.ProgrammingError("INSERT", {}, _Denied("permission denied for table trials"))

    fresh = open_storage(f"sqlite:///{tmp_path / 'y.db'}")
    with pytest.raises(StudyError, match="no rights on the study's tables .*permission denied for table trials"):
        fresh._call(denied)
    storage.engine.dispose()
    fresh.engine.dispose()


def test_the_outage_names_the_drivers_message_not_the_pools_signal(tmp_path, monkeypatch, caplog):
    # a connection the server dropped is found by the pool's ping: under the driver's "connection refused" lies
    # SQLAlchemy's InvalidatePoolError, whose text is "()". Before: "the study's database stopped answering (())"
    from sqlalchemy import exc as sa_exc

    from nasprune.record import outage

    refused = Exception("connection failed: connection to server at \"127.0.0.1\", port 5432 failed: Connection refused")
    refused.__context__ = sa_exc.InvalidatePoolError()
    down = sa_exc.OperationalError("SELECT 1", {}, refused)
    down.__cause__ = refused
    wrapped = optuna.exceptions.StorageInternalError("An exception is raised during the commit.")
    wrapped.__cause__ = down
    monkeypatch.setattr(outage, "_FIRST_PAUSE", 0.01)
    storage = open_storage(f"sqlite:///{tmp_path / 'x.db'}")
    calls = []

    def once_down(self):
        calls.append(1)
        if len(calls) == 1:
            raise wrapped
        return "answer"

    with caplog.at_level("WARNING", logger="nasprune.storage"):
        assert storage._call(once_down) == "answer"
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "stopped answering (connection failed: " in said and "Connection refused" in said and "(())" not in said
    storage.engine.dispose()


#: runs a search whose first saved model is followed at once by a database outage (the stop command in $STOP_DATABASE)
_LOSE_THE_DATABASE_AFTER_SAVING = """\
import json, os, subprocess, sys
from nasprune.cli import main
from nasprune.search import objective
save = objective.save_model
def save_then_lose_the_database(*args, **kwargs):
    directory = save(*args, **kwargs)
    subprocess.run(json.loads(os.environ["STOP_DATABASE"]), capture_output=True)
    return directory
objective.save_model = save_then_lose_the_database
sys.exit(main(sys.argv[1:]))
"""


def test_a_trial_saved_just_before_the_database_went_away_is_recorded_on_resume_not_trained_again(
        tmp_path, tiny_space, postgres_server):
    # the case, made certain: the model is saved, then the database goes away before the trial's COMPLETE
    # reaches it. Before: chained tracebacks and exit 1; the resume failed the trial as "worker died", trained it
    # again, and left its folder behind for a FAIL trial
    import json

    url = postgres_server.new_database("saved")
    results = tmp_path / "results"
    cmd = pg_search_cmd(tiny_space, results, url, "saved", "--trials", "3", "--epochs", "1")
    stop = [*postgres_server.run_as, postgres_server.bin / "pg_ctl", "-D", postgres_server.data / "db", "-m",
            "immediate", "stop"]
    env = {**os.environ, "NASPRUNE_OUTAGE_SECONDS": "3", "STOP_DATABASE": json.dumps([str(x) for x in stop])}
    lost = subprocess.run([sys.executable, "-c", _LOSE_THE_DATABASE_AFTER_SAVING, *cmd[3:]], capture_output=True,
                          text=True, timeout=300, env=env)
    assert lost.returncode == 75, lost.stderr
    assert "Traceback" not in lost.stderr
    assert lost.stderr.strip().splitlines()[-1].startswith("nasprune: error: the study's database stopped answering")
    assert [p.name for p in (results / "saved" / "trials").iterdir()] == ["00000"]
    postgres_server.start()
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    storage = open_storage(url)
    study = optuna.load_study(study_name="saved", storage=storage)
    first = study.trials[0]
    assert first.state == TrialState.COMPLETE and first.user_attrs.get("recorded_late") is True
    assert not [t for t in study.trials if t.user_attrs.get("retry_of") == 0], "the saved trial was trained again"
    assert finished_count(study) == 3 and len(study.trials) == 3
    assert folders_match_complete_trials(study, results, "saved")
    storage.engine.dispose()
