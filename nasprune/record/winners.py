"""The winners of a study: its Pareto front, what ``summary.json`` records of each, and their one look at the
test split. One Pareto function serves the search, the report and every stage that picks a winner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from ..checkpoint import load_model
from ..data import DataSplits, Normalizer
from ..errors import CheckpointError
from ..train import Runtime, evaluate
from .outcomes import BASELINE_ATTR, COVER_ATTR, RETRAIN_OF, START_ATTR, is_search_trial

__all__ = ["pareto_front", "answers", "pareto_winners", "retrain_candidates", "winner_row", "evaluate_on_test",
           "origin", "ORIGINS", "found_text"]

T = TypeVar("T")


def pareto_front(items: Sequence[T], objectives: Callable[[T], Sequence[float]]) -> list[T]:
    """The items no other item dominates, where ``objectives(item)`` gives values that are all "higher is
    better" (negate a cost). Ties keep every tied item; the order of ``items`` is kept."""
    scored = [(item, list(objectives(item))) for item in items]
    return [item for item, mine in scored
            if not any(all(o >= m for o, m in zip(other, mine, strict=True)) and other != mine
                       for _, other in scored)]


def answers(items: Sequence[T], learned: Callable[[T], bool | None]) -> list[T]:
    """The items that are an answer: a network at chance (``learned`` False: the trial's diagnostics found its
    validation accuracy no better than guessing) is none, however cheap, as a constant guess does as well at no cost;
    it stays off a front, unless no item learned (then every item stays, the best of a study that found nothing).
    Seen on our letters set: two group-norm networks at chance (0.07 and 0.09, 12 classes) stood on the front beside
    the answer at 0.92, counted as "found by the exploration". ``learned`` None (not measured) counts as learned."""
    kept = [item for item in items if learned(item) is not False]
    return kept or list(items)


def _feasible(study: optuna.Study, states: tuple[TrialState, ...] = (TrialState.COMPLETE,)
              ) -> list[optuna.trial.FrozenTrial]:
    """The study's search trials in ``states`` (complete ones by default) within every budget."""
    return [t for t in study.get_trials(deepcopy=False, states=states)
            if is_search_trial(t) and all(v <= 0 for v in t.constraints.values())]


def pareto_winners(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The feasible Pareto front of the search's trials that learned (:func:`answers`) in a multi-objective study,
    or its best trial in a single-objective one; most accurate first, then cheapest. Pruned models that ``nasprune
    prune`` linked to the study are not search trials: they neither enter the front nor push their own source out of
    it (Optuna's ``best_trials`` would count them)."""
    signs = [1 if d == StudyDirection.MAXIMIZE else -1 for d in study.directions]
    trials = answers(_feasible(study), lambda t: t.user_attrs.get("learned"))
    front = pareto_front(trials, lambda t: [s * v for s, v in zip(signs, t.values, strict=True)])
    front.sort(key=lambda t: (-signs[0] * t.values[0], t.user_attrs.get("mflops", 0.0)))
    return front if len(signs) > 1 else front[:1]


def retrain_candidates(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials a time budget may train again (nasprune.search.budget.finalists): the search's complete trials
    within every budget, and the space's start candidates and the ``--baseline`` presets stopped after at least one
    epoch. A stopped reference counts: its run may have been cut short by the budget before it was measured
    (measured: the wide start candidate, 3.8 s an epoch on one core at 32x32, was stopped as too slow for a 180-s
    sampling phase; retrained, it topped the front)."""
    return [t for t in _feasible(study, (TrialState.COMPLETE, TrialState.PRUNED)) if t.user_attrs.get("history")
            and (t.state == TrialState.COMPLETE or START_ATTR in t.user_attrs or BASELINE_ATTR in t.user_attrs)]


#: where a network came from (:func:`origin`); the first two are not the exploration's finds
ORIGINS = ("start", "baseline", "coverage", "sampled")


def origin(t: optuna.trial.FrozenTrial, study: optuna.Study) -> str:
    """Where ``t``'s network came from: ``start`` (the space's start candidates), ``baseline`` (``--baseline``),
    ``coverage`` (the stratified start, which tries every choice of the space) or ``sampled``. A retrained winner's
    is its source's, a trial of ``study``."""
    a = t.user_attrs
    if RETRAIN_OF in a:
        return origin(study.get_trials(deepcopy=False)[a[RETRAIN_OF]], study)
    return next((name for key, name in ((START_ATTR, "start"), (BASELINE_ATTR, "baseline"), (COVER_ATTR, "coverage"))
                 if key in a), "sampled")


def found_text(rows: list[dict[str, Any]]) -> str | None:
    """What the front owes to the exploration (rows of :func:`winner_row` with their ``origin``): a user can tell a
    search that found networks from one whose answer is a hand-picked start candidate trained again. None where the
    rows say nothing of their origin (a study written before it was recorded)."""
    if not rows or any("origin" not in r for r in rows):
        return None
    found = [r for r in rows if r["origin"] not in ORIGINS[:2]]
    if not found:
        return ("every network on the front is a start candidate or a baseline: the exploration found no network "
                "more accurate than they are at its cost")
    listed = ", ".join(f"{r['trial']} (val {r['val_accuracy']:.3f} at {r['mflops']:.3g} MFLOPs)" for r in found)
    if len(found) == len(rows):
        return f"every network on the front was found by the exploration (trial{'s' * (len(found) > 1)} {listed})"
    return (f"{len(found)} of the front's {len(rows)} networks {'was' if len(found) == 1 else 'were'} found by the "
            f"exploration (trial{'s' * (len(found) > 1)} {listed}); the rest are start candidates or baselines")


def winner_row(t: optuna.trial.FrozenTrial, study: optuna.Study | None = None) -> dict[str, Any]:
    """What ``summary.json`` records of a winner (test accuracy filled in by :func:`evaluate_on_test`); with its
    ``study``, where it came from (:func:`origin`)."""
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
    for key in (BASELINE_ATTR, RETRAIN_OF):
        if a.get(key) is not None:
            row[key] = a[key]
    if study is not None:
        row["origin"] = origin(t, study)
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
