"""The command line as a user meets it."""

import json
import re
import shutil
import subprocess

import pytest

from nasprune.cli import build_parser, main
from nasprune.search.budget import EXPLORE_SHARE


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_explains_every_option(capsys):
    parser = build_parser()
    search = parser._subparsers._group_actions[0].choices["search"]
    for action in search._actions:
        assert action.help, f"--help says nothing about {action.option_strings}"
    code = main(["search", "--help"])
    out = capsys.readouterr().out
    assert code == 0
    assert "resumes the study" in out and "multiply-adds" in out and "--max-mflops" in out
    # the parser imports nothing heavy, so its help states the share as a number: it must be budget's
    assert f"sampled for its first {EXPLORE_SHARE:.0%}," in " ".join(out.split())


@pytest.mark.parametrize("name, params, mflops", [("resnet20", 269_722, 40.93), ("resnet56", 853_018, 126.55),
                                                  ("resnet18", 11_689_512, 1819.04), ("resnet50", 25_557_032, 4111.41)])
def test_show_prints_params_and_mflops_of_each_preset(capsys, name, params, mflops):
    shape = "3x224x224" if name in ("resnet18", "resnet50") else "3x32x32"
    code, out, _ = run(capsys, "show", f"search_spaces/presets/{name}.yaml", "--input", shape, "--json")
    info = json.loads(out)
    assert code == 0 and info["params"] == params and info["mflops"] == pytest.approx(mflops, abs=0.01)


def test_show_of_a_search_space_lists_its_parameters(capsys):
    code, out, _ = run(capsys, "show", "default", "--samples", "2")
    assert code == 0
    assert "s2_repeats" in out and "lr" in out
    first, random = out.split("tried first (start_with):")[1].split("random candidates")
    assert first.count("MFLOPs  ") == 2 and "basic[1,1,1]x[16,32,64] cifar/16 k3 batch relu" in first
    assert "plain[1,1,1]x[64,64,64] cifar/32 k3 batch relu down=maxpool" in first  # the wide one, at 8x8's widths
    assert "stages up to 64-64-64 channels" in out
    assert random.count("MFLOPs  ") == 2


def test_show_of_the_default_for_an_input_shows_what_it_becomes(capsys):
    code, out, _ = run(capsys, "show", "default", "--input", "3x64x64", "--samples", "0")
    assert code == 0 and "fitted to 3x64x64 inputs" in out
    assert "stem           one of mobilenet, imagenet" in out


@pytest.mark.parametrize("argv, message", [
    (["show", "nope.yaml"], "nasprune: error: nope.yaml: no such search-space file"),
    (["show", "resnet20", "--input", "32x32"], "input shape '32x32' must be CxHxW"),
    (["search", "--trials", "0"], "trials must be >= 1"),
    (["search", "--objectives", "accuracy,mflops", "--pruner", "hyperband"], "needs a single objective"),
    (["search", "--study", "../escape"], "must be letters, digits"),
    (["search", "--max-params", "lots"], "expected a count such as 250000, 250k or 1.5M"),
    (["search", "--frobnicate"], "unrecognized arguments: --frobnicate (see nasprune --help)"),
    (["search", "--data", "mnist2"], "unknown data set 'mnist2'"),
    (["search", "--device", "tpu"], "unknown device 'tpu'; use auto, cpu, cuda or cuda:N"),
    (["search", "--storage", "postgresql://nobody@127.0.0.1:1/db"], "cannot open the storage 'postgresql://"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    try:
        code, out, err = run(capsys, *argv)
    except SystemExit as exc:  # argparse's own errors
        code, err = exc.code, capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_search_prints_trials_front_and_where_it_saved(capsys, tmp_path, tiny_space):
    code, out, _ = run(capsys, "search", "--space", str(tiny_space), "--trials", "3", "--results-dir",
                       str(tmp_path), "--no-latency")
    assert code == 0
    lines = out.splitlines()
    assert sum(bool(re.match(r"trial +\d+  (complete|stopped)", line)) for line in lines) == 3
    assert any("Pareto front (validation accuracy vs MFLOPs)" in line for line in lines)
    assert any(line.startswith("best trial ") and "test accuracy" in line for line in lines)
    assert f"saved: {tmp_path}/tiny-digits/summary.json" in out
    code, out, _ = run(capsys, "search", "--space", str(tiny_space), "--trials", "3", "--results-dir", str(tmp_path))
    assert "resuming, 3/3 trials finished" in out and not re.search(r"^trial +\d+ ", out, re.M)


def test_interrupt_exits_130_and_says_how_to_resume(capsys, tmp_path, tiny_space, monkeypatch):
    from nasprune.search import objective

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(objective, "train", interrupted)
    code, out, err = run(capsys, "search", "--space", str(tiny_space), "--results-dir", str(tmp_path))
    assert code == 130 and "run the same command to resume" in out and "interrupted" in err


def test_console_script_is_installed():
    exe = shutil.which("nasprune")
    assert exe, "pip install -e . installs the nasprune command"
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("nasprune ")
