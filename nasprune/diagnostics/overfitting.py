"""Overfitting from the per-epoch history a trial already records: the generalization gap at the best epoch
and how it moved.

Train accuracy in the history is measured on augmented batches with dropout active, so it understates how
well the network fits its training images: a gap read from it is a lower bound, and may be negative.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Generalization", "summarize_history", "OVERFIT_GAP", "GROWING"]

#: train minus validation accuracy at the best epoch above which a trial is called overfitting
OVERFIT_GAP = 0.05
#: a gap that grows by more than this per epoch (least-squares slope) is called growing
GROWING = 0.005


@dataclass(frozen=True)
class Generalization:
    """The gap between training and validation, read from a history of epochs (or measured once, now)."""

    epochs: int  # epochs in the history (1 when measured now)
    best_epoch: int  # epoch of the highest validation accuracy (1-based)
    train_acc: float  # at the best epoch
    val_acc: float
    gap: float  # train - val accuracy at the best epoch
    loss_gap: float | None  # val - train loss at the best epoch
    gap_last: float  # train - val accuracy at the last epoch
    gap_trend: float  # least-squares slope of the accuracy gap, per epoch (0 with one epoch)
    val_loss_rise: float | None  # last val loss minus the lowest one, relative to the lowest (0: still falling)
    source: str = "history"  # "history" (per-epoch record of training) or "measured now" (eval mode, no augmentation)

    @property
    def overfitting(self) -> bool:
        return self.gap > OVERFIT_GAP

    @property
    def growing(self) -> bool:
        return self.gap_trend > GROWING

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Generalization:
        return cls(**data)


def _slope(ys: list[float]) -> float:
    n = len(ys)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(ys) / n
    num = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(ys))
    return num / sum((i - mean_x) ** 2 for i in range(n))


def summarize_history(history: list[dict]) -> Generalization | None:
    """The generalization summary of a per-epoch history (dicts with epoch, train_acc, val_acc, train_loss,
    val_loss, as nasprune.train records them); None for an empty history."""
    if not history:
        return None
    best = max(history, key=lambda h: (h["val_acc"], -h["epoch"]))  # the earliest of equally good epochs
    gaps = [h["train_acc"] - h["val_acc"] for h in history]
    losses = [h.get("val_loss") for h in history]
    rise = None
    if all(isinstance(v, (int, float)) for v in losses):
        low = min(losses)
        rise = round((losses[-1] - low) / low, 4) if low > 0 else 0.0
    loss_gap = (best["val_loss"] - best["train_loss"]) if "val_loss" in best and "train_loss" in best else None
    return Generalization(
        epochs=len(history), best_epoch=best["epoch"], train_acc=round(best["train_acc"], 4),
        val_acc=round(best["val_acc"], 4), gap=round(best["train_acc"] - best["val_acc"], 4),
        loss_gap=None if loss_gap is None else round(loss_gap, 4), gap_last=round(gaps[-1], 4),
        gap_trend=round(_slope(gaps), 5), val_loss_rise=rise)
