"""nasprune dashboard serves a study as a user sees it: started as a command, checked over HTTP."""

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request

import optuna
import pytest

from nasprune import ConfigError, SearchConfig, search
from nasprune.cli import build_parser
from nasprune.dashboard import dashboard, study_note
from nasprune.data import DataOptions
from nasprune.record import STAMP_KEY, load_study_data, make_stamp, open_storage, pruned_study

pytest.importorskip("optuna_dashboard")
from optuna_dashboard._note import get_note  # noqa: E402 - after the skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_dashboard_serves_the_study_its_trials_and_their_details(tmp_path, tiny_space):
    search(SearchConfig(space=str(tiny_space), trials=3, results_dir=tmp_path, latency=False))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "nasprune", "dashboard", "--study", "tiny-digits",
                             "--results-dir", str(tmp_path), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                studies = get(f"{base}/api/studies")["study_summaries"]
                break
            except OSError:
                time.sleep(0.5)
        else:
            proc.terminate()
            pytest.fail(f"the dashboard did not answer within a minute: {proc.communicate(timeout=10)[0]}")
        assert [s["study_name"] for s in studies] == ["tiny-digits"]
        detail = get(f"{base}/api/studies/{studies[0]['study_id']}?after=0")
        assert detail["objective_names"] == ["val_accuracy", "MFLOPs"]
        assert "**Searched**" in detail["note"]["body"] and "digits" in detail["note"]["body"]
        complete = [t for t in detail["trials"] if t["state"] == "Complete"]
        assert len(detail["trials"]) == 3 and complete
        for t in complete:
            keys = [a["key"] for a in t["user_attrs"]]
            assert {"arch", "block", "norm", "act", "repeats", "widths", "depth", "mflops", "params",
                    "epochs_trained", "history"} <= set(keys)
            assert keys.index("arch") < keys.index("spec")  # the scannable attributes come first
            assert len(t["intermediate_values"]) == 2  # one per epoch
            assert {a["filename"] for a in t["artifacts"]} == {"spec.json", "weights.pt", "data.json"}
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]  # waits and closes the pipe
    # it said where the study's own page is, logged no request, and SIGTERM ended it cleanly
    assert f"http://127.0.0.1:{port}/dashboard/studies/{studies[0]['study_id']}" in output, output
    assert "GET /" not in output and "Traceback" not in output, output
    assert proc.returncode == 143


def test_the_dashboard_listens_locally_by_default():
    args = build_parser().parse_args(["dashboard", "--study", "s"])
    assert args.host == "127.0.0.1"


def test_without_optuna_dashboard_it_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"pip install -e '.\[dashboard\]'"):
        dashboard("s", results_dir=tmp_path)


def stamped_study(tmp_path, data: str) -> tuple[optuna.Study, optuna.storages.BaseStorage]:
    """An empty study stamped as a search on ``data`` with ``--augment auto`` would stamp it."""
    storage = open_storage(tmp_path / "s" / "study.journal")
    study = optuna.create_study(study_name="s", storage=storage, directions=["maximize", "minimize"])
    study.set_user_attr(STAMP_KEY, make_stamp(space="tiny", space_file="tiny.yaml", space_hash="0", data=data,
                                              objectives="accuracy,mflops", epochs=2, max_mflops=None,
                                              max_params=None, seed=0, options=DataOptions()))
    return study, storage


@pytest.mark.parametrize("data", ["digits", "folder"])
def test_the_note_says_which_augmentation_auto_chose(tmp_path, image_folder, data):
    source = "digits" if data == "digits" else f"imagefolder:{image_folder(per_class=20, size=(12, 12))}"
    study, _ = stamped_study(tmp_path, source)
    note = study_note(study)
    loaded = load_study_data(study)
    chosen = re.search(r"augmentation (.+)$", loaded.describe())[1]  # what the search printed when it started
    assert chosen == "none" if data == "digits" else chosen.startswith("crop (pad 1)")
    assert f"augmentation `{chosen}` ({loaded.augment_note})" in note and "augmentation `auto`" not in note
    assert loaded.augment_note.startswith("auto")  # why auto chose it, as the search's header says


def test_the_note_says_so_when_the_data_is_not_here(tmp_path):
    study, _ = stamped_study(tmp_path, f"imagefolder:{tmp_path / 'gone'}")
    note = study_note(study)
    assert "augmentation `auto` (chosen per data set when training; the data is not on this machine" in note


def test_the_notes_say_stopped_for_pruned_and_why_the_pruned_models_charts_are_empty(tmp_path, monkeypatch):
    study, storage = stamped_study(tmp_path, "digits")
    note = study_note(study)
    assert "labels a trial that was stopped early or rejected over a budget **Pruned**" in note
    assert "nasprune calls it *stopped*" in note
    companion = pruned_study(study, storage, create=True)
    companion.add_trial(optuna.trial.create_trial(values=[0.9, 0.1], user_attrs={"pruned_from": 0}))
    # dashboard() writes both notes before it listens: stop it there
    def refuse(*args, **kwargs):
        raise OSError("busy")

    monkeypatch.setattr(sys.modules["nasprune.dashboard"], "make_server", refuse)
    with pytest.raises(ConfigError, match="cannot listen"):
        dashboard("s", results_dir=tmp_path)
    again = optuna.load_study(study_name="s.pruned", storage=storage)
    body = get_note(again)
    assert body == study_note(again) and "models `nasprune prune` made from trials of study `s`" in body
    assert "hyperparameter importance, slice, contour and parallel-coordinate plots have nothing to draw" in body
    assert "**Pruned**" in body
