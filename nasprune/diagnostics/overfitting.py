"""Overfitting from the per-epoch history a trial already records: the generalization gap at the best epoch
and how it moved after the warm-up.

Train accuracy in the history is measured on augmented batches with dropout active, so it understates how
well the network fits its training images: a gap read from it is a lower bound, and may be negative. In the
first epochs it is also measured while the network still learns fast (it lags the validation accuracy taken
at the epoch's end), so those gaps say nothing about overfitting: the trend leaves them out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scipy.stats import theilslopes

__all__ = ["Generalization", "summarize_history", "OVERFIT_GAP", "GROWING", "WARMUP_SHARE", "TREND_EPOCHS",
           "TREND_CONFIDENCE"]

#: train minus validation accuracy at the best epoch above which a trial is called overfitting
OVERFIT_GAP = 0.05
#: a gap whose trend is above this per epoch, with its confidence interval above 0, is called growing
GROWING = 0.005
#: the share of the epochs (rounded up) left out of the trend: the learning-rate schedules rise over up to 30%
#: of the steps (onecycle's rise, the cap on cosine's warm-up: nasprune.train), the epochs of fastest learning
WARMUP_SHARE = 0.3
#: epochs after the warm-up needed to state a trend at all
TREND_EPOCHS = 4
#: confidence of the interval around the trend
TREND_CONFIDENCE = 0.95


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
    gap_trend: float | None  # Theil-Sen slope of the gap per epoch over epochs trend_from..epochs; None: too few
    val_loss_rise: float | None  # last val loss minus the lowest one, relative to the lowest (0: still falling)
    source: str = "history"  # "history" (per-epoch record of training) or "measured now" (eval mode, no augmentation)
    gaps: tuple[float, ...] = ()  # train - val accuracy at every epoch (empty when measured now)
    trend_from: int | None = None  # first epoch of the trend (the ones before it are the warm-up)
    trend_low: float | None = None  # TREND_CONFIDENCE interval of gap_trend
    trend_high: float | None = None

    @property
    def overfitting(self) -> bool:
        return self.gap > OVERFIT_GAP

    @property
    def trend(self) -> str | None:
        """"grows" or "shrinks" when the trend and its whole confidence interval say so; None when the epochs
        cannot tell (too few of them, or an interval that holds 0)."""
        if self.gap_trend is None or self.trend_low is None or self.trend_high is None:
            return None
        if self.gap_trend > GROWING and self.trend_low > 0:
            return "grows"
        if self.gap_trend < -GROWING and self.trend_high < 0:
            return "shrinks"
        return None

    @property
    def growing(self) -> bool:
        return self.trend == "grows"

    def to_dict(self) -> dict:
        return {**asdict(self), "gaps": list(self.gaps)}

    @classmethod
    def from_dict(cls, data: dict) -> Generalization:
        return cls(**{**data, "gaps": tuple(data.get("gaps") or ())})


def trend_start(epochs: int) -> int:
    """The first epoch of the trend of a history of ``epochs`` epochs (1-based): after the warm-up."""
    return math.ceil(WARMUP_SHARE * epochs) + 1


def _trend(gaps: list[float]) -> dict:
    """Theil-Sen slope of the gaps after the warm-up, with its confidence interval (Sen 1968: robust to the odd
    epoch that least squares would follow); empty when too few epochs remain."""
    start = trend_start(len(gaps))
    ys = gaps[start - 1:]
    if len(ys) < TREND_EPOCHS:
        return {}
    slope, _, low, high = theilslopes(ys, range(start, len(gaps) + 1), TREND_CONFIDENCE)
    return {"gap_trend": round(float(slope), 5), "trend_from": start, "trend_low": round(float(low), 5),
            "trend_high": round(float(high), 5)}


def summarize_history(history: list[dict]) -> Generalization | None:
    """The generalization summary of a per-epoch history (dicts with epoch, train_acc, val_acc, train_loss,
    val_loss, as nasprune.train records them); None for an empty history. The trend is fitted to the epochs
    after the first WARMUP_SHARE of them and needs TREND_EPOCHS there (6 epochs in all): with fewer it is None."""
    if not history:
        return None
    best = max(history, key=lambda h: (h["val_acc"], -h["epoch"]))  # the earliest of equally good epochs
    gaps = [round(h["train_acc"] - h["val_acc"], 4) for h in history]
    losses = [h.get("val_loss") for h in history]
    rise = None
    if all(isinstance(v, (int, float)) for v in losses):
        low = min(losses)
        rise = round((losses[-1] - low) / low, 4) if low > 0 else 0.0
    loss_gap = (best["val_loss"] - best["train_loss"]) if "val_loss" in best and "train_loss" in best else None
    return Generalization(
        epochs=len(history), best_epoch=best["epoch"], train_acc=round(best["train_acc"], 4),
        val_acc=round(best["val_acc"], 4), gap=round(best["train_acc"] - best["val_acc"], 4),
        loss_gap=None if loss_gap is None else round(loss_gap, 4), gap_last=gaps[-1], val_loss_rise=rise,
        gaps=tuple(gaps), **{"gap_trend": None, **_trend(gaps)})
