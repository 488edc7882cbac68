"""The generalization gap's trend, and the words the verdict says about it: a trend is read after the warm-up,
robustly, with its interval, and a verdict says only what the numbers printed beside it show."""

import pytest

from nasprune.diagnostics import Diagnosis, Generalization, findings, format_diagnosis, summarize_history

# trial 4 of issue 31's default-digits search: the gap shrank from epoch 2 on, and least squares over all
# epochs (the old trend) called it growing, +1.44 points/epoch, pulled up by the first epoch alone
SHRINKING = [-28.5, 3.6, 3.9, 2.2, 1.7, 0.6, 1.4, 1.4, 1.4, 1.4]
# trial 18 of the same search: the gap grew from -0.7 to 3.9 points over the epochs after the warm-up
GROWING = [-4.9, -14.1, -19.2, -0.7, -0.5, 1.3, 3.5, 3.5, 3.8, 3.9]


def history(gaps: list[float], best: int | None = None) -> list[dict]:
    """Epochs whose train accuracy is the validation accuracy plus ``gaps`` (in points); validation accuracy
    rises to its best at epoch ``best`` (default: the last) and stays a little below it after."""
    best = best or len(gaps)
    val = [0.9 - 0.01 * abs(best - e) for e in range(1, len(gaps) + 1)]
    return [{"epoch": e, "train_acc": v + g / 100, "val_acc": v, "train_loss": 0.5, "val_loss": 0.6}
            for e, (v, g) in enumerate(zip(val, gaps, strict=True), 1)]


def verdict(gaps: list[float], best: int | None = None) -> tuple[Generalization, str]:
    g = summarize_history(history(gaps, best))
    d = Diagnosis(source="trial 4", arch="basic[1]x[16]", block="basic", norm="batch", depth=4, mflops=0.1,
                  val_accuracy=0.9, generalization=g, num_classes=10)
    d = Diagnosis.from_dict({**d.to_dict(), "findings": [f.__dict__ for f in findings(d)]})
    return g, format_diagnosis(d)


def test_a_gap_that_shrinks_after_the_warm_up_is_not_called_growing():
    g, text = verdict(SHRINKING, best=6)
    assert g.trend_from == 4 and g.gap_trend < 0 and g.trend is None  # its interval reaches 0: cannot tell
    assert "grow" not in text
    assert "no overfitting (gap 0.6 points at its best epoch, under 5.0 points)\n" in text
    assert "gap per epoch -28.5, 3.6, 3.9, 2.2, 1.7, 0.6, 1.4, 1.4, 1.4, 1.4 points, 0.6 points at the best epoch " \
           "6/10, trend -0.06 points/epoch over epochs 4-10 (95% CI -0.20 to +0.00)" in text


def test_a_gap_that_grows_says_so_with_its_interval_and_epochs():
    g, text = verdict(GROWING)
    assert g.trend == "grows" and g.trend_low > 0
    assert ("no overfitting (gap 3.9 points at its best epoch, under 5.0 points; it grows +0.88 points/epoch over "
            "epochs 4-10 (95% CI +0.15 to +1.40), so longer training may start to overfit)") in text


def test_one_odd_epoch_makes_no_trend():
    flat = [-20.0, 0.0, 2.0, 2.1, 1.9, 2.0, 2.0, 15.0, 2.1, 2.0]
    g, text = verdict(flat)
    assert g.trend is None and abs(g.gap_trend) < 0.001 and "grow" not in text  # least squares: +0.7 points/epoch


def test_too_few_epochs_after_the_warm_up_make_no_trend():
    g, text = verdict([-10.0, 2.0, 4.0, 6.0, 8.0])
    assert g.gap_trend is None and g.trend is None and "grow" not in text
    assert "trend not fitted (fewer than 4 epochs after the first 30%)" in text


def test_a_negative_gap_is_said_as_what_it_is():
    _, text = verdict([-5.9] * 10)
    assert "no overfitting (train accuracy 5.9 points below validation at its best epoch)\n" in text
    assert "under" not in text


def test_an_older_diagnosis_without_the_trend_fields_still_reads_and_prints():
    old = {"epochs": 3, "best_epoch": 2, "train_acc": 0.9, "val_acc": 0.88, "gap": 0.02, "loss_gap": 0.1,
           "gap_last": 0.03, "gap_trend": 0.0144, "val_loss_rise": 0.0, "source": "history"}
    g = Generalization.from_dict(old)
    assert g.trend is None and g.gaps == ()
    d = Diagnosis(source="x", arch="a", block="basic", norm="batch", depth=4, mflops=None, val_accuracy=0.88,
                  generalization=g)
    assert "gap 2.0 points at the best epoch 2/3, trend not fitted" in format_diagnosis(d)
    assert Diagnosis.from_dict(d.to_dict()) == d


@pytest.mark.parametrize("gaps", [SHRINKING, GROWING])
def test_the_trend_round_trips_through_json(gaps):
    g = summarize_history(history(gaps))
    assert Generalization.from_dict(g.to_dict()) == g
