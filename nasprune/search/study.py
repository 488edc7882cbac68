"""The Optuna study behind a search: storage, creation or resumption, and the trial budget.

A study remembers what it was made for (space, data, objectives, epochs, budgets, seed) in a user
attribute; running a command with other settings against it is refused, so resuming never mixes trials
of two different searches. Trials of a worker that died on this machine are marked failed on start.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from .._optuna import quiet_optuna
from ..data import DataOptions, DataSplits, load_data
from ..errors import StudyError

__all__ = ["open_storage", "open_study", "existing_trials", "default_storage_path", "fail_dead_trials", "load_study_data",
           "finished_count", "budget_taken_before", "counts_by_outcome", "worker_id", "STAMP_KEY"]

STAMP_KEY = "nasprune"
JOURNAL_NAME = "study.journal"


def default_storage_path(study_dir: Path) -> Path:
    return study_dir / JOURNAL_NAME


def open_storage(storage: str | Path) -> optuna.storages.BaseStorage:
    """An Optuna storage from a URL (``sqlite:///x.db``, ``postgresql://...``) or a journal file path.

    A journal file (Optuna's JournalStorage) is safe for several processes on one machine; PostgreSQL
    is the storage for several machines. SQLite must not be shared by parallel processes (optuna#820).
    """
    storage = str(storage)
    try:
        if "://" in storage:
            kwargs: dict[str, Any] = {}
            if storage.startswith("postgresql"):
                kwargs["engine_kwargs"] = {"connect_args": {"connect_timeout": 10}}  # fail fast, never hang
            return optuna.storages.RDBStorage(storage, **kwargs)
        path = Path(storage)
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    except Exception as exc:  # sqlalchemy / OS errors differ by backend; all mean the same to a user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        if "DB access module" in first:  # sqlalchemy could not import the database driver
            driver = "psycopg2-binary" if storage.startswith("postgresql") else "the driver for this database"
            first = f"its database driver is not installed (pip install {driver})"
        raise StudyError(f"cannot open the storage {storage!r}: {first}") from None


def worker_id() -> str:
    """``host:pid`` of this process, recorded on every trial it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def fail_dead_trials(study: optuna.Study, storage: optuna.storages.BaseStorage) -> list[int]:
    """Mark RUNNING trials whose worker process on this machine no longer exists as failed (reason
    ``worker died``); they do not count toward the budget, so the search runs them again. Returns their
    numbers. (Trials of other machines are left to Optuna's heartbeat, which RDB storages support.)

    Optuna's own ``fail_stale_trials`` does the same for heartbeats and, like it, this needs the trial's
    storage id (``FrozenTrial._trial_id``): the storage API has no other handle on another process's trial.
    """
    host = socket.gethostname()
    dead = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker_host, _, pid = str(t.user_attrs.get("worker", "")).rpartition(":")
        if worker_host == host and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            storage.set_trial_user_attr(t._trial_id, "outcome", "worker died")  # noqa: SLF001
            storage.set_trial_user_attr(t._trial_id, "reason", f"worker process {pid} ended during the trial")  # noqa: SLF001
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)  # noqa: SLF001
            dead.append(t.number)
    return dead


def _counts(t: optuna.trial.FrozenTrial) -> bool:
    # complete, pruned, and failed-by-the-candidate trials use up the budget; interrupted, dead-worker and
    # surplus ones do not, nor the pruned models that ``nasprune prune`` links to the study
    if "pruned_from" in t.user_attrs:
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
