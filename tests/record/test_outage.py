"""What hides behind the error Optuna raises when recording a trial fails."""

import signal

import optuna

from nasprune.record import cause_behind
from nasprune.signals import Interrupted


def test_an_interrupt_while_optuna_records_a_trial_is_found_under_optunas_own_error():
    # seen in a fresh clone's test run: a worker stopped by the main process while its storage waited for a
    # database to come back printed Optuna's UnboundLocalError traceback instead of exiting quietly
    study = optuna.create_study()
    storage, calls = study._storage, []  # noqa: SLF001
    get_trial = storage.get_trial

    def failing_get_trial(trial_id):
        if not calls:  # a trial is being recorded: the database is gone, then the wait for it is interrupted
            return get_trial(trial_id)
        calls.append(trial_id)
        if len(calls) == 2:
            raise optuna.exceptions.StorageInternalError("the database stopped answering")
        raise Interrupted(signal.SIGTERM)

    def objective(trial):
        calls.append("trained")
        return 1.0

    storage.get_trial = failing_get_trial
    try:
        study.optimize(objective, n_trials=1)
    except BaseException as exc:  # noqa: BLE001 - Optuna 5.1 lets out an UnboundLocalError of its own
        escaped = exc
    assert isinstance(cause_behind(escaped), Interrupted)
    assert cause_behind(ValueError("a candidate's own error")) is None
