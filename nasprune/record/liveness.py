"""Which workers are alive, and running again the trials of those that died.

A worker on this machine is dead when its process is gone (seen at once, from the pid it records on each trial);
a worker anywhere is dead when an RDB storage with heartbeats has not heard from it for the grace period. Its
running trials are failed (they do not count toward the budget) and queued to run again.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from .._optuna import quiet_optuna
from ..checkpoint import atomic_write
from .outage import OUTAGE_SECONDS
from .outcomes import BASELINE_ATTR, RETRY_OF, START_ATTR, outcome_of

__all__ = ["worker_id", "retry_trial", "RetryStale", "recover_dead_trials", "dead_trial_text", "heartbeat_on",
           "others_running", "requeue_interrupted", "drop_waiting", "mark_finished", "record_finished",
           "remove_unfinished_folders", "FINISHED_NAME"]

_CARRIED = ("spec", BASELINE_ATTR, START_ATTR)  # what a retry keeps of the trial it repeats


def worker_id() -> str:
    """``host:pid`` of this process, recorded on every trial it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _local_pid(t: optuna.trial.FrozenTrial) -> int | None:
    """The process id of the trial's worker if that worker ran on this machine (its ``worker`` attribute)."""
    worker_host, _, pid = str(t.user_attrs.get("worker", "")).rpartition(":")
    return int(pid) if worker_host == socket.gethostname() and pid.isdigit() else None


def _dead_local_worker(t: optuna.trial.FrozenTrial | None) -> int | None:
    """The pid of the trial's worker if that worker ran on this machine, is not this process, and is gone."""
    pid = _local_pid(t) if t is not None else None
    return None if pid is None or pid == os.getpid() or _pid_alive(pid) else pid


def _orphan_seconds() -> float:
    """How long after its start a running trial may lack a worker: the objective writes it first thing, and that
    write may wait out an outage of the database (``OUTAGE_SECONDS``)."""
    return 2 * OUTAGE_SECONDS + 10


def _orphaned(t: optuna.trial.FrozenTrial) -> bool:
    """Whether a running trial lost its process between being created and saying which worker it is. Seen: the
    resumed search of the PostgreSQL outage test waited for good, its workers idle, 2 times in 5 once the test
    stopped the database as a worker finished a trial; a trial created in that instant has no worker and no
    heartbeat, and Optuna's ``fail_stale_trials`` never fails a trial without a heartbeat (the cause is read from
    the code, the stuck trial was not inspected). Its start is the creating process's clock: a machine whose
    clock runs that far behind could have a trial failed in the milliseconds before it says who it is."""
    return ("worker" not in t.user_attrs and t.datetime_start is not None
            and (datetime.now() - t.datetime_start).total_seconds() > _orphan_seconds())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def retry_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial, max_retries: int, reason: str) -> int | None:
    """Queue a fresh run of a trial whose worker died: same sampled parameters, same spec, marked with
    ``retry_of`` (the first trial of the chain), ``retry`` (1, 2, ...) and ``retry_reason``. Returns the retry's
    number, or None once the trial has been retried ``max_retries`` times. Optuna's own retry callback
    (``RetryHeartbeatStaleTrialCallback``) does the same but copies every user attribute of the dead trial,
    its partial history and worker included; the system attributes are kept compatible with it."""
    chain = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(chain) > max_retries:
        return None
    user_attrs = {k: trial.user_attrs[k] for k in _CARRIED if k in trial.user_attrs}
    user_attrs.update({RETRY_OF: chain[0], "retry": len(chain), "retry_reason": reason})
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.WAITING, params=trial.params, distributions=trial.distributions, user_attrs=user_attrs,
        system_attrs={"failed_trial": chain[0], "retry_history": chain}))
    return study.get_trials(deepcopy=False)[-1].number


class RetryStale:
    """Optuna's heartbeat callback: retry a trial whose worker stopped sending heartbeats."""

    def __init__(self, max_retries: int) -> None:
        self.max_retries = max_retries

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        worker = trial.user_attrs.get("worker", "unknown worker")
        retry_trial(study, trial, self.max_retries, f"trial {trial.number}: its worker ({worker}) stopped sending "
                                                    f"heartbeats")


def recover_dead_trials(study: optuna.Study, storage: optuna.storages.BaseStorage, max_retries: int = 2) -> list[int]:
    """Fail the RUNNING trials whose worker is gone, and queue each for a retry (up to ``max_retries``).

    A worker on this machine is gone when its process no longer exists (seen at once; the trial gets outcome
    ``worker died`` and the reason); a worker anywhere is gone when an RDB storage with heartbeats has not
    heard from it for the grace period (Optuna's ``fail_stale_trials``), or when no worker has claimed the trial
    long after it started (:func:`_orphaned`; one that never sampled a candidate is not queued again). Failed this
    way, a trial does not count toward the budget. Returns the numbers of the trials failed here.

    The pid check needs the trial's storage id (``FrozenTrial._trial_id``), as Optuna's ``fail_stale_trials``
    does: the storage API has no other handle on another process's trial.
    """
    dead = []
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in running:
        pid = _dead_local_worker(t)
        if pid is not None:
            reason = f"worker process {pid} ended during the trial"
        elif _orphaned(t):
            reason = (f"its process ended before it began: nothing claimed it in the {_orphan_seconds():g} s after "
                      f"it was started")
        else:
            continue
        try:
            storage.set_trial_user_attr(t._trial_id, "outcome", "worker died")  # noqa: SLF001
            storage.set_trial_user_attr(t._trial_id, "reason", reason)  # noqa: SLF001
            if not storage.set_trial_state_values(t._trial_id, TrialState.FAIL):  # noqa: SLF001
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker got there first and retries it
        dead.append(t.number)
        if t.params or "spec" in t.user_attrs:  # an orphan that never sampled has no candidate to run again
            retry_trial(study, storage.get_trial(t._trial_id), max_retries,  # noqa: SLF001
                        f"trial {t.number}: {reason}")
    if heartbeat_on(storage):
        with quiet_optuna():
            optuna.storages.fail_stale_trials(study)  # calls RetryStale for each
        now_failed = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
        dead += [t.number for t in running if t.number in now_failed and t.number not in dead]
    return sorted(dead)


def dead_trial_text(study: optuna.Study, number: int) -> str:
    """What became of trial ``number``, failed by :func:`recover_dead_trials`: queued to run again, or not (it had
    used its retries, or never sampled a candidate)."""
    queued = any(t.system_attrs.get("retry_history", [])[-1:] == [number]
                 for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING)))
    return f"trial {number}: its worker died; " + ("queued to run again" if queued else "not run again (nothing to "
                                                   "run, or its retries are used)")


def heartbeat_on(storage: optuna.storages.BaseStorage) -> bool:
    """Whether ``storage`` records heartbeats of running trials (an RDB storage opened with ``heartbeat``)."""
    return getattr(storage, "get_heartbeat_interval", lambda: None)() is not None


def others_running(study: optuna.Study, storage: optuna.storages.BaseStorage) -> tuple[int, int]:
    """(running trials of other processes, those of them whose death would be noticed): trials on this machine
    whose process lives, or any trial when the storage has heartbeats."""
    heartbeat = heartbeat_on(storage)
    total = watched = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = _local_pid(t)
        if pid == os.getpid():
            continue
        total += 1
        watched += heartbeat or (pid is not None and _pid_alive(pid))
    return total, watched


def requeue_interrupted(study: optuna.Study, max_retries: int = 2) -> list[int]:
    """Queue a fresh run of every interrupted trial (Ctrl-C, SIGTERM) that has not been queued again yet, with
    its candidate (as :func:`retry_trial`, so at most ``max_retries`` runs in a chain). An interrupt says nothing
    about the candidate: without this its slot would go to a new sample and the candidate would never finish.
    Returns the numbers of the trials queued again.

    Called when a search starts; two processes starting in the same instant on a shared database can both queue
    the same trial (one extra run of it, nothing lost)."""
    trials = study.get_trials(deepcopy=False)
    queued = {t.system_attrs["retry_history"][-1] for t in trials if t.system_attrs.get("retry_history")}
    interrupted = [t for t in trials if t.state == TrialState.FAIL and outcome_of(t) == "interrupted"
                   and t.number not in queued]
    return [t.number for t in interrupted
            if retry_trial(study, t, max_retries, f"trial {t.number} was interrupted") is not None]


#: beside a trial's saved model: its objective values and closing attributes, written before the storage hears them
FINISHED_NAME = "finished.json"


def mark_finished(directory: Path, values: list[float], attrs: dict[str, Any]) -> None:
    """Write the result of a trial whose model was just saved in ``directory`` (see :func:`record_finished`)."""
    text = json.dumps({"values": values, "user_attrs": attrs})
    atomic_write(directory / FINISHED_NAME, lambda tmp: tmp.write_text(text))


def _trial_folders(root: Path) -> dict[int, Path]:
    return {int(p.name): p for p in (root / "trials").glob("[0-9]" * 5) if p.is_dir()}


def record_finished(study: optuna.Study, storage: optuna.storages.BaseStorage, root: Path) -> list[int]:
    """Record as complete the trials that finished training and saved their model, but whose worker died (or lost
    the database) before the storage heard of it: a RUNNING trial whose process on this machine is gone and whose
    folder holds :data:`FINISHED_NAME`. Without this such a trial would be failed and trained again. Call before
    :func:`recover_dead_trials`, which fails them. Returns their numbers."""
    running = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    recorded = []
    for number, folder in sorted(_trial_folders(root).items()):
        t = running.get(number)
        if _dead_local_worker(t) is None or not (folder / FINISHED_NAME).is_file():
            continue
        try:
            result = json.loads((folder / FINISHED_NAME).read_text())
            for key, value in result["user_attrs"].items():
                storage.set_trial_user_attr(t._trial_id, key, value)  # noqa: SLF001 - as recover_dead_trials
            storage.set_trial_user_attr(t._trial_id, "recorded_late", True)  # noqa: SLF001
            if storage.set_trial_state_values(t._trial_id, TrialState.COMPLETE, result["values"]):  # noqa: SLF001
                recorded.append(number)
        except (OSError, ValueError, KeyError, optuna.exceptions.UpdateFinishedTrialError):
            continue  # unreadable: the trial is failed and run again instead; or another worker got there first
    return recorded


def remove_unfinished_folders(study: optuna.Study, root: Path) -> list[int]:
    """Remove the model folders of trials that ended without completing (a worker that died or lost its database
    after saving), so that the folders under ``trials/`` are exactly the complete trials. Folders of running or
    waiting trials, and of numbers the study does not hold, are left alone. Returns the numbers removed."""
    ended = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL, TrialState.PRUNED))}
    removed = []
    for number, folder in sorted(_trial_folders(root).items()):
        if number in ended:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(number)
    return removed


def drop_waiting(study: optuna.Study, storage: optuna.storages.BaseStorage, reason: str,
                 which: Callable[[optuna.trial.FrozenTrial], bool]) -> list[int]:
    """End the queued (WAITING) trials that ``which`` picks without running them: outcome ``surplus`` (nothing
    ran, nothing counts) with ``reason``. Each is claimed first, atomically, as Optuna's own workers claim a
    queued trial, so one that another worker has just started is left to it. Returns the numbers dropped."""
    dropped = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        if not which(t) or not storage.set_trial_state_values(t._trial_id, TrialState.RUNNING):  # noqa: SLF001
            continue
        storage.set_trial_user_attr(t._trial_id, "outcome", "surplus")  # noqa: SLF001
        storage.set_trial_user_attr(t._trial_id, "reason", reason)  # noqa: SLF001
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)  # noqa: SLF001
        dropped.append(t.number)
    return dropped
