"""A search inside a time budget: planned epochs, retraining the winners, and the whole run on digits."""

import json
import sys
import time

import optuna
import pytest
from optuna.trial import create_trial

from nasprune import SearchConfig, search
from nasprune.record import RETRAIN_OF
from nasprune.search.budget import (
    FINALISTS,
    MAX_EPOCH_FACTOR,
    MIN_EPOCHS,
    RETRAIN_FACTOR,
    Clock,
    clearly_ahead,
    plan_epochs,
    retrain_specs,
)
from nasprune.search.run import finalists_text
from nasprune.space import candidates, fit_space, load_space
from nasprune.train import resolve_runtime


def winner(number, acc, mflops, per_epoch, epochs=4):
    spec = candidates(fit_space(load_space("default"), (1, 8, 8)), 1, 10)[0]
    t = create_trial(values=[acc, mflops], user_attrs={
        "spec": spec.to_dict(), "history": [{"val_acc": acc, "seconds": per_epoch}] * epochs, "mflops": mflops})
    t.number = number
    return t


def test_finalists_get_equal_time_cheapest_first_and_unused_time_passes_on(monkeypatch):
    monkeypatch.setattr("time.time", lambda: 0.0)
    clock = Clock(start=-50.0, seconds=1000.0 / 0.97 + 50 / 0.97)  # 1000 s of training left at t = 0
    study = optuna.create_study(directions=["maximize", "minimize"])
    winners = [winner(1, 0.9, 10.0, per_epoch=10.0)]
    starts = [winner(2, 0.8, 1.0, per_epoch=1.0), winner(3, 0.7, 50.0, per_epoch=100.0)]
    plans = retrain_specs(winners, starts, study, epochs=8, clock=clock, val_images=1000,
                          space_epochs=6)  # 3 finalists, 300 s each
    left = 0.9 * 1000
    assert [n for n, _ in plans] == [2, 1]  # cheapest first; trial 3 gets too little for more than 8 epochs
    # capped at the space's epochs times the factor, not the study's (planned) 8: 60 epochs of a 1-s network
    assert plans[0][1].train.epochs == RETRAIN_FACTOR * 6
    assert plans[1][1].train.epochs == int((2 * left / 3 - 60) / 10)  # its 300 s and the 240 s trial 2 left: 54
    alone = dict(retrain_specs([winner(7, 0.9, 10.0, per_epoch=15.0)], [], study, epochs=8, clock=clock,
                                val_images=1000, space_epochs=10))
    assert alone[7].train.epochs == int(left / 15)  # the only finalist gets all the time left (60 epochs)


def test_the_reference_networks_join_the_most_accurate_winners(monkeypatch):
    monkeypatch.setattr("time.time", lambda: 0.0)
    clock = Clock(start=0.0, seconds=10_000.0)
    study = optuna.create_study(directions=["maximize", "minimize"])
    winners = [winner(n, 0.9 - n / 100, 10.0 - n, per_epoch=1.0) for n in range(FINALISTS + 2)]
    start = winner(20, 0.5, 50.0, per_epoch=1.0)  # not on the front: led by cheaper winners after a short run
    plans = dict(retrain_specs(winners, [start, winners[0]],
                               study, epochs=4, clock=clock, val_images=1000, space_epochs=10))
    assert sorted(plans) == [*range(FINALISTS), 20]  # the most accurate winners, and the start candidate once
    assert len({spec.train.epochs for spec in plans.values()}) == 1  # equal time, equal cost: equal epochs


def test_the_search_header_names_the_networks_it_retrains(monkeypatch):
    assert finalists_text(0, ()) == "the most accurate winner trains again from scratch, with the rest"  # no start_with
    assert finalists_text(1, ()) == (
        "the start candidate and the most accurate winner train again from scratch, each for an equal share of the "
        "rest (the winner beside it only if its validation accuracy leads by more than the split's noise, else "
        "after it)")
    assert finalists_text(2, ("resnet20", "mobile")).startswith(
        "the start candidates and the baselines resnet20, mobile and the most accurate winner train again")
    assert finalists_text(2, ()).endswith("(the winner beside them only if its validation accuracy leads by more "
                                          "than the split's noise, else after them)")
    monkeypatch.setattr(sys.modules[finalists_text.__module__], "FINALISTS", 3)
    assert finalists_text(0, ()) == (
        "the 3 most accurate winners train again from scratch, each for an equal share of the rest")
    assert "(the 3 winners beside it only if their validation" in finalists_text(1, ())


def test_a_winner_is_retrained_once_and_a_retrained_one_never_again(monkeypatch):
    monkeypatch.setattr("time.time", lambda: 0.0)
    clock = Clock(start=0.0, seconds=10_000.0)
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(create_trial(values=[0.95, 10.0], user_attrs={RETRAIN_OF: 1}))
    retrained = winner(5, 0.99, 10.0, 1.0)
    retrained.user_attrs[RETRAIN_OF] = 2
    assert retrain_specs([winner(1, 0.9, 10.0, 1.0), retrained], [retrained], study, epochs=4, clock=clock,
                         val_images=1000, space_epochs=10) == []


def test_a_winner_too_slow_for_the_time_left_gives_way_to_the_next(monkeypatch):
    # before: the most accurate winner was the only candidate; it could not gain an epoch in the last minute of
    # a budget, so nothing was planned and that minute went unused (measured: ~50 s of 600 at 16x16)
    monkeypatch.setattr("time.time", lambda: 0.0)
    clock = Clock(start=-550.0, seconds=(550 + 50) / 0.97)  # 50 s of training left
    study = optuna.create_study(directions=["maximize", "minimize"])
    slow, cheap = winner(1, 0.9, 10.0, per_epoch=10.0, epochs=8), winner(2, 0.6, 0.5, per_epoch=0.75, epochs=8)
    plans = dict(retrain_specs([slow, cheap], [], study, epochs=8, clock=clock, val_images=1000, space_epochs=10))
    assert list(plans) == [2] and plans[2].train.epochs == 60  # the cheap one: 45 s at 0.75 s an epoch


def test_a_winner_inside_the_validation_noise_of_a_start_candidate_waits_for_the_next_round(monkeypatch):
    # measured (benchmarks/RESULTS.md): sampled winners that led the start candidates by 0.9-2.9 points of
    # validation accuracy after a short run took a share of the time from the start candidate that then topped
    # the front, and ended below it
    monkeypatch.setattr("time.time", lambda: 0.0)
    clock = Clock(start=0.0, seconds=10_000.0)
    study = optuna.create_study(directions=["maximize", "minimize"])
    start = winner(20, 0.474, 12.0, per_epoch=1.0)
    close, clear = winner(1, 0.496, 10.0, per_epoch=1.0), winner(2, 0.53, 11.0, per_epoch=1.0)
    assert not clearly_ahead(0.496, 0.474, 1000) and clearly_ahead(0.53, 0.474, 1000)  # 4.5 points apart needed
    assert not clearly_ahead(0.474, 0.474, 10**9)
    assert dict(retrain_specs([close], [start],
                              study, epochs=4, clock=clock, val_images=1000, space_epochs=10)).keys() == {20}
    assert dict(retrain_specs([clear], [start],
                              study, epochs=4, clock=clock, val_images=1000, space_epochs=10)).keys() == {2, 20}
    # a larger split tells 2.2 points apart (3 standard errors of the difference on 10,000 images)
    assert dict(retrain_specs([close], [start],
                              study, epochs=4, clock=clock, val_images=10_000, space_epochs=10)).keys() == {1, 20}
    # the next round, once the start candidate is retrained: the winner's turn
    study.add_trial(create_trial(values=[0.7, 12.0], user_attrs={RETRAIN_OF: 20}))
    assert dict(retrain_specs([close], [start],
                              study, epochs=4, clock=clock, val_images=1000, space_epochs=10)).keys() == {1}


def test_a_run_shortened_by_a_rule_is_complete_and_says_so(tmp_path, tiny_space, digits):
    from nasprune.events import Epoch, Note
    from nasprune.search.objective import Objective

    events = []
    objective = Objective(load_space(tiny_space), digits, resolve_runtime("cpu"), tmp_path, 3, 0, "accuracy,mflops",
                          [lambda trial, epoch, val_acc: 2 if epoch == 1 else None], latency=False, artifacts=False,
                          on_event=events.append)
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.optimize(objective, n_trials=1)
    t = study.trials[0]
    assert t.state.name == "COMPLETE" and len(t.user_attrs["history"]) == 2 and t.user_attrs["outcome"] == "complete"
    assert t.user_attrs["shortened"] == {"epoch": 1, "from": 3, "to": 2}
    assert [e.text for e in events if isinstance(e, Note)] == [
        "trial 0: only 2 of its 3 epochs fit in the time budget; its schedule now ends at epoch 2"]
    assert [e.epochs for e in events if isinstance(e, Epoch)] == [3, 2]  # progress counts to the new end


def test_planned_epochs_stay_between_the_bounds(digits):
    runtime = resolve_runtime("cpu")
    spec = candidates(fit_space(load_space("default"), digits.input_shape), 1, 10)[0]
    long, short = Clock(time.time(), 1e6), Clock(time.time(), 1.0)
    assert plan_epochs(spec, digits, runtime, long, space_epochs=10) == MAX_EPOCH_FACTOR * 10
    assert plan_epochs(spec, digits, runtime, short, space_epochs=10) == MIN_EPOCHS


@pytest.mark.slow
def test_a_budgeted_search_ends_in_time_and_retrains_its_winners(tmp_path, tiny_space):
    t0 = time.time()
    result = search(SearchConfig(space=str(tiny_space), trials=None, time_budget=0.5, results_dir=tmp_path, latency=False))
    assert time.time() - t0 < 30 + 30  # the budget, plus the start-up and the winners' test evaluation
    study = optuna.load_study(study_name=result.study_name, storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(result.storage)))
    epochs = study.user_attrs["nasprune"]["epochs"]
    retrained = [t for t in study.trials if RETRAIN_OF in t.user_attrs]
    assert retrained, "half the budget was left for retraining and nothing was retrained"
    for t in retrained:
        assert t.user_attrs["spec"]["train"]["epochs"] > epochs  # planned longer than its first run
        assert study.trials[t.user_attrs[RETRAIN_OF]].state.name == "COMPLETE"
        # it trains to the end (on a loaded machine, to the end of a schedule shortened to fit the budget), or a
        # round planned just before the deadline left it queued with no time to start
        assert t.state.name == "COMPLETE" or t.user_attrs["outcome"] == "surplus", t.user_attrs.get("reason")
    # a round planned just before the deadline once left a retraining queued, to run on a later resume
    assert not study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    summary = json.loads(result.summary_path.read_text())
    assert summary["trials"]["complete"] >= 2 and summary["winners"]
    assert result.counts["complete"] == summary["trials"]["complete"]


def test_queued_retrainings_left_at_the_deadline_are_ended_unrun_and_uncounted():
    from optuna.trial import TrialState

    from nasprune.record import counts_by_outcome, drop_waiting

    study = optuna.create_study()
    study.enqueue_trial({}, user_attrs={RETRAIN_OF: 0})
    study.enqueue_trial({}, user_attrs={"baseline": "resnet20"})
    storage = study._storage
    assert drop_waiting(study, storage, "time budget: no time was left to retrain it",
                        lambda t: RETRAIN_OF in t.user_attrs) == [0]
    dropped, kept = study.trials
    assert dropped.state == TrialState.FAIL and dropped.user_attrs["outcome"] == "surplus"
    assert dropped.user_attrs["reason"].startswith("time budget")
    assert kept.state == TrialState.WAITING  # not picked: left queued
    assert counts_by_outcome(study)["finished"] == 0


def test_a_start_candidate_stopped_as_too_slow_for_the_sampling_phase_is_still_retrained():
    # measured at 32x32 on one core: the wide start candidate (3.8 s an epoch) was stopped after one epoch as too
    # slow for the 180-s sampling phase, and reference_trials, which took complete trials only, never retrained it
    from nasprune.record import START_ATTR, reference_trials

    study = optuna.create_study(directions=["maximize", "minimize"])
    history = [{"val_acc": 0.3, "seconds": 3.8}]
    study.add_trial(create_trial(state=optuna.trial.TrialState.PRUNED, user_attrs={
        START_ATTR: 1, "history": history, "mflops": 14.5, "spec": {"arch": {}, "train": {}}}))
    study.add_trial(create_trial(state=optuna.trial.TrialState.PRUNED, user_attrs={START_ATTR: 2, "history": []}))
    study.add_trial(create_trial(state=optuna.trial.TrialState.PRUNED, user_attrs={"history": history}))
    assert [t.number for t in reference_trials(study)] == [0]  # timed, a start candidate
    stopped = winner(7, 0.3, 14.5, per_epoch=3.8, epochs=1)
    stopped.state, stopped.values = optuna.trial.TrialState.PRUNED, None
    clock = Clock(start=time.time(), seconds=600.0)
    plans = dict(retrain_specs([], [stopped], study, epochs=17, clock=clock, val_images=1000, space_epochs=10))
    assert plans[7].train.epochs > 17  # planned from its one timed epoch
