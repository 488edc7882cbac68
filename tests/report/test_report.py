"""nasprune report on a small study with a baseline and a pruned model."""

import base64
import csv
import re

import optuna
import pytest

from nasprune import PruneConfig, ReportConfig, SearchConfig, StudyError, prune, report, search
from nasprune.cli import main
from nasprune.record import open_storage
from nasprune.report import plots
from nasprune.report.collect import collect
from nasprune.report.run import _verdict_cell

SPACE = """\
architecture:
  stem_channels: 8
  block: {choices: [plain, basic]}
  norm: {choices: [batch, none]}
  stages: {count: {low: 1, high: 2}, repeats: {low: 1, high: 3}, channels: {choices: [8, 16]}}
training: {epochs: 2, batch_size: 64, lr: 0.1}
"""
PRESET = "name: mini\narchitecture:\n  block: basic\n  stages: {repeats: [1], channels: [8]}\n"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    (root / "space.yaml").write_text(SPACE)
    (root / "mini.yaml").write_text(PRESET)
    search(SearchConfig(space=str(root / "space.yaml"), trials=6, results_dir=root / "results",
                        latency=False, study="r", baselines=(str(root / "mini.yaml"),)))
    prune(PruneConfig(study="r", results_dir=root / "results", finetune_epochs=1, name="half"))
    result = report(ReportConfig(study="r", results_dir=root / "results"))
    return root, result


def test_every_file_is_written(made):
    _, result = made
    out = result.out
    names = {p.name for p in result.files}
    assert {"report.md", "report.html", "trials.csv", "pareto-mflops.png", "pareto-params.png", "history.png",
            "depth.png", "diagnostics.png", "repeats.png", "width.png", "curves.png", "channels-half.png"} <= names
    assert all((out / name).stat().st_size > 1000 for name in names if name.endswith(".png"))
    assert result.seconds < 30


def test_the_csv_has_one_row_per_trial_with_the_spec(made):
    root, result = made
    study = optuna.load_study(study_name="r", storage=open_storage(root / "results" / "r" / "study.journal"))
    with (result.out / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    searched = [int(r["number"]) for r in rows if r["study"] == "r"]
    assert searched == [t.number for t in study.trials]  # then the pruned model, from the companion r.pruned
    pruned = [r for r in rows if r["study"] != "r"]
    assert [(r["study"], r["number"]) for r in pruned] == [("r.pruned", "0")] and int(pruned[0]["pruned_from"]) in searched
    header = rows[0].keys()
    assert {"spec.arch.block", "spec.arch.norm", "spec.arch.stages", "spec.train.lr", "mflops", "depth",
            "val_accuracy", "outcome"} <= set(header)
    assert any(k.startswith("param.") for k in header)
    complete = [r for r in rows if r["state"] == "complete" and not r["pruned_from"]]
    assert all(r["spec.arch.block"] in ("plain", "basic") and float(r["mflops"]) > 0 for r in complete)
    assert sum(bool(r["baseline"]) for r in rows) == 1 and sum(bool(r["pruned_from"]) for r in rows) == 1


def test_the_html_is_self_contained(made):
    _, result = made
    page = (result.out / "report.html").read_text()
    images = re.findall(r"<img [^>]*src='([^']+)'", page)
    pngs = [p for p in result.files if p.suffix == ".png"]
    assert len(images) == len(pngs) and all(src.startswith("data:image/png;base64,") for src in images)
    assert base64.b64decode(images[0].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in page and "https://" not in page  # nothing to fetch: opens offline


def test_the_markdown_answers_the_questions(made):
    _, result = made
    text = (result.out / "report.md").read_text()
    for heading in ("## What was searched", "## Winners", "## Accuracy against cost", "## Does depth help here?",
                    "## Training curves", "## Pruning", "### Pruned: half"):
        assert heading in text
    assert re.search(r"\| \d+ \| 0\.\d{4} \| 0\.\d{4} \|", text)  # winners with test accuracy
    # where each winner came from, and what the front owes to the exploration (a baseline ran beside the sampler)
    winners = text.split("## Winners")[1].split("\n## ")[0]
    assert "| from | architecture |" in winners and re.search(r"\| (sampled|baseline) \| (plain|basic)\[", winners)
    assert re.search(r"\d of the front's \d networks (was|were) found by the exploration|Every network on the front (is a "
                     r"start candidate or a baseline|was found by the exploration)", winners)
    assert "Spearman" in text or "Too few completed trials" in text
    # depth diagnostics: per block type in words, per trial in a table, against depth in a figure
    assert re.search(r"`(plain|basic)` \(\d+ trials, depth \d+-\d+\): vanishing or exploding gradients in", text)
    assert "| first/last grad | redundant blocks | verdict |" in text and "![diagnostics](diagnostics.png)" in text
    assert "![pareto-mflops](pareto-mflops.png)" in text


def test_command_line(made, capsys):
    root, _ = made
    assert main(["report", "--study", "r", "--results-dir", str(root / "results"), "--no-test",
                 "--out", str(root / "again")]) == 0
    assert "report.html" in capsys.readouterr().out
    assert "| - |" in (root / "again" / "report.md").read_text().split("## Accuracy")[0]  # no test accuracy
    assert main(["report", "--study", "nope", "--results-dir", str(root / "results")]) == 2
    assert "no study 'nope'" in capsys.readouterr().err


def test_a_missing_study_is_an_error(tmp_path):
    with pytest.raises(StudyError, match="no study 'x'"):
        report(ReportConfig(study="x", results_dir=tmp_path))


def diagnostics_rows(text: str) -> list[dict[str, str]]:
    """The report's per-trial diagnostics table, as dicts by column."""
    lines = ("| trial | depth |" + text.split("| trial | depth |", 1)[1]).split("\n\n", 1)[0].splitlines()
    header = [c.strip() for c in lines[0].split("|")[1:-1]]
    return [dict(zip(header, [c.strip() for c in line.split("|")[1:-1]], strict=True)) for line in lines[2:]]


def test_the_diagnostics_table_says_the_gap_in_points_beside_whole_findings(made):
    root, result = made
    text = (result.out / "report.md").read_text()
    assert "overfitting (gap above 5.0 points at the best epoch) in" in text
    study = optuna.load_study(study_name="r", storage=open_storage(root / "results" / "r" / "study.journal"))
    verdicts = {str(r.number): r.diagnosis for r in collect(study) if r.searched}
    rows = diagnostics_rows(text)
    assert rows and all(k in rows[0] for k in ("gap at best epoch (points)", "verdict"))
    for row in rows:
        gap, cell = float(row["gap at best epoch (points)"]), row["verdict"]
        said = re.search(r"(?:gap|train accuracy) (\d+\.\d) points (below validation )?at its best epoch", cell)
        if said:  # the verdict's number is the table's, in the same unit
            assert gap == pytest.approx(float(said[1]) * (-1 if said[2] else 1)), row
        shown, lines = re.sub(r" \(\+\d+ more findings?: nasprune diagnose\)$", "", cell), verdicts[row["trial"]]
        assert any(shown == "; ".join(lines[:k]).replace("|", "/") for k in range(1, len(lines) + 1)), (cell, lines)


def test_a_long_verdict_shows_whole_findings_and_counts_the_rest():
    lines = ["a" * 100 + " first", "b" * 100 + " second", "c" * 100 + " third"]
    assert _verdict_cell(lines) == f"{lines[0]}; {lines[1]} (+1 more finding: nasprune diagnose)"
    assert _verdict_cell(["x" * 400]) == "x" * 400  # the first finding, however long, is never cut
    assert _verdict_cell([]) == "-"


def test_the_history_plot_numbers_trials_with_integers(made, monkeypatch, tmp_path):
    root, _ = made
    study = optuna.load_study(study_name="r", storage=open_storage(root / "results" / "r" / "study.journal"))
    records = [r for r in collect(study) if r.searched and r.val_acc is not None][:2]
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or path)
    plots.history_plot(records, tmp_path / "history.png")
    ax = figures[0].axes[0]
    low, high = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if low <= t <= high]
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks
