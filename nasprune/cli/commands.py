"""What each subcommand does: build the library's config from the arguments, call it, print what it returns.
Heavy modules are imported here, inside the command that needs them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..options import DataOptions
from .streams import tell

__all__ = ["COMMANDS", "INTERRUPT_HINTS"]

#: what an interrupted command leaves behind, said after "interrupted (SIGINT)"
INTERRUPT_HINTS = {
    "search": "finished trials are saved in the study; run the same command to resume",
    "prune": "nothing was saved (the pruned model is written at the end); run the command again",
    "export": "nothing was written (the files are moved into place at the end); run the command again",
}

_SPLIT = ("seed", "val_fraction", "test_fraction", "image_size", "augment", "skip_broken_images")


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    """The data options given for a saved model: changes to the split it records (None: not given)."""
    return {key: getattr(args, key) for key in _SPLIT if getattr(args, key) is not None}


def _quiet_or(args: argparse.Namespace, total: int | None, run: Any) -> Any:
    """Run ``run(on_event)`` with the progress bar and lines, or silently with --quiet."""
    from .terminal import Progress

    if getattr(args, "quiet", False):
        return run(None)
    progress = Progress(total)
    try:
        return run(progress)
    finally:
        progress.close()


def _search(args: argparse.Namespace) -> int:
    from ..search import SearchConfig, search
    from .terminal import search_text

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
        timeout=args.timeout, latency=not args.no_latency, latency_threads=args.latency_threads,
        latency_runtime=args.latency_runtime, latency_batch=args.latency_batch, max_latency_ms=args.max_latency_ms,
        artifacts_dir=args.artifacts, heartbeat=args.heartbeat, max_retries=args.max_retries,
    )
    result = _quiet_or(args, config.trials, lambda on_event: search(config, on_event=on_event))
    if not args.quiet:
        print(search_text(result))
    return 0


def _show(args: argparse.Namespace) -> int:
    from ..show import format_show, parse_shape, show
    from ..space import load_space

    shape = parse_shape(args.input) if args.input else None
    info = show(load_space(args.space), shape, args.classes, args.samples, args.seed)
    print(json.dumps(info, indent=2) if args.json else format_show(info))
    return 0


def _prune(args: argparse.Namespace) -> int:
    from ..prune import PruneConfig, prune
    from .terminal import prune_text

    config = PruneConfig(
        study=args.study, model=args.model, trial=args.trial, pick_mflops=args.pick, target_mflops=args.target_mflops,
        target_params=args.target_params, channel_ratio=args.channel_ratio, importance=args.importance,
        steps=args.steps, global_pruning=args.global_pruning, round_to=args.round_to,
        finetune_epochs=args.finetune_epochs, finetune_lr=args.finetune_lr, sparse_epochs=args.sparse_epochs,
        gradient_batches=args.gradient_batches, name=args.name, data=args.data, data_changes=_changes(args),
        download=args.download, cache=not args.no_cache, seed=args.seed or 0, storage=args.storage,
        results_dir=args.results_dir, device=args.device, precision=args.precision, cuda_graph=not args.no_cuda_graph,
        placement=args.placement, loader_workers=args.loader_workers, record=not args.no_record, blocks=args.blocks,
        block_max_drop=args.block_max_drop, probe_images=args.probe_images, latency_threads=args.latency_threads,
        target_latency=args.target_latency, latency_runtime=args.latency_runtime, latency_batch=args.latency_batch)
    result = _quiet_or(args, None, lambda on_event: prune(config, on_event=on_event))
    if not args.quiet:
        print(prune_text(result))
    if result.summary["error"]:
        tell(f"nasprune: error: {result.summary['error']}")
    return 1 if result.summary["error"] and config.target_latency is not None else 0  # asked for speed, got slower


def _eval(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_saved
    from .terminal import eval_text

    info = evaluate_saved(args.model, args.data, _changes(args), args.device, download=args.download,
                          cache=not args.no_cache, latency_threads=args.latency_threads)
    print(json.dumps(info, indent=2) if args.json else eval_text(info))
    return 0


def _diagnose(args: argparse.Namespace) -> int:
    from ..diagnose import DiagnoseConfig, diagnose
    from ..diagnostics import format_diagnosis

    result = diagnose(DiagnoseConfig(study=args.study, trial=args.trial, model=args.model, data=args.data,
                                     data_changes=_changes(args), download=args.download, cache=not args.no_cache,
                                     storage=args.storage, results_dir=args.results_dir, out=args.out,
                                     probe_images=args.probe_images, device=args.device))
    if args.json:
        print(json.dumps(result.diagnosis.to_dict(), indent=2))
        return 0
    print(format_diagnosis(result.diagnosis))
    print(f"saved: {result.out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from ..report import ReportConfig, report

    result = report(ReportConfig(study=args.study, storage=args.storage, results_dir=args.results_dir, out=args.out,
                                 top=args.top, test=not args.no_test, device=args.device,
                                 latency=not args.no_latency, latency_threads=args.latency_threads))
    print(f"nasprune report: {len(result.files)} files in {result.out} ({result.seconds:.1f} s): "
          f"{result.out / 'report.html'} (open it in a browser), report.md, trials.csv")
    return 0


def _export(args: argparse.Namespace) -> int:
    from ..export import ExportConfig, export
    from .terminal import export_text

    config = ExportConfig(
        study=args.study, trial=args.trial, model=args.model, formats=args.format, out=args.out, data=args.data,
        data_changes=_changes(args), download=args.download, cache=not args.no_cache, storage=args.storage,
        results_dir=args.results_dir, tolerance=args.tolerance, compare_images=args.compare_images,
        latency_threads=args.latency_threads, latency=not args.no_latency, opset=args.opset,
        onnx_exporter=args.onnx_exporter, int8=args.int8, int8_tolerance=args.int8_tolerance,
        calibration_images=args.calibration_images)
    quiet = args.quiet or args.json  # JSON on stdout: no progress lines among it
    result = export(config) if quiet else _quiet_or(args, None, lambda on_event: export(config, on_event=on_event))
    if args.json:
        print(json.dumps(result.summary, indent=2))
    elif not args.quiet:
        print(export_text(result))
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from ..dashboard import dashboard

    dashboard(args.study, args.storage, args.results_dir, args.host, args.port, on_ready=print)
    return 0


def _studies(args: argparse.Namespace) -> int:
    from ..record import list_studies, masked_url
    from .terminal import studies_text

    rows = list_studies(results_dir=args.results_dir, storage=args.storage)
    where = masked_url(args.storage) if args.storage else args.results_dir
    print(json.dumps(rows, indent=2) if args.json else studies_text(rows, where))
    return 0


COMMANDS = {"search": _search, "prune": _prune, "eval": _eval, "report": _report, "dashboard": _dashboard,
            "show": _show, "diagnose": _diagnose, "studies": _studies, "export": _export}
