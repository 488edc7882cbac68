"""A search inside a wall-clock budget (``--time-budget``): how long each trial trains, when sampling stops,
and which networks then train again for longer.

1. **Exploration** (the first ``EXPLORE_SHARE`` of the budget): candidates sampled as usual, each trained for
   the study's epochs. A new study plans those epochs from the budget: it times a few training steps of its
   first candidate and gives each trial the epochs that let about ``TRIALS_PER_BUDGET`` trials of that size
   fit in the exploration phase (between ``MIN_EPOCHS`` and ``MAX_EPOCH_FACTOR`` times the space's epochs).
2. **Retraining, finalists on merit** (:func:`finalists`): the leader is the most accurate network of the
   exploration, or a start candidate it does not lead by more than the validation split's noise (two standard
   errors of the difference, :func:`clearly_ahead`: short runs ranked sampled networks above start candidates that
   then ended ahead of them); ``--baseline`` presets, and start candidates whose run the budget cut short before it
   was measured, lead beside it. Up to ``FINALISTS - 1`` cheaper networks join them: first the start candidates that
   learned and that no cheaper network is clearly ahead of (the same tie rule), then those of the merit front
   (cheapest first, each clearly more accurate than every cheaper one on it) that alone cover the most of its
   accuracy-vs-MFLOPs area. Every retraining must buy at least ``MIN_GAIN`` times the epochs of the first run (a
   network slow on this device cannot gain from a share, and leaves its place to the next). Each cheaper sampled
   finalist gets ``OTHER_SHARE`` of the time left; the leaders and the cheaper start candidates get the rest, split
   so that they train equally many epochs: short runs do not rank hand-picked networks at length (measured at
   16x16: the wide start candidate led the narrow one by 6-9 points after 7-8 epochs and took the leader's 61-64
   epochs to the narrow one's 25-27, yet after 100 epochs each the two end level), and the answer still trains
   about as long as it would beside one other (measured: the wide start candidate topped the front at 32x32 with
   33-45 epochs, and fell below a 3-MFLOPs network with 20-26). The time left is planned whole, less each
   run's measured start-up, and the round's last run follows the clock: shortened where it would end late, trained
   on to the deadline where its plan fell short (up to the cap). Epochs are capped at
   ``RETRAIN_FACTOR`` times the space's. When a round is done and time is left, the next is planned the same way.
   A retrained network is a trial of its own (``retrain_of``: its source), so it joins the Pareto front beside the
   others.

Why the budget is split this way, and what each constant bought, is measured in benchmarks/RESULTS.md (rounds
3-5 and issue 29's section) and told in the docs' time-budget page.

A sampled trial too slow to finish soon after the sampling phase ends is stopped (nasprune.search.stopping.
Deadline), so one expensive candidate cannot eat the time the retraining needs. Every sampled trial also stops
before an epoch that would end past the budget; a retrained one ends with the epochs that fit instead, its
schedule shortened to end there (a run stopped short would be lost whole).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import optuna
import torch

from ..data import DataSplits, Split
from ..nn import build_model
from ..record import BASELINE_ATTR, RETRAIN_OF, START_ATTR
from ..spec import TrialSpec
from ..train import Runtime, train

__all__ = ["Clock", "trial_cost", "seconds_per_epoch", "plan_epochs", "plan_for_onset", "onset", "learned", "retrain_specs", "finalists", "clearly_ahead",
           "EXPLORE_SHARE", "TRIALS_PER_BUDGET", "RETRAIN_FACTOR", "FINALISTS", "OTHER_SHARE", "MIN_EPOCHS", "MIN_TRIALS",
           "MAX_EPOCH_FACTOR", "LEARNED_MARGIN", "MIN_GAIN", "MIN_RUN_OVERHEAD", "run_overhead"]

EXPLORE_SHARE = 0.3  # of the budget spent sampling candidates; the rest retrains the winners for longer
TRIALS_PER_BUDGET = 10  # the planned epochs let about this many trials of the first candidate's size explore
MIN_EPOCHS = 2
MIN_TRIALS = 4  # a first candidate still at chance: trials get the epochs that let this many of its size explore
#: validation accuracy within this many points of chance counts as "has not learned" (twice it: "learned")
LEARNED_MARGIN = 0.02
MAX_EPOCH_FACTOR = 3  # planned epochs are at most this many times the space's (small data, long budget)
RETRAIN_FACTOR = 10  # a retrained winner trains up to this many times the space's epochs (not the planned ones)
FINALISTS = 3  # networks retrained per round: the leader and up to two cheaper ones of the merit front
OTHER_SHARE = 0.15  # of the time left, given to each cheaper finalist sampled by the search
#: a cheaper finalist's share must buy at least this many times the epochs of its first run (or the cap): at 16x16
#: an MBConv slow on the CPU took a share for 8 epochs after its 7, ended below its first run, and kept the narrow
#: start candidate (0.65 after 100 epochs, 0.45 after 7) out of the retraining
MIN_GAIN = 2
#: the least overhead a run is planned with beyond its epochs (measured on the CPU: 0.3-2.0 s a run)
MIN_RUN_OVERHEAD = 2.0
RESERVE_SHARE = 0.03  # of the budget kept for the winners' test evaluation and the summary
_PROBE_BATCHES = 6


@dataclass(frozen=True)
class Clock:
    """The budget of one search in wall-clock seconds (``time.time()`` values, the same in every worker)."""

    start: float
    seconds: float

    @property
    def explore_end(self) -> float:
        return self.start + EXPLORE_SHARE * self.seconds

    @property
    def deadline(self) -> float:
        """When training must be over; the rest of the budget evaluates the winners."""
        return self.start + (1 - RESERVE_SHARE) * self.seconds

    def left(self) -> float:
        return max(0.0, self.deadline - time.time())


def _probe_seconds(spec: TrialSpec, data: DataSplits, runtime: Runtime) -> float:
    """Seconds one epoch of ``spec`` takes on ``data`` (training and validation), extrapolated from a timed
    run on a few batches after an untimed one (which pays for start-up: allocation, cuDNN's choice, capture)."""
    batch = min(spec.train.batch_size, len(data.train))
    n_train, n_val = min(len(data.train), _PROBE_BATCHES * batch), min(len(data.val), 256)
    probe = replace(data, train=Split(data.train.x[:n_train], data.train.y[:n_train]),
                    val=Split(data.val.x[:n_val], data.val.y[:n_val]))
    model = build_model(spec.arch)
    seconds = []
    for _ in range(2):
        t0 = time.perf_counter()
        train(model, probe, spec.train.replace(epochs=1), runtime)
        seconds.append(time.perf_counter() - t0)
    # validation is a forward pass: about a third of a training step's work per image
    return seconds[-1] * (len(data.train) + len(data.val) / 3) / (n_train + n_val / 3)


def plan_epochs(spec: TrialSpec, data: DataSplits, runtime: Runtime, clock: Clock, space_epochs: int) -> int:
    """Epochs per trial for a new budgeted study whose first candidate is ``spec``: those that let about
    ``TRIALS_PER_BUDGET`` trials of its size fit in the exploration (see the module docstring)."""
    torch.manual_seed(0)
    per_epoch = _probe_seconds(spec, data, runtime)
    fit = (clock.explore_end - time.time()) / (TRIALS_PER_BUDGET * max(per_epoch, 1e-6))
    return int(min(MAX_EPOCH_FACTOR * space_epochs, max(MIN_EPOCHS, math.floor(fit))))


def learned(val_acc: float, chance: float | None) -> bool:
    """Whether a validation accuracy is clearly above ``chance`` (None: unknown, so yes). Below that an order of
    networks is noise: on a 48x32 letters set every network sat at chance for its first 3-5 epochs."""
    return chance is None or val_acc > chance + 2 * LEARNED_MARGIN


def onset(spec: TrialSpec, data: DataSplits, runtime: Runtime, epochs: int, chance: float) -> tuple[int | None, float]:
    """(the first epoch at which ``spec`` (a sound network: the space's first start candidate), trained on the
    trials' schedule of ``epochs``, is clearly above chance, or None if it is not by the end; the seconds of one of
    its epochs). The run stops as soon as it learns, so on data that learns at once the probe costs one epoch. The
    seconds are the median epoch's, start-up left out: timed as the run's wall clock, the letters probe once came
    out at twice the epoch time of the same network's trial right after (2.2 s against 1.1 s), which halved the
    trials' epochs."""
    torch.manual_seed(0)
    result = train(build_model(spec.arch), data, spec.train.replace(epochs=epochs), runtime,
                   on_epoch=lambda e: "learned" if learned(e.val_acc, chance) else None)
    seconds = sorted(e.seconds for e in result.history)
    per_epoch = seconds[len(seconds) // 2] if seconds else result.seconds
    first = len(result.history) if result.history and learned(result.history[-1].val_acc, chance) else None
    return first, per_epoch


def plan_for_onset(spec: TrialSpec, data: DataSplits, runtime: Runtime, clock: Clock, epochs: int,
                   space_epochs: int, chance: float) -> tuple[int, str]:
    """(epochs per trial, why) once ``epochs`` are planned: a trial must be long enough for a sound network to
    learn in it, or the exploration ranks networks at chance (measured on a held-out letters set: 21 trials of 2
    epochs, all at chance). The first candidate is trained on the trials' schedule until it learns (:func:`onset`);
    if it does not, each trial gets the epochs that let ``MIN_TRIALS`` of its size fit in what is left of the
    exploration, where that is more."""
    first, per_epoch = onset(spec, data, runtime, epochs, chance)
    if first is not None:
        return epochs, f"a sound network left chance at epoch {first} of them"
    longer = min(MAX_EPOCH_FACTOR * space_epochs,
                 math.floor((clock.explore_end - time.time()) / (MIN_TRIALS * max(per_epoch, 1e-6))))
    if longer > epochs:
        return longer, (f"the first start candidate was still at chance after {epochs} epochs, so trials get "
                        f"{longer} (about {MIN_TRIALS} fit in the exploration)")
    return epochs, (f"the first start candidate was still at chance after {epochs} epochs and the budget affords no "
                    f"longer trials: the exploration ranks networks near chance, so the retraining decides; "
                    f"a longer --time-budget would let it learn")


def seconds_per_epoch(t: optuna.trial.FrozenTrial | optuna.Trial) -> float | None:
    """The mean seconds of a trial's epochs so far (None where it has none)."""
    history = t.user_attrs.get("history") or []
    return sum(h["seconds"] for h in history) / len(history) if history else None


def trial_cost(t: optuna.trial.FrozenTrial | optuna.Trial, key: str = "mflops") -> float:
    """A trial's cost (MFLOPs, or ``key``: ``latency_ms`` where latency is the objective); infinite where it
    recorded none (it is then nobody's cheaper peer, and on no front)."""
    cost = t.user_attrs.get(key)
    return math.inf if cost is None else cost


def _accuracy(t: optuna.trial.FrozenTrial) -> float:
    """A trial's validation accuracy: its value, or where it was stopped, its last epoch's."""
    return t.values[0] if t.values else t.user_attrs["history"][-1]["val_acc"]


#: how the reason of a trial stopped by the time budget begins (nasprune.search.stopping.Deadline)
TIME_BUDGET = "time budget"


def _cut_short(t: optuna.trial.FrozenTrial) -> bool:
    """Whether a stopped trial was stopped by the time budget (too slow for the sampling phase), not judged."""
    return str(t.user_attrs.get("reason", "")).startswith(TIME_BUDGET)


def clearly_ahead(accuracy: float, other: float, images: int) -> bool:
    """Whether ``accuracy`` leads ``other``, both measured on the same ``images`` validation images, by more
    than two standard errors of the difference (binomial): a lead the split's noise alone gives about 1 time in
    40. On 1,000 images at about 0.5 that is 4.5 points; at 0.9, 2.7."""
    se = math.sqrt(sum(p * (1 - p) for p in (min(max(a, 0.0), 1.0) for a in (accuracy, other))) / max(images, 1))
    return accuracy - other > 2 * se


def _merit_front(trials: list[optuna.trial.FrozenTrial], val_images: int, chance: float,
                 cost: str = "mflops") -> list[optuna.trial.FrozenTrial]:
    """The exploration's front as far as its validation split can tell: cheapest first, each trial clearly more
    accurate (:func:`clearly_ahead`) than every cheaper one on it, and clearly above ``chance``. A network that leads
    a cheaper one by less than the split's noise is not on it: that lead may be noise, and its cost is not."""
    front: list[optuna.trial.FrozenTrial] = []
    for t in sorted(trials, key=lambda t: (trial_cost(t, cost), -_accuracy(t))):
        if clearly_ahead(_accuracy(t), _accuracy(front[-1]) if front else chance, val_images) and learned(
                _accuracy(t), chance):
            front.append(t)
    return front


def _area(front: list[optuna.trial.FrozenTrial], k: int, right: float, chance: float, cost: str = "mflops") -> float:
    """The share of the accuracy-vs-MFLOPs area under ``front`` (cheapest first) that only its ``k``-th trial
    covers, up to ``right`` MFLOPs: its lead over the next cheaper one times the MFLOPs until the next dearer one."""
    lower = _accuracy(front[k - 1]) if k else chance
    upper = trial_cost(front[k + 1], cost) if k + 1 < len(front) else right
    return (_accuracy(front[k]) - lower) * (upper - trial_cost(front[k], cost))


def finalists(trials: list[optuna.trial.FrozenTrial], val_images: int, chance: float, cost: str = "mflops",
              worth: Callable[[optuna.trial.FrozenTrial], bool] | None = None,
              ) -> tuple[list[optuna.trial.FrozenTrial], list[optuna.trial.FrozenTrial]]:
    """(leaders, others): the exploration trials that train again, chosen on merit (see the module docstring).

    ``trials``: the candidates not retrained yet (complete exploration trials, and start candidates and baselines
    that ran an epoch). The leader is the most accurate complete trial, or a start candidate it does not lead by more
    than the split's noise (the most accurate such one: a sound hand-picked network wins a tie). Baselines, and start
    candidates whose run the budget cut short (never measured to the end), lead beside it. The others are up to
    ``FINALISTS - 1`` networks cheaper than the leader: first the start candidates that learned and that no cheaper
    network is clearly ahead of (a tie goes to the hand-picked network here too), then those of the merit front that
    add the most to its area. ``cost``: the trial attribute the front is drawn against (``latency_ms`` where latency
    is the objective). ``worth``: whether a cheaper network's share would retrain it for real (None: every one's
    would); the others are chosen among those, so one that cannot gain leaves its place to the next."""
    measured = [t for t in trials if t.values]
    leaders = [t for t in trials if BASELINE_ATTR in t.user_attrs or (START_ATTR in t.user_attrs and not t.values
                                                                     and _cut_short(t))]
    if measured:
        best = max(measured, key=_accuracy)
        tied = [t for t in measured if START_ATTR in t.user_attrs
                and not clearly_ahead(_accuracy(best), _accuracy(t), val_images)]
        leaders.insert(0, max(tied, key=_accuracy) if tied else best)
    leaders = list({t.number: t for t in leaders}.values())  # the most accurate may be a start candidate too
    if not leaders:
        return [], []
    right, lead = trial_cost(leaders[0], cost), {t.number for t in leaders}
    if right == math.inf:  # no cost recorded (--no-latency): nothing is cheaper than the leader
        return leaders, []
    able = [t for t in measured if (worth is None or worth(t)) and trial_cost(t, cost) < right and t.number not in lead]
    starts = [t for t in able if START_ATTR in t.user_attrs and learned(_accuracy(t), chance) and not any(
        trial_cost(o, cost) < trial_cost(t, cost) and clearly_ahead(_accuracy(o), _accuracy(t), val_images)
        for o in measured)][:FINALISTS - 1]
    front = [t for t in _merit_front(able, val_images, chance, cost) if t not in starts]
    ranked = [front[k] for k in sorted(range(len(front)), key=lambda k: -_area(front, k, right, chance, cost))]
    return leaders, sorted(starts + ranked[:FINALISTS - 1 - len(starts)], key=lambda t: trial_cost(t, cost))


def run_overhead(trials: list[optuna.trial.FrozenTrial]) -> float:
    """Seconds a run takes beyond its epochs (building the network, counting its FLOPs, measuring its latency,
    saving it): the most that any of ``trials`` took, and at least ``MIN_RUN_OVERHEAD``."""
    def beyond(t: optuna.trial.FrozenTrial) -> float:
        if t.datetime_start is None or t.datetime_complete is None:
            return 0.0
        wall = (t.datetime_complete - t.datetime_start).total_seconds()
        return wall - sum(h["seconds"] for h in t.user_attrs.get("history") or [])
    return max([MIN_RUN_OVERHEAD, *map(beyond, trials)])


def retrain_specs(candidates: list[optuna.trial.FrozenTrial], study: optuna.Study, epochs: int, clock: Clock,
                  val_images: int, chance: float, space_epochs: int,
                  cost: str = "mflops") -> list[tuple[int, TrialSpec]]:
    """(source trial, spec with more epochs) for this round's :func:`finalists` among ``candidates``. Each of the
    sampled others gets ``OTHER_SHARE`` of the time left; the leaders and the start candidates among the others share
    the rest so that they train equally many epochs (the exploration could not rank them at length: the retraining
    compares them at one). A share buys the epochs that fit, at most ``RETRAIN_FACTOR`` times ``space_epochs`` (the
    space's or ``--epochs``; not the study's ``epochs``, planned from the exploration's share, which would tie the cap
    to how short the exploration was). The sampled others are planned first, then the rest, cheapest first, and what
    a share cannot use passes on, so the leaders get it. The time left is the clock's, less each run's measured
    overhead (:func:`run_overhead`): the plan can use it all, because the round's last run follows the clock
    (nasprune.search.stopping.Deadline: shortened where it would end late, trained on to the deadline where it would
    end early). A retraining is worth its time where it trains at least ``MIN_GAIN`` times ``epochs`` (or the cap); a
    finalist whose share buys fewer, or that was retrained already, is left out and passes its share on; where no
    leader could gain so from all the time left, the next most accurate candidate that can is tried (at the end of a
    budget, a cheaper one may)."""
    done = {t.user_attrs.get(RETRAIN_OF) for t in study.get_trials(deepcopy=False)}

    def fits(t: optuna.trial.FrozenTrial, seconds: float) -> int:  # epochs of t that ``seconds`` buy, capped
        return min(RETRAIN_FACTOR * space_epochs, math.floor(seconds / seconds_per_epoch(t)))

    left = clock.left() - FINALISTS * run_overhead(candidates)
    gain = min(RETRAIN_FACTOR * space_epochs, MIN_GAIN * epochs)
    fresh = [t for t in candidates if t.number not in done and RETRAIN_OF not in t.user_attrs and "spec" in t.user_attrs
             and bool(seconds_per_epoch(t))  # a run with no timed epoch cannot be planned
             and fits(t, left) >= gain]  # all the time left would buy it a retraining worth its time
    leaders, others = finalists(fresh, val_images, chance, cost, worth=lambda t: fits(t, OTHER_SHARE * left) >= gain)
    plans, carried = [], 0.0
    level = leaders + [t for t in others if START_ATTR in t.user_attrs]  # compared at one length
    shares = [(t, OTHER_SHARE * left) for t in sorted(others, key=seconds_per_epoch) if t not in level]
    rest = left - sum(s for _, s in shares)
    pace = sum(seconds_per_epoch(t) for t in level)  # seconds an epoch of each of them takes
    shares += [(t, rest * seconds_per_epoch(t) / pace) for t in sorted(level, key=seconds_per_epoch)]
    for t, share in shares:
        seconds = share + carried
        n = fits(t, seconds)
        if n < gain:
            carried = seconds
            continue
        spec = TrialSpec.from_dict(t.user_attrs["spec"])
        plans.append((t.number, TrialSpec(spec.arch, spec.train.replace(epochs=n))))
        carried = seconds - n * seconds_per_epoch(t)
    return plans
