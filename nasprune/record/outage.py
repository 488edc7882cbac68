"""Riding out a database that goes away: an Optuna RDB storage whose calls wait for a lost server to come back.

Optuna's RDBStorage turns a dropped connection into a chain of tracebacks (and a misleading "invalid data in the
commit, e.g. exceeding max length"). :class:`ResilientRDBStorage` is the same storage (every ``isinstance`` check,
heartbeat and engine included) whose calls, on a lost connection, retry with a growing pause for up to
``OUTAGE_SECONDS``: a server restart of a few seconds costs a search nothing. Past that it raises
:class:`~nasprune.errors.StorageLostError`, one line, and every later call of the same storage fails at once, so a
process that lost its database ends quickly instead of waiting once per call. A heartbeat that cannot be written
is skipped (there is nothing to write it to); the role lacking rights is said as such.

A retried write that had reached the server before its connection dropped is written twice; the calls a search
makes in that way are idempotent (attributes, states) except the creation of a trial, which may then leave one
extra RUNNING trial: it is failed as a dead worker's on the next start on this machine.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import optuna
from sqlalchemy import exc as sa_exc

from ..errors import StorageLostError, StudyError

__all__ = ["ResilientRDBStorage", "OUTAGE_SECONDS", "connection_lost", "lost_message", "cause_behind",
           "unmasked"]

#: how long a storage call waits for a lost database to come back before the search gives up ($NASPRUNE_OUTAGE_SECONDS)
OUTAGE_SECONDS = float(os.environ.get("NASPRUNE_OUTAGE_SECONDS") or 60)
_FIRST_PAUSE, _LONGEST_PAUSE = 0.5, 5.0
#: says when the database went away and came back, once per outage (a search's worker processes keep it quiet:
#: their main process says it)
log = logging.getLogger("nasprune.storage")


def _without_optunas_fallback_warning(record: logging.LogRecord) -> bool:
    """Optuna's RDB storage catches an OperationalError while it reads trials (it takes one for too many query
    variables), logs it whole, SQL included, and reads again the slow way. When the database went away that is
    ten lines of SQL before the storage's own line says what happened (a test run of a long outage caught it);
    the slow read itself still runs, and fails or succeeds as the database does. Only the message goes."""
    return "Falling back to a slower alternative" not in record.getMessage()


logging.getLogger("optuna.storages._rdb.storage").addFilter(_without_optunas_fallback_warning)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen and len(seen) < 10:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the connection to the database is gone."""
    return any(isinstance(e, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError))
               or (isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated) for e in _chain(exc))


def _no_rights(exc: BaseException) -> BaseException | None:
    """The database's own "permission denied" (SQLSTATE 42501) behind ``exc``, if that is what it is."""
    for e in _chain(exc):
        orig = getattr(e, "orig", e)
        if getattr(orig, "sqlstate", None) == "42501" or type(orig).__name__ == "InsufficientPrivilege":
            return orig
    return None


def _first_line(exc: BaseException) -> str:
    chain = _chain(exc)
    # the database driver's own message says what happened ("connection refused", "server closed the connection");
    # Optuna's wrapper says less, and under it lies SQLAlchemy's pool signal InvalidatePoolError, whose text is "()"
    for e in chain:
        text = str(getattr(e, "orig", None) or "").strip()
        if text:
            return text.splitlines()[0]
    for e in reversed(chain):
        text = str(e).strip()
        if text and not isinstance(e, sa_exc.InvalidatePoolError):
            return text.splitlines()[0]
    return exc.__class__.__name__


def cause_behind(exc: BaseException) -> StorageLostError | KeyboardInterrupt | None:
    """The lost database or the interrupt behind ``exc``, if any (the outermost, where there are both). When
    recording a trial fails, Optuna's ``_run_trial`` asks the storage again inside its error handler; if that
    fails too (the database is lost), or is interrupted while it waits for the database to come back (Ctrl-C,
    or the main process stopping a worker), it ends in an ``UnboundLocalError`` of its own that hides the real
    cause, and a traceback instead of the one line each of those ends with."""
    return next((e for e in _chain(exc) if isinstance(e, (StorageLostError, KeyboardInterrupt))), None)


@contextlib.contextmanager
def unmasked() -> Iterator[None]:
    """Within the block, an exception with a lost database or an interrupt behind it (:func:`cause_behind`) is
    raised as that. Libraries' cleanup can mask a signal: Optuna's journal-file lock releases itself again when
    an exception reaches it, so a Ctrl-C that lands as the lock is released (``os.unlink`` done, ``except
    BaseException`` entered) ends in a FileNotFoundError, one that lands before the lock is taken in a
    RuntimeError, each with the interrupt as its context. Any code that takes such an error for the candidate's
    failure, or for a reason to carry on, loses the interrupt: the search went on to its last trial."""
    try:
        yield
    except Exception as exc:
        cause = cause_behind(exc)
        if cause is None:
            raise
        raise cause from None


def lost_message(cause: str) -> str:
    """The one line a search that lost its database ends with."""
    return (f"the study's database stopped answering ({cause}) and did not come back within {OUTAGE_SECONDS:g} s; "
            f"the finished trials are safe in it: run the same command again when it is back")


class ResilientRDBStorage(optuna.storages.RDBStorage):
    """Optuna's RDBStorage whose calls outlast a short database outage (see the module's text)."""

    _lost: str | None = None  # set once the storage was given up: later calls fail at once
    _quiet_until = 0.0  # no trial is declared stale before this (time.monotonic()): see _get_stale_trial_ids

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        pause, deadline = _FIRST_PAUSE, None
        while True:
            if self._lost is not None:
                raise StorageLostError(self._lost)
            try:
                result = method(self, *args, **kwargs)
                if deadline is not None:
                    self._came_back()
                return result
            except Exception as exc:
                denied = _no_rights(exc)
                if denied is not None:
                    said = str(denied).strip().splitlines()[0] if str(denied).strip() else "permission denied"
                    raise StudyError(f"the database role has no rights on the study's tables ({said}); grant them "
                                     f"(GRANT ALL ON ALL TABLES IN SCHEMA public TO <role>, and the same ON ALL "
                                     f"SEQUENCES) or use the role that created them") from None
                if not connection_lost(exc):
                    raise
                now = time.monotonic()
                if deadline is None:  # the first failure of this call: the outage starts
                    deadline = now + OUTAGE_SECONDS
                    log.warning("the study's database stopped answering (%s); waiting up to %g s for it to come back",
                                _first_line(exc), OUTAGE_SECONDS)
                if now >= deadline:
                    self._lost = lost_message(_first_line(exc))
                    raise StorageLostError(self._lost) from None
                time.sleep(min(pause, deadline - now))
                pause = min(2 * pause, _LONGEST_PAUSE)

    def _came_back(self) -> None:
        """The database answers again after an outage. Nobody's heartbeat reached it meanwhile, so every running
        trial looks stale: none is declared so for two heartbeat periods, while the live ones send theirs."""
        interval = self.get_heartbeat_interval() or 0
        if time.monotonic() >= self._quiet_until:
            log.warning("the study's database answers again; the search goes on")
        self._quiet_until = max(self._quiet_until, time.monotonic() + 2 * interval)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        if time.monotonic() < self._quiet_until:
            return []
        return self._call(optuna.storages.RDBStorage._get_stale_trial_ids, study_id)

    def record_heartbeat(self, trial_id: int) -> None:
        """Sent from Optuna's heartbeat thread: while the database is away it is tried again every second (so
        it is fresh as soon as the database is back) and never raises (the thread must not die of an outage;
        the trial's own calls say it)."""
        deadline, failed = time.monotonic() + OUTAGE_SECONDS, False
        while self._lost is None:
            try:
                super().record_heartbeat(trial_id)
                if failed:
                    self._came_back()
                return
            except Exception as exc:
                if not connection_lost(exc) or time.monotonic() > deadline:
                    return
                failed = True
                time.sleep(1.0)


def _retrying(name: str) -> Callable[..., Any]:
    method = getattr(optuna.storages.RDBStorage, name)

    @functools.wraps(method)
    def call(self: ResilientRDBStorage, *args: Any, **kwargs: Any) -> Any:
        return self._call(method, *args, **kwargs)

    return call


# every storage call a study makes, with the private ones Optuna's cache in front of an RDB storage (_CachedStorage)
# calls; not the heartbeat nor the stale-trial query (above). A call inside another waits in the inner one only.
_CACHE_CALLS = ("_create_new_trial", "_get_best_trial_id", "_get_trials", "_set_trial_param")
for _name, _ in inspect.getmembers(optuna.storages.RDBStorage, inspect.isfunction):
    if (not _name.startswith("_") or _name in _CACHE_CALLS) and _name not in (
            "record_heartbeat", "remove_session", "upgrade", "get_current_version", "get_head_version",
            "get_all_versions", "get_heartbeat_interval", "get_failed_trial_callback"):
        setattr(ResilientRDBStorage, _name, _retrying(_name))
