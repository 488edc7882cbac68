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

from .errors import NaspruneError

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
    from .search.config import OBJECTIVES
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
    p.add_argument("--trials", type=int, default=20, metavar="N",
                   help="trials the study should hold when done, counting earlier runs and all workers (default: 20)")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs per trial (default: the space's training.epochs)")
    p.add_argument("--objectives", choices=list(OBJECTIVES), default="accuracy,mflops",
                   help="maximize validation accuracy and minimize MFLOPs or parameters (multi-objective), or "
                        "accuracy alone (default: accuracy,mflops)")
    p.add_argument("--max-mflops", type=float, metavar="X",
                   help="budget: reject candidates above X million multiply-adds before training")
    p.add_argument("--max-params", type=_count, metavar="N", help="budget: reject candidates above N parameters (250k, 1.5M)")
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nasprune", description="Find compact, accurate networks for your data (architecture "
                                                  "search with Optuna), then prune their redundant channels.")
    parser.add_argument("--version", action="version", version=f"nasprune {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_search(sub)
    _add_show(sub)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


def _run_search(args: argparse.Namespace) -> int:
    from .data import DataOptions
    from .search import SearchConfig, search

    data_options = DataOptions(val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                               image_size=args.image_size, augment=args.augment, download=args.download,
                               skip_broken_images=args.skip_broken_images, cache=not args.no_cache)
    config = SearchConfig(
        space=args.space, data=args.data, study=args.study, trials=args.trials, epochs=args.epochs,
        objectives=args.objectives, max_mflops=args.max_mflops, max_params=args.max_params, pruner=args.pruner,
        seed=args.seed, storage=args.storage, results_dir=args.results_dir, baselines=tuple(args.baseline),
        data_options=data_options, device=args.device, precision=args.precision, cuda_graph=not args.no_cuda_graph,
        placement=args.placement, loader_workers=args.loader_workers, workers=args.workers, gpus=args.gpus,
        timeout=args.timeout, latency=not args.no_latency, progress=not args.quiet,
    )
    search(config)
    return 0


def _run_show(args: argparse.Namespace) -> int:
    from .show import format_show, parse_shape, show
    from .space import load_space

    shape = parse_shape(args.input) if args.input else None
    info = show(load_space(args.space), shape, args.classes, args.samples, args.seed)
    print(json.dumps(info, indent=2) if args.json else format_show(info))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nasprune`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    # warnings of the library (a damaged cache rebuilt, a CUDA graph that fell back to eager) go to stderr
    logging.basicConfig(level=logging.WARNING, format="nasprune: %(levelname)s: %(message)s")
    commands = {"search": _run_search, "show": _run_show}
    try:
        return commands[args.command](args)
    except NaspruneError as exc:
        print(f"nasprune: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("nasprune: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
