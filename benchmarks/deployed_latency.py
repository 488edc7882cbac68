"""PyTorch against ONNX Runtime on the CPU: the default search's winner and its pruned model (issue 13).

    python benchmarks/deployed_latency.py                      # search, prune, export, time (results/default-digits)
    python benchmarks/deployed_latency.py --threads 1 2 --runs 5

Runs ``nasprune search`` with no options and ``nasprune prune --study default-digits`` (skipped when the study and
a pruned model are there already), exports both with ``nasprune export`` (which checks every file against
PyTorch), then times each model in eager PyTorch, TorchScript and ONNX Runtime (CPU execution provider) at batch 1
and 32 with ``nasprune.measure.measure_latency``: ``--runs`` measurements per figure, each the median of up to 50
timed passes; the table gives the median of the runs' medians and the largest p90/p10 spread seen.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from _env import machine  # benchmarks/_env.py: Python puts the script's folder on sys.path

from nasprune import ExportConfig, export, load_model
from nasprune.deploy import LATENCY_BATCHES, ort_latency, ort_session, torch_latency
from nasprune.measure import measure_latency

STUDY = "default-digits"


def _run(argv: list[str]) -> None:
    print("$", " ".join(argv), flush=True)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def _models(results: Path) -> list[tuple[str, Path]]:
    """The winner the default search picks and its pruned model, made if they are not there yet."""
    if not (results / STUDY).is_dir():
        _run([sys.executable, "-m", "nasprune", "search", "--results-dir", str(results), "--quiet"])
    pruned = sorted((results / STUDY / "pruned").glob("*/spec.json"))
    if not pruned:
        _run([sys.executable, "-m", "nasprune", "prune", "--study", STUDY, "--results-dir", str(results), "--quiet"])
        pruned = sorted((results / STUDY / "pruned").glob("*/spec.json"))
    source = Path(json.loads((pruned[0].parent / "summary.json").read_text())["source"]["checkpoint"])
    return [("winner", source), ("pruned", pruned[0].parent)]


def _figure(measure, runs: int) -> tuple[float, float]:
    """Median of ``runs`` medians, and the largest p90/p10 spread among them."""
    taken = [measure() for _ in range(runs)]
    return statistics.median(t.median_ms for t in taken), max(t.p90_ms / t.p10_ms for t in taken)


def _time_all(model: torch.nn.Module, scripted: torch.jit.ScriptModule, session: object, shape: tuple, batch: int,
              threads: int, runs: int) -> dict[str, tuple[float, float]]:
    return {"PyTorch": _figure(lambda: torch_latency(model, shape, batch, threads), runs),
            "TorchScript": _figure(lambda: measure_latency(scripted, shape, batch, threads=threads), runs),
            "ONNX Runtime": _figure(lambda: ort_latency(session, shape, batch, threads), runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=Path("results"))
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--runs", type=int, default=5, help="measurements per figure")
    args = parser.parse_args()
    versions = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in ("onnx", "onnxruntime"))
    print(f"{machine()}; {versions}")
    rows = []
    for name, folder in _models(args.results_dir):
        result = export(ExportConfig(model=folder, out=folder.parent / f"{folder.name}-export", latency=False))
        _, model = load_model(folder)
        shape = tuple(result.summary["input_shape"])
        check = result.summary["checks"]["onnx"]
        scripted = torch.jit.load(str(result.out / "model.torchscript.pt"))
        print(f"{name}: {result.summary['source']['arch']}, {result.summary['mflops']:.3f} MFLOPs, "
              f"{result.summary['params']:,} params; ONNX opset {result.summary['formats']['onnx']['opset']}, max "
              f"|logit diff| {check['max_abs_diff']:.1e}, top-1 agreement {check['top1_agreement']:.2%} on "
              f"{result.summary['compared_on']}", flush=True)
        for threads in args.threads:
            session = ort_session(str(result.out / "model.onnx"), threads)
            for batch in LATENCY_BATCHES:
                figures = _time_all(model, scripted, session, shape, batch, threads, args.runs)
                rows.append((name, threads, batch, figures))
    print("\n| model | threads | batch | PyTorch ms | TorchScript ms | ONNX Runtime ms | PyTorch / ORT |\n"
          "|---|---|---|---|---|---|---|")
    for name, threads, batch, f in rows:
        cells = " | ".join(f"{ms:.3f} (spread {spread:.2f})" for ms, spread in f.values())
        print(f"| {name} | {threads} | {batch} | {cells} | {f['PyTorch'][0] / f['ONNX Runtime'][0]:.1f}x |")


if __name__ == "__main__":
    torch.set_num_threads(1)  # the process's own work (loading, exporting) stays off the other cores
    main()
