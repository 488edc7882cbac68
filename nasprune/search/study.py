"""The Optuna study behind a search: storage, creation or resumption, and the trial budget.

A study remembers what it was made for (space, data, objectives, epochs, budgets, seed) in a user
attribute; running a command with other settings against it is refused, so resuming never mixes trials
of two different searches. Trials of a worker that died on this machine are marked failed on start.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from .._optuna import quiet_optuna
from ..data import DataOptions, DataSplits, load_data
from ..errors import StudyError

__all__ = ["open_storage", "open_study", "existing_trials", "default_storage_path", "recover_dead_trials", "retry_trial",
           "others_running", "heartbeat_on", "outcome_of", "reason_of", "load_study_data", "finished_count", "budget_taken_before",
           "counts_by_outcome", "worker_id", "artifacts_root", "OUTCOMES", "STAMP_KEY", "BASELINE_ATTR", "START_ATTR", "RETRY_OF", "ARTIFACTS_KEY"]

STAMP_KEY = "nasprune"
JOURNAL_NAME = "study.journal"
BASELINE_ATTR = "baseline"  # a preset enqueued as a trial (--baseline)
START_ATTR = "start_with"  # a candidate of the space's start_with list (its index)
RETRY_OF = "retry_of"  # a trial that repeats one whose worker died
_CARRIED = ("spec", BASELINE_ATTR)  # what a retry keeps of the trial it repeats
CONNECT_TIMEOUT = 5  # seconds to reach a database server before giving up
ARTIFACTS_KEY = "artifacts_dir"
#: how a trial can end (its ``outcome``); only complete, pruned and failed use up the trial budget
OUTCOMES = ("complete", "pruned", "failed", "interrupted", "surplus", "worker died", "disk full")  # study attribute: where trial checkpoints and the artifact store live


def default_storage_path(study_dir: Path) -> Path:
    return study_dir / JOURNAL_NAME


def open_storage(storage: str | Path, heartbeat: int | None = None,
                 max_retries: int = 2) -> optuna.storages.BaseStorage:
    """An Optuna storage from a URL (``sqlite:///x.db``, ``postgresql://...``) or a journal file path.

    A journal file (Optuna's JournalStorage) is safe for several processes on one machine; PostgreSQL
    is the storage for several machines. SQLite must not be shared by parallel processes (optuna#820).
    With ``heartbeat`` (seconds), an RDB storage records a heartbeat of every running trial; a trial
    silent for twice that long is failed and run again (see :func:`retry_trial`).
    """
    storage = str(storage)
    try:
        if "://" in storage:
            kwargs: dict[str, Any] = {}
            if storage.startswith("postgresql"):
                kwargs["engine_kwargs"] = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}}  # fail fast
            if heartbeat:
                kwargs.update(heartbeat_interval=heartbeat, grace_period=2 * heartbeat,
                              heartbeat_stale_trial_callback=_RetryStale(max_retries))
            with quiet_optuna():  # heartbeats are "experimental" in Optuna 5, and say so at every start
                return optuna.storages.RDBStorage(storage, **kwargs)
        path = Path(storage)
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    except Exception as exc:  # sqlalchemy / OS errors differ by backend; all mean the same to a user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        if "DB access module" in first:  # sqlalchemy could not import the database driver
            driver = "'psycopg[binary]'" if storage.startswith("postgresql") else "the driver for this database"
            first = f"its database driver is not installed (pip install {driver})"
        raise StudyError(f"cannot open the storage {_without_password(storage)!r}: {first}") from None


def _without_password(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def worker_id() -> str:
    """``host:pid`` of this process, recorded on every trial it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _local_pid(t: optuna.trial.FrozenTrial) -> int | None:
    """The process id of the trial's worker if that worker ran on this machine (its ``worker`` attribute)."""
    worker_host, _, pid = str(t.user_attrs.get("worker", "")).rpartition(":")
    return int(pid) if worker_host == socket.gethostname() and pid.isdigit() else None


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


class _RetryStale:
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
    heard from it for the grace period (Optuna's ``fail_stale_trials``). Failed this way, a trial does not
    count toward the budget. Returns the numbers of the trials failed here.

    The pid check needs the trial's storage id (``FrozenTrial._trial_id``), as Optuna's ``fail_stale_trials``
    does: the storage API has no other handle on another process's trial.
    """
    dead = []
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in running:
        pid = _local_pid(t)
        if pid is None or pid == os.getpid() or _pid_alive(pid):
            continue
        reason = f"worker process {pid} ended during the trial"
        try:
            storage.set_trial_user_attr(t._trial_id, "outcome", "worker died")  # noqa: SLF001
            storage.set_trial_user_attr(t._trial_id, "reason", reason)  # noqa: SLF001
            if not storage.set_trial_state_values(t._trial_id, TrialState.FAIL):  # noqa: SLF001
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker got there first and retries it
        dead.append(t.number)
        retry_trial(study, storage.get_trial(t._trial_id), max_retries, f"trial {t.number}: {reason}")  # noqa: SLF001
    if heartbeat_on(storage):
        with quiet_optuna():
            optuna.storages.fail_stale_trials(study)  # calls _RetryStale for each
        now_failed = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
        dead += [t.number for t in running if t.number in now_failed and t.number not in dead]
    return sorted(dead)


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


def outcome_of(t: optuna.trial.FrozenTrial) -> str:
    """How a trial ended, in nasprune's words: complete, pruned, failed, interrupted, surplus, worker died,
    disk full; a failed trial that recorded nothing lost its worker before it could (heartbeat timeout)."""
    recorded = t.user_attrs.get("outcome")
    if recorded:
        return str(recorded)
    return {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "worker died",
            TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}[t.state]


def reason_of(t: optuna.trial.FrozenTrial) -> str:
    """Why a trial did not complete (empty for a completed one)."""
    if t.user_attrs.get("reason"):
        return str(t.user_attrs["reason"])
    if t.state == TrialState.FAIL and "outcome" not in t.user_attrs:
        return "its worker stopped sending heartbeats (process killed or machine lost)"
    return ""


def artifacts_root(study: optuna.Study, study_dir: Path) -> Path:
    """Where the study's trial checkpoints (``trials/``) and artifact store (``artifacts/``) live: the
    ``--artifacts`` path its search was given, or the study's folder under results/."""
    return Path(study.user_attrs.get(ARTIFACTS_KEY) or study_dir)


def _counts(t: optuna.trial.FrozenTrial) -> bool:
    # complete, pruned, and failed-by-the-candidate trials use up the budget; interrupted, dead-worker and
    # surplus ones do not, nor the pruned models that ``nasprune prune`` links to the study, nor the winners a
    # time budget retrains (they are not new candidates)
    if "pruned_from" in t.user_attrs or "retrain_of" in t.user_attrs:
        return False
    return t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        t.state == TrialState.FAIL and t.user_attrs.get("outcome") == "failed")


def finished_count(study: optuna.Study, include_running: bool = False) -> int:
    """Trials that count toward the budget; with ``include_running``, plus the ones under way."""
    trials = study.get_trials(deepcopy=False)
    return sum(_counts(t) or (include_running and t.state == TrialState.RUNNING) for t in trials)


def budget_taken_before(study: optuna.Study, number: int) -> int:
    """Budget used by trials numbered below ``number``, finished or under way. Trial numbers are handed
    out in order, so a trial that finds the budget already taken by earlier trials is surplus: another
    worker started it in the same instant as the last one that fits."""
    return sum(t.number < number and (_counts(t) or t.state == TrialState.RUNNING)
               for t in study.get_trials(deepcopy=False))


def counts_by_outcome(study: optuna.Study) -> dict[str, int]:
    """Trials by state: complete, pruned, failed, running, waiting."""
    counts = {"complete": 0, "pruned": 0, "failed": 0, "running": 0, "waiting": 0}
    names = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
             TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}
    for t in study.get_trials(deepcopy=False):
        counts[names[t.state]] += 1
    return counts


def _check_stamp(study: optuna.Study, stamp: dict[str, Any], where: str) -> None:
    old = study.user_attrs.get(STAMP_KEY)
    if old is None:
        if study.get_trials(deepcopy=False):
            raise StudyError(f"study {study.study_name!r} in {where} was not made by nasprune search; "
                             f"choose another --study name")
        study.set_user_attr(STAMP_KEY, stamp)
        return
    for key, value in stamp.items():
        if key != "space_file" and old.get(key) != value:  # the file may move; its content may not change
            raise StudyError(f"study {study.study_name!r} in {where} was made with {key}={old.get(key)!r}, this "
                             f"command asks for {key}={value!r}; rerun with the study's settings to resume it, "
                             f"or choose another --study name")


def existing_trials(storage: optuna.storages.BaseStorage, name: str) -> int:
    """How many trials study ``name`` already holds in ``storage`` (0 if there is no such study)."""
    if name not in optuna.get_all_study_names(storage):
        return 0
    return len(storage.get_all_trials(storage.get_study_id_from_name(name), deepcopy=False))


def open_study(name: str, storage: optuna.storages.BaseStorage, where: str, directions: list[str],
               metric_names: tuple[str, ...], sampler: optuna.samplers.BaseSampler,
               pruner: optuna.pruners.BasePruner, stamp: dict[str, Any]) -> tuple[optuna.Study, bool]:
    """Create the study, or load it if it exists and was made with the same settings (safe when several
    workers start at once). Returns (study, resumed)."""
    with quiet_optuna():
        study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner,
                                    directions=directions, load_if_exists=True)
    got = [d.name.lower() for d in study.directions]
    if got != directions:
        raise StudyError(f"study {name!r} in {where} optimizes {', '.join(got)}, this command asks for "
                         f"{', '.join(directions)}; choose another --study name")
    resumed = STAMP_KEY in study.user_attrs
    _check_stamp(study, stamp, where)
    if study.metric_names is None:
        with quiet_optuna():
            study.set_metric_names(list(metric_names))
    return study, resumed


def load_study_data(study: optuna.Study, download: bool = False, cache: bool = True) -> DataSplits:
    """The data set of a study, split exactly as its search split it (source, fractions, resize,
    augmentation and seed come from the study's record)."""
    stamp: dict[str, Any] = study.user_attrs.get(STAMP_KEY) or {}
    if "data" not in stamp:
        raise StudyError(f"study {study.study_name!r} was not made by nasprune search (it does not say its data)")
    options = DataOptions(
        val_fraction=stamp["val_fraction"], test_fraction=stamp["test_fraction"],
        image_size=tuple(stamp["image_size"]) if stamp.get("image_size") else None,
        augment=stamp.get("augment", "auto"), skip_broken_images=stamp.get("skip_broken_images", False),
        download=download, cache=cache)
    return load_data(stamp["data"], options, seed=stamp["seed"])
