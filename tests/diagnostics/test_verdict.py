"""The verdict's wording for networks that did not learn at all."""

from nasprune.diagnostics.overfitting import summarize_history
from nasprune.diagnostics.verdict import Diagnosis, findings


def diagnosis(val_acc, num_classes=10):
    history = [{"epoch": e, "train_acc": val_acc, "val_acc": val_acc, "train_loss": 2.3, "val_loss": 2.3}
               for e in (1, 2, 3)]
    return Diagnosis(source="trial 0", arch="plain[1]x[8]", block="plain", norm="none", depth=3, mflops=0.1,
                     val_accuracy=None, generalization=summarize_history(history), num_classes=num_classes)


def test_a_network_at_chance_is_called_so_and_not_healthy():
    found = findings(diagnosis(0.10))
    assert [f.kind for f in found] == ["not-learning"]
    assert "at chance (1/10 = 0.10)" in found[0].message


def test_a_network_that_learned_is_not_at_chance():
    assert [f.kind for f in findings(diagnosis(0.90))] == ["healthy"]
    assert [f.kind for f in findings(diagnosis(0.10, num_classes=None))] == ["healthy"]  # classes unknown
