"""Issue 30's targets in ONNX Runtime on the CPU: pruning to a latency target, and INT8 export.

    python benchmarks/deployed_targets.py                                   # the default search's digits winner
    taskset -c 1 python benchmarks/deployed_targets.py --model results/cifar-c32/trials/00010 --finetune-epochs 15

For each model (the default search's winner on digits, made with ``nasprune search`` when ``--results-dir`` has no
``default-digits`` study, and every ``--model DIR``):

1. ``nasprune prune --target-latency 0.5 --latency-runtime onnxruntime`` (widths rounded to the runtime's fast
   multiple), with ``--blocks-too`` also ``--blocks`` first, and as the control ``--target-mflops 0.5`` (what the
   MACs alone ask for), all fine-tuned ``--finetune-epochs`` epochs (default: the source's own);
2. ``nasprune export`` of the source and of both pruned models, and ONNX Runtime's latency of each model.onnx at batch
   1 and 32, one thread: the median of ``--runs`` measurements, each the median of up to 50 passes;
3. ``nasprune export --int8`` of the source: INT8 and FP32 accuracy on the validation split, and the two latencies
   measured the same way.

Targets (issue 30): the latency-pruned model at <= 0.55x its source's latency at batch 1 and 32, accuracy within 1
point after fine-tuning; INT8 >= 1.5x faster than FP32 at batch 32, accuracy within 1 point.
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

from nasprune import ExportConfig, PruneConfig, export, prune
from nasprune.deploy import LATENCY_BATCHES, ort_latency, ort_session

STUDY = "default-digits"


def _digits_winner(results: Path) -> dict:
    if not (results / STUDY).is_dir():
        argv = [sys.executable, "-m", "nasprune", "search", "--results-dir", str(results), "--quiet"]
        print("$", " ".join(argv), flush=True)
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return {"study": STUDY}


def _ort_ms(onnx_file: Path, shape: tuple, runs: int) -> dict[int, tuple[float, float]]:
    """batch -> (median of ``runs`` medians in ms, the largest p90/p10 spread among them), one thread."""
    session = ort_session(str(onnx_file), 1)
    out = {}
    for batch in LATENCY_BATCHES:
        taken = [ort_latency(session, shape, batch, 1) for _ in range(runs)]
        out[batch] = (statistics.median(t.median_ms for t in taken), max(t.p90_ms / t.p10_ms for t in taken))
    return out


def _label(source: dict) -> str:
    return source.get("study") or Path(source["model"]).name


def _pruned(source: dict, results: Path, finetune: int | None, kind: str) -> Path:
    name = f"{_label(source)}-{kind}0.5" + (f"-ft{finetune}" if finetune is not None else "")
    out = results / (f"{STUDY}/pruned" if "study" in source else "pruned") / name
    if not out.is_dir():
        target = {"target_mflops": 0.5} if kind == "mflops" else {"target_latency": 0.5, "latency_runtime": "onnxruntime",
                                                                  "blocks": kind == "blocks-latency"}
        print(f"pruning {_label(source)} to {kind} 0.5 ...", flush=True)
        prune(PruneConfig(**source, **target, finetune_epochs=finetune, results_dir=results, name=name, record=False))
    return out


def _export(folder_or_study: dict, out: Path, int8: bool) -> dict:
    if not (out / "export.json").is_file() or (int8 and not (out / "model.int8.onnx").is_file()):
        export(ExportConfig(**folder_or_study, out=out, formats="onnx", int8=int8, latency=False, artifacts=False))
    return json.loads((out / "export.json").read_text())


def _row(name: str, summary: dict, accuracy: tuple, ms: dict, base: dict | None) -> str:
    ratios = " | ".join(f"{ms[b][0] / base[b][0]:.2f}x" if base else "1" for b in LATENCY_BATCHES)
    cells = " | ".join(f"{ms[b][0]:.3f} ({ms[b][1]:.2f})" for b in LATENCY_BATCHES)
    return f"| {name} | {summary['mflops']:.3f} | {accuracy[0]:.4f} / {accuracy[1]:.4f} | {cells} | {ratios} |"


def _one(source: dict, results: Path, args: argparse.Namespace) -> list[str]:
    label = _label(source)
    base_dir = results / "exports" / label
    exported = _export({"results_dir": results, **source} if "study" in source else source, base_dir, int8=True)
    shape = tuple(exported["input_shape"])
    base_ms = _ort_ms(base_dir / "model.onnx", shape, args.runs)
    kinds = ("latency", "blocks-latency", "mflops") if args.blocks_too else ("latency", "mflops")
    pruned = {kind: _pruned(source, results, args.finetune_epochs, kind) for kind in kinds}
    summaries = {kind: json.loads((folder / "summary.json").read_text()) for kind, folder in pruned.items()}
    before = next(iter(summaries.values()))["before"]
    lines = [f"\n{label}: {exported['source']['arch']}; ONNX Runtime ms, median of {args.runs} runs (largest p90/p10)",
             "| model | MFLOPs | val / test accuracy | batch 1 ms | batch 32 ms | batch 1 vs source | batch 32 vs "
             "source |", "|---|---|---|---|---|---|---|",
             _row("source", exported, (before["val_accuracy"], before["test_accuracy"]), base_ms, None)]
    for kind, folder in pruned.items():
        s = summaries[kind]
        out = _export({"model": folder}, results / "exports" / folder.name, int8=False)
        ms = _ort_ms(results / "exports" / folder.name / "model.onnx", shape, args.runs)
        what = {"latency": "--target-latency 0.5 (onnxruntime)", "blocks-latency": "--blocks --target-latency 0.5",
                "mflops": "--target-mflops 0.5 (control)"}[kind]
        lines.append(_row(f"{what}, widths {out['source']['arch'].split()[0]}", out,
                          (s["after"]["val_accuracy"], s["after"]["test_accuracy"]), ms, base_ms))
    int8 = exported["int8"]
    int8_ms = _ort_ms(base_dir / "model.int8.onnx", shape, args.runs)
    lines += [f"INT8 ({int8['calibration_images']} calibration images): validation accuracy FP32 "
              f"{int8['fp32_accuracy']:.4f}, INT8 {int8['int8_accuracy']:.4f} ({-int8['drop_points']:+.2f} points); "
              + ", ".join(f"batch {b}: FP32 {base_ms[b][0]:.3f} ms, INT8 {int8_ms[b][0]:.3f} ms ({int8_ms[b][1]:.2f}), "
                          f"{base_ms[b][0] / int8_ms[b][0]:.2f}x faster" for b in LATENCY_BATCHES)]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=Path("results"))
    parser.add_argument("--model", type=Path, action="append", default=[], help="a saved model folder (repeatable)")
    parser.add_argument("--no-digits", action="store_true", help="leave out the default search's digits winner")
    parser.add_argument("--finetune-epochs", type=int, help="fine-tuning epochs (default: the source's own)")
    parser.add_argument("--runs", type=int, default=5, help="latency measurements per figure")
    parser.add_argument("--blocks-too", action="store_true", help="also prune with --blocks --target-latency 0.5")
    args = parser.parse_args()
    versions = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in ("onnx", "onnxruntime"))
    print(f"{machine()}; {versions}", flush=True)
    sources = ([] if args.no_digits else [_digits_winner(args.results_dir)]) + [{"model": m} for m in args.model]
    for source in sources:
        print("\n".join(_one(source, args.results_dir, args)), flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)  # training and the process's own work stay on one core, as the latency figures do
    main()
