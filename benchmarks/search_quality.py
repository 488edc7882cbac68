"""Search quality on data the defaults were not written for, at the same wall-clock budget (issue 12).

For each data set and seed, five methods get the same minutes of wall clock:

  (a) nasprune's default search:                 nasprune search --data imagefolder:DIR --time-budget M
  (b) the same space, Optuna's RandomSampler and no early stopping:   ... --sampler random --pruner none
  (c) a hand-written Optuna script (benchmarks/handwritten_search.py: torch DataLoader, fixed epochs, TPE on
      accuracy alone, FLOPs counted afterwards)
  (d) the fixed ResNet-20 preset, trained for the whole budget (nasprune's trainer; the epochs that fit are
      measured on a first epoch; the preset's one-cycle recipe at batch 128, lr 0.1, for a few thousand images)
  (e) the default space's start candidates alone, no exploration: each trained for an equal share of the budget
      (cheapest first, at most the search's retraining cap): the control the exploration must beat

and each reports: best test accuracy, the hypervolume of its test-accuracy vs MFLOPs front (the models it
offers, evaluated once on the test split), trials finished. The hypervolume's reference point is fixed per data
set: chance accuracy (0.1) and twice ResNet-20's MFLOPs at that input; it is normalized to [0, 1] by that box.

    python benchmarks/datasets.py --cifar /tmp/cifar10 --out /tmp/nasprune-bench
    python benchmarks/search_quality.py --root /tmp/nasprune-bench --minutes 10 --seeds 0 1 2 --parallel 2

Runs go two at a time by default, each pinned to one core with one thread (``--parallel 1`` for one run on
every core); results are appended to ``--out`` as JSON lines, so an interrupted benchmark resumes where it
stopped, and the table is printed from that file (``--table`` prints it without running anything).
``--retest KEPT...`` runs no search: it evaluates the winners of studies kept with ``--keep`` again on ``--root``'s
test split (the same training images, another test split) and appends them as rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from nasprune.cli.streams import guarded_streams, tell
from nasprune.signals import exit_code, interrupt_on_signals, signal_name, signal_of

SETS = ("cifar-c32", "cifar-g32", "cifar-c16")
METHODS = ("a", "b", "c", "d", "e")
NAMES = {"a": "nasprune default", "b": "random sampler, no early stopping", "c": "hand-written Optuna script",
         "d": "ResNet-20 for the whole budget", "e": "the start candidates alone, no exploration"}
HERE = Path(__file__).resolve().parent


def hypervolume(points: list[tuple[float, float]], ref_acc: float, ref_mflops: float) -> float:
    """Area of the (accuracy up, MFLOPs down) region dominated by ``points`` inside the box from the reference
    point, as a share of the box."""
    pts = sorted((m, a) for a, m in points if a > ref_acc and m < ref_mflops)
    area, best = 0.0, ref_acc
    for i, (m, a) in enumerate(pts):
        best = max(best, a)
        right = pts[i + 1][0] if i + 1 < len(pts) else ref_mflops
        area += (right - m) * (best - ref_acc)
    return area / ((1 - ref_acc) * ref_mflops)


def resnet20_mflops(shape: tuple[int, int, int]) -> float:
    from nasprune import build_model, count_macs, fixed_spec, load_space

    return count_macs(build_model(fixed_spec(load_space("resnet20"), shape[0], 10).arch), shape) / 1e6


def run_nasprune(data: Path, minutes: float, seed: int, extra: list[str], out: dict, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if keep:  # --keep: the study stays there for a closer look
            tmp = str(keep / f"{out['set']}-{out['method']}-{seed}")
            shutil.rmtree(tmp, ignore_errors=True)
        cmd = [sys.executable, "-m", "nasprune", "search", "--data", f"imagefolder:{data}", "--time-budget", str(minutes),
               "--seed", str(seed), "--results-dir", tmp, "--study", "bench", "--quiet", *extra]
        subprocess.run(cmd, check=True)
        out.update(_summary_row(json.loads((Path(tmp) / "bench" / "summary.json").read_text())))


def _summary_row(summary: dict) -> dict:
    """A nasprune run's front and trials finished, from its ``summary.json``."""
    return {"front": [{"test_accuracy": w["test_accuracy"], "mflops": w["mflops"], "arch": w["arch"],
                       "val_accuracy": w["val_accuracy"], "origin": w.get("origin")} for w in summary["winners"]],
            "trials_finished": summary["trials"]["complete"] + summary["trials"]["stopped"]}


def train_until(arch, recipe, splits, runtime, seed: int, deadline: float,
                share: float = 1.0, max_epochs: int | None = None) -> tuple[float, int, float]:
    """Train ``arch`` with ``recipe`` for as many epochs as fit in ``share`` of the time left before ``deadline``
    (a ``time.time()``; at most ``max_epochs``), planned from a second timed epoch (the first pays for start-up and
    ran 1.5x slower); returns (test accuracy, epochs, seconds per epoch). Also used by
    benchmarks/start_candidates.py."""
    import torch

    from nasprune import build_model
    from nasprune.data import Normalizer
    from nasprune.train import evaluate, train

    for _ in range(2):
        torch.manual_seed(seed)
        t0 = time.time()
        train(build_model(arch), splits, recipe.replace(epochs=1), runtime, seed=seed)
        per_epoch = time.time() - t0
    epochs = max(1, int((deadline - time.time()) * share / per_epoch))
    epochs = min(epochs, max_epochs or epochs)
    torch.manual_seed(seed)
    model = build_model(arch)
    train(model, splits, recipe.replace(epochs=epochs), runtime, seed=seed)
    normalize = Normalizer(splits, runtime.device, runtime.memory_format, runtime.input_dtype)
    return evaluate(model, splits.test, normalize, runtime)[1], epochs, per_epoch


def run_preset(data: Path, minutes: float, seed: int, out: dict) -> None:
    """(d): ResNet-20 trained for as many epochs as fit in the budget."""
    from nasprune import fixed_spec, load_space
    from nasprune.data import DataOptions, load_data
    from nasprune.train import resolve_runtime

    start = time.time()
    splits = load_data(f"imagefolder:{data}", DataOptions(), seed=seed)
    spec = fixed_spec(load_space("resnet20"), splits.input_shape[0], splits.num_classes)
    recipe = spec.train.replace(batch_size=128, lr=0.1)
    test, epochs, _ = train_until(spec.arch, recipe, splits, resolve_runtime("auto"), seed, start + 60 * minutes,
                                  share=0.97)
    out["front"] = [{"test_accuracy": test, "mflops": resnet20_mflops(splits.input_shape), "arch": "resnet20",
                     "epochs": epochs}]
    out["train_seconds"] = round(time.time() - start, 1)
    out["trials_finished"] = 1


def run_start_candidates(data: Path, minutes: float, seed: int, out: dict) -> None:
    """(e): the default space's start candidates (fitted to the data) alone, no exploration: each trained from
    scratch for an equal share of the budget, cheapest first, at most the search's retraining cap (a share a
    candidate cannot use passes to the next), as the search's retraining phase would do with the whole budget.
    The control that the exploration must beat."""
    from nasprune import build_model, count_macs, load_space
    from nasprune.data import DataOptions, load_data
    from nasprune.search.budget import RETRAIN_FACTOR
    from nasprune.space import candidates, describe, fit_space
    from nasprune.train import resolve_runtime

    start = time.time()
    splits = load_data(f"imagefolder:{data}", DataOptions(), seed=seed)
    space = fit_space(load_space("default"), splits.input_shape, splits.num_classes)
    specs = candidates(space, splits.input_shape[0], splits.num_classes)[:len(space.start_with)]
    cost = {s: count_macs(build_model(s.arch), splits.input_shape) / 1e6 for s in specs}
    runtime, deadline, front = resolve_runtime("auto"), start + 0.97 * 60 * minutes, []
    for i, spec in enumerate(sorted(specs, key=cost.get)):
        test, epochs, _ = train_until(spec.arch, spec.train, splits, runtime, seed, deadline,
                                      share=1 / (len(specs) - i), max_epochs=RETRAIN_FACTOR * spec.train.epochs)
        front.append({"test_accuracy": test, "mflops": cost[spec], "arch": describe(spec.arch), "epochs": epochs})
    out["front"], out["trials_finished"] = front, len(front)
    out["train_seconds"] = round(time.time() - start, 1)


def one(method: str, data: Path, minutes: float, seed: int, keep: Path | None = None) -> dict:
    out: dict = {"set": data.name, "method": method, "seed": seed, "minutes": minutes}
    start = time.time()
    if method == "a":
        run_nasprune(data, minutes, seed, [], out, keep)
    elif method == "b":
        run_nasprune(data, minutes, seed, ["--sampler", "random", "--pruner", "none"], out, keep)
    elif method == "c":
        with tempfile.TemporaryDirectory() as tmp:
            result = Path(tmp) / "c.json"
            subprocess.run([sys.executable, str(HERE / "handwritten_search.py"), "--data", str(data), "--minutes",
                            str(minutes), "--seed", str(seed), "--out", str(result)], check=True)
            c = json.loads(result.read_text())
        out["front"], out["trials_finished"] = c["front"], c["trials_finished"]
    elif method == "e":
        run_start_candidates(data, minutes, seed, out)
    else:
        run_preset(data, minutes, seed, out)
    out["wall_seconds"] = round(time.time() - start, 1)
    return out


def retest(kept: Path, root: Path, minutes: float) -> dict:
    """A kept nasprune study (``--keep``'s SET-METHOD-SEED folder) as a benchmark row, its winners evaluated again
    on ``root``'s test split of the same set. The search never sees the test split, so a larger test split of the
    same images gives the row the run would have given with it, with less of the test sample's noise."""
    from nasprune.data import load_data
    from nasprune.data.placement import place_data
    from nasprune.record import evaluate_on_test
    from nasprune.train import resolve_runtime

    name, method, seed = kept.name.rsplit("-", 2)
    summary = json.loads((kept / "bench" / "summary.json").read_text())
    summary["winners"] = [{**w, "test_accuracy": None} for w in summary["winners"]]
    runtime = resolve_runtime("auto")
    data = load_data(f"imagefolder:{root / name}", seed=int(seed))

    def split(described: str) -> str:  # what the study's data says, but for the size of its test split
        return re.sub(r"\d+ test images", "N test images", described)

    if split(summary["data"]) != split(data.describe()):  # the same training and validation images and seed
        raise SystemExit(f"{kept}: the study saw {summary['data']!r}, {root / name} gives {data.describe()!r}")
    problems = evaluate_on_test(summary["winners"], place_data(data, runtime.device, "auto"), runtime)
    if problems:
        raise SystemExit(f"{kept}: {'; '.join(problems)}")
    return {"set": name, "method": method, "seed": int(seed), "minutes": minutes, "retest_of": str(kept),
            "test_images": len(data.test), **_summary_row(summary)}


def _front_hypervolume(front: list[dict], ref: float) -> float:
    """The hypervolume of a run's front (or part of it), ``ref``: ResNet-20's MFLOPs on its data."""
    return hypervolume([(p["test_accuracy"], p["mflops"]) for p in front], 0.1, 2 * ref)


def _scores(run: dict, ref: float) -> tuple[float, float]:
    """(best test accuracy, hypervolume) of one run, ``ref``: ResNet-20's MFLOPs on its data."""
    return max(p["test_accuracy"] for p in run["front"]), _front_hypervolume(run["front"], ref)


def control_verdict(rows: list[dict], ref: float) -> str | None:
    """Whether (a), the search, beat (e), the start candidates alone, on one data set's ``rows`` (issue 29: "if (a)
    cannot beat (e), the exploration is waste and the report says so"): it must lead in median hypervolume and be at
    least as accurate in median best test accuracy; where it does not, the verdict says which it missed. Seeds run
    by both are also compared pair by pair (the two ran side by side). None where either method has no run."""
    runs = {m: {r["seed"]: _scores(r, ref) for r in rows if r["method"] == m} for m in ("a", "e")}
    if not runs["a"] or not runs["e"]:
        return None
    acc_a, hv_a = (statistics.median(scores[i] for scores in runs["a"].values()) for i in (0, 1))
    acc_e, hv_e = (statistics.median(scores[i] for scores in runs["e"].values()) for i in (0, 1))
    paired = sorted(runs["a"].keys() & runs["e"].keys())
    ahead = sum(runs["a"][s][1] > runs["e"][s][1] for s in paired)
    short = [what for what, missed in (("no more hypervolume", hv_a <= hv_e), ("less accurate", acc_a < acc_e))
             if missed]
    seeds = f"{len(paired)} seed{'' if len(paired) == 1 else 's'}"
    return (f"(a) against the control (e), medians: hypervolume {hv_a:.4f} to {hv_e:.4f} (ahead at {ahead} of {seeds} "
            f"run by both), best test accuracy {acc_a:.4f} to {acc_e:.4f}: the exploration "
            + (f"did not beat the start candidates alone here ({' and '.join(short)})" if short else
               "beat the start candidates alone"))


def exploration_account(rows: list[dict], ref: float) -> str | None:
    """What (a)'s exploration added to its front and what it cost, on one data set's ``rows``: the hypervolume of
    (a)'s front less that of its start candidates' networks alone (and baselines, which the benchmark adds none of;
    those the exploration found, or its sampled networks retrained, taken off; a start candidate that a sampled
    network pushed off the front is then missing too, so the gain is an upper bound), and the start candidates' own
    hypervolume in (a) against (e)'s, where they had the whole budget. Medians over seeds. None where either method
    has no run, or (a)'s rows do not say where their networks came from (rows written before they did)."""
    from nasprune.record import ORIGINS  # the first two are not the exploration's finds (as record.found_text)

    a = [r for r in rows if r["method"] == "a"]
    e = [r for r in rows if r["method"] == "e"]
    if not a or not e or any(p.get("origin") is None for r in a for p in r["front"]):
        return None
    starts = [_front_hypervolume([p for p in r["front"] if p["origin"] in ORIGINS[:2]], ref) for r in a]
    added = [_scores(r, ref)[1] - s for r, s in zip(a, starts, strict=True)]
    alone = statistics.median(_scores(r, ref)[1] for r in e)
    return (f"(a)'s exploration, medians: its networks add {100 * statistics.median(added):+.2f} points of "
            f"hypervolume to the front (seeds: {', '.join(f'{100 * x:+.2f}' for x in added)}); the start "
            f"candidates' networks alone have {statistics.median(starts):.4f} in (a) against {alone:.4f} in (e), "
            f"which trains them for the whole budget: {100 * (statistics.median(starts) - alone):+.2f} points")


def with_origins(rows: list[dict], keep: Path) -> list[dict]:
    """``rows`` with the origin of each network of a nasprune run's front filled in from its study kept under
    ``keep`` (``--keep``), where the row was written before rows said it; rows with no kept study stay as they are."""
    out = []
    for row in rows:
        kept = Path(row.get("retest_of") or keep / f"{row['set']}-{row['method']}-{row['seed']}") / "bench"
        if row["method"] in ("a", "b") and (kept / "summary.json").is_file():
            origin = {(w["arch"], w["mflops"]): w.get("origin")
                      for w in json.loads((kept / "summary.json").read_text())["winners"]}
            row = {**row, "front": [{**p, "origin": p.get("origin") or origin.get((p["arch"], p["mflops"]))}
                                    for p in row["front"]]}
        out.append(row)
    return out


def table(rows: list[dict], root: Path) -> str:
    """Per data set and method: median (and each seed's) best test accuracy, hypervolume, trials finished; whether
    the search beat the control (:func:`control_verdict`), and what its exploration added and cost
    (:func:`exploration_account`)."""
    from nasprune.data import load_data

    lines = []
    for name in dict.fromkeys(r["set"] for r in rows):
        shape = load_data(f"imagefolder:{root / name}").input_shape
        ref = resnet20_mflops(shape)
        lines += [f"\n{name} ({'x'.join(map(str, shape))}; reference point: accuracy 0.1, {2 * ref:.1f} MFLOPs)\n",
                  "| method | best test acc (median; seeds) | hypervolume (median; seeds) | trials (median) | "
                  "MFLOPs of the most accurate (median) |", "|---|---|---|---|---|"]
        for method in METHODS:
            runs = sorted((r for r in rows if r["set"] == name and r["method"] == method), key=lambda r: r["seed"])
            if not runs:
                continue
            best, hv = zip(*(_scores(r, ref) for r in runs), strict=True)
            cost = [max(r["front"], key=lambda p: p["test_accuracy"])["mflops"] for r in runs]
            lines.append(f"| ({method}) {NAMES[method]} | {statistics.median(best):.4f}; "
                         f"{', '.join(f'{b:.4f}' for b in best)} | {statistics.median(hv):.4f}; "
                         f"{', '.join(f'{h:.4f}' for h in hv)} | {statistics.median(r['trials_finished'] for r in runs):g}"
                         f" | {statistics.median(cost):.2f} |")
        for say in (control_verdict, exploration_account):
            text = say([r for r in rows if r["set"] == name], ref)
            lines += [f"\n{text}"] if text else []
    return "\n".join(lines)


@contextlib.contextmanager
def _stopping(running: list[tuple[subprocess.Popen, int]]) -> Iterator[None]:
    """On leaving the block, send each of the ``running`` runs' process groups SIGTERM and wait for them."""
    try:
        yield
    finally:
        for proc, _ in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, _ in running:
            proc.wait()


def schedule(todo: list[tuple[str, str, int]], args: argparse.Namespace) -> None:
    """Run ``todo`` (method, set, seed), ``args.parallel`` at a time, each pinned to one core, appending each
    result to ``args.out`` as it ends. Each run is a process group of its own; when this process ends early
    (Ctrl-C, SIGTERM, an error), the runs still going are sent SIGTERM and waited for, so that no search is
    left behind writing into a study that a new start would use (``--keep``) or competing for the cores."""
    running: list[tuple[subprocess.Popen, int]] = []
    free = list(range(args.parallel))
    env = {**os.environ, "OMP_NUM_THREADS": "1"} if args.parallel > 1 else dict(os.environ)
    with interrupt_on_signals(), _stopping(running):  # SIGTERM raises like Ctrl-C, and the runs are stopped
        while todo or running:
            while todo and free:
                m, s, seed = todo.pop(0)
                core = free.pop(0)
                pin = ["taskset", "-c", str(core % (os.cpu_count() or 1))] if args.parallel > 1 else []
                cmd = [*pin, sys.executable, __file__, "--root", str(args.root), "--minutes", str(args.minutes),
                       "--one", m, s, str(seed), *(["--keep", str(args.keep.resolve())] if args.keep else [])]
                running.append((subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env,
                                                 start_new_session=True), core))
            time.sleep(2)
            for proc, core in list(running):
                if proc.poll() is None:
                    continue
                running.remove((proc, core))
                free.append(core)
                text = proc.stdout.read().strip().splitlines()
                if proc.returncode == 0 and text:
                    with args.out.open("a") as f:
                        f.write(text[-1] + "\n")
                    print(text[-1], flush=True)
                else:
                    print(f"run failed ({proc.returncode}): {proc.args}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/nasprune-bench"), help="benchmarks/datasets.py --out")
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--parallel", type=int, default=2, help="runs at once, each pinned to one core")
    parser.add_argument("--out", type=Path, default=HERE / "search_quality.jsonl")
    parser.add_argument("--table", action="store_true", help="only print the table of --out")
    parser.add_argument("--keep", type=Path, help="keep each nasprune study under this folder (SET-METHOD-SEED); with "
                        "--table, where its rows came from is read from there")
    parser.add_argument("--retest", type=Path, nargs="+", metavar="KEPT",
                        help="evaluate the winners of kept studies (--keep's folders) again on --root's test split "
                             "and append them to --out, instead of running searches")
    parser.add_argument("--one", nargs=3, metavar=("METHOD", "SET", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        method, name, seed = args.one
        print(json.dumps(one(method, args.root / name, args.minutes, int(seed), args.keep)))
        return
    if args.retest:
        for kept in args.retest:
            row = retest(kept, args.root, args.minutes)
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    elif not args.table:
        from _env import machine

        print(machine(), flush=True)
        done = set()
        if args.out.exists():
            done = {(r["set"], r["method"], r["seed"], r["minutes"])
                    for r in map(json.loads, args.out.read_text().splitlines())}
        todo = [(m, s, seed) for s in args.sets for seed in args.seeds for m in args.methods
                if (s, m, seed, args.minutes) not in done]
        with guarded_streams():  # `... | tee log` and Ctrl-C: tee is gone, the message still reaches the user
            try:
                schedule(todo, args)
            except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the runs were stopped, the rows so far kept
                tell(f"stopped ({signal_name(signal_of(exc))}); the same command runs what is left (a stopped "
                     "run starts over)")
                sys.exit(exit_code(exc))
    if not args.out.is_file():
        sys.exit(f"{args.out}: no results yet (no run has finished); run without --table first, or pass --out")
    rows = [r for r in map(json.loads, args.out.read_text().splitlines()) if r["minutes"] == args.minutes]
    print(table(with_origins(rows, args.keep) if args.keep else rows, args.root))


if __name__ == "__main__":
    main()
