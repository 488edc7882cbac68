"""Where a study lives: its storage (a journal file, SQLite, PostgreSQL), its folder under results/, and the
folder of its trial checkpoints and artifacts. Opening a study that exists, with one-line errors when it does not."""

from __future__ import annotations

import difflib
import random
import re
import time
from pathlib import Path
from typing import Any

import optuna
from sqlalchemy import exc as sa_exc

from .._optuna import quiet_optuna
from ..errors import StudyError
from .liveness import RetryStale
from .outage import ResilientRDBStorage

__all__ = ["open_storage", "masked_url", "trial_dir", "default_storage_path", "existing_trials", "open_existing", "artifacts_root",
           "JOURNAL_NAME", "ARTIFACTS_KEY"]

JOURNAL_NAME = "study.journal"
CONNECT_TIMEOUT = 5  # seconds to reach a database server before giving up
_CREATE_ATTEMPTS = 8  # tries to create the tables while other workers create them too
ARTIFACTS_KEY = "artifacts_dir"  # study attribute: where trial checkpoints and the artifact store live


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
                              heartbeat_stale_trial_callback=RetryStale(max_retries))
            # a connection the server dropped (a restart) is replaced before use instead of failing the call
            kwargs.setdefault("engine_kwargs", {})["pool_pre_ping"] = True
            return _create_rdb(storage, kwargs)
        path = Path(storage)
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    except Exception as exc:  # sqlalchemy / OS errors differ by backend; all mean the same to a user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        if "DB access module" in first:  # sqlalchemy could not import the database driver
            driver = "'psycopg[binary]'" if storage.startswith("postgresql") else "the driver for this database"
            first = f"its database driver is not installed (pip install {driver})"
        raise StudyError(f"cannot open the storage {masked_url(storage)!r}: {first}") from None


def _create_rdb(url: str, kwargs: dict[str, Any]) -> ResilientRDBStorage:
    """The storage, creating Optuna's tables if the database has none. Workers started together on an empty
    database all create them, and all but one fail on PostgreSQL's catalog (``UniqueViolation`` on
    ``pg_type_typname_nsp_index``); the tables then exist, so a failed creation is simply tried again."""
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            with quiet_optuna():  # heartbeats are "experimental" in Optuna 5, and say so at every start
                return ResilientRDBStorage(url, **kwargs)
        except (sa_exc.IntegrityError, sa_exc.ProgrammingError) as exc:
            if attempt == _CREATE_ATTEMPTS - 1 or not _lost_creation_race(exc):
                raise
            time.sleep(random.uniform(0.05, 0.3 * (attempt + 1)))
    raise AssertionError("unreachable")


def _lost_creation_race(exc: Exception) -> bool:
    """Another process created the same table, type or version row in the same instant."""
    orig = getattr(exc, "orig", None)
    return type(orig).__name__ in ("UniqueViolation", "DuplicateTable", "DuplicateObject") or "already exists" in str(exc)


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***``: what nasprune prints or writes anywhere. Everything up to
    the last ``@`` is taken as the password, so one with an unescaped ``@`` or ``/`` is masked whole too."""
    return re.sub(r"(://[^:/@]*):.*@(?=[^@]*$)", r"\1:***@", str(url))


def trial_dir(root: Path, number: int) -> Path:
    """Where trial ``number`` keeps its saved model, under the study's artifacts root."""
    return root / "trials" / f"{number:05d}"


def artifacts_root(study: optuna.Study, study_dir: Path) -> Path:
    """Where the study's trial checkpoints (``trials/``) and artifact store (``artifacts/``) live: the
    ``--artifacts`` path its search was given, or the study's folder under results/."""
    return Path(study.user_attrs.get(ARTIFACTS_KEY) or study_dir)


def existing_trials(storage: optuna.storages.BaseStorage, name: str) -> int:
    """How many trials study ``name`` already holds in ``storage`` (0 if there is no such study)."""
    if name not in optuna.get_all_study_names(storage):
        return 0
    return len(storage.get_all_trials(storage.get_study_id_from_name(name), deepcopy=False))


def _study_folders(results_dir: Path) -> list[str]:
    """The studies of a results folder: its subfolders that hold a study journal."""
    if not Path(results_dir).is_dir():
        return []
    return sorted(p.parent.name for p in Path(results_dir).glob(f"*/{JOURNAL_NAME}"))


def _nearest(name: str, names: list[str]) -> str:
    """``; did you mean 'b'?`` for the name nearest to ``name`` if one is close (difflib's ratio >= 0.6), else ""."""
    close = difflib.get_close_matches(name, names, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def open_existing(name: str, storage: str | None, results_dir: Path
                  ) -> tuple[optuna.Study, optuna.storages.BaseStorage]:
    """Load a study made by ``nasprune search`` and its storage; a missing one is a one-line error naming
    where it looked (and the nearest study name there, if one is close)."""
    where = storage or str(default_storage_path(results_dir / name))
    if storage is None and not Path(where).is_file():
        folders = _study_folders(results_dir)
        raise StudyError(f"no study {name!r}: {where} does not exist (studies in {results_dir}: "
                         f"{', '.join(folders) or 'none'}); run nasprune search --study {name} first, or pass "
                         f"--storage / --results-dir{_nearest(name, folders)}")
    backend = open_storage(where)
    names = optuna.get_all_study_names(backend)
    if name not in names:
        raise StudyError(f"no study {name!r} in {where} (studies there: {', '.join(names) or 'none'})"
                         f"{_nearest(name, names)}")
    with quiet_optuna():
        return optuna.load_study(study_name=name, storage=backend), backend
