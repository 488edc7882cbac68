"""The command line's contract with a user who gets something wrong: every subcommand, given a study that does
not exist, a path that does not exist, a model paired with data of another shape, an out-of-range number or a
folder of broken images, exits non-zero with a line or two on stderr, no traceback, and leaves every file it did
not mean to write as it was. A signal ends a run with 130 or 143 even when nobody reads its output any more."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nasprune import SearchConfig, search
from nasprune.cli import main

SPACE = """\
name: tiny
architecture:
  stem_channels: 8
  block: {choices: [plain, basic]}
  stages: {count: 1, repeats: 1, channels: 8}
  norm: batch
training: {epochs: 1, batch_size: 64, lr: 0.05}
"""


def images(root: Path, mode: str = "RGB", size: tuple[int, int] = (12, 10), broken: int = 0) -> Path:
    """root/<class>/*.png, three classes of six images; ``broken`` files that are not images."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(("cat", "dog", "fox")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(6):
            pixels = np.clip(rng.normal(40 + 80 * c, 5, (*size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).convert(mode).save(root / name / f"{i}.png")
    for i in range(broken):
        (root / "cat" / f"broken{i}.png").write_bytes(b"not an image")
    return root


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A study on digits (1x8x8, 10 classes), one of its saved models, a colour folder of another shape and a
    folder with broken images."""
    root = tmp_path_factory.mktemp("contract")
    (root / "space.yaml").write_text(SPACE)
    result = search(SearchConfig(space=str(root / "space.yaml"), trials=2, results_dir=root / "results",
                                 study="s", latency=False))
    return {"root": root, "results": str(root / "results"), "model": result.best["checkpoint"],
            "colour": str(images(root / "colour")), "broken": str(images(root / "broken", broken=2))}


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


CASES = {
    # a study that does not exist: named, with the studies there and the nearest name where one is close
    **{f"{command}-misspelled-study": ([command, "--study", "ss", "--results-dir", "{results}"],
                                       "no study 'ss': {results}/ss/study.journal does not exist (studies in "
                                       "{results}: s); run nasprune search --study ss first, or pass --storage / "
                                       "--results-dir; did you mean 's'?")
       for command in ("prune", "diagnose", "report", "export", "dashboard")},
    "report-no-study": (["report", "--study", "nope", "--results-dir", "{results}"], "no study 'nope'"),
    "storage-misspelled-study": (["report", "--study", "ss", "--storage", "{results}/s/study.journal"],
                                 "(studies there: s); did you mean 's'?"),
    "studies-no-folder": (["studies", "--results-dir", "{root}/nowhere"], "no results folder"),
    # a path that does not exist
    "eval-no-folder": (["eval", "{root}/nowhere"], "no such folder"),
    "prune-no-folder": (["prune", "--model", "{root}/nowhere"], "no such folder"),
    "diagnose-no-folder": (["diagnose", "--model", "{root}/nowhere"], "no such folder"),
    "search-no-data": (["search", "--data", "imagefolder:{root}/nowhere", "--results-dir", "{results}"],
                       "nowhere"),
    "show-no-space": (["show", "{root}/nowhere.yaml"], "no such search-space file"),
    # a model meets data of another shape: both shapes named, and the fix
    "eval-shape": (["eval", "{model}", "--data", "imagefolder:{colour}"], "takes 1x8x8 images in 10 classes"),
    "prune-shape": (["prune", "--model", "{model}", "--data", "imagefolder:{colour}"], "has 3x12x10 images"),
    "diagnose-shape": (["diagnose", "--model", "{model}", "--data", "imagefolder:{colour}"], "in 3 classes"),
    # numbers out of range, named as the flag a user typed
    "search-trials": (["search", "--trials", "-1", "--results-dir", "{results}"], "--trials must be >= 1"),
    "search-fraction": (["search", "--val-fraction", "2", "--results-dir", "{results}"], "--val-fraction must be"),
    "search-threads": (["search", "--latency-threads", "0", "--results-dir", "{results}"], "--latency-threads"),
    "eval-fraction": (["eval", "{model}", "--test-fraction", "0"], "--test-fraction must be between 0 and 1"),
    "prune-target": (["prune", "--study", "s", "--results-dir", "{results}", "--target-mflops", "5"],
                     "--target-mflops must be between 0 and 1"),
    "report-top": (["report", "--study", "s", "--results-dir", "{results}", "--top", "0"], "--top must be >= 1"),
    "dashboard-port": (["dashboard", "--study", "s", "--results-dir", "{results}", "--port", "70000"],
                       "--port must be between 1 and 65535"),
    "show-input": (["show", "default", "--input", "3x0x32"], "must be CxHxW"),
    # a study's trials are judged on the study's split: options for another one are refused, not ignored
    "prune-study-seed": (["prune", "--study", "s", "--results-dir", "{results}", "--seed", "3"],
                         "apply to a saved model"),
    # broken images: named, with the option that skips them
    "search-broken": (["search", "--data", "imagefolder:{broken}", "--results-dir", "{results}"],
                      "--skip-broken-images"),
    "eval-broken": (["eval", "{model}", "--data", "imagefolder:{broken}"], "--skip-broken-images"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_mistake_is_a_short_error_that_changes_nothing(world, case, capsys):
    argv, words = CASES[case]
    argv, words = [a.format(**world) for a in argv], words.format(**world)
    before = snapshot(world["root"])
    code = main(argv)
    out, err = capsys.readouterr()
    assert code != 0, (case, out)
    assert words in err and "Traceback" not in err + out, err
    assert 1 <= len(err.strip().splitlines()) <= 2, err
    assert snapshot(world["root"]) == before, "a failed command changed files it did not mean to write"


def test_a_skipped_broken_image_is_counted_and_listed(world, tmp_path, capsys):
    code = main(["search", "--data", f"imagefolder:{world['broken']}", "--skip-broken-images", "--trials", "1",
                 "--epochs", "1", "--results-dir", str(tmp_path), "--space", str(world["root"] / "space.yaml"),
                 "--no-latency"])
    out = capsys.readouterr().out
    assert code == 0 and "2 broken files left out" in out
    summary = (tmp_path / "tiny-imagefolder" / "summary.json").read_text()
    assert "broken0.png" in summary and "broken1.png" in summary


@pytest.mark.parametrize("signum, code, stderr_closed", [(signal.SIGINT, 130, False), (signal.SIGTERM, 143, True)])
def test_a_signal_ends_a_run_whose_output_nobody_reads(world, tmp_path, signum, code, stderr_closed):
    """``nasprune search ... | tee log`` and Ctrl-C: tee is gone before nasprune writes its last lines."""
    cmd = [sys.executable, "-m", "nasprune", "search", "--space", str(world["root"] / "space.yaml"), "--trials",
           "50", "--epochs", "3", "--results-dir", str(tmp_path), "--no-latency"]
    err_file = tmp_path / "stderr.txt"
    with err_file.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT if stderr_closed else err)
        try:
            for line in proc.stdout:  # read until the first finished trial, then hang up like tee
                if line.startswith(b"trial"):
                    break
            proc.stdout.close()
            time.sleep(0.5)
            proc.send_signal(signum)
            assert proc.wait(timeout=60) == code
        finally:
            if proc.poll() is None:
                proc.kill()
    text = err_file.read_text()
    assert "Traceback" not in text and "BrokenPipeError" not in text, text
    if not stderr_closed:  # the hint went to stderr, which still had a reader
        assert "run the same command to resume" in text, text
    journal = tmp_path / "tiny-digits" / "study.journal"
    assert journal.is_file() and journal.stat().st_size > 0  # finished trials stayed
