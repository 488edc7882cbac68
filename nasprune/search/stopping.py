"""Early stopping of hopeless trials.

Optuna's pruners work only in single-objective studies (``trial.report`` raises in multi-objective ones,
optuna#3450). nasprune's :class:`RungRule` works in both: successive halving (Jamieson & Talwalkar 2016;
asynchronous, as ASHA, Li et al. 2020) at epochs ``min_epoch * eta**k``, where a trial is compared only
with trials that cost no more than it does (MFLOPs within ``tolerance``). A trial that is beaten at the
same epoch by most networks as cheap as itself is unlikely to end on the Pareto front, so it stops; the
cheapest networks are never judged against expensive ones that learn faster per epoch. "Beaten" is read from the
sum of the training losses so far (:func:`sotl`, Ru et al. 2021), not from the validation accuracy of one epoch:
part-way through the schedule it predicts the end's order better, and keeps more of the best networks (benchmarks/
RESULTS.md, issue 29: "What a rung sees").

Past the warm-up (the first epoch after ``WARMUP_SHARE`` of them, and the later rungs) two more checks run. In a
multi-objective study a trial is stopped when a trial that costs no more than it was ahead at the same epoch by
more than ``DOMINANCE_MARGIN``: it is dominated there, and the time it would take goes to new candidates (this
is what lets a budgeted search see more of them than one that trains every candidate to the end). And whatever
it costs, a trial stops when it has not learned at all (validation accuracy at chance) while another trial has.
No order is read where the leaders are at chance: a peer counts as ahead, and a trial as learned elsewhere, only
clearly above chance, and a trial at chance stops for not learning only where another had learned in half its
epochs (the onset: on slow data every network sits at chance for the first epochs, and an order there is noise).
The last reason is the search's time budget: a sampled trial stops before an epoch that would end past it (a
retrained winner's schedule is shortened instead: :class:`Deadline`), and one too slow for the sampling phase stops
a few steps into its first epoch, timed there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from ..choices import PRUNERS  # the pruner names a user can pick (re-exported)
from ..record import (  # RETRAIN_OF: chosen already, neither judged nor counted
    BASELINE_ATTR,
    RETRAIN_OF,
    START_ATTR,
    UNTIL_DEADLINE,
)
from ..steps import WARMUP_STEPS
from ..text import plural
from .budget import LEARNED_MARGIN, TIME_BUDGET, Clock, learned, seconds_per_epoch, trial_cost

__all__ = ["RungRule", "rung_epochs", "successive_halving_keeps", "sotl", "PRUNERS", "make_optuna_pruner", "EpochRule",
           "Deadline", "LEARNED_MARGIN", "DOMINANCE_MARGIN", "WARMUP_SHARE", "OVERRUN", "chance_level", "PROBE_STEPS",
           "PROJECTION_MARGIN", "StepCheck", "Stopped"]

#: a trial behind a trial as cheap as itself by more than this (validation accuracy, same epoch) is dominated
DOMINANCE_MARGIN = 0.02
#: the share of a trial's epochs judged as warm-up (the rise of the one-cycle schedule): slow starters are spared
WARMUP_SHARE = 0.3
#: how far past the end of a time budget's sampling phase a sampled trial may run, as a share of that phase
OVERRUN = 0.2
#: the largest share of a time budget's sampling phase one sampled trial may take (the planned epochs let the first
#: candidate take a tenth of it: nasprune.search.budget.TRIALS_PER_BUDGET), or ``TRIAL_FACTOR`` times the first start
#: candidate's run where that is more
MAX_TRIAL_SHARE = 0.3
#: a sampled trial may take this many times as long as the first start candidate's run: where that network had to
#: learn (the onset plan gives it a quarter of the phase), 30% of the phase stopped every network 1.2 times its cost
#: (a 48x32 letters set: a plain batch-norm CNN at 2.1 s an epoch beside its 1.2 s, and the wide start candidate)
TRIAL_FACTOR = 3
#: a sampled trial's first epoch is timed over this many optimizer steps, after the trainer's eager warm-up and its
#: CUDA-graph capture (nasprune.steps.WARMUP_STEPS, then one more), and stopped there when too slow for the budget
PROBE_STEPS = 8
#: the projection counts against those rules at a ``1 / PROJECTION_MARGIN`` of its figure: early steps run slower
#: than an epoch's mean (an MBConv at 16x16: 8.1 s an epoch from four steps, 6.9 s in fact), and a candidate at the
#: limit is left to the rule at the epoch's end, which times it whole
PROJECTION_MARGIN = 1.5
#: (trial, epoch, val_acc) -> reason to stop, or the epochs the run may have in all (at most those planned, or its
#: ``UNTIL_DEADLINE`` bound: its schedule is set to end there), or None to go on. A rule may also watch a trial's
#: steps: its ``during_epoch(trial)`` returns a :data:`StepCheck` (or None), which the objective calls after every step
EpochRule = Callable[[optuna.Trial, int, float], "str | int | None"]
#: (step, total steps planned), both 0-based counts of optimizer steps -> reason to stop the trial now, or None
StepCheck = Callable[[int, int], "str | None"]


class Stopped(Exception):
    """A :data:`StepCheck` stopped the trial mid-epoch; the message is the reason."""


def rung_epochs(epochs: int, eta: int = 3, min_epoch: int = 1) -> tuple[int, ...]:
    """Epochs at which trials are judged: min_epoch * eta**k, as long as eta times the rung still fits in
    the training run (judging later saves too little to be worth a lost complete trial)."""
    rungs, r = [], min_epoch
    while r * eta <= epochs:
        rungs.append(r)
        r *= eta
    return tuple(rungs)


def successive_halving_keeps(value: float, peers: list[float], eta: int, field: int | None = None) -> bool:
    """True if ``value`` ranks in the top 1/eta of ``peers`` plus itself (ties count in its favour); ``field``:
    the number of peers ranked against, where only some of them (``peers``) can beat it (default: all)."""
    better = sum(p > value for p in peers)
    return better < math.ceil(((len(peers) if field is None else field) + 1) / eta)


def sotl(history: list[dict], epoch: int) -> float:
    """Minus the sum of the training losses of epochs 1 to ``epoch`` of a trial's ``history`` (its per-epoch
    records): the score a rung ranks trials by, higher predicting a better network at the end. Measured on a
    16x16 CIFAR subset (20 networks, a 12-epoch schedule, against the test accuracy of another seed's full run):
    after 3 epochs it ranks at Kendall tau 0.72 and keeps 2 of the top 3, where that epoch's validation accuracy
    ranks at 0.65 and keeps none of them (6 epochs: 0.82 and 3, against 0.72 and 1); the sum smooths the
    epoch-to-epoch noise of one validation pass."""
    return -sum(row["train_loss"] for row in history[:epoch])


@dataclass(frozen=True)
class RungRule:
    """Successive halving on the sum of training losses so far (:func:`sotl`) against trials of similar or lower
    MFLOPs.

    eta: keep the top 1/eta at each rung; min_peers: judge only with at least this many peers;
    tolerance: peers may cost up to ``tolerance`` times this trial's MFLOPs (or latency: ``cost``).
    """

    epochs: int
    eta: int = 3
    min_epoch: int = 1
    min_peers: int = 3
    tolerance: float = 1.25
    chance: float | None = None  # accuracy of always guessing the validation split's largest class
    cost: str = "mflops"  # the trial attribute a peer must not exceed: mflops, or latency_ms (a latency objective)

    @property
    def rungs(self) -> tuple[int, ...]:
        return rung_epochs(self.epochs, self.eta, self.min_epoch)

    @property
    def judged(self) -> tuple[int, ...]:
        """Epochs past the warm-up at which a trial is checked for not learning and for being dominated: the
        first epoch past the warm-up (the rungs alone may have none there: 25 epochs give rungs 1 and 3) and the
        later rungs, never the last epoch (stopping there saves nothing)."""
        settled = max(1, math.ceil(WARMUP_SHARE * self.epochs))
        return tuple(sorted({e for e in (*self.rungs, settled) if settled <= e < self.epochs}))

    def peers(self, trials: list[optuna.trial.FrozenTrial], number: int, epoch: int,
              mflops: float) -> list[optuna.trial.FrozenTrial]:
        """Other trials that reached ``epoch`` and cost at most ``tolerance * mflops`` (the cost: :attr:`cost`)."""
        return [t for t in _comparable(trials, number, epoch) if trial_cost(t, self.cost) <= mflops * self.tolerance]

    def learned(self, val_acc: float) -> bool:
        """Whether a validation accuracy is clearly above chance. Below that, an order of trials is noise: on a
        48x32 letters set every network was at chance for its first 3-5 epochs, and rungs at epoch 1 stopped
        candidates for being 'beaten' there by other networks at chance."""
        return learned(val_acc, self.chance)

    def learned_elsewhere(self, trials: list[optuna.trial.FrozenTrial], number: int, epoch: int,
                          val_acc: float) -> str | None:
        """Why a trial at chance has not merely started slowly: another trial had clearly learned by half its epochs
        (so this one had twice the time that took; asked only at the epochs :attr:`judged`, past the warm-up).
        None otherwise."""
        if self.chance is None or val_acc > self.chance + LEARNED_MARGIN:
            return None
        half = max(1, math.ceil(epoch / 2))
        early = _leader(trials, number, half)
        if early is None or not self.learned(early[0]):
            return None  # nothing had learned by then: the data may be slow to start, not this network
        best = _leader(trials, number, epoch)
        return (f"did not learn: val_acc {val_acc:.4f} at epoch {epoch} is chance ({self.chance:.4f}), while trial "
                f"{best[1]} reached {best[0]:.4f} (a trial had learned by epoch {half})")

    def dominated_by(self, trials: list[optuna.trial.FrozenTrial], number: int, epoch: int, history: list[dict],
                     mflops: float) -> str | None:
        """Why the trial with per-epoch ``history`` is dominated: a trial that costs no more, and has learned, was
        ahead at the same epoch by more than DOMINANCE_MARGIN in validation accuracy, and its training losses so far
        sum lower (:func:`sotl`: one validation pass alone is noisy). Asked only at the epochs :attr:`judged`.
        None otherwise."""
        val_acc, score = history[epoch - 1]["val_acc"], sotl(history, epoch)
        steadier = [t for t in trials if sotl(t.user_attrs.get("history") or [], epoch) > score]
        best = _leader(steadier, number, epoch, max_mflops=mflops, cost=self.cost)
        if best is None or best[0] <= val_acc + DOMINANCE_MARGIN or not self.learned(best[0]):
            return None
        unit = _UNITS[self.cost]
        return (f"dominated at epoch {epoch}: val_acc {val_acc:.4f}, while trial {best[1]} ({best[2]:.{unit[1]}f} "
                f"{unit[0]}, no more than its {mflops:.{unit[1]}f}) reached {best[0]:.4f} with lower training losses so far")

    def __call__(self, trial: optuna.Trial, epoch: int, val_acc: float) -> str | None:
        if (epoch not in self.rungs and epoch not in self.judged) or RETRAIN_OF in trial.user_attrs:
            return None
        mflops = trial_cost(trial, self.cost)
        history = trial.user_attrs["history"]  # read once: a live trial's attributes come from the storage
        trials = trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                   TrialState.RUNNING))
        if epoch in self.judged:
            reason = self.learned_elsewhere(trials, trial.number, epoch, val_acc)
            if reason is None and len(trial.study.directions) > 1:  # one objective: the cost does not matter
                reason = self.dominated_by(trials, trial.number, epoch, history, mflops)
            if reason:
                return reason
        if epoch not in self.rungs:
            return None
        peers = self.peers(trials, trial.number, epoch, mflops)
        if len(peers) < self.min_peers:
            return None
        # a peer at chance beats nobody: the order there is noise
        ahead = [sotl(t.user_attrs["history"], epoch) for t in peers
                 if self.learned(t.user_attrs["history"][epoch - 1]["val_acc"])]
        score = sotl(history, epoch)
        if successive_halving_keeps(score, ahead, self.eta, len(peers)):
            return None
        better = sum(p > score for p in ahead)
        return (f"rung at epoch {epoch}: training losses summing to {-score:.3f} (val_acc {val_acc:.4f}) beaten by "
                f"{better} of {len(peers)} trials at <= {self.tolerance:g}x its {_UNITS[self.cost][2]} "
                f"(keeps the top 1/{self.eta})")


#: cost attribute -> (unit, decimals, what it is in words)
_UNITS = {"mflops": ("MFLOPs", 2, "MFLOPs"), "latency_ms": ("ms", 3, "latency")}


def _leader(trials: list[optuna.trial.FrozenTrial], number: int, epoch: int, max_mflops: float = math.inf,
            cost: str = "mflops") -> tuple[float, int, float] | None:
    """(validation accuracy at ``epoch``, number, cost) of the most accurate other trial there that costs at
    most ``max_mflops`` (MFLOPs, or another ``cost`` attribute); None if there is none."""
    return max(((t.user_attrs["history"][epoch - 1]["val_acc"], t.number, trial_cost(t, cost))
                for t in _comparable(trials, number, epoch) if trial_cost(t, cost) <= max_mflops), default=None)


def _comparable(trials: list[optuna.trial.FrozenTrial], number: int, epoch: int) -> list[optuna.trial.FrozenTrial]:
    """Other search trials that reached ``epoch`` on the study's schedule (retrained ones run a longer one)."""
    return [t for t in trials if t.number != number and len(t.user_attrs.get("history") or []) >= epoch
            and RETRAIN_OF not in t.user_attrs]


def _planned_epochs(trial: optuna.Trial | optuna.trial.FrozenTrial, default: int) -> int:
    """The epochs a trial's spec plans (``default`` where it records none)."""
    return (trial.user_attrs.get("spec") or {}).get("train", {}).get("epochs", default)


@dataclass(frozen=True)
class Deadline:
    """The time budget, per trial (see nasprune.search.budget). A sampled trial stops when its next epoch would end
    after the budget's deadline. A retrained winner instead ends with the epochs that fit, its schedule shortened to
    end there (an int): its run is the search's answer, and a run stopped one epoch short of its plan (measured: 44
    of 45, on a machine whose epochs had slowed by 14%) would be lost whole. A trial of the sampling phase also
    stops when its whole run would take more than ``MAX_TRIAL_SHARE`` of that phase (three times what the planned
    epochs give the first candidate) and more than ``TRIAL_FACTOR`` times the first start candidate's run (at its
    epochs' mean so far: more where the onset plan gave it longer trials; judged in its first epoch only), or when
    the epochs it has left would end more than ``OVERRUN`` of the phase past its end: a candidate too slow to train
    within the budget cannot become a winner, and training it would take the time other candidates and the winners'
    retraining need. Epochs are assumed to take as long as the mean one so far. A retraining is told after every
    epoch how many of its planned epochs fit, at the mean pace after the first epoch (which pays for start-up) or
    the median of the last three where that is slower: its length follows the machine both ways, never past its
    plan, except for the last retraining of a round (``UNTIL_DEADLINE``), which trains on to the deadline where more
    epochs fit (its plan was an estimate: a cut-short start candidate planned from a first epoch of 10.9 s trained
    at 6.7 s, and the time it left went to a network below the front). Its first epoch alone shortens nothing
    (measured: a first epoch 14% slower than the rest cut a 37-epoch plan that would have fit to 36), nor does one
    slow epoch (measured on a loaded machine: two to three epochs at 1.5-2x cut the leader's run for good, 43 epochs
    to 34 and 32 to 26, and the time they left went to networks that ended below the front)."""

    clock: Clock

    def __call__(self, trial: optuna.Trial, epoch: int, val_acc: float) -> str | int | None:
        now = time.time()
        epochs = _planned_epochs(trial, epoch)
        if RETRAIN_OF in trial.user_attrs:
            seconds = [h["seconds"] for h in trial.user_attrs.get("history") or []] or [0.0]
            steady = seconds[1:] or seconds
            recent = sorted(steady[-3:])[(len(steady[-3:]) - 1) // 2]  # a single slow epoch is no new pace
            per_epoch = max(sum(steady) / len(steady), recent)
            fit = epoch + math.floor(max(0.0, self.clock.deadline - now) / max(per_epoch, 1e-9))
            return min(fit, trial.user_attrs.get(UNTIL_DEADLINE, epochs)) if fit == epoch or len(seconds) > 1 else None
        per_epoch = seconds_per_epoch(trial) or 0.0
        if now + per_epoch > self.clock.deadline:
            return f"{TIME_BUDGET}: the next epoch would end after the search's budget (stopped at epoch {epoch})"
        return self._too_slow(epochs, epochs - epoch, per_epoch, now,
                              longest=self._longest(trial) if epoch == 1 else (math.inf, ""))

    def _longest(self, trial: optuna.Trial) -> tuple[float, str]:
        """(the seconds a sampled trial's whole run may take, what that limit is): read from the study."""
        phase = self.clock.explore_end - self.clock.start
        first = next((t for t in trial.study.get_trials(deepcopy=False) if t.user_attrs.get(START_ATTR) == 0
                      and RETRAIN_OF not in t.user_attrs and t.number != trial.number and seconds_per_epoch(t)), None)
        if first is not None:
            run = TRIAL_FACTOR * _planned_epochs(first, len(first.user_attrs["history"])) * seconds_per_epoch(first)
            if run > MAX_TRIAL_SHARE * phase:
                return run, f"{TRIAL_FACTOR} times the first start candidate's {run / TRIAL_FACTOR:.0f} s"
        return MAX_TRIAL_SHARE * phase, f"{MAX_TRIAL_SHARE:.0%} of the {phase:.0f}-s sampling phase"

    def _too_slow(self, epochs: int, left: float, per_epoch: float, now: float, timed: str = "",
                  longest: tuple[float, str] = (math.inf, "")) -> str | None:
        """Why a sampled trial of ``epochs`` at ``per_epoch`` seconds, ``left`` of them still to train, is too slow
        for the sampling phase (None: it is not). Its whole run is judged against ``longest`` (:meth:`_longest`) in
        its first epoch only: later, what it has trained is spent, and stopping it would waste that (measured at
        32x32: the wide start candidate stopped at epoch 8 of 11, and again at 10 of 12, as its epochs had slowed
        past the limit); only the end of the phase then stops it."""
        end = now + left * per_epoch
        phase = self.clock.explore_end - self.clock.start
        seconds, limit = longest
        if epochs * per_epoch > seconds:
            return (f"{TIME_BUDGET}: too slow to train within it ({per_epoch:.1f} s per epoch{timed}, "
                    f"{epochs * per_epoch:.0f} s for its {epochs} epochs, more than {limit})")
        if end > self.clock.explore_end + OVERRUN * phase:
            return (f"{TIME_BUDGET}: too slow to train within it ({per_epoch:.1f} s per epoch{timed}; its "
                    f"{math.ceil(left)} epochs left would end {end - self.clock.explore_end:.0f} s after the sampling phase)")
        return None

    def during_epoch(self, trial: optuna.Trial) -> StepCheck | None:
        """A check of a sampled trial's first epoch: after ``PROBE_STEPS`` steps timed past the trainer's warm-up,
        the epoch's length is projected from them (its training steps alone: validation only adds), and the trial
        stops there when the projection, divided by ``PROJECTION_MARGIN``, still breaks a rule of :meth:`__call__`;
        or sooner, at the first timed step whose time so far already breaks it (measured on our letters set: a 48-MFLOPs
        MBConv, 45.8 s an epoch, spent 20.6 s before its probe's eighth step stopped it, where its first would have).
        Measured on one EPYC core at 32x32: a sampled 133-MFLOPs network took 57 s for its first epoch and a
        56-MFLOPs MBConv 153 s, past a 180-s sampling phase, before the epoch rule could stop them; the retraining
        lost that time. Start candidates and baselines train their first epoch whole: the retraining is planned from
        it (nasprune.search.budget)."""
        if any(key in trial.user_attrs for key in (RETRAIN_OF, START_ATTR, BASELINE_ATTR)):
            return None
        first, last = WARMUP_STEPS + 1, WARMUP_STEPS + 1 + PROBE_STEPS
        epochs = _planned_epochs(trial, 1)
        started: list[float] = []
        longest: list[tuple[float, str]] = []  # read from the study once, not at every step of the probe

        def check(step: int, total: int) -> str | None:
            if step == first:
                started.append(time.perf_counter())
            steps = total // max(epochs, 1)
            if not first < step <= last or not started or last + 1 >= steps:  # an epoch this short is judged when
                return None  # it ends
            elapsed = time.perf_counter() - started[0]
            longest[:] = longest or [self._longest(trial)]
            # before the last timed step, the probe's time so far is a floor of its whole: a verdict of "too slow" on
            # it is the one the last step would give (every rule grows with the time), given the moment it is known
            per_epoch = elapsed / PROBE_STEPS * steps / PROJECTION_MARGIN
            if step < last and self._verdict(epochs, steps, per_epoch, "", longest[0]) is None:
                return None
            timed = step - first
            said = elapsed / timed * steps / PROJECTION_MARGIN
            return self._verdict(epochs, steps, said, f" at least, timed over {plural(timed, 'step')} of its first",
                                 longest[0])

        return check

    def _verdict(self, epochs: int, steps: int, per_epoch: float, timed: str, longest: tuple[float, str]) -> str | None:
        """:meth:`during_epoch`'s rules for a first epoch of ``steps`` steps at ``per_epoch`` seconds, judged at the
        end of the probe's last step, a whole run's limit ``longest``."""
        done = (WARMUP_STEPS + 2 + PROBE_STEPS) / steps  # of its first epoch, once the probe's last step ends
        now = time.time()
        if now + (1 - done) * per_epoch > self.clock.deadline:
            return f"{TIME_BUDGET}: its first epoch would end after the search's budget ({per_epoch:.1f} s{timed})"
        return self._too_slow(epochs, epochs - done, per_epoch, now, timed, longest)


def chance_level(labels) -> float:
    """Accuracy of always answering the most frequent class of ``labels`` (a tensor of class indices)."""
    return float(labels.bincount().max()) / max(1, len(labels))


def make_optuna_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    """Optuna's pruner for single-objective studies. Steps are 0-based epochs, so Hyperband's
    max_resource is the epoch count (with "auto", nothing is pruned before the first trial completes)."""
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=3)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


def optuna_pruner_rule(trial: optuna.Trial, epoch: int, val_acc: float) -> str | None:
    """Report the epoch to Optuna (single-objective studies) and ask its pruner. A retrained winner is reported
    (its curve) but not judged: it was chosen already, and at the same epoch its long schedule trails the short
    runs it would be compared with (measured: Hyperband stopped both retrainings of a budgeted search at epoch 10
    of 160 and 61)."""
    trial.report(val_acc, step=epoch - 1)
    if RETRAIN_OF not in trial.user_attrs and trial.should_prune():
        return f"{type(trial.study.pruner).__name__} at epoch {epoch}: val_acc {val_acc:.4f}"
    return None
