"""nasprune export end to end, as a user runs it: a study's winner from the command line (files, checks, latency,
dashboard artifacts, a second run), and bad input refused in one line with nothing left behind."""

import json
import re
import sys

import pytest
import torch

import nasprune
from nasprune import (
    ArchSpec,
    ConfigError,
    ExportConfig,
    ExportError,
    StageSpec,
    TrialSpec,
    build_model,
    export,
    save_model,
)
from nasprune.cli import main
from nasprune.record import open_existing, pareto_winners

pytest.importorskip("onnxruntime", reason="the export extra: pip install -e '.[export]'")

ARCH = ArchSpec(1, 10, (StageSpec(1, 8, 1), StageSpec(1, 16, 2)), stem_channels=8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, digits):
    """A saved (untrained) digits model with its data record."""
    torch.manual_seed(0)
    return save_model(tmp_path_factory.mktemp("saved") / "model", TrialSpec(ARCH), build_model(ARCH).eval(),
                      data=digits.record())


def leftovers(parent):
    """Anything export may have left half-written beside its output (temporary folders start with a dot)."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_export_a_study_winner_from_the_command_line(study, capsys):
    argv = ["export", "--study", "s", "--results-dir", str(study), "--compare-images", "100"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "top-1 agreement" in out and "100.00%" in out and "ONNX Runtime" in out and "batch 32" in out
    loaded, _ = open_existing("s", None, study)
    winner = pareto_winners(loaded)[0]
    folder = study / "s" / "export" / f"trial{winner.number}"
    names = ["model.onnx", "model.torchscript.pt", "model.py", "model_weights.pt", "export.json"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    summary = json.loads((folder / "export.json").read_text())
    assert summary["source"]["trial"] == winner.number and summary["formats"]["onnx"]["opset"] >= 17
    assert summary["compared_on"] == "100 validation images of digits"
    assert all(c["top1_agreement"] == 1.0 and c["max_abs_diff"] <= 1e-3 for c in summary["checks"].values())
    latency = summary["latency"]
    assert latency["threads"] == 1 and set(latency["ms"]) == {"pytorch", "torchscript", "onnxruntime"}
    assert all(set(by) == {"b1", "b32"} and by["b32"]["threads"] == 1 for by in latency["ms"].values())
    # the dashboard lists the files as the trial's artifacts; a second export replaces them
    assert main(argv + ["--no-latency", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    listed = [a["filename"] for a in dashboard_artifacts(loaded, winner)]
    assert sorted(n for n in listed if n in names) == sorted(names) and "weights.pt" in listed  # beside the search's
    assert leftovers(folder.parent) == []


def dashboard_artifacts(study, trial):
    listing = pytest.importorskip("optuna_dashboard.artifact._backend").list_trial_artifacts
    storage = study._storage
    return listing(storage.get_study_system_attrs(study._study_id), storage.get_trial_system_attrs(trial._trial_id),
                   trial)


def test_json_and_the_public_api(folder, capsys):
    assert main(["export", str(folder), "--format", "python,onnx", "--no-latency", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert list(summary["files"]) == ["onnx", "python"] and summary["latency"] is None
    assert nasprune.export is export and nasprune.ExportConfig is ExportConfig


@pytest.mark.parametrize("case, message", [
    ("format", "unknown export format 'tflite'; valid: onnx, torchscript, python"),
    ("nothing", "say which model to export: a saved model folder DIR, or --study NAME"),
    ("both", "say which model to export"),
    ("missing", "no such folder"),
    ("no-spec", "not a saved model (no spec.json)"),
    ("corrupt", "not a readable weights file, corrupt or truncated"),
    ("no-data", "records neither its data nor its input shape; pass --data NAME[:PATH]"),
    ("not-an-export", "exists and is not an earlier export (no export.json); choose another --out"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, message, folder, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    argv = {"format": [str(folder), "--format", "onnx,tflite"], "nothing": [], "both": [str(folder), "--study", "s"],
            "missing": [str(tmp_path / "nowhere")], "no-spec": [str(bad)], "corrupt": [str(bad)],
            "no-data": [str(bad)], "not-an-export": [str(folder), "--out", str(bad)]}[case]
    if case in ("corrupt", "no-data"):
        save_model(bad, TrialSpec(ARCH), build_model(ARCH))
    if case == "corrupt":
        (bad / "weights.pt").write_bytes((bad / "weights.pt").read_bytes()[:2000])  # truncated
    before = sorted(p.name for p in bad.iterdir())
    assert main(["export", *argv, "--no-latency"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert sorted(p.name for p in bad.iterdir()) == before  # nothing written, nothing half-written


def test_without_onnxruntime_onnx_is_a_one_line_error_and_the_rest_still_exports(folder, tmp_path, monkeypatch,
                                                                                 capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    assert main(["export", str(folder), "--format", "onnx", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "ONNX export needs onnxruntime, not installed here: pip install -e '.[export]'" in err
    assert err.count("\n") == 1 and not (tmp_path / "x").exists()
    result = export(ExportConfig(model=folder, formats="torchscript,python", out=tmp_path / "y"))
    assert set(result.summary["latency"]["ms"]) == {"pytorch", "torchscript"}


def test_a_mismatch_is_an_error_and_an_earlier_export_stays(folder, tmp_path, monkeypatch):
    out = tmp_path / "out"
    export(ExportConfig(model=folder, formats="torchscript", out=out, latency=False))
    first = (out / "export.json").read_text()
    module = sys.modules["nasprune.export.run"]  # nasprune.export names the function
    original = module.write_torchscript

    def off_by_a_bit(*args):
        written = original(*args)
        run = written.run
        written.run = lambda x: run(x) + 0.01
        return written

    monkeypatch.setattr(module, "write_torchscript", off_by_a_bit)
    with pytest.raises(ExportError, match=r"the torchscript export differs from PyTorch by up to 0.01 in a logit "
                                          r"\(tolerance 0.001"):
        export(ExportConfig(model=folder, formats="torchscript", out=out, latency=False))
    assert (out / "export.json").read_text() == first and leftovers(tmp_path) == []
    with pytest.raises(ExportError):  # folders made for the output go again too
        export(ExportConfig(model=folder, formats="torchscript", out=tmp_path / "new" / "deeper" / "out"))
    assert not (tmp_path / "new").exists()


def test_the_dynamo_exporter_agrees_too(folder, tmp_path):
    pytest.importorskip("onnxscript")
    summary = export(ExportConfig(model=folder, formats="onnx", onnx_exporter="dynamo", out=tmp_path / "d",
                                  latency=False)).summary
    assert summary["formats"]["onnx"]["exporter"] == "dynamo" and summary["formats"]["onnx"]["opset"] >= 18
    assert summary["checks"]["onnx"]["top1_agreement"] == 1.0


def test_config_errors_name_the_option():
    with pytest.raises(ConfigError, match="--trial chooses from a study"):
        ExportConfig(model="x", trial=3)
    with pytest.raises(ConfigError, match="--tolerance must be > 0"):
        ExportConfig(model="x", tolerance=0)


def test_prune_and_report_put_onnx_runtime_beside_pytorch(study, capsys):
    assert main(["prune", "--study", "s", "--results-dir", str(study), "--finetune-epochs", "0", "--no-record"]) == 0
    table = capsys.readouterr().out
    for label in ("latency CPU batch 1, 1 thread", "latency ONNX Runtime CPU batch 1, 1 thread",
                  "latency CPU batch 32, 1 thread", "latency ONNX Runtime CPU batch 32, 1 thread"):
        assert label in table
    summary = json.loads(next((study / "s" / "pruned").glob("*/summary.json")).read_text())
    assert {"cpu_b1", "cpu_b32", "ort_b1", "ort_b32"} <= set(summary["after"]["latency_ms"])
    assert summary["after"]["latency"]["ort_b32"]["threads"] == 1
    result = nasprune.report(nasprune.ReportConfig(study="s", results_dir=study, test=False))
    text = (result.out / "report.md").read_text()
    assert "| PyTorch ms b1 / b32 | ORT ms b1 / b32 |" in text and "median ms on the CPU with 1 thread" in text
    first_winner = text[text.index("| PyTorch ms b1 / b32"):].splitlines()[2]
    assert len(re.findall(r"\| \d+\.\d{3} / \d+\.\d{2} ", first_winner)) == 2, first_winner
