"""How well a short exploration run predicts a network's long-run accuracy (issue 29).

For each data set, ``--candidates`` networks are sampled from the default space fitted to it (a fixed seed; at
most ``--max-share`` of ResNet-20's MFLOPs at that input: the cheap part of the space, which a budgeted search
explores most) and trained, one candidate at a time (a benchmark cut short has whole rows):

- at **full fidelity** twice (``--full-epochs``, seeds 0 and 1): the score to predict is seed 0's test accuracy,
  and the order of seed 1 against seed 0 is the noise ceiling;
- at each **exploration fidelity** (seed 2, so that no short run shares its initialization with a full one):
    ``2ep``       two epochs (what the plan gave on the 48x32 letters at 7 minutes on two cores)
    ``subset``    the same seconds on half the training images (four epochs)
    ``batch32``   two epochs at batch 32 (twice the steps)
    ``6ep``       six epochs
    ``promote``   successive promotion: the top third of ``6ep`` (by its validation accuracy) trains again at full
                  fidelity and ranks above the rest by that run; cost: 6ep + a third of a full run
    ``plan``      the epochs a new 10-minute study plans for its trials on one core (nasprune.search.budget); run
                  only where that is at most half a full run (else it is about as costly as one)
  and scores read part-way through seed 1's full run at epochs ``PARTIAL`` (what a search's rung sees of a trial on
  the full schedule): its validation accuracy there (``val@k``) and minus the sum of its training losses so far
  (``sotl@k``); and scores read from the ``6ep`` run's learning curve: ``sotl`` (minus the sum of the training losses of its
  epochs, Ru et al. 2021), ``val_loss`` (minus the last validation loss), and the zero-cost ``params``.

Reported per set and fidelity: Kendall tau and Spearman rho against the full score, how many of the full score's
top 3 the fidelity's top 3 holds, and its cost as a share of one full run (seconds summed over the candidates).
"learned" counts the runs clearly above chance (more than twice its accuracy) at their end: a ranking of networks
at chance is noise. ``onset`` is the median epoch at which a full run first got there.

    python benchmarks/datasets.py --cifar /tmp/cifar10 --out /tmp/nasprune-bench
    python benchmarks/fidelity.py --root /tmp/nasprune-bench --sets cifar-c16 cifar-g32 --out fidelity.jsonl

Each run is appended to ``--out`` as a JSON line, so an interrupted benchmark resumes, and ``--table`` prints the
table from that file; run one process per core (``taskset -c N``) on different sets for more.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

FIDELITIES = ("2ep", "subset", "batch32", "6ep", "sotl", "val_loss", "promote", "plan", "params")
#: the short runs trained at seed 2 (the other fidelities are read from them or from the full runs)
RUNS = ("2ep", "subset", "batch32", "6ep", "promote", "plan")
#: epochs at which a search's rung reads a trial's curve: its validation accuracy there (``val@k``) or the sum of its
#: training losses so far (``sotl@k``), read from seed 1's full run, so the schedule is the full one, as in a trial
PARTIAL = (1, 2, 3, 4, 6)


def _history(result) -> list[dict]:
    return [{"val_acc": round(h.val_acc, 4), "val_loss": round(h.val_loss, 4), "train_loss": round(h.train_loss, 4),
             "seconds": round(h.seconds, 2)} for h in result.history]


def _setup(root: Path, name: str, count: int, seed: int, max_share: float):
    import torch

    from nasprune import build_model, count_macs, fixed_spec, load_space
    from nasprune.data import DataOptions, load_data
    from nasprune.space import candidates, fit_space

    torch.set_num_threads(1)
    splits = load_data(f"imagefolder:{root / name}", DataOptions(), seed=0)
    space = fit_space(load_space("default"), splits.input_shape, splits.num_classes)
    ref = count_macs(build_model(fixed_spec(load_space("resnet20"), splits.input_shape[0], 10).arch),
                     splits.input_shape) / 1e6
    drawn, specs = candidates(space, splits.input_shape[0], splits.num_classes, random=20 * count, seed=seed), []
    for spec in drawn[len(space.start_with):]:
        mflops = count_macs(build_model(spec.arch), splits.input_shape) / 1e6
        if mflops <= ref * max_share:
            specs.append((spec, mflops))
        if len(specs) == count:
            break
    return splits, space, specs


def _plan(splits, space) -> int:
    """The epochs a new 10-minute study plans for its trials here (one core)."""
    from nasprune.search.budget import Clock, plan_epochs
    from nasprune.space import candidates
    from nasprune.train import resolve_runtime

    first = candidates(space, splits.input_shape[0], splits.num_classes)[0]
    return plan_epochs(first, splits, resolve_runtime("cpu"), Clock(time.time(), 600), first.train.epochs)


def _run(spec, splits, runtime, seed: int, test: bool) -> dict:
    import torch

    from nasprune import build_model
    from nasprune.data import Normalizer
    from nasprune.train import evaluate, train

    torch.manual_seed(seed)
    model = build_model(spec.arch)
    t0 = time.time()
    result = train(model, splits, spec.train, runtime, seed=seed)
    out = {"seconds": round(time.time() - t0, 2), "history": _history(result)}
    if test:
        normalize = Normalizer(splits, runtime.device, runtime.memory_format, runtime.input_dtype)
        out["test_acc"] = evaluate(model, splits.test, normalize, runtime)[1]
    return out


def run_set(root: Path, name: str, args: argparse.Namespace) -> None:
    from nasprune import build_model
    from nasprune.data import Split
    from nasprune.search.stopping import chance_level
    from nasprune.spec import TrialSpec, describe
    from nasprune.train import resolve_runtime

    done = {(r["set"], r["cand"], r["kind"]) for r in _rows(args.out)}
    splits, space, specs = _setup(root, name, args.candidates, args.seed, args.max_share)
    runtime = resolve_runtime("cpu")
    plan = _plan(splits, space)
    half = len(splits.train) // 2
    subset = replace(splits, train=Split(splits.train.x[:half], splits.train.y[:half]))
    print(f"{name}: {len(specs)} candidates, plan {plan} epochs, full {args.full_epochs}", flush=True)
    with open(args.out, "a") as f:
        f.write(json.dumps({"set": name, "cand": -1, "kind": "setup", "plan": plan,
                            "chance": chance_level(splits.val.y)}) + "\n")

    def with_train(spec: TrialSpec, **changes) -> TrialSpec:
        return TrialSpec(spec.arch, spec.train.replace(**changes))

    def one(i: int, kind: str, spec: TrialSpec, data, seed: int, test: bool = False) -> None:
        if (name, i, kind) in done:
            return
        row = {"set": name, "cand": i, "kind": kind, "seed": seed, "epochs": spec.train.epochs,
               "batch": spec.train.batch_size, "mflops": round(specs[i][1], 3), "plan": plan,
               "params": sum(p.numel() for p in build_model(spec.arch).parameters()), "arch": describe(spec.arch),
               **_run(spec, data, runtime, seed, test)}
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{name} #{i} {kind}: val {row['history'][-1]['val_acc']:.4f} in {row['seconds']:.0f} s", flush=True)

    runs = set(args.runs)
    for i, (spec, _) in enumerate(specs):  # one candidate at a time: a benchmark cut short has whole rows
        for kind, train_spec, data in (("2ep", with_train(spec, epochs=2), splits),
                                       ("subset", with_train(spec, epochs=4), subset),
                                       ("batch32", with_train(spec, epochs=2, batch_size=32), splits),
                                       ("6ep", with_train(spec, epochs=6), splits)):
            if kind in runs:
                one(i, kind, train_spec, data, 2)
        for seed in (0, 1):
            one(i, f"full{seed}", with_train(spec, epochs=args.full_epochs), splits, seed, test=True)
    short = {r["cand"]: r for r in _rows(args.out) if r["set"] == name and r["kind"] == "6ep"}
    for i in sorted(short, key=lambda i: -short[i]["history"][-1]["val_acc"])[:max(1, round(len(short) / 3))]:
        if "promote" in runs:
            one(i, "promote", with_train(specs[i][0], epochs=args.full_epochs), splits, 2)
    if "plan" in runs and plan <= args.full_epochs / 2:  # a longer plan costs about a full run
        for i, (spec, _) in enumerate(specs):
            one(i, "plan", with_train(spec, epochs=plan), splits, 2)


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _scores(runs: dict[str, dict[int, dict]], kind: str) -> dict[int, float] | None:
    """Each candidate's score under fidelity ``kind`` (higher predicts better), or None where it was not run."""
    six = runs.get("6ep", {})
    last = {i: r["history"][-1]["val_acc"] for i, r in six.items()}
    if kind in ("plan", "2ep", "subset", "batch32", "6ep"):
        return {i: r["history"][-1]["val_acc"] for i, r in runs.get(kind, {}).items()} or None
    if kind == "promote":
        promoted = runs.get("promote", {})
        if not promoted:
            return None
        return {i: (1 + promoted[i]["history"][-1]["val_acc"]) if i in promoted else last[i] for i in last}
    if kind == "sotl":
        return {i: -sum(h["train_loss"] for h in r["history"]) for i, r in six.items()} or None
    if kind == "val_loss":
        return {i: -r["history"][-1]["val_loss"] for i, r in six.items()} or None
    if kind == "params":
        return {i: r["params"] for i, r in six.items()} or None
    raise ValueError(kind)


def _cost(runs: dict[str, dict[int, dict]], kind: str) -> float:
    full = sum(r["seconds"] for r in runs.get("full0", {}).values()) or float("nan")
    seconds = {"promote": lambda: sum(r["seconds"] for r in runs["6ep"].values())
               + sum(r["seconds"] for r in runs["promote"].values()),
               "sotl": lambda: sum(r["seconds"] for r in runs["6ep"].values()),
               "val_loss": lambda: sum(r["seconds"] for r in runs["6ep"].values()),
               "params": lambda: 0.0}.get(kind, lambda: sum(r["seconds"] for r in runs[kind].values()))
    return seconds() / full


def table(path: Path) -> str:
    rows = _rows(path)
    lines = ["| set | fidelity | epochs | candidates | Kendall tau | Spearman | top-3 kept | cost (share of full) "
             "| learned |", "|---|---|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["set"] for r in rows):
        runs: dict[str, dict[int, dict]] = {}
        for r in rows:
            if r["set"] == name:
                runs.setdefault(r["kind"], {})[r["cand"]] = r
        full = {i: r["test_acc"] for i, r in runs.get("full0", {}).items()}
        if len(full) < 4:
            continue
        chance = 2 * _chance(runs)

        def line(label: str, scores: dict[int, float], epochs: str, cost: float, learned: str) -> str:
            return _line(name, full, label, scores, epochs, cost, learned)  # noqa: B023 (called in this iteration)

        if "full1" in runs:
            second = {i: r["test_acc"] for i, r in runs["full1"].items()}
            learned = sum(h["history"][-1]["val_acc"] > chance for h in runs["full1"].values())
            lines.append(line("**full, seed 1 (ceiling)**", second, str(runs["full1"][next(iter(runs["full1"]))]["epochs"]),
                              1.0, f"{learned}/{len(second)}"))
        for kind in FIDELITIES:
            scores = _scores(runs, kind)
            if not scores:
                continue
            source = runs.get(kind) or runs["6ep"]
            epochs = {"promote": "6, then full for the top third"}.get(
                kind, str(next(iter(source.values()))["epochs"]) if kind in runs else "from 6ep")
            learned = (f"{sum(r['history'][-1]['val_acc'] > chance for r in source.values())}/{len(source)}"
                       if kind in runs and kind != "promote" else "")
            lines.append(line(kind, scores, epochs, _cost(runs, kind), learned))
        for k in PARTIAL:  # what a rung sees: a trial's curve part-way through the full schedule (seed 1)
            curves = {i: r["history"][:k] for i, r in runs.get("full1", {}).items() if len(r["history"]) > k}
            if not curves:
                continue
            cost = (sum(h["seconds"] for c in curves.values() for h in c)
                    / sum(h["seconds"] for r in runs["full1"].values() for h in r["history"]))
            learned = f"{sum(c[-1]['val_acc'] > chance for c in curves.values())}/{len(curves)}"
            lines.append(line(f"val@{k} (seed 1's curve)", {i: c[-1]["val_acc"] for i, c in curves.items()}, str(k),
                              cost, learned))
            lines.append(line(f"sotl@{k} (seed 1's curve)", {i: -sum(h["train_loss"] for h in c)
                                                              for i, c in curves.items()}, str(k), cost, ""))
        onsets = [next((e + 1 for e, h in enumerate(r["history"]) if h["val_acc"] > chance), None)
                  for r in runs.get("full0", {}).values()]
        reached = sorted(o for o in onsets if o is not None)
        if reached:
            lines.append(f"| {name} | onset (full runs above twice chance) | median epoch {statistics.median(reached):g} "
                         f"| {len(reached)} of {len(onsets)} | | | | | |")
    return "\n".join(lines)


def _line(name: str, full: dict[int, float], label: str, scores: dict[int, float], epochs: str, cost: float,
          learned: str) -> str:
    """One row: how the order of ``scores`` agrees with the order of ``full`` (test accuracy of full runs)."""
    from scipy.stats import kendalltau, spearmanr

    common = sorted(set(scores) & set(full))
    a, b = [scores[i] for i in common], [full[i] for i in common]
    tau, rho = kendalltau(a, b).statistic, spearmanr(a, b).statistic
    top = len({*sorted(common, key=lambda i: -scores[i])[:3]} & {*sorted(common, key=lambda i: -full[i])[:3]})
    return f"| {name} | {label} | {epochs} | {len(common)} | {tau:.2f} | {rho:.2f} | {top}/3 | {cost:.2f} | {learned} |"


def _chance(runs: dict[str, dict[int, dict]]) -> float:
    """Chance accuracy of a set's validation split (always its largest class), as its setup row recorded it."""
    setup = runs.get("setup", {}).get(-1, {})
    if "chance" not in setup:
        raise SystemExit("fidelity.py: a set's setup row records no chance level (written by an older fidelity.py); "
                         "add it, or run the set again into a new --out file")
    return setup["chance"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="folder with the sets (benchmarks/datasets.py --out)")
    parser.add_argument("--sets", nargs="+", default=["cifar-c32"], help="set names under --root")
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--full-epochs", type=int, default=12, help="epochs of a full run (default 12)")
    parser.add_argument("--max-share", type=float, default=0.25,
                        help="candidates cost at most this share of ResNet-20's MFLOPs (default 0.25)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the candidates' draw (default 1)")
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=RUNS,
                        help="short runs to train beside the two full ones (default: all; the partial-curve scores "
                             "read seed 1's full run and need none)")
    parser.add_argument("--out", type=Path, default=Path("fidelity.jsonl"))
    parser.add_argument("--table", action="store_true", help="print the table from --out and run nothing")
    args = parser.parse_args()
    if not args.table:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _env import machine

        print(machine(), flush=True)
        for name in args.sets:
            run_set(args.root, name, args)
    print(table(args.out))


if __name__ == "__main__":
    main()
