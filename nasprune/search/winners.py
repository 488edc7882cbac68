"""The winners of a study (its Pareto front), their one look at the test split, and ``summary.json``."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import TrialState

from ..checkpoint import load_model
from ..data import DataSplits, Normalizer
from ..errors import CheckpointError
from ..train import Runtime, evaluate

__all__ = ["pareto_winners", "winner_row", "evaluate_on_test", "WINNER_COLUMNS"]

#: (key, heading) of the winners table
WINNER_COLUMNS = (("trial", "trial"), ("val_accuracy", "val_acc"), ("test_accuracy", "test_acc"),
                  ("mflops", "MFLOPs"), ("params_h", "params"), ("latency_ms", "latency_ms"),
                  ("depth", "depth"), ("arch", "architecture"))


def pareto_winners(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The feasible Pareto front of a multi-objective study (Optuna's ``best_trials``), or the best trial
    of a single-objective one; most accurate first, then cheapest."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    trials = study.best_trials if len(study.directions) > 1 else [study.best_trial]
    return sorted(trials, key=lambda t: (-t.values[0], t.user_attrs.get("mflops", 0.0)))


def winner_row(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """What ``summary.json`` records of a winner (test accuracy filled in by :func:`evaluate_on_test`)."""
    a = t.user_attrs
    row = {
        "trial": t.number,
        "arch": a.get("arch"),
        "params": a.get("params"),
        "mflops": a.get("mflops"),
        "latency_ms": a.get("latency_ms"),
        "depth": a.get("depth"),
        "val_accuracy": round(t.values[0], 5),
        "test_accuracy": None,
        "checkpoint": a.get("checkpoint"),
        "spec": a.get("spec"),
    }
    if a.get("baseline"):
        row["baseline"] = a["baseline"]
    return row


def evaluate_on_test(rows: list[dict[str, Any]], data: DataSplits, runtime: Runtime) -> list[str]:
    """Fill in ``test_accuracy`` of each row from its saved model; the only use of the test split.
    Returns problems (a missing or unreadable checkpoint) as lines to show; those rows keep None."""
    problems = []
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    for row in rows:
        if not row.get("checkpoint"):
            problems.append(f"trial {row['trial']}: no saved model, test accuracy not measured")
            continue
        try:
            _, model = load_model(row["checkpoint"], runtime.device)
        except CheckpointError as exc:
            problems.append(f"trial {row['trial']}: {exc}")
            continue
        model.to(memory_format=runtime.memory_format)
        row["test_accuracy"] = round(evaluate(model, data.test, normalize, runtime, data.streamed)[1], 5)
    return problems
