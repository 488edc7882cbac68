"""A search inside a wall-clock budget (``--time-budget``): how long each trial trains, when sampling stops,
and which winners then train again for longer.

How a budget is split between trials and epochs decides what a search finds. Short trials let the sampler
see many candidates; on data that is slow to learn they rank networks by how fast they start, and the best of
them ends far below what the same network reaches with a longer schedule (measured on a held-out colour set:
one batch-norm CNN reached 0.42-0.47 test accuracy in 8 epochs and 0.93 in 12). So a budgeted search runs in
two phases:

1. **Exploration** (the first ``EXPLORE_SHARE`` of the budget): candidates sampled as usual, each trained for
   the study's epochs. A new study plans those epochs from the budget: it times a few training steps of its
   first candidate and gives each trial the epochs that let about ``TRIALS_PER_BUDGET`` trials of that size
   fit in the exploration phase (between ``MIN_EPOCHS`` and ``MAX_EPOCH_FACTOR`` times the space's epochs;
   early stopping and cheaper candidates make room for more).
2. **Retraining**: the finalists are trained again from scratch for longer. They are the ``FINALISTS`` most
   accurate winners so far and the space's start candidates (and ``--baseline`` presets) that ran an epoch: the
   networks a user would otherwise compare the winners with, so that the front always holds them trained as
   long as the winners. A winner joins the reference networks' round only if its validation accuracy leads
   theirs by more than the split's noise can explain (two standard errors of the difference:
   ``clearly_ahead``); otherwise it waits for the next round. Each finalist gets an equal share of the time
   left (a comparison at equal compute: a cheaper network trains more epochs, at most ``RETRAIN_FACTOR``
   times the epochs the space, or ``--epochs``, asks of a trial), planned cheapest first, and a share a
   finalist cannot use passes to the next. When they are done and time is left, the next winners are planned
   the same way. A retrained network is a trial of its own (``retrain_of``: its source), so it joins the
   Pareto front beside the others.

   Why not the most accurate first, with the largest share: the exploration's short runs rank networks by how
   fast they start, which favours the bigger ones, and the ranking is within the noise of a small validation
   split (1,000 images: about 1.5 points). Measured on held-out colour 32x32 data, the network best after 70
   epochs was nearly always a start candidate that a sampled network led after 7 epochs, and time given by
   that ranking went to networks that did not keep their lead. One winner, not two or three: with three and two
   start candidates, the 3-MFLOPs start candidate got 47 of the 60 epochs it could use, and missed 1-2 points;
   with two, the 12.7-MFLOPs start candidate at 32x32 (a cifar stem) got 13-19 epochs, and a ResNet-20 trained
   for the whole budget was 1.7-2.5 points more accurate than the search's best on two of three held-out sets.
   With one it got 33-45 epochs where the most accurate winner was a start candidate (and then topped the
   front), still 20-26 where a sampled winner was a third finalist (benchmarks/RESULTS.md, round 3). Those
   winners led the start candidates by 0.9, 2.9 and 5.3 points of validation accuracy after 6-7 epochs, and
   every one ended below them when retrained; so did one that led by 2.2 under a margin of one standard
   error, tried first (1.6 points: it still took a third of the time). With two standard errors of the
   difference a sampled winner joined them in 1 of 12 runs at 32x32 (a lead of 5.3 points), and the start
   candidate got 32-46 epochs in the other 11 (round 4).

A sampled trial too slow to finish soon after the sampling phase ends is stopped (nasprune.search.stopping.
Deadline), so one expensive candidate cannot eat the time the winners' retraining needs.

Every sampled trial also stops before an epoch that would end past the budget; a retrained winner ends with
the epochs that fit instead, its schedule shortened to end there (a run stopped short would be lost whole).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import optuna
import torch

from ..data import DataSplits, Split
from ..nn import build_model
from ..record import RETRAIN_OF
from ..spec import TrialSpec
from ..train import Runtime, train

__all__ = ["Clock", "plan_epochs", "retrain_specs", "clearly_ahead", "EXPLORE_SHARE", "TRIALS_PER_BUDGET",
           "RETRAIN_FACTOR", "FINALISTS", "MIN_EPOCHS", "MAX_EPOCH_FACTOR"]

EXPLORE_SHARE = 0.3  # of the budget spent sampling candidates; the rest retrains the winners for longer
TRIALS_PER_BUDGET = 10  # the planned epochs let about this many trials of the first candidate's size explore
MIN_EPOCHS = 2
MAX_EPOCH_FACTOR = 3  # planned epochs are at most this many times the space's (small data, long budget)
RETRAIN_FACTOR = 10  # a retrained winner trains up to this many times the space's epochs (not the planned ones)
FINALISTS = 1  # winners retrained per round, most accurate first (the reference networks join them)
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
    """Epochs per trial for a new budgeted study whose first candidate is ``spec`` (see the module docstring)."""
    torch.manual_seed(0)
    per_epoch = _probe_seconds(spec, data, runtime)
    fit = (clock.explore_end - time.time()) / (TRIALS_PER_BUDGET * max(per_epoch, 1e-6))
    return int(min(MAX_EPOCH_FACTOR * space_epochs, max(MIN_EPOCHS, math.floor(fit))))


def _seconds_per_epoch(t: optuna.trial.FrozenTrial) -> float | None:
    history = t.user_attrs.get("history") or []
    return sum(h["seconds"] for h in history) / len(history) if history else None


def _accuracy(t: optuna.trial.FrozenTrial) -> float:
    """A trial's validation accuracy: its value, or where it was stopped, its last epoch's."""
    return t.values[0] if t.values else t.user_attrs["history"][-1]["val_acc"]


def clearly_ahead(accuracy: float, other: float, images: int) -> bool:
    """Whether ``accuracy`` leads ``other``, both measured on the same ``images`` validation images, by more
    than two standard errors of the difference (binomial): a lead the split's noise alone gives about 1 time in
    40. On 1,000 images at about 0.5 that is 4.5 points; at 0.9, 2.7."""
    se = math.sqrt(sum(p * (1 - p) for p in (min(max(a, 0.0), 1.0) for a in (accuracy, other))) / max(images, 1))
    return accuracy - other > 2 * se


def retrain_specs(winners: list[optuna.trial.FrozenTrial], references: list[optuna.trial.FrozenTrial],
                  study: optuna.Study, epochs: int, clock: Clock, val_images: int,
                  space_epochs: int) -> list[tuple[int, TrialSpec]]:
    """(source trial, spec with more epochs) for the finalists: the ``FINALISTS`` most accurate ``winners`` and the
    ``references`` (start candidates, baselines; complete or stopped), cheapest first, each with the epochs an equal
    share of the time left buys, at most ``RETRAIN_FACTOR`` times ``space_epochs`` (the space's or ``--epochs``; not
    the study's ``epochs``, planned from the exploration's share, which would tie the cap to how short the
    exploration was). While a reference is still to be retrained, a winner joins it only if its validation accuracy
    is ``clearly_ahead`` of the best reference's on ``val_images``: a lead the split's noise explains would take
    time from the network the user's comparison needs. A finalist that would gain no epoch over its first run
    (``epochs``), or that was retrained already, is left out and passes its share on; a winner that could not gain
    an epoch even from all the time left is passed over for the next most accurate one (at the end of a budget, a
    cheaper one may)."""
    done = {t.user_attrs.get(RETRAIN_OF) for t in study.get_trials(deepcopy=False)}

    def fresh(t: optuna.trial.FrozenTrial) -> bool:
        return (t.number not in done and RETRAIN_OF not in t.user_attrs and "spec" in t.user_attrs
                and bool(_seconds_per_epoch(t)))  # a run with no timed epoch cannot be planned

    def fits(t: optuna.trial.FrozenTrial, seconds: float) -> int:  # epochs of t that ``seconds`` buy, capped
        return min(RETRAIN_FACTOR * space_epochs, math.floor(seconds / _seconds_per_epoch(t)))

    left = 0.9 * clock.left()  # 10% for validation passes and the start of each run
    refs = {t.number: t for t in references if fresh(t)}
    top = max((_accuracy(t) for t in refs.values()), default=None)
    best = [t for t in sorted(winners, key=lambda t: -t.values[0])
            if fresh(t) and fits(t, left) > epochs  # all the time left would buy it more epochs
            and (top is None or t.number in refs or clearly_ahead(t.values[0], top, val_images))][:FINALISTS]
    finalists = {t.number: t for t in [*best, *refs.values()]}  # a start candidate may be a winner too
    plans, carried = [], 0.0
    for t in sorted(finalists.values(), key=_seconds_per_epoch):
        seconds = left / len(finalists) + carried
        n = fits(t, seconds)
        if n <= epochs:
            carried = seconds
            continue
        spec = TrialSpec.from_dict(t.user_attrs["spec"])
        plans.append((t.number, TrialSpec(spec.arch, spec.train.replace(epochs=n))))
        carried = seconds - n * _seconds_per_epoch(t)
    return plans
