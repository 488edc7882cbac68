"""nasprune diagnose: the verdict, its JSON, and the diagnostics every search trial records."""

import json

import optuna
import pytest

from nasprune import DiagnoseConfig, SearchConfig, diagnose, search
from nasprune.cli import main
from nasprune.diagnostics import Diagnosis, GradientSummary, findings, read_diagnosis, summarize_history
from nasprune.diagnostics.redundancy import BlockProbe, Redundancy, RunProbe
from nasprune.record import open_storage

SPACE = """\
architecture:
  stem_channels: 16
  block: {choices: [basic, plain]}
  stages: {count: 2, repeats: {low: 1, high: 2}, channels: [16, 32]}
training: {epochs: 2, batch_size: 64, lr: 0.1}
"""


def grads(first: float, last: float = 1.0) -> GradientSummary:
    return GradientSummary(steps=[0, 9], total_steps=10, groups={"stem": [first, first], "head": [last, last]},
                           first_layer="stem.0.conv.weight", last_layer="head.fc.weight", first=[first, first],
                           last=[last, last])


def diagnosis(**kw) -> Diagnosis:
    base = {"source": "trial 1", "arch": "plain[18,18,18]x[16,32,64]", "block": "plain", "norm": "batch",
            "depth": 56, "mflops": 125.0, "val_accuracy": 0.8}
    return Diagnosis(**{**base, **kw})


def test_verdicts_name_the_cause_and_the_remedy():
    exploding = findings(diagnosis(gradients=grads(1.2e3)))
    assert [f.kind for f in exploding] == ["exploding"]
    assert "first/last gradient ratio 1.2e+03" in exploding[0].message and "residual connections" in exploding[0].message
    vanishing = findings(diagnosis(norm="none", gradients=grads(1e-4)))
    assert vanishing[0].kind == "vanishing"
    assert "this plain network would need residual connections or normalization" in vanishing[0].message
    history = [{"epoch": e, "train_acc": 0.6 + 0.1 * e, "val_acc": 0.6 + 0.02 * e, "train_loss": 1.0 / e,
                "val_loss": 0.8 + 0.05 * e} for e in range(1, 5)]
    overfit = findings(diagnosis(generalization=summarize_history(history)))
    assert overfit[0].kind == "overfitting" and "best epoch 4 of 4" in overfit[0].message
    healthy = findings(diagnosis(block="basic", gradients=grads(0.3)))
    assert [f.kind for f in healthy] == ["healthy"] and "0.3" in healthy[0].message


def test_a_redundant_run_is_named_with_its_cost_and_savings():
    blocks = [BlockProbe(3, j, f"stages.2.blocks.{j - 1}", 0.97, 1.0, 64, 0, 5.0, True) for j in (4, 5, 6)]
    run = RunProbe(3, 4, 6, 0.97, 0.99, 15.0, True, val_drop=0.002)
    message = findings(diagnosis(block="basic", redundancy=Redundancy(256, 83.0, blocks, [run])))[0].message
    assert message.startswith("stage 3, blocks 4-6: output ~ input (CKA 0.97")
    assert "costs 0.2 points of validation accuracy" in message and "saves 18% of MFLOPs" in message
    assert "nasprune prune --blocks" in message


def test_summarize_history_reads_the_best_epoch_and_the_trend():
    history = [{"epoch": 1, "train_acc": 0.5, "val_acc": 0.5, "train_loss": 1, "val_loss": 1},
               {"epoch": 2, "train_acc": 0.9, "val_acc": 0.8, "train_loss": 0.5, "val_loss": 0.6},
               {"epoch": 3, "train_acc": 0.99, "val_acc": 0.79, "train_loss": 0.1, "val_loss": 0.9}]
    g = summarize_history(history)
    assert (g.best_epoch, g.gap, g.gap_last) == (2, pytest.approx(0.1), pytest.approx(0.2))
    assert g.val_loss_rise == pytest.approx(0.5) and g.overfitting
    assert g.gaps == pytest.approx((0.0, 0.1, 0.2)) and g.gap_trend is None  # 3 epochs: too few for a trend
    assert summarize_history([]) is None


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("diagnose")
    (root / "space.yaml").write_text(SPACE)
    search(SearchConfig(space=str(root / "space.yaml"), trials=2, results_dir=root / "results",
                        latency=False, study="d", device="cpu"))
    return root


def trials(root):
    return optuna.load_study(study_name="d", storage=open_storage(root / "results" / "d" / "study.journal")).trials


def test_every_trial_records_its_diagnostics(study):
    for t in trials(study):
        a = t.user_attrs
        assert a["gradients"]["steps"] and a["gradients"]["ratio"] > 0 and "diagnostics_error" not in a
        assert len(a["redundancy"]["blocks"]) == sum(a["repeats"]) and a["diagnosis"]


def test_diagnose_a_trial_prints_a_verdict_and_its_json_round_trips(study, capsys):
    number = trials(study)[0].number
    code = main(["diagnose", "--study", "d", "--trial", str(number), "--results-dir", str(study / "results"),
                 "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 0 and f"trial {number} of study 'd'" in printed and "numbers: gap" in printed
    path = study / "results" / "d" / "diagnose" / f"trial{number}.json"
    data = json.loads(path.read_text())
    assert data["gradients"]["source"] == "training" and data["redundancy"]["blocks"] and data["verdict"]
    again = read_diagnosis(path)
    assert again == Diagnosis.from_dict(json.loads(json.dumps(again.to_dict())))
    assert again.to_dict() == data


def test_diagnose_a_saved_model_measures_gradients_now(study, tmp_path):
    checkpoint = trials(study)[0].user_attrs["checkpoint"]
    result = diagnose(DiagnoseConfig(model=checkpoint, data="digits", out=tmp_path / "d.json", device="cpu"))
    d = result.diagnosis
    assert d.gradients.source == "trained weights" and d.gradients_init.source == "initialization"
    assert d.generalization.source == "measured now" and d.redundancy is not None and d.findings
    assert read_diagnosis(tmp_path / "d.json") == d


def test_diagnose_errors_are_one_line(study, capsys):
    assert main(["diagnose", "--model", "x"]) == 2
    assert "x: no such folder" in capsys.readouterr().err
    assert main(["diagnose", "--study", "d", "--trial", "99", "--results-dir", str(study / "results")]) == 2
    assert "cannot diagnose trial 99 of study 'd': no such trial" in capsys.readouterr().err
