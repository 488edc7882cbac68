"""One Pareto function for every stage, and picking a trial to work on."""

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from nasprune import StudyError
from nasprune.record import (
    BASELINE_ATTR,
    COVER_ATTR,
    PRUNED_FROM,
    RETRAIN_OF,
    START_ATTR,
    found_text,
    pareto_front,
    pareto_winners,
    pick_trial,
    retrain_candidates,
    winner_row,
)


def test_pareto_front_keeps_what_nothing_dominates():
    points = [("a", 0.9, 10.0), ("b", 0.8, 2.0), ("c", 0.7, 5.0), ("d", 0.9, 10.0), ("e", 0.95, 50.0)]
    front = pareto_front(points, lambda p: (p[1], -p[2]))
    assert [p[0] for p in front] == ["a", "b", "d", "e"]  # c is beaten by b on both; a and d tie and both stay


def study_with(*trials):
    study = optuna.create_study(directions=["maximize", "minimize"])
    for values, attrs, state in trials:
        study.add_trial(create_trial(values=values if state == TrialState.COMPLETE else None, user_attrs=attrs,
                                     state=state))
    return study


def test_winners_leave_out_pruned_models_and_infeasible_trials():
    study = study_with(([0.90, 2.0], {"mflops": 2.0}, TrialState.COMPLETE),
                       ([0.95, 1.0], {"mflops": 1.0, PRUNED_FROM: 0}, TrialState.COMPLETE),  # would dominate 0
                       ([0.80, 1.0], {"mflops": 1.0}, TrialState.COMPLETE),
                       (None, {"mflops": 0.5}, TrialState.PRUNED))
    assert [t.number for t in pareto_winners(study)] == [0, 2]


def test_a_network_at_chance_is_no_winner_however_cheap_unless_no_network_learned():
    # seen on our letters set: two group-norm networks at chance stood on the front beside the answer, counted as
    # "found by the exploration"; the report's plot drew its front through them
    from nasprune.report.collect import collect, front_of

    study = study_with(([0.92, 4.7], {"mflops": 4.7, "learned": True}, TrialState.COMPLETE),
                       ([0.09, 1.4], {"mflops": 1.4, "learned": False}, TrialState.COMPLETE),
                       ([0.07, 0.8], {"mflops": 0.8, "learned": False}, TrialState.COMPLETE),
                       ([0.50, 2.0], {"mflops": 2.0}, TrialState.COMPLETE))  # not diagnosed (an older study): kept
    assert [t.number for t in pareto_winners(study)] == [0, 3]
    assert [r.number for r in front_of(collect(study), "mflops")] == [3, 0]
    nothing = study_with(([0.09, 1.4], {"mflops": 1.4, "learned": False}, TrialState.COMPLETE),
                         ([0.07, 0.8], {"mflops": 0.8, "learned": False}, TrialState.COMPLETE))
    assert [t.number for t in pareto_winners(nothing)] == [0, 1]  # the best of a study that found nothing


def test_retrain_candidates_are_complete_trials_and_start_candidates_and_baselines_that_ran():
    ran = [{"val_acc": 0.5, "seconds": 1.0}]
    study = study_with(([0.90, 1.0], {"mflops": 1.0, "history": ran}, TrialState.COMPLETE),
                       ([0.80, 5.0], {"mflops": 5.0, START_ATTR: 0, "history": ran}, TrialState.COMPLETE),  # dominated
                       ([0.95, 9.0], {"mflops": 9.0, BASELINE_ATTR: "resnet20", "history": ran}, TrialState.COMPLETE),
                       (None, {"mflops": 2.0, START_ATTR: 1, "history": ran}, TrialState.PRUNED),  # stopped after an epoch
                       (None, {"mflops": 2.0, START_ATTR: 3}, TrialState.PRUNED),  # stopped before training: not one
                       (None, {"mflops": 0.5, "history": ran}, TrialState.PRUNED))  # a sampled one stopped: not one
    study.add_trial(create_trial(values=[0.99, 3.0], user_attrs={"mflops": 3.0, START_ATTR: 2, "history": ran},
                                 system_attrs={"constraints": [1.0]}))  # over a budget
    assert [t.number for t in retrain_candidates(study)] == [0, 1, 2, 3]


def test_each_winner_says_where_its_network_came_from_and_the_front_what_the_exploration_found():
    study = study_with(([0.70, 3.0], {"mflops": 3.0, START_ATTR: 0}, TrialState.COMPLETE),
                       ([0.60, 1.0], {"mflops": 1.0}, TrialState.COMPLETE),  # sampled
                       ([0.50, 0.5], {"mflops": 0.5, COVER_ATTR: 2}, TrialState.COMPLETE),
                       ([0.85, 9.0], {"mflops": 9.0, BASELINE_ATTR: "resnet20"}, TrialState.COMPLETE),
                       ([0.80, 3.0], {"mflops": 3.0, RETRAIN_OF: 0}, TrialState.COMPLETE),  # the start one, again
                       ([0.65, 1.0], {"mflops": 1.0, RETRAIN_OF: 1}, TrialState.COMPLETE))  # the sampled one, again
    rows = [winner_row(t, study) for t in pareto_winners(study)]
    assert [(r["trial"], r["origin"]) for r in rows] == [(3, "baseline"), (4, "start"), (5, "sampled"), (2, "coverage")]
    assert found_text(rows) == ("2 of the front's 4 networks were found by the exploration (trials 5 (val 0.650 at 1 "
                                "MFLOPs), 2 (val 0.500 at 0.5 MFLOPs)); the rest are start candidates or baselines")
    # a front of hand-picked networks alone: the search's answer is a start candidate, and the line says so
    assert found_text(rows[:2]).startswith("every network on the front is a start candidate or a baseline")
    assert found_text(rows[2:3]) == ("every network on the front was found by the exploration (trial 5 (val 0.650 "
                                     "at 1 MFLOPs))")
    # a summary written before origins were recorded says nothing rather than guess
    assert found_text([{k: v for k, v in r.items() if k != "origin"} for r in rows]) is None
    assert "origin" not in winner_row(study.trials[0])


def test_picking_a_trial_names_what_can_be_picked():
    study = study_with(([0.90, 2.0], {"mflops": 2.0, "spec": {}, "history": []}, TrialState.COMPLETE),
                       (None, {"mflops": 0.5, "spec": {}, "history": [{}]}, TrialState.PRUNED))
    assert pick_trial(study).number == 0
    with pytest.raises(StudyError, match="cannot prune trial 1 of study .*: trial 1 is stopped; completed trials: 0"):
        pick_trial(study, 1, purpose="prune")
    assert pick_trial(study, 1, weights=False, purpose="diagnose").number == 1  # a stopped trial has a record
    with pytest.raises(StudyError, match="no completed trial on its Pareto front within 1 MFLOPs to prune"):
        pick_trial(study, max_mflops=1.0, purpose="prune")
