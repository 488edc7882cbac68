"""Early stopping of hopeless trials.

Optuna's pruners work only in single-objective studies (``trial.report`` raises in multi-objective ones,
optuna#3450). nasprune's :class:`RungRule` works in both: successive halving (Jamieson & Talwalkar 2016;
asynchronous, as ASHA, Li et al. 2020) at epochs ``min_epoch * eta**k``, where a trial is compared only
with trials that cost no more than it does (MFLOPs within ``tolerance``). A trial that is beaten at the
same epoch by most networks as cheap as itself is unlikely to end on the Pareto front, so it stops; the
cheapest networks are never judged against expensive ones that learn faster per epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

__all__ = ["RungRule", "rung_epochs", "successive_halving_keeps", "PRUNERS", "make_optuna_pruner", "EpochRule"]

#: pruner names a user can pick; "auto" is Hyperband for one objective and rungs for several
PRUNERS = ("auto", "rungs", "hyperband", "median", "none")

#: (trial, epoch, val_acc) -> reason to stop, or None to go on
EpochRule = Callable[[optuna.Trial, int, float], "str | None"]


def rung_epochs(epochs: int, eta: int = 3, min_epoch: int = 1) -> tuple[int, ...]:
    """Epochs at which trials are judged: min_epoch * eta**k, as long as eta times the rung still fits in
    the training run (judging later saves too little to be worth a lost complete trial)."""
    rungs, r = [], min_epoch
    while r * eta <= epochs:
        rungs.append(r)
        r *= eta
    return tuple(rungs)


def successive_halving_keeps(value: float, peers: list[float], eta: int) -> bool:
    """True if ``value`` ranks in the top 1/eta of ``peers`` plus itself (ties count in its favour)."""
    better = sum(p > value for p in peers)
    return better < math.ceil((len(peers) + 1) / eta)


@dataclass(frozen=True)
class RungRule:
    """Successive halving on validation accuracy against trials of similar or lower MFLOPs.

    eta: keep the top 1/eta at each rung; min_peers: judge only with at least this many peers;
    tolerance: peers may cost up to ``tolerance`` times this trial's MFLOPs.
    """

    epochs: int
    eta: int = 3
    min_epoch: int = 1
    min_peers: int = 3
    tolerance: float = 1.25

    @property
    def rungs(self) -> tuple[int, ...]:
        return rung_epochs(self.epochs, self.eta, self.min_epoch)

    def peers(self, trials: list[optuna.trial.FrozenTrial], number: int, epoch: int, mflops: float) -> list[float]:
        """Validation accuracies at ``epoch`` of other trials that reached it and cost at most
        ``tolerance * mflops``."""
        values = []
        for t in trials:
            history = t.user_attrs.get("history") or []
            cost = t.user_attrs.get("mflops")
            if t.number != number and len(history) >= epoch and cost is not None and cost <= mflops * self.tolerance:
                values.append(history[epoch - 1]["val_acc"])
        return values

    def __call__(self, trial: optuna.Trial, epoch: int, val_acc: float) -> str | None:
        if epoch not in self.rungs:
            return None
        mflops = trial.user_attrs["mflops"]
        trials = trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                   TrialState.RUNNING))
        peers = self.peers(trials, trial.number, epoch, mflops)
        if len(peers) < self.min_peers or successive_halving_keeps(val_acc, peers, self.eta):
            return None
        better = sum(p > val_acc for p in peers)
        return (f"rung at epoch {epoch}: val_acc {val_acc:.4f} beaten by {better} of {len(peers)} trials "
                f"at <= {self.tolerance:g}x its MFLOPs (keeps the top 1/{self.eta})")


def make_optuna_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    """Optuna's pruner for single-objective studies. Steps are 0-based epochs, so Hyperband's
    max_resource is the epoch count (with "auto", nothing is pruned before the first trial completes)."""
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=3)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


def optuna_pruner_rule(trial: optuna.Trial, epoch: int, val_acc: float) -> str | None:
    """Report the epoch to Optuna (single-objective studies) and ask its pruner."""
    trial.report(val_acc, step=epoch - 1)
    if trial.should_prune():
        return f"{type(trial.study.pruner).__name__} at epoch {epoch}: val_acc {val_acc:.4f}"
    return None
