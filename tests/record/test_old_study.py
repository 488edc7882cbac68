"""A study written before the study record had an owner (nasprune 4c3e332-era layout, outcome 'pruned' for a
trial stopped over budget, relative checkpoint paths) still opens, reports and prunes, and reads in today's words.

The fixture was made with that commit: ``nasprune search --space tiny.yaml --trials 5 --study old
--results-dir results --no-latency --max-params 6000 --seed 3`` (its artifact store left out to keep it small)."""

import shutil
from pathlib import Path

import pytest
from optuna.trial import TrialState

from nasprune import PruneConfig, ReportConfig, prune, report
from nasprune.record import counts_by_outcome, open_existing, outcome_of, pareto_winners, reason_of

FIXTURE = Path(__file__).parent / "old-study"


@pytest.fixture
def old(tmp_path, monkeypatch):
    shutil.copytree(FIXTURE, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)  # its checkpoints are recorded relative to where its search ran
    return tmp_path


def test_an_old_study_reads_in_todays_words(old):
    study, _ = open_existing("old", None, Path("results"))
    stopped = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert len(stopped) == 1 and stopped[0].user_attrs["outcome"] == "pruned"  # as it was written
    assert outcome_of(stopped[0]) == "stopped" and reason_of(stopped[0]).startswith("over budget")
    counts = counts_by_outcome(study)
    assert (counts["complete"], counts["stopped"], counts["failed"], counts["finished"]) == (4, 1, 0, 5)
    assert [t.number for t in pareto_winners(study)] == [2, 1, 3]


def test_an_old_study_reports_and_prunes(old):
    result = report(ReportConfig(study="old", device="cpu"))
    text = (result.out / "report.md").read_text()
    assert "Trials: 4 complete, 1 stopped, 0 failed" in text and "| 2 |" in text
    pruned = prune(PruneConfig(study="old", finetune_epochs=1, device="cpu", name="half"))
    assert pruned.out == Path("results/old/pruned/half") and pruned.linked_trial == 0  # first of old.pruned
    assert pruned.after["mflops"] < pruned.before["mflops"]
