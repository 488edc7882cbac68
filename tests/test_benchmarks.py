"""Every benchmark script still imports and parses its options: they run by hand or on the GPU machine, not in
the suite, so a library change that breaks their imports (as moving the diagnostics once broke depth.py) would
otherwise show only on the day someone runs them. The synthetic letters set is cheap enough (Pillow and numpy,
milliseconds an image) to check its layout and determinism here too."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))

PROBE = """
import runpy, sys
sys.path.insert(0, "benchmarks")
failed = []
for name in sys.argv[1:]:
    sys.argv = [name, "--help"]
    try:
        runpy.run_path(f"benchmarks/{name}", run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            failed.append(f"{name}: exit {exc.code}")
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
    else:
        failed.append(f"{name}: --help did not exit")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_benchmark_answers_help():
    assert len(SCRIPTS) >= 10, SCRIPTS
    proc = subprocess.run([sys.executable, "-c", PROBE, *SCRIPTS], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]


def _datasets_module():
    spec = importlib.util.spec_from_file_location("benchmarks_datasets", ROOT / "benchmarks" / "datasets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_letters_layout_and_determinism(tmp_path, monkeypatch):
    datasets = _datasets_module()
    monkeypatch.setattr(sys, "argv", ["datasets.py", "--letters", "--train-per-class", "2", "--test-per-class", "1",
                                      "--out", str(tmp_path / "a")])
    datasets.main()
    root = tmp_path / "a" / "letters"
    for split, count in (("train", 2), ("test", 1)):
        assert sorted(d.name for d in (root / split).iterdir()) == sorted(datasets.LETTERS)
        files = sorted((root / split).rglob("*.png"))
        assert len(files) == 12 * count
        with Image.open(files[0]) as im:
            assert (im.mode, im.size) == ("RGB", (48, 32))
    fonts = datasets.make_letters(tmp_path / "b", train_per_class=1, test_per_class=1)
    assert fonts["train"] and fonts["test"] and not {f.name for f in fonts["train"]} & {f.name for f in fonts["test"]}
    # image i depends only on (seed, split, class, i): a smaller count makes the same first images
    assert (tmp_path / "b/letters/train/q/0000.png").read_bytes() == (root / "train/q/0000.png").read_bytes()


def test_letters_without_fonts_says_where_it_looked(tmp_path):
    with pytest.raises(SystemExit, match="at least 2 TrueType fonts.*pass --fonts DIR"):
        _datasets_module().letter_fonts(tmp_path)


def _search_quality_module():
    path = ROOT / "benchmarks" / "search_quality.py"
    spec = importlib.util.spec_from_file_location("benchmarks_search_quality", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_table_says_whether_the_search_beat_the_start_candidates_alone():
    verdict = _search_quality_module().control_verdict

    def run(method, seed, *front):
        return {"method": method, "seed": seed, "front": [{"test_accuracy": a, "mflops": m} for a, m in front]}

    narrow, wide = (0.66, 3.0), (0.69, 14.0)
    control = [run("e", seed, narrow, wide) for seed in (0, 1, 2)]
    # a cheaper network of the same accuracy adds to the front: ahead at every seed, as accurate
    ahead = [run("a", seed, (0.66, 1.0), wide) for seed in (0, 1, 2)]
    text = verdict(ahead + control, ref=41.0)
    assert text.endswith("the exploration beat the start candidates alone")
    assert "ahead at 3 of 3 seeds run by both" in text
    # ahead at one seed of three, level at the others: the medians decide, and a tie is no win
    mixed = [ahead[0], *(run("a", seed, narrow, wide) for seed in (1, 2))]
    text = verdict(mixed + control, ref=41.0)
    assert "ahead at 1 of 3" in text and text.endswith("did not beat the start candidates alone here (no more "
                                                       "hypervolume)")
    # more hypervolume but less accurate: not a win either
    cheap = [run("a", seed, (0.66, 1.0), (0.68, 14.0)) for seed in (0, 1, 2)]
    assert verdict(cheap + control, ref=41.0).endswith("did not beat the start candidates alone here (less accurate)")
    assert verdict(ahead, ref=41.0) is None  # no control run: nothing to say


def test_the_table_says_what_the_exploration_added_to_the_front_and_what_it_cost_the_start_candidates():
    account = _search_quality_module().exploration_account

    def run(method, *front):
        return {"method": method, "seed": 0, "front": [{"test_accuracy": a, "mflops": m, "origin": o}
                                                       for a, m, o in front]}

    # reference point: accuracy 0.1, 100 MFLOPs (ref=50); the box is 0.9 x 100
    control = run("e", (0.7, 50.0, None))  # (e)'s rows name no origin: all its networks are start candidates
    search = run("a", (0.55, 10.0, "sampled"), (0.6, 50.0, "start"))
    text = account([search, control], ref=50.0)
    # the sampled network adds (0.55 - 0.1) x (50 - 10) = 18 of the box's 90: 20 points; the start candidate alone
    # has 0.5 x 50 / 90 = 0.2778 against (e)'s 0.6 x 50 / 90 = 0.3333
    assert "add +20.00 points" in text
    assert "0.2778 in (a) against 0.3333 in (e)" in text and text.endswith("-5.56 points")
    assert account([search], ref=50.0) is None  # no control run
    unsaid = {**search, "front": [{**p, "origin": None} for p in search["front"]]}
    assert account([unsaid, control], ref=50.0) is None  # rows that do not say where their networks came from


def test_rows_written_before_they_named_origins_take_them_from_the_kept_study(tmp_path):
    with_origins = _search_quality_module().with_origins
    kept = tmp_path / "cifar-c16-a-0" / "bench"
    kept.mkdir(parents=True)
    winners = [{"arch": "wide", "mflops": 8.5, "origin": "start"}, {"arch": "tiny", "mflops": 0.5, "origin": "sampled"}]
    (kept / "summary.json").write_text(json.dumps({"winners": winners}))
    front = [{"arch": "tiny", "mflops": 0.5, "test_accuracy": 0.4}, {"arch": "wide", "mflops": 8.5, "test_accuracy": 0.6}]
    row = {"set": "cifar-c16", "method": "a", "seed": 0, "front": front}
    other = {**row, "seed": 1}  # no study kept for it: left as it is
    filled, unfilled = with_origins([row, other], tmp_path)
    assert [p["origin"] for p in filled["front"]] == ["sampled", "start"]
    assert unfilled == other
