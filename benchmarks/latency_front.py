"""Issue 30, item 1's target: the front of a latency-objective search against the front of the MACs-objective one,
both re-measured in ONNX Runtime (CPU, batch 1, one thread).

    python benchmarks/datasets.py --cifar /tmp/cifar10 --out /tmp/bench        # the CIFAR-10 subset (cifar-c32)
    OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/latency_front.py --seeds 0 1 \\
        --set digits --set cifar-c32=imagefolder:/tmp/bench/cifar-c32:6
    python benchmarks/latency_front.py --table                                  # the table of what has run

For each data set (``NAME=DATA:MINUTES``; ``digits`` alone: the default data, 2 minutes) and seed, two searches with
the same seed and the same wall-clock budget (``--time-budget``; equal time rather than equal trials, so the latency
search pays for measuring each candidate in ONNX Runtime, as a user waiting for it would):

  mflops:   nasprune search                                (the default objectives: accuracy and MFLOPs)
  latency:  nasprune search --objectives accuracy,latency --latency-runtime onnxruntime --latency-batch 1
            --latency-threads 1

Then every model each study offers (its winners: nasprune.record.pareto_winners, with test accuracy from
nasprune.record.evaluate_on_test) is exported (nasprune.deploy.export_onnx) and timed in ONNX Runtime, batch 1, one
thread (nasprune.deploy.ort_latency: nasprune's warm-up, repeats and median), ``--runs`` times in turn across the
models of both searches of a seed (so a busy spell of the machine falls on both alike); a model's figure is the median
of its runs. Reported per search: its points (test and validation accuracy, ms, MFLOPs), the hypervolume of (accuracy
up, ms down) against one reference point per data set (chance accuracy 0.1, and 1.1x the slowest model of any search
of that set), and whether the latency front dominates the MACs front: every point of the MACs front weakly dominated
(accuracy >= and ms <=) by a point of the latency front.

Results are appended to ``--out`` as JSON lines, one per data set and seed; an interrupted run resumes (a finished
study under ``--work`` is not searched again).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from _env import machine  # benchmarks/_env.py: Python puts the script's folder on sys.path
from search_quality import hypervolume  # the (accuracy up, cost down) area, shared with issue 12's benchmark

SEARCHES = {"mflops": [], "latency": ["--objectives", "accuracy,latency", "--latency-runtime", "onnxruntime",
                                      "--latency-batch", "1", "--latency-threads", "1"]}
CHANCE = 0.1  # both sets have ten classes


def _parse_set(text: str) -> tuple[str, str | None, float]:
    """``NAME=DATA:MINUTES`` (DATA may hold colons), or ``digits`` alone: the default data for 2 minutes."""
    if text == "digits":
        return "digits", None, 2.0
    name, rest = text.split("=", 1)
    data, minutes = rest.rsplit(":", 1)
    return name, data, float(minutes)


def _search(work: Path, data: str | None, minutes: float, seed: int, kind: str) -> Path:
    """Run one search (unless its summary is there) and return its results folder."""
    results = work / f"{kind}-{seed}"
    if (results / "bench" / "summary.json").is_file():
        return results
    argv = [sys.executable, "-m", "nasprune", "search", "--study", "bench", "--results-dir", str(results), "--seed", str(seed),
            "--time-budget", f"{minutes:g}", "--quiet", *(["--data", data] if data else []), *SEARCHES[kind]]
    print("$", " ".join(argv), flush=True)
    started = time.time()
    subprocess.run(argv, check=True)
    (results / "seconds").write_text(f"{time.time() - started:.1f}")
    return results


def _offered(results: Path) -> tuple[list[dict], dict]:
    """The winners the study offers (the record's front), with test accuracy, and the trial counts."""
    from nasprune.data.placement import place_data
    from nasprune.record import evaluate_on_test, load_study_data, open_existing, pareto_winners, winner_row
    from nasprune.train import resolve_runtime

    study, _ = open_existing("bench", None, results)
    rows = [winner_row(t) for t in pareto_winners(study)]
    runtime = resolve_runtime("cpu")
    problems = evaluate_on_test(rows, place_data(load_study_data(study), runtime.device, "auto"), runtime)
    if problems:
        raise SystemExit(f"{results}: {'; '.join(problems)}")
    summary = json.loads((results / "bench" / "summary.json").read_text())
    return rows, summary["trials"]


def _remeasure(points: list[dict], runs: int) -> None:
    """Each point's ONNX Runtime latency at batch 1, one thread: ``runs`` rounds over all points in turn."""
    from nasprune.checkpoint import load_model
    from nasprune.deploy import export_onnx, ort_latency, ort_session

    sessions = []
    for p in points:
        spec, model = load_model(p["checkpoint"])
        shape = tuple(p.pop("input_shape"))
        sessions.append((ort_session(export_onnx(model, shape).data, threads=1), shape))
    taken: list[list] = [[] for _ in points]
    for _ in range(runs):
        for i, (session, shape) in enumerate(sessions):
            taken[i].append(ort_latency(session, shape, batch_size=1, threads=1))
    for p, figures in zip(points, taken, strict=True):
        p["ort_ms"] = round(statistics.median(f.median_ms for f in figures), 5)
        p["ort_spread"] = round(max(f.p90_ms / f.p10_ms for f in figures), 3)  # the widest p90/p10 of its runs
        p["busy"] = sum(bool(f.busy) for f in figures)


def _one(name: str, data: str | None, minutes: float, seed: int, args: argparse.Namespace) -> dict:
    from nasprune.data import load_data

    shape = list(load_data(data or "digits").input_shape)
    row = {"set": name, "data": data or "digits", "seed": seed, "minutes": minutes, "runs": args.runs,
           "machine": machine(), "searches": {}}
    points = []
    for kind in SEARCHES:
        results = _search(args.work / name, data, minutes, seed, kind)
        offered, trials = _offered(results)
        seconds = float((results / "seconds").read_text()) if (results / "seconds").is_file() else None
        row["searches"][kind] = {"trials": trials, "seconds": seconds, "front": []}
        for w in offered:
            point = {"trial": w["trial"], "arch": w["arch"], "mflops": w["mflops"], "params": w["params"],
                     "val_accuracy": w["val_accuracy"], "test_accuracy": w["test_accuracy"],
                     "search_ms": w["latency_ms"], "checkpoint": w["checkpoint"], "input_shape": shape}
            row["searches"][kind]["front"].append(point)
            points.append(point)
    print(f"re-measuring {len(points)} models of {name} seed {seed} in ONNX Runtime ...", flush=True)
    _remeasure(points, args.runs)
    return row


def _dominated(p: dict, front: list[dict], acc: str) -> bool:
    return any(q[acc] >= p[acc] and q["ort_ms"] <= p["ort_ms"] for q in front)


def verdict(row: dict, acc: str) -> tuple[bool, list[int]]:
    """Whether every point of the MACs front is weakly dominated by a latency-front point (in ``acc`` and ORT ms),
    and the MACs-front trials that are not."""
    latency = row["searches"]["latency"]["front"]
    left = [p["trial"] for p in row["searches"]["mflops"]["front"] if not _dominated(p, latency, acc)]
    return not left, left


def _hv(front: list[dict], acc: str, ref_ms: float) -> float:
    return hypervolume([(p[acc], p["ort_ms"]) for p in front], CHANCE, ref_ms)


def table(rows: list[dict]) -> str:
    """Per data set: each seed's two searches (hypervolume and dominance by test and validation accuracy), then
    every point re-measured."""
    lines = []
    for name in dict.fromkeys(r["set"] for r in rows):
        runs = sorted((r for r in rows if r["set"] == name), key=lambda r: r["seed"])
        ref = 1.1 * max(p["ort_ms"] for r in runs for s in r["searches"].values() for p in s["front"])
        lines += [f"\n{name} ({runs[0]['data']}, {runs[0]['minutes']:g} minutes a search; ONNX Runtime CPU batch 1, "
                  f"1 thread, median of {runs[0]['runs']} runs; hypervolume reference point: accuracy {CHANCE}, "
                  f"{ref:.3f} ms)\n",
                  "| seed | search | trials (complete / stopped) | points | best test acc | fastest ms | "
                  "MFLOPs of the fastest | HV test | HV val | latency front dominates (test; val) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in runs:
            for kind, s in r["searches"].items():
                front = s["front"]
                fastest = min(front, key=lambda p: p["ort_ms"])
                dom = "-"
                if kind == "latency":
                    (test_ok, test_left), (val_ok, val_left) = verdict(r, "test_accuracy"), verdict(r, "val_accuracy")
                    dom = (f"{'yes' if test_ok else 'no, not trials ' + ', '.join(map(str, test_left))}; "
                           f"{'yes' if val_ok else 'no, not trials ' + ', '.join(map(str, val_left))}")
                lines.append(f"| {r['seed']} | {kind} | {s['trials'].get('complete', 0)} / "
                             f"{s['trials'].get('stopped', 0)} | {len(front)} | "
                             f"{max(p['test_accuracy'] for p in front):.4f} | {fastest['ort_ms']:.3f} | "
                             f"{fastest['mflops']:.3f} | {_hv(front, 'test_accuracy', ref):.4f} | "
                             f"{_hv(front, 'val_accuracy', ref):.4f} | {dom} |")
        lines += ["", "| seed | search | trial | architecture | MFLOPs | ms in the search (mflops: PyTorch; latency: ORT) | "
                  "ORT ms (p90/p10) | val acc | test acc |", "|---|---|---|---|---|---|---|---|---|"]
        for r in runs:
            for kind, s in r["searches"].items():
                for p in sorted(s["front"], key=lambda p: p["ort_ms"]):
                    lines.append(f"| {r['seed']} | {kind} | {p['trial']} | {p['arch']} | {p['mflops']:.3f} | "
                                 f"{p['search_ms']:.3f} | {p['ort_ms']:.3f} ({p['ort_spread']:.2f}) | "
                                 f"{p['val_accuracy']:.4f} | {p['test_accuracy']:.4f} |")
    return "\n".join(lines)


def _read(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()] if out.is_file() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=DATA:MINUTES",
                        help="a data set and its minutes a search (repeatable; default: digits, 2 minutes)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--runs", type=int, default=5, help="ONNX Runtime measurements per model")
    parser.add_argument("--work", type=Path, default=Path("/tmp/latency_front"), help="where the studies are kept")
    parser.add_argument("--out", type=Path, default=Path("latency_front.jsonl"))
    parser.add_argument("--table", action="store_true", help="print the table of --out and run nothing")
    args = parser.parse_args()
    if not args.table:
        versions = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in ("optuna", "onnx", "onnxruntime"))
        print(f"{machine()}; {versions}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}", flush=True)
        done = {(r["set"], r["seed"]) for r in _read(args.out)}
        for seed in args.seeds:  # every set's seed 0 before any seed 1: a cut-short run still covers each set
            for name, data, minutes in map(_parse_set, args.set or ["digits"]):
                if (name, seed) in done:
                    continue
                row = _one(name, data, minutes, seed, args)
                with args.out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    print(table(_read(args.out)))


if __name__ == "__main__":
    torch.set_num_threads(1)  # the re-measurement's own work stays on one core, as the latency figures do
    sys.exit(main())
