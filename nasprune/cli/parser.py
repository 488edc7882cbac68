"""The ``nasprune`` command line's arguments. Building the parser imports nothing heavy (the names offered come
from nasprune.choices), so ``--help`` and ``--version`` answer at once."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..choices import (
    AUGMENTS,
    DEFAULT_HOST,
    DEFAULT_PORT,
    EXPORT_FORMATS,
    IMPORTANCES,
    LATENCY_RUNTIMES,
    OBJECTIVES,
    ONNX_EXPORTERS,
    PLACEMENTS,
    PRECISIONS,
    PRUNERS,
    SAMPLERS,
    WORKERS_PER_GPU,
)
from ..errors import NaspruneError
from ..options import parse_image_size

__all__ = ["build_parser"]


EPILOG_SEARCH = """\
examples:
  nasprune search                                   # digits, search_spaces/default.yaml, 20 trials
  nasprune search --data imagefolder:/data/pets --time-budget 30     # your images, half an hour
  nasprune search --space resnet --trials 50 --epochs 10 --study my-study
  nasprune search --objectives accuracy --max-mflops 5 --pruner hyperband
  nasprune search --baseline resnet20 --data digits
  nasprune search --data cifar10:~/datasets --download --workers 8 --gpus 0,1

Running the same command again resumes the study (until it holds --trials finished trials).
Results go to RESULTS_DIR/STUDY/: study.journal (the Optuna study, open it with optuna-dashboard),
trials/NNNNN/ (spec.json, weights.pt and data.json of every completed trial) and summary.json (the winners).
MFLOPs are millions of multiply-adds (MACs) per image, as fvcore counts them."""

EPILOG_PRUNE = """\
examples:
  nasprune prune --study default-digits                 # its most accurate Pareto trial, keep 50% of the MFLOPs
  nasprune prune --study my-study --trial 17 --target-mflops 0.5 --importance taylor --finetune-epochs 20
  nasprune prune --study my-study --pick 2.0 --importance random --name control
  nasprune prune --model results/my-study/trials/00017 --target-params 0.3
  nasprune prune --study my-study --trial 17 --blocks                 # whole redundant residual blocks out
  nasprune prune --study my-study --trial 17 --blocks --target-mflops 0.5   # blocks first, then channels
  nasprune prune --study fast --target-latency 0.5    # half the latency where the study measured it (its runtime)

Writes RESULTS_DIR/STUDY/pruned/NAME/: spec.json, weights.pt (plain tensors), pruning.json (torch-pruning's
history, to rebuild the pruned shapes), data.json, summary.json and summary.md; load it with
nasprune.load_model(folder). The pruned model is also recorded in the study's companion STUDY.pruned
(nasprune studies lists it), linked to its source trial."""

EPILOG_DIAGNOSE = """\
examples:
  nasprune diagnose --study my-study --trial 17        # writes RESULTS_DIR/my-study/diagnose/trial17.json
  nasprune diagnose --model results/my-study/pruned/x --json

Overfitting: train vs validation accuracy at the best epoch and its trend. Vanishing or exploding gradients:
the gradient-norm ratio of the first weighted layer to the last, recorded at a few steps of the trial's
training (or measured now). Redundancy: linear CKA (Kornblith et al. 2019) of each block's output with its
input on a probe batch of validation images, a bypass test, and channels whose output is near zero."""

EPILOG_EXPORT = """\
examples:
  nasprune export --study default-digits                 # its most accurate Pareto trial, in all three formats
  nasprune export --study my-study --trial 17 --format onnx --latency-threads 4
  nasprune export results/my-study/pruned/trial17-l1-mflops0.5       # a pruned model's folder
  nasprune export results/my-study/trials/00017 --format python --out deploy/digits

Writes RESULTS_DIR/STUDY/export/trialN/ (for a folder: DIR/export/): model.onnx (dynamic batch size),
model.torchscript.pt, model.py + model_weights.pt (plain torch: `python model.py` runs one batch without nasprune)
and export.json (the checks, latency, versions). Each file is read back and run on the validation images; a logit
that differs from PyTorch's by more than --tolerance is an error, and then nothing is written. ONNX needs the
export extra: pip install -e '.[export]'."""

_MODEL_DATA = ("a saved model is judged on the data and split it was trained on (its data.json); these options "
               "ask for other data or another split, and the output then says what differs")


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
    try:
        return parse_image_size(text)
    except NaspruneError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _gpus(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(g) for g in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected GPU indices such as 0,1 (got {text!r})") from None


def _choice(values: tuple[str, ...] | list[str]) -> str:
    """A metavar that lists choices without argparse's {a,b,c} (which garbles choices that contain commas)."""
    return "|".join(values)


def _add_data(p: argparse.ArgumentParser, *, for_search: bool) -> None:
    """The data options, one group for every command that loads data. For a search they say what to search on;
    for a saved model (eval, --model) they are changes to the data and split it records."""
    d = p.add_argument_group("data", None if for_search else _MODEL_DATA)
    d.add_argument("--data", default="digits" if for_search else None, metavar="NAME[:PATH]",
                   help="data set: digits (bundled with scikit-learn; default); imagefolder:PATH (PATH/<class>/*.jpg, "
                        "or PATH/train/<class>/ with val/ and/or test/ beside it); cifar10:ROOT, cifar100:ROOT, "
                        "mnist:ROOT, fashion-mnist:ROOT (torchvision's on-disk formats, read without torchvision)"
                   if for_search else "another data set than the model was trained on")

    def default(value: object) -> object:  # a saved model's record decides what is not given
        return value if for_search else None

    def hint(text: str) -> str:
        return f"{text} (default: %(default)s)" if for_search else f"{text} (default: as recorded)"

    d.add_argument("--seed", type=int, default=default(0),
                   help=hint("seed of the validation/test split" + (", the sampler and training" if for_search else "")))
    d.add_argument("--val-fraction", type=float, default=default(0.2), metavar="F",
                   help=hint("validation share, split off the training images when the data has no validation split"))
    d.add_argument("--test-fraction", type=float, default=default(0.2), metavar="F",
                   help=hint("held-out test share when the data has no test split; the test split is used only to "
                             "evaluate the winners"))
    d.add_argument("--image-size", type=_image_size, metavar="N|HxW",
                   help="resize every image of an image folder once, at load time (needed when sizes differ)")
    d.add_argument("--augment", choices=AUGMENTS, default=default("auto"), metavar=_choice(AUGMENTS),
                   help=hint("training augmentation: random crop with padding, horizontal flip; auto: crop+flip for "
                             "CIFAR, crop for Fashion-MNIST, none for digits and MNIST; an image folder gets crop, and "
                             "flip only where a quick test on its images shows that a mirror keeps the class"))
    d.add_argument("--skip-broken-images", action="store_true", default=default(False),
                   help="leave out image files that cannot be decoded (the output says how many, the summary which) "
                        "instead of stopping with their names")
    d.add_argument("--download", action="store_true",
                   help="download a torchvision data set that is not under ROOT (the only network access)")
    d.add_argument("--no-cache", action="store_true",
                   help="do not keep decoded images (default: cached under $NASPRUNE_CACHE_DIR or ~/.cache/nasprune)")


#: the default of every --storage: keeps a database password off the command line and out of the shell history
STORAGE_ENV = "NASPRUNE_STORAGE"


def _add_storage(p: argparse.ArgumentParser, what: str, otherwise: str) -> None:
    """--storage, whose default is $NASPRUNE_STORAGE: a database URL with a password need not be on the command
    line (libpq's $PGPASSWORD works too, with a URL without one)."""
    p.add_argument("--storage", metavar="URL|FILE", default=os.environ.get(STORAGE_ENV) or None,
                   help=f"{what} (default: ${STORAGE_ENV} if set, else {otherwise})")


def _add_study(p: argparse.ArgumentParser, required: bool = True, what: str = "a study made by nasprune search"
               ) -> None:
    p.add_argument("--study", required=required, metavar="NAME", help=what + " (nasprune studies lists them)")
    _add_storage(p, "the study's storage", "RESULTS_DIR/STUDY/study.journal")
    p.add_argument("--results-dir", type=Path, default=Path("results"), metavar="DIR", help="default: results")


def _add_runtime(p: argparse.ArgumentParser, graphs: bool = True, study_threads: bool = False) -> None:
    """The device options; ``study_threads``: --latency-threads defaults to the study's (prune), else 1."""
    r = p.add_argument_group("device")
    r.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N (default: auto)")
    r.add_argument("--latency-threads", type=int, default=None if study_threads else 1, metavar="N",
                   help="CPU threads for latency measurements (default: "
                        + ("the study's where it measured latency for an objective or budget, else 1" if study_threads
                           else "1") + "; recorded with every figure)")
    if not graphs:
        return
    r.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: bf16 autocast on GPUs that support it, fp16 on older ones, fp32 on the CPU")
    r.add_argument("--placement", choices=PLACEMENTS, default="auto",
                   help="keep the data on the GPU (device), stream it from host memory through DataLoader workers "
                        "(stream), or pick by size (auto; default)")
    r.add_argument("--no-cuda-graph", action="store_true",
                   help="train eagerly instead of capturing each training step as a CUDA graph")
    r.add_argument("--loader-workers", type=int, default=4, metavar="N",
                   help="DataLoader workers when the data is streamed (default: 4)")


def _add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search architectures on a data set (resumable)",
                       description="Search a space of architectures with Optuna: sample, build, measure, train "
                                   "and early-stop candidates; evaluate the Pareto front once on the test split.",
                       epilog=EPILOG_SEARCH, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="default", metavar="YAML",
                   help="search-space file, or the name of a bundled one: default, resnet, mobilenet, plain, "
                        "or a preset such as resnet20 (default: default, which fits itself to the data)")
    p.add_argument("--study", metavar="NAME", help="study name (default: SPACE-DATA, e.g. default-digits)")
    p.add_argument("--trials", type=int, metavar="N",
                   help="trials the study should hold when done, counting earlier runs and all workers (default: 20; "
                        "with --time-budget: as many as fit)")
    p.add_argument("--time-budget", type=float, metavar="MINUTES",
                   help="wall clock for the whole search: the epochs per trial are planned from it (for a new "
                        "study), new candidates are sampled for its first 30%%, then the winners train again with "
                        "as many epochs as the rest allows")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs per trial (default: the space's training.epochs)")
    p.add_argument("--objectives", choices=list(OBJECTIVES), default="accuracy,mflops", metavar=_choice(list(OBJECTIVES)),
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
    _add_storage(p, "Optuna storage: sqlite:///x.db, postgresql://user@host/db, or a journal file",
                 "RESULTS_DIR/STUDY/study.journal, safe for several processes on one machine")
    p.add_argument("--results-dir", type=Path, default=Path("results"), metavar="DIR", help="default: results")
    _add_data(p, for_search=True)
    _add_runtime(p)
    r = p.add_argument_group("speed")
    r.add_argument("--workers", type=int, metavar="K",
                   help=f"trial worker processes sharing the study (default: 1 on the CPU, {WORKERS_PER_GPU} per GPU, "
                        f"since small networks leave a GPU mostly idle)")
    r.add_argument("--gpus", type=_gpus, metavar="0,1,...", help="GPUs to spread the workers over (default: --device's)")
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
    lat = p.add_argument_group("latency where the model will run (--objectives accuracy,latency, --max-latency-ms)")
    lat.add_argument("--latency-runtime", choices=LATENCY_RUNTIMES, default=LATENCY_RUNTIMES[0],
                     help="measure each candidate's latency before training in eager PyTorch on the training device "
                          "(torch, default; CUDA under the training autocast) or in ONNX Runtime on the CPU "
                          "(onnxruntime: pip install -e '.[export]'), with --latency-threads; each distinct "
                          "architecture once")
    lat.add_argument("--latency-batch", type=int, default=1, metavar="N",
                     help="images per timed pass (default: 1; another batch times on the CPU)")
    lat.add_argument("--max-latency-ms", type=float, metavar="MS",
                     help="budget: reject candidates slower than MS milliseconds there, before training")


def _add_show(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="describe a preset or a search space without training",
                       description="For a preset: its parameters, MFLOPs (multiply-adds) and depth. For a search "
                                   "space: the parameters Optuna searches, what it tries first, a few random "
                                   "candidates; the default space as it fits itself to --input.")
    p.add_argument("space", metavar="YAML", help="search-space or preset file, or a bundled name (resnet20)")
    p.add_argument("--input", metavar="CxHxW", help="input shape (default: the file's input, else 3x32x32)")
    p.add_argument("--classes", type=int, metavar="N", help="classifier outputs (default: the file's num_classes)")
    p.add_argument("--samples", type=int, default=5, metavar="N", help="random candidates to show for a space")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _add_prune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prune", help="remove redundant channels from a winner, fine-tune, compare",
                       description="Prune a trained network with torch-pruning (DepGraph) until its measured "
                                   "MFLOPs or parameters reach a target, fine-tune it with the search's trainer, "
                                   "and report accuracy, MFLOPs, parameters and latency before and after.",
                       epilog=EPILOG_PRUNE, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_argument_group("which model")
    _add_study(which, required=False)
    which.add_argument("--trial", type=int, metavar="N", help="its trial N (default: the most accurate Pareto trial)")
    which.add_argument("--pick", type=float, metavar="MFLOPS",
                       help="the most accurate Pareto trial with at most this many MFLOPs")
    which.add_argument("--model", type=Path, metavar="DIR", help="a saved model folder instead of a study's trial")
    how = p.add_argument_group("how much and how")
    how.add_argument("--target-mflops", type=float, metavar="F",
                     help="keep this share of the multiply-adds, e.g. 0.5 (the default target)")
    how.add_argument("--target-params", type=float, metavar="F", help="keep this share of the parameters")
    how.add_argument("--channel-ratio", type=float, metavar="R", help="remove this share of every layer's channels")
    how.add_argument("--target-latency", type=float, metavar="R",
                     help="keep this share of the source's latency in --latency-runtime, 0 < R <= 1 (e.g. 0.5: twice "
                          "as fast): prune in steps, timing the network after each; widths are kept multiples of what "
                          "the runtime runs fast (16 for ONNX Runtime on AVX-512 CPUs, else 8; --round-to overrides)")
    how.add_argument("--importance", choices=IMPORTANCES, default="l1",
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
    out.add_argument("--no-record", action="store_true", help="do not record the pruned model with the study")
    out.add_argument("--quiet", action="store_true", help="print nothing but errors")
    _add_data(p, for_search=False)
    _add_runtime(p, study_threads=True)
    where = p.add_argument_group("where the model will run (the latency target, and the slower-than-source check)")
    where.add_argument("--latency-runtime", choices=LATENCY_RUNTIMES,
                       help="time the source and the pruned model in eager PyTorch (torch) or ONNX Runtime "
                            "(onnxruntime: pip install -e '.[export]'), on the CPU with --latency-threads; a pruned "
                            "model slower there than its source is an error the summary names (default: the study's, "
                            "where it was searched with --objectives accuracy,latency or --max-latency-ms, with its "
                            "batch and threads where those are not given; else torch)")
    where.add_argument("--latency-batch", type=int, metavar="N",
                       help="images per timed pass in that runtime (default: the study's, else 1)")


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="measure any saved model: accuracy, MFLOPs, params, latency",
                       description="Evaluate a saved model folder (a search trial or a pruned model): validation and "
                                   "test accuracy on the data and split it was trained on, MFLOPs (multiply-adds), "
                                   "parameters, latency.")
    p.add_argument("model", type=Path, metavar="DIR", help="a folder with spec.json and weights.pt")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    _add_data(p, for_search=False)
    _add_runtime(p, graphs=False)


def _add_diagnose(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diagnose", help="why did depth help or hurt: overfitting, gradients, redundant blocks",
                       description="Diagnose a trained network: is it overfitting, do its gradients vanish or explode "
                                   "on the way to the first layers, which blocks only repeat what earlier ones "
                                   "compute. Prints a verdict and writes it as JSON.",
                       epilog=EPILOG_DIAGNOSE, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_study(p, required=False)
    p.add_argument("--trial", type=int, metavar="N", help="its trial N (default: the most accurate Pareto trial)")
    p.add_argument("--model", type=Path, metavar="DIR", help="a saved model folder instead of a study's trial")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="the JSON (default: RESULTS_DIR/STUDY/diagnose/trialN.json, or RESULTS_DIR/diagnose/DIR.json)")
    p.add_argument("--probe-images", type=int, default=256, metavar="N",
                   help="validation images of the redundancy probe (default: 256)")
    p.add_argument("--json", action="store_true", help="print the JSON instead of the verdict")
    _add_data(p, for_search=False)
    _add_runtime(p, graphs=False)


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write a study's report: plots, tables, CSV (Markdown and HTML)",
                       description="Write RESULTS_DIR/STUDY/report/: report.md, a self-contained report.html (images "
                                   "embedded), the PNG plots (Pareto fronts, history, importance, depth, width, "
                                   "training curves, pruning) and trials.csv (one row per trial, every spec field).")
    _add_study(p)
    p.add_argument("--out", type=Path, metavar="DIR", help="where to write (default: RESULTS_DIR/STUDY/report)")
    p.add_argument("--top", type=int, default=10, metavar="K", help="trials in the top-k table and curves (default: 10)")
    p.add_argument("--no-test", action="store_true",
                   help="do not evaluate the winners on the test split (their test accuracy is then not shown)")
    p.add_argument("--device", default="auto", help="for evaluating the winners: auto, cpu, cuda (default: auto)")
    p.add_argument("--no-latency", action="store_true",
                   help="do not time the winners in PyTorch and ONNX Runtime on the CPU (batch 1 and 32)")
    p.add_argument("--latency-threads", type=int, default=1, metavar="N",
                   help="CPU threads of those latency figures (default: 1)")


def _add_dashboard(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help="open a study in optuna-dashboard (needs the [dashboard] extra)",
                       description="Serve optuna-dashboard on the study's storage and artifact store, with a study "
                                   "note saying what was searched. Needs pip install -e '.[dashboard]'.")
    _add_study(p)
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default: {DEFAULT_HOST}, this machine only; 0.0.0.0 exposes it)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default: {DEFAULT_PORT}")


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a model as ONNX, TorchScript and a standalone PyTorch file, checked",
                       description="Export a saved model (a study's trial, or a model folder: searched, channel- or "
                                   "block-pruned) as ONNX, TorchScript and one plain-PyTorch Python file; run each "
                                   "file on the validation images against PyTorch (ONNX in ONNX Runtime), and time "
                                   "PyTorch, TorchScript and ONNX Runtime on the CPU at batch 1 and 32.",
                       epilog=EPILOG_EXPORT, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", type=Path, metavar="DIR",
                   help="a saved model folder (spec.json + weights.pt), instead of --study")
    _add_study(p, required=False)
    p.add_argument("--trial", type=int, metavar="N", help="its trial N (default: the most accurate Pareto trial)")
    p.add_argument("--format", default=",".join(EXPORT_FORMATS), metavar=",".join(EXPORT_FORMATS),
                   help="the formats to write, comma-separated (default: all three)")
    p.add_argument("--out", type=Path, metavar="PATH",
                   help="the folder to write (default: RESULTS_DIR/STUDY/export/trialN, or DIR/export); an earlier "
                        "export there is replaced once the new one has passed its checks")
    c = p.add_argument_group("checks and latency")
    c.add_argument("--tolerance", type=float, default=1e-3, metavar="X",
                   help="largest difference of a logit from PyTorch's that passes (default: 1e-3)")
    c.add_argument("--compare-images", type=int, metavar="N",
                   help="compare on the first N validation images (default: all of them)")
    c.add_argument("--latency-threads", type=int, default=1, metavar="N",
                   help="CPU threads of PyTorch and ONNX Runtime in the latency figures (default: 1)")
    c.add_argument("--no-latency", action="store_true", help="do not measure latency")
    c.add_argument("--opset", type=int, metavar="N", help="ONNX operator set (default: the exporter's; recorded)")
    c.add_argument("--onnx-exporter", choices=ONNX_EXPORTERS, default=ONNX_EXPORTERS[0],
                   help="torch.onnx's TorchScript-based exporter (default; 0.1-0.2 s) or its dynamo exporter (~2 s, "
                        "needs onnxscript)")
    q = p.add_argument_group("INT8")
    q.add_argument("--int8", action="store_true",
                   help="also write model.int8.onnx: ONNX Runtime static quantization (QDQ, per-channel INT8 weights, "
                        "INT8 activations calibrated on training images), scored on the validation split beside FP32 "
                        "and timed")
    q.add_argument("--int8-tolerance", type=float, default=1.0, metavar="POINTS",
                   help="accuracy points INT8 may lose against FP32; more fails, keeping the FP32 files (default: 1)")
    q.add_argument("--calibration-images", type=int, default=512, metavar="N",
                   help="training images the INT8 activation ranges are calibrated on (default: 512)")
    p.add_argument("--json", action="store_true", help="print export.json instead of the summary")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    _add_data(p, for_search=False)


def _add_studies(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("studies", help="list the studies under RESULTS_DIR (or in a storage)",
                       description="List the studies nasprune finds: under RESULTS_DIR (one folder per study), or "
                                   "in one storage: name, trials by outcome, the best accuracy, its MFLOPs, the last "
                                   "update.")
    p.add_argument("--results-dir", type=Path, default=Path("results"), metavar="DIR", help="default: results")
    _add_storage(p, "list the studies of this storage instead", "the study folders under RESULTS_DIR")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def build_parser(version: str | None = None) -> argparse.ArgumentParser:
    if version is None:
        from .. import __version__ as version
    parser = _Parser(prog="nasprune", description="Find compact, accurate networks for your data (architecture "
                                                  "search with Optuna), then prune their redundant channels.")
    parser.add_argument("--version", action="version", version=f"nasprune {version}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in (_add_search, _add_prune, _add_eval, _add_diagnose, _add_report, _add_export, _add_dashboard,
                _add_show, _add_studies):
        add(sub)
    return parser
