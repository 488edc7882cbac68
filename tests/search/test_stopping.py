import optuna
import pytest
import torch
from optuna.trial import TrialState, create_trial

from nasprune.record import RETRAIN_OF, START_ATTR, UNTIL_DEADLINE
from nasprune.search.stopping import (
    Deadline,
    RungRule,
    chance_level,
    optuna_pruner_rule,
    rung_epochs,
    sotl,
    successive_halving_keeps,
)


def test_rungs_leave_room_for_the_saving():
    assert rung_epochs(10) == (1, 3)  # judging at 9 of 10 epochs would save almost nothing
    assert rung_epochs(27) == (1, 3, 9)
    assert rung_epochs(2) == ()
    assert rung_epochs(30, eta=2, min_epoch=2) == (2, 4, 8)


@pytest.mark.parametrize("value, peers, eta, keeps", [
    (0.9, [0.5, 0.6, 0.7], 3, True),  # best of 4: keeps
    (0.6, [0.5, 0.7, 0.8], 3, False),  # third of 4: top ceil(4/3)=2 survive
    (0.7, [0.5, 0.8, 0.6], 3, True),  # second of 4
    (0.7, [0.7, 0.7, 0.7], 3, True),  # ties count in its favour
    (0.1, [], 3, True),
])
def test_successive_halving(value, peers, eta, keeps):
    assert successive_halving_keeps(value, peers, eta) is keeps


def history(accs, seconds=1.0, losses=None):
    """Per-epoch records; the training loss falls as the accuracy rises unless ``losses`` says otherwise."""
    losses = [1 - a for a in accs] if losses is None else losses
    return [{"val_acc": a, "train_loss": loss, "seconds": seconds} for a, loss in zip(accs, losses, strict=True)]


def frozen(number, mflops, accs, state=TrialState.COMPLETE):
    t = create_trial(state=state, values=[accs[-1], mflops] if state == TrialState.COMPLETE else None,
                     user_attrs={"mflops": mflops, "history": history(accs)})
    t.number = number
    return t


def ask(study, mflops, accs, losses=None):
    """A running trial of ``study`` that has trained the epochs of ``accs`` (its history is set before the rules
    hear of an epoch)."""
    trial = study.ask()
    trial.set_user_attr("mflops", mflops)
    trial.set_user_attr("history", history(accs, losses=losses))
    return trial


def test_peers_are_trials_at_most_as_expensive_that_reached_the_epoch():
    rule = RungRule(epochs=10)
    trials = [frozen(0, 1.0, [0.5, 0.6, 0.7]), frozen(1, 1.2, [0.4]), frozen(2, 5.0, [0.9, 0.9, 0.9]),
              frozen(3, 0.2, [0.3, 0.3, 0.3]), frozen(4, 1.0, [0.8, 0.8, 0.8])]
    assert sorted(t.number for t in rule.peers(trials, 4, epoch=3, mflops=1.0)) == [0, 3]  # not itself, not 5 MFLOPs
    assert sorted(t.number for t in rule.peers(trials, 9, epoch=1, mflops=1.0)) == [0, 1, 3, 4]  # 1.2 <= 1.25 * 1.0


def test_where_latency_is_the_objective_a_peer_is_one_no_slower():
    rule = RungRule(epochs=10, cost="latency_ms")
    fast_big, slow_small = frozen(0, 9.0, [0.7, 0.8, 0.9]), frozen(1, 0.5, [0.7, 0.8, 0.9])
    fast_big.user_attrs["latency_ms"], slow_small.user_attrs["latency_ms"] = 0.1, 5.0
    assert rule.peers([fast_big, slow_small], 7, epoch=3, mflops=0.2) == [fast_big]  # 0.2 ms: only the 0.1-ms one
    reason = rule.dominated_by([fast_big, slow_small], 7, epoch=3, history=history([0.3, 0.4, 0.5]), mflops=0.2)
    assert reason.startswith("dominated at epoch 3") and "trial 0 (0.100 ms, no more than its 0.200)" in reason


def test_rule_stops_a_trial_beaten_by_cheaper_ones_in_a_multi_objective_study():
    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc in (0.8, 0.85, 0.9):
        study.add_trial(create_trial(values=[acc, 1.0], user_attrs={"mflops": 1.0, "history": history([acc])}))
    rule = RungRule(epochs=10)
    loser = ask(study, 1.0, [0.5, 0.5])
    assert "beaten by 3 of 3" in rule(loser, 1, 0.5)
    assert rule(loser, 2, 0.5) is None  # not a rung
    winner = ask(study, 1.0, [0.95])
    assert rule(winner, 1, 0.95) is None
    cheap = ask(study, 0.5, [0.1])  # no peers as cheap as it: never judged against bigger networks
    assert rule(cheap, 1, 0.1) is None



def test_a_rung_ranks_by_the_training_losses_so_far_not_by_one_validation_pass():
    # peers whose validation accuracy at the rung is below the trial's, but whose training losses sum lower:
    # one noisy validation pass does not save it (at 16x16, epoch 3's validation accuracy kept none of the final
    # top 3; the summed training losses kept two)
    study = optuna.create_study(directions=["maximize", "minimize"])
    for _ in range(3):
        study.add_trial(create_trial(values=[0.6, 1.0], user_attrs={
            "mflops": 1.0, "history": history([0.4, 0.45, 0.5], losses=[1.6, 1.2, 1.0])}))
    rule = RungRule(epochs=10)
    noisy = ask(study, 1.0, [0.3, 0.4, 0.55], losses=[1.9, 1.5, 1.3])  # 4.7 against their 3.8
    assert "training losses summing to 4.700 (val_acc 0.5500) beaten by 3 of 3" in rule(noisy, 3, 0.55)
    steady = ask(study, 1.0, [0.3, 0.4, 0.45], losses=[1.5, 1.1, 0.9])  # 3.5: ahead of them all
    assert rule(steady, 3, 0.45) is None
    assert sotl(history([0.3, 0.4], losses=[1.5, 1.1]), 1) == -1.5


def test_a_trial_at_chance_stops_once_another_has_learned_whatever_it_costs():
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(create_trial(values=[0.9, 50.0], user_attrs={"mflops": 50.0, "history": history([0.3, 0.6, 0.8])}))
    rule = RungRule(epochs=10, chance=0.1)
    cheap = ask(study, 0.5, [0.1, 0.1, 0.105])  # no peer is as cheap: the rung itself never judges it
    assert rule(cheap, 1, 0.1) is None  # epoch 1 is inside the warm-up (30% of 10 epochs)
    reason = rule(cheap, 3, 0.105)
    assert reason.startswith("did not learn") and "trial 0 reached 0.8000" in reason
    assert rule(cheap, 3, 0.2) is None  # above chance: learning, however slowly


def test_a_trial_dominated_past_the_warm_up_stops_in_a_multi_objective_study():
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(create_trial(values=[0.7, 2.0], user_attrs={"mflops": 2.0, "history": history([0.3, 0.5, 0.6])}))
    rule = RungRule(epochs=10)  # rungs 1 and 3; the warm-up is the first 3 epochs' 30%
    big = ask(study, 8.0, [0.2, 0.4, 0.55])  # no other trial as expensive: successive halving alone never judges it
    assert rule(big, 1, 0.2) is None  # inside the warm-up: a big network may start slowly
    reason = rule(big, 3, 0.55)
    assert reason.startswith("dominated at epoch 3") and "trial 0 (2.00 MFLOPs" in reason and "0.6000" in reason
    assert rule(ask(study, 8.0, [0.2, 0.4, 0.59]), 3, 0.59) is None  # within DOMINANCE_MARGIN: not clearly behind
    # ahead in one validation pass, but not in the training losses: a noisy pass is no lead
    assert rule(ask(study, 8.0, [0.2, 0.4, 0.55], losses=[0.6, 0.4, 0.4]), 3, 0.55) is None  # 1.4 < 1.6
    cheaper = ask(study, 1.0, [0.2, 0.3, 0.4])  # the more accurate trial costs more: no dominance
    assert rule(cheaper, 3, 0.4) is None


def test_dominance_is_judged_past_the_warm_up_even_where_no_rung_falls():
    assert RungRule(epochs=25).rungs == (1, 3)  # both inside the warm-up (30% of 25 epochs)
    assert RungRule(epochs=25).judged == (8,)
    assert RungRule(epochs=27).judged == (9,)
    assert RungRule(epochs=10).judged == (3,)
    assert RungRule(epochs=2).judged == (1,)
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(create_trial(values=[0.7, 2.0], user_attrs={"mflops": 2.0, "history": history([0.5] * 8)}))
    big = ask(study, 8.0, [0.3] * 8)
    assert RungRule(epochs=25)(big, 7, 0.3) is None
    assert RungRule(epochs=25)(big, 8, 0.3).startswith("dominated at epoch 8")


def test_one_objective_ignores_what_a_trial_costs():
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(value=0.7, user_attrs={"mflops": 2.0, "history": history([0.3, 0.5, 0.6])}))
    big = ask(study, 8.0, [0.2, 0.4, 0.5])
    assert RungRule(epochs=10)(big, 3, 0.5) is None


def test_nothing_stops_for_not_learning_while_no_trial_has_learned():
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(create_trial(values=[0.11, 1.0], user_attrs={"mflops": 1.0, "history": history([0.1, 0.1, 0.11])}))
    trial = ask(study, 1.0, [0.1, 0.1, 0.1])
    assert RungRule(epochs=10, chance=0.1)(trial, 3, 0.1) is None  # slow data, not a bad network


def test_retrained_trials_are_neither_judged_nor_peers():
    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc in (0.8, 0.85, 0.9):
        study.add_trial(create_trial(values=[acc, 1.0], user_attrs={"mflops": 1.0, "history": history([acc]),
                                                                    RETRAIN_OF: 0}))
    rule = RungRule(epochs=10)
    trial = ask(study, 1.0, [0.1])
    assert rule(trial, 1, 0.1) is None  # its only "peers" train on a longer schedule
    trial.set_user_attr(RETRAIN_OF, 3)
    assert rule(trial, 1, 0.0) is None


def test_the_time_budget_stops_a_trial_before_an_epoch_that_would_end_too_late(monkeypatch):
    from nasprune.search.budget import EXPLORE_SHARE, Clock

    clock = Clock(start=0.0, seconds=500.0 / EXPLORE_SHARE)  # sampling until 500 s, whatever the share
    study = optuna.create_study()
    trial = study.ask()
    trial.set_user_attr("spec", {"train": {"epochs": 10}})
    trial.set_user_attr("history", history([0.5, 0.6], seconds=10.0))
    monkeypatch.setattr("time.time", lambda: 400.0)
    assert Deadline(clock)(trial, 2, 0.6) is None  # 8 epochs x 10 s end at 480 s, inside the sampling phase
    trial.set_user_attr("spec", {"train": {"epochs": 16}})  # 160 s in all: more than 30% of the 500-s phase
    trial.set_user_attr("history", history([0.5], seconds=10.0))
    assert "more than 30% of the 500-s sampling phase" in Deadline(clock)(trial, 1, 0.5)
    # past its first epoch a run is judged only by where it would end (its 14 epochs left end at 540 s): stopping it
    # for its whole length would waste what it trained (the wide start candidate was stopped at epoch 8 of 11)
    trial.set_user_attr("history", history([0.5, 0.6], seconds=10.0))
    assert Deadline(clock)(trial, 2, 0.6) is None
    trial.set_user_attr("spec", {"train": {"epochs": 10}})
    monkeypatch.setattr("time.time", lambda: 510.0)  # 8 more end at 590 s: within 20% (100 s) of the phase's end
    assert Deadline(clock)(trial, 2, 0.6) is None
    monkeypatch.setattr("time.time", lambda: 580.0)  # ... at 660 s: too slow for the budget
    assert "too slow to train within it" in Deadline(clock)(trial, 2, 0.6)
    monkeypatch.setattr("time.time", lambda: clock.deadline - 5.0)
    assert "would end after the search's budget" in Deadline(clock)(trial, 2, 0.6)


def test_where_the_first_start_candidate_takes_long_a_trial_may_take_three_times_its_run(monkeypatch):
    """The onset plan gives the first start candidate a quarter of the phase where it had to learn; 30% of the phase
    would then stop every network 1.2 times its cost (a 48x32 letters set)."""
    from nasprune.search.budget import EXPLORE_SHARE, Clock

    clock = Clock(start=0.0, seconds=500.0 / EXPLORE_SHARE)
    study = optuna.create_study()
    study.add_trial(create_trial(value=0.3, user_attrs={START_ATTR: 0, "spec": {"train": {"epochs": 25}},
                                                        "history": history([0.1, 0.3], seconds=5.0)}))  # 125 s
    trial = study.ask()
    trial.set_user_attr("spec", {"train": {"epochs": 25}})
    trial.set_user_attr("history", history([0.1], seconds=14.0))  # 350 s: 70% of the phase, 2.8 times the first
    monkeypatch.setattr("time.time", lambda: 100.0)
    assert Deadline(clock)(trial, 1, 0.1) is None
    trial.set_user_attr("history", history([0.1], seconds=16.0))  # 400 s: 3.2 times
    assert "more than 3 times the first start candidate's 125 s" in Deadline(clock)(trial, 1, 0.1)
    fast = optuna.create_study()  # a first start candidate that takes 5% of the phase: the 30% rule stands
    fast.add_trial(create_trial(value=0.3, user_attrs={START_ATTR: 0, "spec": {"train": {"epochs": 25}},
                                                       "history": history([0.1, 0.3], seconds=1.0)}))
    trial = fast.ask()
    trial.set_user_attr("spec", {"train": {"epochs": 25}})
    trial.set_user_attr("history", history([0.1], seconds=7.0))  # 175 s: 35% of the phase
    assert "more than 30% of the 500-s sampling phase" in Deadline(clock)(trial, 1, 0.1)


def test_a_retrained_winner_ends_with_the_epochs_that_fit_instead_of_being_stopped(monkeypatch):
    # measured: a retraining planned for 45 epochs was stopped at 44 when its epochs slowed by 14%, and the
    # search lost its most accurate network; now its schedule is shortened to end by the deadline
    from nasprune.search.budget import Clock

    clock = Clock(start=0.0, seconds=1000.0)  # training until 970 s
    trial = optuna.create_study().ask()
    trial.set_user_attr(RETRAIN_OF, 0)
    trial.set_user_attr("spec", {"train": {"epochs": 10}})
    trial.set_user_attr("history", history([0.5], seconds=25.0))  # a first epoch, start-up in it
    monkeypatch.setattr("time.time", lambda: 910.0)
    assert Deadline(clock)(trial, 1, 0.5) is None  # 2 such epochs would fit, but one is no measure of the rest
    monkeypatch.setattr("time.time", lambda: 950.0)
    assert Deadline(clock)(trial, 1, 0.5) == 1  # no such epoch fits: it ends now
    trial.set_user_attr("history", history([0.5, 0.6], seconds=10.0))
    monkeypatch.setattr("time.time", lambda: 580.0)
    assert Deadline(clock)(trial, 2, 0.6) == 10  # past the sampling phase: a retraining may use the time to 970 s
    monkeypatch.setattr("time.time", lambda: 910.0)
    assert Deadline(clock)(trial, 2, 0.6) == 8  # 6 epochs of 10 s fit before 970 s
    trial.set_user_attr("history", [*history([0.5, 0.6], seconds=10.0), *history([0.62], seconds=30.0)])
    assert Deadline(clock)(trial, 3, 0.62) == 6  # one slow epoch is no new pace: the mean (20 s) gives 3 more
    trial.set_user_attr("history", [*history([0.5, 0.6], seconds=10.0), *history([0.62, 0.63], seconds=30.0)])
    assert Deadline(clock)(trial, 4, 0.63) == 6  # two of the last three at 30 s are: 2 more fit
    trial.set_user_attr("history", [*history([0.5, 0.6], seconds=10.0), *history([0.62, 0.63], seconds=30.0),
                                    *history([0.64, 0.65, 0.66], seconds=10.0)])
    monkeypatch.setattr("time.time", lambda: 800.0)
    assert Deadline(clock)(trial, 7, 0.66) == 10  # the pace came back: the whole plan fits again (mean 16 s)
    trial.set_user_attr("history", [*history([0.5], seconds=60.0), *history([0.6, 0.62], seconds=10.0)])
    monkeypatch.setattr("time.time", lambda: 910.0)
    assert Deadline(clock)(trial, 3, 0.62) == 9  # the first epoch's start-up is not counted: 6 more fit
    monkeypatch.setattr("time.time", lambda: 965.0)
    assert Deadline(clock)(trial, 3, 0.62) == 3  # none fits: it ends now, complete
    trial.set_user_attr("history", [*history([0.5, 0.6], seconds=10.0), *history([0.62, 0.63], seconds=30.0),
                                    *history([0.64, 0.65, 0.66], seconds=10.0)])
    monkeypatch.setattr("time.time", lambda: 800.0)
    trial.set_user_attr(UNTIL_DEADLINE, 100)  # a round's last retraining trains on to the deadline: 10 more epochs
    assert Deadline(clock)(trial, 7, 0.66) == 7 + int(170 / (sum([10, 30, 30, 10, 10, 10]) / 6))
    trial.set_user_attr(UNTIL_DEADLINE, 12)
    assert Deadline(clock)(trial, 7, 0.66) == 12  # up to its bound


def test_chance_is_the_share_of_the_largest_class():
    assert chance_level(torch.tensor([0, 0, 0, 1, 2, 2])) == 0.5


def test_the_search_header_says_what_early_stopping_judges_and_when():
    from nasprune.search.config import SearchConfig
    from nasprune.search.session import _pruning

    _, _, ten = _pruning(SearchConfig(), 10, 0.1)
    assert ten == "rungs (successive halving vs. cheaper trials at epochs 1, 3; dominated or not learning at epoch 3)"
    _, rules, two = _pruning(SearchConfig(), 2, 0.1)
    assert two == "rungs (dominated or not learning at epoch 1)" and rules  # no rung, yet judged past the warm-up
    _, _, one = _pruning(SearchConfig(), 1, 0.1)
    assert one == "rungs (none: 1 epoch is too few to judge early)"


def test_optunas_pruner_judges_sampled_trials_but_not_a_retrained_winner():
    # measured: in a single-objective budgeted search Hyperband stopped both retrainings at epoch 10, where
    # their long schedules trailed the sampling phase's short runs
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(lower=0.9))  # prunes anything below 0.9
    sampled = study.ask()
    assert optuna_pruner_rule(sampled, 1, 0.5).startswith("ThresholdPruner at epoch 1")
    retrained = study.ask()
    retrained.set_user_attr(RETRAIN_OF, 0)
    assert optuna_pruner_rule(retrained, 1, 0.5) is None
    assert study.trials[1].intermediate_values == {0: 0.5}  # still reported: its curve on the dashboard


def test_no_order_is_read_among_trials_at_chance():
    # a 48x32 letters set: every network sat at chance for its first epochs, and rungs there stopped candidates
    # for being 'beaten' by other networks at chance
    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc in (0.11, 0.12, 0.13):
        study.add_trial(create_trial(values=[acc, 1.0], user_attrs={"mflops": 1.0, "history": history([acc] * 3)}))
    rule = RungRule(epochs=10, chance=0.1)
    trial = ask(study, 1.0, [0.10, 0.10, 0.10])
    assert rule(trial, 1, 0.10) is None  # beaten by three trials at chance: by nothing
    assert rule(trial, 3, 0.10) is None  # nor dominated by a trial 3 points ahead, still at chance
    study.add_trial(create_trial(values=[0.5, 1.0], user_attrs={"mflops": 1.0, "history": history([0.5] * 3)}))
    study.add_trial(create_trial(values=[0.6, 1.0], user_attrs={"mflops": 1.0, "history": history([0.6] * 3)}))
    assert "beaten by 2 of 5" in rule(trial, 1, 0.10)  # two that learned: it is in the bottom 2/3 of five


def test_a_trial_at_chance_is_not_stopped_before_twice_the_time_another_took_to_learn():
    study = optuna.create_study(directions=["maximize", "minimize"])
    slow = history([0.1, 0.1, 0.1, 0.1, 0.3, 0.5, 0.6])  # leaves chance at epoch 5
    study.add_trial(create_trial(values=[0.6, 50.0], user_attrs={"mflops": 50.0, "history": slow}))
    rule = RungRule(epochs=20, chance=0.1)
    cheap = study.ask()
    cheap.set_user_attr("mflops", 0.5)
    assert rule.learned_elsewhere(study.get_trials(), cheap.number, 6, 0.1) is None  # at epoch 3 it had not
    reason = rule.learned_elsewhere(study.get_trials(), cheap.number, 7, 0.1)  # by epoch 4 it had not either
    assert reason is None
    study.add_trial(create_trial(values=[0.6, 50.0], user_attrs={"mflops": 50.0, "history": history([0.3] * 7)}))
    reason = rule.learned_elsewhere(study.get_trials(), cheap.number, 6, 0.1)
    assert reason.startswith("did not learn") and "had learned by epoch 3" in reason


def test_a_sampled_trial_too_slow_for_the_budget_stops_a_few_steps_into_its_first_epoch(monkeypatch):
    # measured on one EPYC core at 32x32: a sampled 133-MFLOPs network took 57 s for its first epoch and a
    # 56-MFLOPs MBConv 153 s, past a 180-s sampling phase, before the epoch rule could stop them
    from nasprune.record import BASELINE_ATTR
    from nasprune.search.budget import EXPLORE_SHARE, TIME_BUDGET, Clock
    from nasprune.search.stopping import PROBE_STEPS, PROJECTION_MARGIN
    from nasprune.steps import WARMUP_STEPS

    clock = Clock(start=0.0, seconds=180.0 / EXPLORE_SHARE)  # a 180-s sampling phase
    monkeypatch.setattr("time.time", lambda: 20.0)
    clock_s = [0.0]
    monkeypatch.setattr("time.perf_counter", lambda: clock_s[0])
    study = optuna.create_study()

    def run(steps_per_epoch, epochs=7, key=None, step_seconds=1.0, start_seconds=None):
        trial = study.ask()
        trial.set_user_attr("spec", {"train": {"epochs": epochs}})
        if key:
            trial.set_user_attr(key, 0)
        check = Deadline(clock).during_epoch(trial)
        if check is None:
            return "not watched"
        total = steps_per_epoch * epochs
        for step in range(total):
            clock_s[0] += start_seconds if start_seconds is not None and step <= first else step_seconds
            if reason := check(step, total):
                stopped_at.append(step)
                return reason
        return None

    first, last = WARMUP_STEPS + 1, WARMUP_STEPS + 1 + PROBE_STEPS  # timed: the steps after ``first``, to ``last``
    stopped_at = []
    # 60 steps of 0.2 s: 12 s an epoch projected, 8 s at least, 56 s for 7 epochs, past 30% of the phase (54 s); a
    # step short of the probe's 8, its time so far (1.4 s: 7 s an epoch, 49 s) is within the limit, the whole probe not
    reason = run(60, step_seconds=0.2)
    assert reason.startswith(TIME_BUDGET) and f"timed over {PROBE_STEPS} steps" in reason and stopped_at == [last]
    assert "8.0 s per epoch at least" in reason and "more than 30% of the 180-s sampling phase" in reason
    assert PROJECTION_MARGIN == 1.5
    # 60 steps of a second: 40 s an epoch at least, 280 s for 7 epochs. Its second timed step settles that: the
    # probe's eight steps would take at least its 2 s so far, 10 s an epoch at least, 70 s for 7 epochs
    reason = run(60)
    assert stopped_at[-1] == first + 2 and "timed over 2 steps" in reason and "40.0 s per epoch at least" in reason
    assert run(20, step_seconds=0.3) is None  # 6 s an epoch, 42 s in all: within 30% of the phase (54 s)
    # at the limit: 8.4 s an epoch projected (59 s for 7: too slow), 5.6 s at least: left to the epoch's end
    assert run(14, step_seconds=0.6) is None
    assert run(last + 1) is None  # an epoch no longer than the probe is judged when it ends
    for key in (START_ATTR, BASELINE_ATTR, RETRAIN_OF):  # references are timed on a whole epoch; retrainings shortened
        assert run(60, key=key) == "not watched"
    # the warm-up and the CUDA graph's capture are not timed: 100 s each, then 0.3 s steps, is not too slow
    assert run(20, step_seconds=0.3, start_seconds=100.0) is None
