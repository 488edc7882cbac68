"""How a trial ended, in nasprune's words, and which trials count toward a study's budget.

One label per meaning: a trial stopped early (Optuna's PRUNED state: a losing rung, over a budget, diverged,
out of time) is **stopped**; "pruned" is kept for models whose channels or blocks were removed. Studies written
before this wording recorded ``outcome: pruned`` for stopped trials; they read as stopped.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

__all__ = ["OUTCOMES", "LABELS", "outcome_of", "reason_of", "state_label", "counts_by_outcome", "counts_text",
           "counts_toward_budget",
           "finished_count", "budget_taken_before", "is_search_trial", "BASELINE_ATTR", "START_ATTR", "RETRY_OF",
           "RETRAIN_OF", "UNTIL_DEADLINE", "PRUNED_FROM", "COVER_ATTR"]

BASELINE_ATTR = "baseline"  # a preset enqueued as a trial (--baseline)
START_ATTR = "start_with"  # a candidate of the space's start_with list (its index)
COVER_ATTR = "cover"  # a candidate of the stratified start that tries every categorical choice (its index)
RETRY_OF = "retry_of"  # a trial that repeats one whose worker died (the first of the chain)
RETRAIN_OF = "retrain_of"  # a winner trained again with more epochs under a time budget (its source)
#: the last retraining of a round: it may train past its planned epochs, up to this many, where they fit
UNTIL_DEADLINE = "until_deadline"
PRUNED_FROM = "pruned_from"  # a pruned model linked to the study (the trial it was pruned from)

#: how a trial can end (its ``outcome``); only complete, stopped and failed use up the trial budget
OUTCOMES = ("complete", "stopped", "failed", "interrupted", "surplus", "worker died", "disk full")
#: Optuna's states as a person reads them
LABELS = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "stopped", TrialState.FAIL: "failed",
          TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}
_OLD_WORDS = {"pruned": "stopped"}  # outcomes recorded by earlier versions


def state_label(t: optuna.trial.FrozenTrial) -> str:
    """``complete``, ``stopped``, ``failed``, ``running`` or ``waiting``."""
    return LABELS[t.state]


def _recorded(t: optuna.trial.FrozenTrial) -> str | None:
    """The outcome the trial recorded itself, in today's words."""
    recorded = t.user_attrs.get("outcome")
    return _OLD_WORDS.get(str(recorded), str(recorded)) if recorded else None


def _cut_short(t: optuna.trial.FrozenTrial) -> bool:
    """A signal came between the objective's last word (complete, stopped) and Optuna's record of that state:
    the trial failed although it says how it ended."""
    return t.state == TrialState.FAIL and _recorded(t) in ("complete", "stopped")


def outcome_of(t: optuna.trial.FrozenTrial) -> str:
    """How a trial ended: one of OUTCOMES, or running / waiting. A failed trial that recorded nothing lost its
    worker before it could (a heartbeat timeout)."""
    if _cut_short(t):
        return "interrupted"
    recorded = _recorded(t)
    if recorded:
        return recorded
    return "worker died" if t.state == TrialState.FAIL else LABELS[t.state]


def reason_of(t: optuna.trial.FrozenTrial) -> str:
    """Why a trial did not complete (empty for a completed one)."""
    if _cut_short(t):
        return "interrupted while its result was being recorded"
    if t.user_attrs.get("reason"):
        return str(t.user_attrs["reason"])
    if t.state == TrialState.FAIL and "outcome" not in t.user_attrs:
        return "its worker stopped sending heartbeats (process killed or machine lost)"
    return ""


def is_search_trial(t: optuna.trial.FrozenTrial) -> bool:
    """A trial the search ran (not a pruned model that ``nasprune prune`` linked to the study)."""
    return PRUNED_FROM not in t.user_attrs


def counts_toward_budget(t: optuna.trial.FrozenTrial) -> bool:
    """Complete, stopped and failed-by-the-candidate trials use up the budget; interrupted, dead-worker and
    surplus ones do not, nor pruned models linked to the study, nor the winners a time budget retrains (they are
    not new candidates)."""
    if PRUNED_FROM in t.user_attrs or RETRAIN_OF in t.user_attrs:
        return False
    return t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        t.state == TrialState.FAIL and t.user_attrs.get("outcome") == "failed")


def finished_count(study: optuna.Study, include_running: bool = False) -> int:
    """Trials that count toward the budget; with ``include_running``, plus the ones under way."""
    trials = study.get_trials(deepcopy=False)
    return sum(counts_toward_budget(t) or (include_running and t.state == TrialState.RUNNING) for t in trials)


def budget_taken_before(study: optuna.Study, number: int) -> int:
    """Budget used by trials numbered below ``number``, finished or under way. Trial numbers are handed
    out in order, so a trial that finds the budget already taken by earlier trials is surplus: another
    worker started it in the same instant as the last one that fits."""
    return sum(t.number < number and (counts_toward_budget(t) or t.state == TrialState.RUNNING)
               for t in study.get_trials(deepcopy=False))


def counts_by_outcome(study: optuna.Study) -> dict[str, int]:
    """The search's trials by how they ended: every OUTCOMES entry plus running and waiting, and ``finished``,
    the trials that count toward the budget (complete + stopped + failed). The one count every command prints:
    pruned models linked to the study by earlier versions are not search trials and are left out."""
    counts = dict.fromkeys((*OUTCOMES, "running", "waiting"), 0)
    for t in study.get_trials(deepcopy=False):
        if is_search_trial(t):
            counts[outcome_of(t)] = counts.get(outcome_of(t), 0) + 1
    counts["finished"] = sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))
    return counts


def counts_text(counts: dict[str, int]) -> str:
    """``18 complete, 2 stopped, 0 failed`` plus what did not count (``1 interrupted, not counted``)."""
    main = f"{counts['complete']} complete, {counts['stopped']} stopped, {counts['failed']} failed"
    others = [f"{counts[k]} {k}" for k in ("interrupted", "worker died", "disk full", "surplus", "running", "waiting")
              if counts.get(k)]
    return main + (f" ({', '.join(others)}: not counted)" if others else "")
