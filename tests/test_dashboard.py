"""nasprune dashboard serves a study as a user sees it: started as a command, checked over HTTP."""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from nasprune import ConfigError, SearchConfig, search
from nasprune.cli import build_parser
from nasprune.dashboard import dashboard

pytest.importorskip("optuna_dashboard")


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
