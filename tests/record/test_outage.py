"""What hides behind the error Optuna raises when recording a trial fails."""

import signal

import optuna
import pytest

from nasprune.record import cause_behind
from nasprune.signals import Interrupted


def test_an_interrupt_while_optuna_records_a_trial_is_found_under_optunas_own_error():
    # seen in a fresh clone's test run: a worker stopped by the main process while its storage waited for a
    # database to come back printed Optuna's UnboundLocalError traceback instead of exiting quietly
    study = optuna.create_study()
    storage, trained = study._storage, []  # noqa: SLF001
    get_trial = storage.get_trial
    # once the trial has trained, recording it finds the database gone, and the wait for it is interrupted
    failures = iter([optuna.exceptions.StorageInternalError("the database stopped answering"),
                     Interrupted(signal.SIGTERM)])

    def failing_get_trial(trial_id):
        if not trained:
            return get_trial(trial_id)
        raise next(failures)

    storage.get_trial = failing_get_trial
    with pytest.raises(BaseException) as escaped:  # Optuna 5.1 lets out an UnboundLocalError of its own
        study.optimize(lambda trial: trained.append(trial.number) or 1.0, n_trials=1)
    assert isinstance(cause_behind(escaped.value), Interrupted)
    assert cause_behind(ValueError("a candidate's own error")) is None


def test_optunas_fallback_warning_is_not_printed_before_the_outage_line():
    # seen in a test run of a long outage: Optuna's RDB storage logged "Caught an error from sqlalchemy: ...
    # [SQL: SELECT ...] Falling back to a slower alternative." (ten lines) before nasprune's own line
    import logging

    import nasprune.record.outage  # noqa: F401  (the search's storage module)

    rdb_log = logging.getLogger("optuna.storages._rdb.storage")

    def record(message):
        return rdb_log.makeRecord(rdb_log.name, logging.WARNING, __file__, 1, message, None, None)

    assert not rdb_log.filter(record("Caught an error from sqlalchemy: (psycopg.OperationalError) server closed the "
                                     "connection unexpectedly. Falling back to a slower alternative."))
    assert rdb_log.filter(record("any other warning of the storage"))
