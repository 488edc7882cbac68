"""The ``nasprune`` command line: parses arguments and calls the Python API, nothing more.

Errors a user can cause print one line (``nasprune: error: ...``) and exit with status 2; an
interrupted search exits with 130 after saying how to resume.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import DISK_FULL, NaspruneError, disk_full_message
from .signals import exit_code, interrupt_on_signals, signal_name, signal_of

__all__ = ["main", "build_parser"]

EPILOG_SEARCH = """\
examples:
  nasprune search                                   # digits, search_spaces/default.yaml, 20 trials
  nasprune search --space resnet --trials 50 --epochs 10 --study my-study
  nasprune search --objectives accuracy --max-mflops 5 --pruner hyperband
  nasprune search --baseline resnet20 --data digits
  nasprune search --data imagefolder:/data/cifar10 --space resnet --trials 200 --epochs 15
  nasprune search --data cifar10:~/datasets --download --workers 8 --gpus 0,1

Running the same command again resumes the study (until it holds --trials finished trials).
Results go to RESULTS_DIR/STUDY/: study.journal (the Optuna study, open it with optuna-dashboard),
trials/NNNNN/ (spec.json + weights.pt of every completed trial) and summary.json (the winners).
MFLOPs are millions of multiply-adds (MACs) per image, as fvcore counts them."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors that point to --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _count(text: str) -> int:
    """'250000', '250k', '1.5M' -> an integer count."""
    scale = {"k": 1e3, "m": 1e6, "g": 1e9}.get(text[-1:].lower(), 1)
    try:
        value = float(text[:-1] if scale != 1 else text) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count such as 250000, 250k or 1.5M (got {text!r})") from None
    return int(value)


def _image_size(text: str) -> tuple[int, int]:
    from .data import parse_image_size

    try:
        return parse_image_size(text)
    except NaspruneError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _gpus(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(g) for g in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected GPU indices such as 0,1 (got {text!r})") from None


def _add_search(sub: argparse._SubParsersAction) -> None:
    from .data import AUGMENTS
    from .data.placement import PLACEMENTS
    from .search.config import OBJECTIVES, SAMPLERS
    from .search.stopping import PRUNERS
    from .search.workers import WORKERS_PER_GPU
    from .train import PRECISIONS

    p = sub.add_parser("search", help="search architectures on a data set (resumable)",
                       description="Search a space of architectures with Optuna: sample, build, measure, train "
                                   "and early-stop candidates; evaluate the Pareto front once on the test split.",
                       epilog=EPILOG_SEARCH, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="default", metavar="YAML",
                   help="search-space file, or the name of a bundled one: default, resnet, mobilenet, plain, "
                        "or a preset such as resnet20 (default: default)")
    p.add_argument("--data", default="digits", metavar="NAME[:PATH]",
                   help="data set: digits (bundled with scikit-learn; default); imagefolder:PATH (PATH/<class>/*.jpg, "
                        "or PATH/train/<class>/ with val/ and/or test/ beside it); cifar10:ROOT, cifar100:ROOT, "
                        "mnist:ROOT, fashion-mnist:ROOT (torchvision's on-disk formats, read without torchvision)")
    p.add_argument("--study", metavar="NAME", help="study name (default: SPACE-DATA, e.g. default-digits)")
    p.add_argument("--trials", type=int, metavar="N",
                   help="trials the study should hold when done, counting earlier runs and all workers (default: 20; "
                        "with --time-budget: as many as fit)")
    p.add_argument("--time-budget", type=float, metavar="MINUTES",
                   help="wall clock for the whole search: the epochs per trial are planned from it (for a new "
                        "study), new candidates are sampled for its first two thirds, then the most accurate "
                        "winners train again with up to 3x the epochs")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs per trial (default: the space's training.epochs)")
    p.add_argument("--objectives", choices=list(OBJECTIVES), default="accuracy,mflops",
                   help="maximize validation accuracy and minimize MFLOPs or parameters (multi-objective), or "
                        "accuracy alone (default: accuracy,mflops)")
    p.add_argument("--max-mflops", type=float, metavar="X",
                   help="budget: reject candidates above X million multiply-adds before training")
    p.add_argument("--max-params", type=_count, metavar="N", help="budget: reject candidates above N parameters (250k, 1.5M)")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe",
                   help="how candidates are chosen: tpe (Optuna's TPE, learns from earlier trials; default) or "
                        "random (a control to compare against)")
    p.add_argument("--pruner", choices=PRUNERS, default="auto",
                   help="early stopping of hopeless trials: rungs (nasprune's successive halving against trials "
                        "of similar MFLOPs; works with several objectives), hyperband or median (Optuna's; one "
                        "objective only), none; auto = rungs for several objectives, hyperband for one")
    p.add_argument("--baseline", action="append", default=[], metavar="PRESET",
                   help="also train this preset (name or file) as a trial of the study; repeatable")
    p.add_argument("--storage", metavar="URL|FILE",
                   help="Optuna storage: sqlite:///x.db, postgresql://user@host/db, or a journal file "
                        "(default: RESULTS_DIR/STUDY/study.journal, safe for several processes on one machine)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), metavar="DIR", help="default: results")
    p.add_argument("--seed", type=int, default=0, help="seed of the data split, the sampler and training (default: 0)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: bf16 autocast on GPUs that support it, fp16 on older ones, fp32 on the CPU")
    d = p.add_argument_group("data")
    d.add_argument("--val-fraction", type=float, default=0.2, metavar="F",
                   help="validation share, split off the training images when the data has no validation split "
                        "(default: 0.2)")
    d.add_argument("--test-fraction", type=float, default=0.2, metavar="F",
                   help="held-out test share when the data has no test split; the test split is used only to "
                        "evaluate the winners (default: 0.2)")
    d.add_argument("--image-size", type=_image_size, metavar="N|HxW",
                   help="resize every image of an image folder once, at load time (needed when sizes differ)")
    d.add_argument("--augment", choices=AUGMENTS, default="auto",
                   help="training augmentation on the GPU: random crop with padding, horizontal flip; auto: crop+flip "
                        "for CIFAR and colour folders, crop for grayscale folders and Fashion-MNIST, none for "
                        "digits and MNIST")
    d.add_argument("--download", action="store_true",
                   help="download a torchvision data set that is not under ROOT (the only network access)")
    d.add_argument("--skip-broken-images", action="store_true",
                   help="leave out image files that cannot be decoded instead of stopping with their names")
    d.add_argument("--no-cache", action="store_true",
                   help="do not keep decoded images (default: cached under $NASPRUNE_CACHE_DIR or ~/.cache/nasprune)")
    r = p.add_argument_group("speed")
    r.add_argument("--workers", type=int, metavar="K",
                   help=f"trial worker processes sharing the study (default: 1 on the CPU, {WORKERS_PER_GPU} per GPU, "
                        f"since small networks leave a GPU mostly idle)")
    r.add_argument("--gpus", type=_gpus, metavar="0,1,...", help="GPUs to spread the workers over (default: --device's)")
    r.add_argument("--placement", choices=PLACEMENTS, default="auto",
                   help="keep the data on the GPU (device), stream it from host memory through DataLoader workers "
                        "(stream), or pick by size (auto; default)")
    r.add_argument("--no-cuda-graph", action="store_true",
                   help="train eagerly instead of capturing each trial's training step as a CUDA graph")
    r.add_argument("--loader-workers", type=int, default=4, metavar="N",
                   help="DataLoader workers when the data is streamed (default: 4)")
    c = p.add_argument_group("several machines (a shared --storage such as postgresql://user@host/db)")
    c.add_argument("--artifacts", type=Path, metavar="PATH",
                   help="where trial checkpoints and the dashboard's artifact store go: a path every worker sees "
                        "at the same place, e.g. a shared filesystem (default: RESULTS_DIR/STUDY)")
    c.add_argument("--heartbeat", type=int, default=30, metavar="SECONDS",
                   help="running trials send a heartbeat this often (database storages); a trial silent for twice "
                        "as long (its worker was killed, its machine lost) is failed and run again (default: 30)")
    c.add_argument("--max-retries", type=int, default=2, metavar="N",
                   help="run a trial whose worker died again at most N times (default: 2)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="start no new trial after this long")
    p.add_argument("--no-latency", action="store_true", help="do not measure the batch-1 latency of candidates")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-trial lines")


def _add_show(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="describe a preset or a search space without training",
                       description="For a preset: its parameters, MFLOPs (multiply-adds) and depth. For a search "
                                   "space: the parameters Optuna searches and a few random candidates.")
    p.add_argument("space", metavar="YAML", help="search-space or preset file, or a bundled name (resnet20)")
    p.add_argument("--input", metavar="CxHxW", help="input shape (default: the file's input, else 3x32x32)")
    p.add_argument("--classes", type=int, metavar="N", help="classifier outputs (default: the file's num_classes)")
    p.add_argument("--samples", type=int, default=5, metavar="N", help="random candidates to show for a space")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


EPILOG_PRUNE = """\
examples:
  nasprune prune --study default-digits                 # its most accurate Pareto trial, keep 50% of the MFLOPs
  nasprune prune --study my-study --trial 17 --target-mflops 0.5 --importance taylor --finetune-epochs 20
  nasprune prune --study my-study --pick 2.0 --importance random --name control
  nasprune prune --model results/my-study/trials/00017 --data digits --target-params 0.3
  nasprune prune --study my-study --trial 17 --blocks                 # whole redundant residual blocks out
  nasprune prune --study my-study --trial 17 --blocks --target-mflops 0.5   # blocks first, then channels

Writes RESULTS_DIR/STUDY/pruned/NAME/: spec.json, weights.pt (plain tensors) and pruning.json (torch-pruning's
history, to rebuild the pruned shapes), summary.json and summary.md; load it with nasprune.load_model(folder).
The pruned model is also added to the study as a trial linked to its source (it does not use the budget)."""


def _add_runtime(p: argparse.ArgumentParser) -> None:
    from .data.placement import PLACEMENTS
    from .train import PRECISIONS

    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: bf16 autocast on GPUs that support it, fp16 on older ones, fp32 on the CPU")
    p.add_argument("--placement", choices=PLACEMENTS, default="auto",
                   help="keep the data on the GPU, stream it from host memory, or pick by size (default: auto)")
    p.add_argument("--no-cuda-graph", action="store_true", help="train eagerly instead of capturing CUDA graphs")
    p.add_argument("--loader-workers", type=int, default=4, metavar="N",
                   help="DataLoader workers when the data is streamed (default: 4)")


def _add_prune(sub: argparse._SubParsersAction) -> None:
    from .prune.channels import IMPORTANCES

    p = sub.add_parser("prune", help="remove redundant channels from a winner, fine-tune, compare",
                       description="Prune a trained network with torch-pruning (DepGraph) until its measured "
                                   "MFLOPs or parameters reach a target, fine-tune it with the search's trainer, "
                                   "and report accuracy, MFLOPs, parameters and latency before and after.",
                       epilog=EPILOG_PRUNE, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_argument_group("which model")
    which.add_argument("--study", metavar="NAME", help="a study made by nasprune search")
    which.add_argument("--trial", type=int, metavar="N", help="its trial N (default: the most accurate Pareto trial)")
    which.add_argument("--pick", type=float, metavar="MFLOPS",
                       help="the most accurate Pareto trial with at most this many MFLOPs")
    which.add_argument("--model", type=Path, metavar="DIR", help="a saved model folder instead (needs --data)")
    which.add_argument("--data", metavar="NAME[:PATH]", help="with --model: the data set (a study knows its own)")
    which.add_argument("--seed", type=int, default=0, help="with --model: the data split's seed (default: 0)")
    which.add_argument("--storage", metavar="URL|FILE", help="the study's storage (default: RESULTS_DIR/STUDY/study.journal)")
    which.add_argument("--results-dir", type=Path, default=Path("results"), metavar="DIR", help="default: results")
    how = p.add_argument_group("how much and how")
    how.add_argument("--target-mflops", type=float, metavar="F",
                     help="keep this share of the multiply-adds, e.g. 0.5 (the default target)")
    how.add_argument("--target-params", type=float, metavar="F", help="keep this share of the parameters")
    how.add_argument("--channel-ratio", type=float, metavar="R", help="remove this share of every layer's channels")
    how.add_argument("--importance", choices=list(IMPORTANCES), default="l1",
                     help="which channels go first: l1/l2 weight magnitude, taylor (|weight x gradient|, from "
                          "--gradient-batches training batches), bn (batch-norm scale), lamp, random (the control) "
                          "(default: l1)")
    how.add_argument("--steps", type=int, default=5, metavar="N",
                     help="coarse pruning steps before the fine ones that stop at the target (default: 5)")
    how.add_argument("--global", dest="global_pruning", action="store_true",
                     help="rank channels across layers instead of within each layer (can empty a narrow layer)")
    how.add_argument("--round-to", type=int, metavar="K",
                     help="keep channel counts multiples of K (default: 8 on CUDA for tensor cores, else 1)")
    how.add_argument("--sparse-epochs", type=int, default=0, metavar="E",
                     help="train E epochs with group-norm sparsity regularization before pruning (default: 0)")
    how.add_argument("--gradient-batches", type=int, default=4, metavar="N",
                     help="training batches whose gradients feed the taylor importance (default: 4)")
    how.add_argument("--finetune-epochs", type=int, metavar="E",
                     help="fine-tuning epochs after pruning (default: the source trial's epochs; 0 skips)")
    how.add_argument("--finetune-lr", type=float, metavar="LR",
                     help="peak learning rate of fine-tuning (default: the source trial's)")
    depth = p.add_argument_group("whole blocks (depth pruning)")
    depth.add_argument("--blocks", action="store_true",
                       help="first remove residual blocks whose output ~ input (linear CKA, and bypassing them keeps "
                            "the probe's predictions), one at a time, checking validation accuracy after each; "
                            "channels are then pruned only if a target is given (a share of the original's cost)")
    depth.add_argument("--block-max-drop", type=float, default=1.0, metavar="POINTS",
                       help="validation accuracy the block removals may cost before fine-tuning (default: 1.0)")
    depth.add_argument("--probe-images", type=int, default=256, metavar="N",
                       help="validation images of the redundancy probe (default: 256)")
    out = p.add_argument_group("output")
    out.add_argument("--name", help="output folder name (default: trial<N>-<importance>-<target>)")
    out.add_argument("--no-record", action="store_true", help="do not add the pruned model to the study")
    out.add_argument("--quiet", action="store_true", help="print nothing but errors")
    _add_runtime(p)


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="measure any saved model: accuracy, MFLOPs, params, latency",
                       description="Evaluate a saved model folder (a search trial or a pruned model) on a data set: "
                                   "validation and test accuracy, MFLOPs (multiply-adds), parameters, latency.")
    p.add_argument("model", type=Path, metavar="DIR", help="a folder with spec.json and weights.pt")
    p.add_argument("--data", default="digits", metavar="NAME[:PATH]", help="the data set (default: digits)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, as the search used (default: 0)")
    p.add_argument("--val-fraction", type=float, default=0.2, metavar="F")
    p.add_argument("--test-fraction", type=float, default=0.2, metavar="F")
    p.add_argument("--image-size", type=_image_size, metavar="N|HxW", help="as for nasprune search")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


EPILOG_DIAGNOSE = """\
examples:
  nasprune diagnose --study my-study --trial 17        # writes RESULTS_DIR/my-study/diagnose/trial17.json
  nasprune diagnose --model results/my-study/pruned/x --data digits --json

Overfitting: train vs validation accuracy at the best epoch and its trend. Vanishing or exploding gradients:
the gradient-norm ratio of the first weighted layer to the last, recorded at a few steps of the trial's
training (or measured now). Redundancy: linear CKA (Kornblith et al. 2019) of each block's output with its
input on a probe batch of validation images, a bypass test, and channels whose output is near zero."""


def _add_diagnose(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diagnose", help="why did depth help or hurt: overfitting, gradients, redundant blocks",
                       description="Diagnose a trained network: is it overfitting, do its gradients vanish or explode "
                                   "on the way to the first layers, which blocks only repeat what earlier ones "
                                   "compute. Prints a verdict and writes it as JSON.",
                       epilog=EPILOG_DIAGNOSE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study", metavar="NAME", help="a study made by nasprune search")
    p.add_argument("--trial", type=int, metavar="N", help="its trial N (default: the most accurate Pareto trial)")
    p.add_argument("--model", type=Path, metavar="DIR", help="a saved model folder instead (needs --data)")
    p.add_argument("--data", metavar="NAME[:PATH]", help="with --model: the data set (a study knows its own)")
    p.add_argument("--seed", type=int, default=0, help="with --model: the data split's seed (default: 0)")
    p.add_argument("--storage", metavar="URL|FILE", help="the study's storage (default: RESULTS_DIR/STUDY/study.journal)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), metavar="DIR", help="default: results")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="the JSON (default: RESULTS_DIR/STUDY/diagnose/trialN.json, or RESULTS_DIR/diagnose/DIR.json)")
    p.add_argument("--probe-images", type=int, default=256, metavar="N",
                   help="validation images of the redundancy probe (default: 256)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--json", action="store_true", help="print the JSON instead of the verdict")


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write a study's report: plots, tables, CSV (Markdown and HTML)",
                       description="Write RESULTS_DIR/STUDY/report/: report.md, a self-contained report.html (images "
                                   "embedded), the PNG plots (Pareto fronts, history, importance, depth, width, "
                                   "training curves, pruning) and trials.csv (one row per trial, every spec field).")
    p.add_argument("--study", required=True, metavar="NAME", help="a study made by nasprune search")
    p.add_argument("--storage", metavar="URL|FILE", help="the study's storage (default: RESULTS_DIR/STUDY/study.journal)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), metavar="DIR", help="default: results")
    p.add_argument("--out", type=Path, metavar="DIR", help="where to write (default: RESULTS_DIR/STUDY/report)")
    p.add_argument("--top", type=int, default=10, metavar="K", help="trials in the top-k table and curves (default: 10)")
    p.add_argument("--no-test", action="store_true",
                   help="do not evaluate the winners on the test split (their test accuracy is then not shown)")
    p.add_argument("--device", default="auto", help="for evaluating the winners: auto, cpu, cuda (default: auto)")


def _add_dashboard(sub: argparse._SubParsersAction) -> None:
    from .dashboard import DEFAULT_HOST, DEFAULT_PORT

    p = sub.add_parser("dashboard", help="open a study in optuna-dashboard (needs the [dashboard] extra)",
                       description="Serve optuna-dashboard on the study's storage and artifact store, with a study "
                                   "note saying what was searched. Needs pip install -e '.[dashboard]'.")
    p.add_argument("--study", required=True, metavar="NAME", help="a study made by nasprune search")
    p.add_argument("--storage", metavar="URL|FILE", help="the study's storage (default: RESULTS_DIR/STUDY/study.journal)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), metavar="DIR", help="default: results")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default: {DEFAULT_HOST}, this machine only; 0.0.0.0 exposes it)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default: {DEFAULT_PORT}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nasprune", description="Find compact, accurate networks for your data (architecture "
                                                  "search with Optuna), then prune their redundant channels.")
    parser.add_argument("--version", action="version", version=f"nasprune {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_search(sub)
    _add_prune(sub)
    _add_eval(sub)
    _add_diagnose(sub)
    _add_report(sub)
    _add_dashboard(sub)
    _add_show(sub)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


def _run_search(args: argparse.Namespace) -> int:
    from .data import DataOptions
    from .search import SearchConfig, search
    from .terminal import Progress, search_text

    data_options = DataOptions(val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                               image_size=args.image_size, augment=args.augment, download=args.download,
                               skip_broken_images=args.skip_broken_images, cache=not args.no_cache)
    config = SearchConfig(
        space=args.space, data=args.data, study=args.study, epochs=args.epochs, time_budget=args.time_budget,
        trials=args.trials if args.trials is not None or args.time_budget else 20, sampler=args.sampler,
        objectives=args.objectives, max_mflops=args.max_mflops, max_params=args.max_params, pruner=args.pruner,
        seed=args.seed, storage=args.storage, results_dir=args.results_dir, baselines=tuple(args.baseline),
        data_options=data_options, device=args.device, precision=args.precision, cuda_graph=not args.no_cuda_graph,
        placement=args.placement, loader_workers=args.loader_workers, workers=args.workers, gpus=args.gpus,
        timeout=args.timeout, latency=not args.no_latency, artifacts_dir=args.artifacts,
        heartbeat=args.heartbeat, max_retries=args.max_retries,
    )
    if args.quiet:
        search(config)
        return 0
    progress = Progress(config.trials)
    try:
        result = search(config, on_event=progress)
    finally:
        progress.close()
    print(search_text(result))
    return 0


def _run_show(args: argparse.Namespace) -> int:
    from .show import format_show, parse_shape, show
    from .space import load_space

    shape = parse_shape(args.input) if args.input else None
    info = show(load_space(args.space), shape, args.classes, args.samples, args.seed)
    print(json.dumps(info, indent=2) if args.json else format_show(info))
    return 0


def _run_prune(args: argparse.Namespace) -> int:
    from .data import DataOptions
    from .prune import PruneConfig, prune
    from .terminal import Progress, prune_text

    config = PruneConfig(
        study=args.study, model=args.model, trial=args.trial, pick_mflops=args.pick, target_mflops=args.target_mflops,
        target_params=args.target_params, channel_ratio=args.channel_ratio, importance=args.importance,
        steps=args.steps, global_pruning=args.global_pruning, round_to=args.round_to,
        finetune_epochs=args.finetune_epochs, finetune_lr=args.finetune_lr, sparse_epochs=args.sparse_epochs,
        gradient_batches=args.gradient_batches, name=args.name, data=args.data, data_options=DataOptions(),
        seed=args.seed, storage=args.storage, results_dir=args.results_dir, device=args.device,
        precision=args.precision, cuda_graph=not args.no_cuda_graph, placement=args.placement,
        loader_workers=args.loader_workers, record=not args.no_record, blocks=args.blocks,
        block_max_drop=args.block_max_drop, probe_images=args.probe_images)
    if args.quiet:
        prune(config)
        return 0
    progress = Progress()
    try:
        result = prune(config, on_event=progress)
    finally:
        progress.close()
    print(prune_text(result))
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    from .data import DataOptions
    from .evaluation import evaluate_saved
    from .terminal import eval_text

    info = evaluate_saved(args.model, args.data, DataOptions(val_fraction=args.val_fraction,
                                                            test_fraction=args.test_fraction,
                                                            image_size=args.image_size), args.seed, args.device)
    print(json.dumps(info, indent=2) if args.json else eval_text(info))
    return 0


def _run_diagnose(args: argparse.Namespace) -> int:
    from .diagnose import DiagnoseConfig, diagnose
    from .diagnostics import format_diagnosis

    result = diagnose(DiagnoseConfig(study=args.study, trial=args.trial, model=args.model, data=args.data,
                                     seed=args.seed, storage=args.storage, results_dir=args.results_dir, out=args.out,
                                     probe_images=args.probe_images, device=args.device))
    if args.json:
        print(json.dumps(result.diagnosis.to_dict(), indent=2))
        return 0
    print(format_diagnosis(result.diagnosis))
    print(f"saved: {result.out}")
    return 0


def _run_report(args: argparse.Namespace) -> int:
    from .report import ReportConfig, report

    result = report(ReportConfig(study=args.study, storage=args.storage, results_dir=args.results_dir, out=args.out,
                                 top=args.top, test=not args.no_test, device=args.device))
    print(f"nasprune report: {len(result.files)} files in {result.out} ({result.seconds:.1f} s): "
          f"{result.out / 'report.html'} (open it in a browser), report.md, trials.csv")
    return 0


def _run_dashboard(args: argparse.Namespace) -> int:
    from .dashboard import dashboard

    dashboard(args.study, args.storage, args.results_dir, args.host, args.port)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nasprune`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    # warnings of the library (a damaged cache rebuilt, a CUDA graph that fell back to eager) go to stderr
    logging.basicConfig(level=logging.WARNING, format="nasprune: %(levelname)s: %(message)s")
    commands = {"search": _run_search, "prune": _run_prune, "eval": _run_eval, "report": _run_report,
                "dashboard": _run_dashboard, "show": _run_show, "diagnose": _run_diagnose}
    try:
        with interrupt_on_signals():  # SIGTERM ends a run like Ctrl-C: trial recorded, resumable
            return commands[args.command](args)
    except NaspruneError as exc:
        print(f"nasprune: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print(f"nasprune: interrupted ({signal_name(signal_of(exc))})", file=sys.stderr)
        return exit_code(exc)
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        print(f"nasprune: error: {disk_full_message(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
