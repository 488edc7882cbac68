"""``nasprune prune`` as a function: load a winner, measure it, prune it, fine-tune it, measure again, save."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import save_model
from ..data import BatchAugment, DataSplits, Normalizer, train_batches
from ..data.placement import place_data
from ..deploy import RUNTIME_NAMES, add_deployed_latency, fast_channels, runtime_latency, runtime_where
from ..diagnostics import probe_batch
from ..errors import ConfigError, StudyError
from ..evaluation import measure_model
from ..events import Epoch, Note, OnEvent, emit
from ..measure import Latency, count_macs, count_params
from ..nn import describe_model, weighted_depth
from ..nn.graph import channel_counts
from ..record import Picked, load_picked, record_pruned_model, stamp_of
from ..spec import TrainSpec, TrialSpec, describe
from ..train import Runtime, evaluate, resolve_runtime, train
from .blocks import BlockLog, prune_blocks, removable_blocks
from .channels import PruneLog, Target, prune_channels, tp
from .config import PruneConfig, PruneResult, resolve_latency
from .latency import LatencyLog, prune_to_latency
from .summary import deployed_check, launch_bound_note, write_summary

__all__ = ["prune"]


def _gradients(data: DataSplits, runtime: Runtime, spec: TrainSpec, batches: int, seed: int) -> Callable:
    """Fills ``.grad`` from a few augmented training batches (the Taylor importance multiplies them with
    the weights)."""
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    criterion = nn.CrossEntropyLoss(label_smoothing=spec.label_smoothing)

    def fill(model: nn.Module) -> None:
        model.train()
        order = torch.Generator(device=data.train.x.device).manual_seed(seed)
        augment = BatchAugment(data, normalize, torch.Generator(device=runtime.device).manual_seed(seed + 1))
        size = min(spec.batch_size, len(data.train))
        for i, (x, y) in enumerate(train_batches(data.train, size, order, runtime.device, data.streamed,
                                                 runtime.loader_workers)):
            if i == batches:
                break
            with runtime.autocast():
                loss = criterion(model(augment(x)), y)
            loss.backward()

    return fill


def _finetune_spec(spec: TrainSpec, config: PruneConfig) -> TrainSpec:
    """The source's own recipe by default. Measured on digits (halving the MACs of small ResNets), its full
    peak learning rate recovered as much or more than a tenth of it: 0.986 vs 0.983 with batch norm, 0.983
    vs 0.964 with group norm, whose layers pruning disturbs more."""
    epochs = spec.epochs if config.finetune_epochs is None else config.finetune_epochs
    return spec.replace(epochs=max(1, epochs), lr=config.finetune_lr or spec.lr, warmup_epochs=0.0)


def _out_dir(config: PruneConfig, source: Picked) -> Path:
    target = config.channel_target
    name = config.name or "-".join([source.name] + (["blocks"] if config.blocks else [])
                                   + ([config.importance, f"{target.kind}{target.value:g}"] if target else []))
    if config.out is not None:
        out = Path(config.out)
    elif source.study is not None:
        out = config.results_dir / source.study.study_name / "pruned" / name
    else:
        out = config.results_dir / "pruned" / name
    if out.exists():
        raise StudyError(f"{out} exists already; pass --name NAME to keep both, or delete it to prune again")
    return out


def _study_latency(model: nn.Module, shape: tuple[int, int, int], stamp: dict[str, Any],
                   deployed: dict[str, Any]) -> float:
    """The pruned model's latency where its study measured its trials' (``accuracy,latency``: the stamp's runtime,
    batch and threads; on the CPU, where a study that timed PyTorch on a GPU is compared on the CPU): the
    slower-than-source check's figure (``deployed``) where it was taken there, else measured."""
    where = stamp.get("latency") or {}
    runtime, batch, threads = where.get("runtime", "torch"), where.get("batch", 1), where.get("threads", 1)
    if (deployed["runtime"], deployed["batch"], deployed["threads"]) == (runtime, batch, threads):
        return deployed["after_ms"]
    return runtime_latency(model, shape, runtime, batch, threads).median_ms


def _record(source: Picked, out: Path, after: dict[str, Any], summary: dict[str, Any], depth: int,
            model: nn.Module, shape: tuple[int, int, int]) -> int:
    """Record the pruned model in the companion study of its source's study (nasprune.record.pruned), linked to
    its source trial (``pruned_from``), with its files as artifacts; returns its trial number there."""
    study = source.study
    stamp = stamp_of(study)
    objectives = stamp.get("objectives", "accuracy,mflops")
    cost = {"accuracy,mflops": lambda: after["mflops"], "accuracy,params": lambda: after["params"] / 1e6,
            "accuracy,latency": lambda: _study_latency(model, shape, stamp, summary["deployed"])}
    values = [after["val_accuracy"]] + ([cost[objectives]()] if objectives in cost else [])
    attrs = {"checkpoint": str(out), "arch": f"{summary['arch']} (pruned from trial {source.trial.number})",
             "depth": depth, "mflops": after["mflops"], "params": after["params"],
             "latency_ms": after["latency_ms"].get("cpu_b1"), "val_accuracy": after["val_accuracy"],
             "test_accuracy": after["test_accuracy"], "importance": summary["importance"],
             "target": summary["target"]["description"], "outcome": "complete", "spec": source.spec.to_dict()}
    return record_pruned_model(study, source.storage, source.study_dir, source.trial.number, values, attrs,
                               sorted(out.iterdir()))


def _sparse(model: nn.Module, data: DataSplits, spec: TrainSpec, config: PruneConfig, runtime: Runtime,
            on_event: OnEvent | None) -> Callable:
    """Sparse training before pruning: group-norm regularization on the gradients for ``sparse_epochs``
    (called with the pruner before its first step, while the model is still the one passed in)."""

    def prepare(pruner: object) -> None:
        def on_epoch(stats: Any) -> None:
            pruner.update_regularizer()
            emit(on_event, Epoch(stats, config.sparse_epochs, phase="sparse"))

        train(model, data, spec.replace(epochs=config.sparse_epochs), runtime, seed=config.seed,
              on_epoch=on_epoch, after_backward=lambda: pruner.regularize(model))
        model.eval()

    return prepare


def _prune(source: Picked, data: DataSplits, config: PruneConfig, target: Target, runtime: Runtime, round_to: int,
           on_event: OnEvent | None, deployed: tuple[Callable[[nn.Module], Latency], Latency, bool] | None = None
           ) -> tuple[nn.Module, PruneLog, float, LatencyLog | None]:
    """Prune the source model's channels to ``target``; returns (model, log, validation accuracy before
    fine-tuning, the latency steps of a latency target). ``deployed``: (the latency measurement in the chosen
    runtime, the source's latency there, whether the model is still the source: no block removed), for a
    latency target."""
    model, shape = source.model, data.input_shape
    restore = (lambda m: m.to(memory_format=runtime.memory_format)) if runtime.channels_last else None
    sparse = config.sparse_epochs > 0
    options = dict(steps=config.steps, global_pruning=config.global_pruning, round_to=round_to,
                   gradients=_gradients(data, runtime, source.spec.train, config.gradient_batches, config.seed),
                   pruner_cls=tp.pruner.GroupNormPruner if sparse else None,
                   pruner_kwargs={"reg": config.sparse_reg} if sparse else None, after_increment=restore)
    latency_log = None
    if target.kind == "latency":
        measure, base, unchanged = deployed
        where = RUNTIME_NAMES[config.latency_runtime]
        say = lambda r: emit(on_event, Note(  # noqa: E731
            f"  {r['mflops']:.3f} MFLOPs: {r['latency_ms']:.3f} ms in {where}{' (busy)' if r['busy'] else ''} "
            f"(target {target.value * base.median_ms:.3f} ms)"))
        model, log, latency_log = prune_to_latency(model, shape, target.value, config.importance, measure, base,
                                                   now=base if unchanged else None, on_step=say, **options)
    else:
        model, log = prune_channels(model, shape, target, config.importance, **options,
                                    prepare=_sparse(model, data, source.spec.train, config, runtime, on_event)
                                    if sparse else None)
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    pruned_val = round(evaluate(model, data.val, normalize, runtime, data.streamed)[1], 5)
    emit(on_event, Note(f"  pruned in {len(log.trace)} increments: {count_macs(model, shape) / 1e6:.3f} MFLOPs, "
                        f"{count_params(model):,} params, val {pruned_val:.4f} before fine-tuning"))
    return model, log, pruned_val, latency_log


def _prune_blocks(source: Picked, data: DataSplits, config: PruneConfig, runtime: Runtime,
                  on_event: OnEvent | None) -> BlockLog:
    """Remove redundant residual blocks from the source model (replaced in ``source.model``), before any
    channel pruning: channel pruning records layer names, which removing blocks would renumber."""
    if source.history:
        raise ConfigError(f"--blocks needs a model whose channels were not pruned yet ({source.label} was): "
                          f"prune blocks and channels in one run, blocks first")
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    say = lambda text: emit(on_event, Note(text))  # noqa: E731
    say(f"  removing redundant blocks while validation accuracy stays within {config.block_max_drop:g} points "
        f"(probe of {config.probe_images} validation images)")
    model, log = prune_blocks(source.model, probe_batch(data, config.probe_images, runtime),
                              lambda m: evaluate(m, data.val, normalize, runtime, data.streamed)[1],
                              config.block_max_drop / 100, say)
    source.model = model
    if not removable_blocks(model) and not log.removed:
        say(f"  no removable block in {source.label}: only blocks with an identity shortcut can go (not "
            f"{model.arch.block} blocks without one, not a stage's only block)")
    say(f"  blocks: {len(log.removed)} removed, {len(log.kept)} kept after trying -> {describe(model.arch)}, "
        f"{count_macs(model, data.input_shape) / 1e6:.3f} MFLOPs")
    return log


def _channel_target(config: PruneConfig, before: dict[str, Any], model: nn.Module,
                    shape: tuple[int, int, int]) -> Target | None:
    """The channel target after block removal: a share of the original cost, of which the removed blocks took
    their part already; None when nothing is left to do."""
    target = config.channel_target
    if target is None or not config.blocks or target.kind in ("channels", "latency"):
        return target  # a latency target is measured against the source's latency, taken before the blocks went
    now = count_macs(model, shape) / 1e6 if target.kind == "mflops" else count_params(model)
    share = target.value * before[target.kind] / now
    return Target(target.kind, share) if share < 1 else None


def _finetune(model: nn.Module, data: DataSplits, spec: TrainSpec, config: PruneConfig, runtime: Runtime,
              on_event: OnEvent | None) -> list[dict]:
    """Fine-tune with the search's trainer; returns the per-epoch history (empty when skipped)."""
    if config.finetune_epochs == 0:
        return []
    result = train(model, data, spec, runtime, seed=config.seed,
                   on_epoch=lambda s: emit(on_event, Epoch(s, spec.epochs, phase="fine-tune")))
    return [h.to_dict() for h in result.history]


def _deployed_latency(measured: dict[str, Any], model: nn.Module, shape: tuple[int, int, int], threads: int,
                      on_event: OnEvent | None, before: dict[str, Any] | None = None) -> None:
    """Add PyTorch's batch-32 and ONNX Runtime's CPU latency to a measurement (nasprune.deploy), saying once why
    they are missing; figures ``before`` has but the pruned model lacks are dropped, so the table compares pairs."""
    problem = add_deployed_latency(measured, model, shape, threads)
    if problem:
        emit(on_event, Note(f"  {problem}"))
    for key in set(before["latency_ms"]) - set(measured["latency_ms"]) if before else ():
        before["latency_ms"].pop(key)
        before.get("latency", {}).pop(key, None)


def _summary(source: Picked, config: PruneConfig, **parts: Any) -> dict[str, Any]:
    before, after, log, blocks = parts["before"], parts["after"], parts["log"], parts["blocks"]
    target = config.channel_target
    latency_target = target is not None and target.kind == "latency"  # reached: as measured after fine-tuning
    if target is None:
        asked = {"kind": "blocks", "value": None, "description": "remove redundant blocks"}
    else:
        first = f" (blocks first, within {config.block_max_drop:g} points)" if blocks else ""
        where = f" in {parts['deployed']['where']}" if target.kind == "latency" else ""
        asked = {"kind": target.kind, "value": target.value, "description": target.describe() + where + first}
    return {
        "source": {"label": source.label, "study": source.study.study_name if source.study else None,
                   "trial": source.trial.number if source.trial else None, "arch": describe(source.spec.arch),
                   "checkpoint": source.trial.user_attrs.get("checkpoint") if source.trial else str(config.model)},
        "arch": parts["arch"],  # the pruned network with its real widths (nasprune.nn.describe_model)
        "data": parts["data"].describe(), "data_note": source.data_note, "device": parts["runtime"].describe(),
        "target": {**asked, "reached": parts["deployed"]["kept"] <= target.value if latency_target else log.reached, "mflops_kept": round(after["mflops"] / before["mflops"], 4),
                   "params_kept": round(after["params"] / before["params"], 4),
                   **({"latency_kept": parts["deployed"]["kept"], "steps": parts["latency_log"].to_dict()}
                      if parts["latency_log"] else {})},
        "deployed": parts["deployed"],  # the latency in --latency-runtime before and after, and whether it got slower
        "error": parts["deployed"]["error"],  # a pruned model slower than its source there (None: not slower)
        "pruned_val_accuracy": parts["pruned_val"],  # right after pruning, before fine-tuning: what the criterion kept
        "importance": config.importance, "steps": config.steps, "global_pruning": config.global_pruning,
        "round_to": parts["round_to"], "sparse_epochs": config.sparse_epochs,
        "finetune": {"epochs": len(parts["history"]), "lr": parts["ft_spec"].lr, "history": parts["history"]},
        "before": before, "after": after,
        "channels": [{"layer": k, "before": v, "after": parts["channels_after"].get(k, 0)}
                     for k, v in parts["channels_before"].items()],
        "seconds": parts["seconds"], "note": launch_bound_note(before, after),
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "blocks": blocks.to_dict() if blocks else None,  # nasprune prune --blocks: removed and kept blocks
    }


def _from_study_note(config: PruneConfig, taken: tuple[str, ...], stamp: dict[str, Any]) -> str:
    """Say which latency settings came from the study, and how to choose others."""
    budget = stamp.get("max_latency_ms")
    why = ("--objectives accuracy,latency" if stamp.get("objectives") == "accuracy,latency"
           else f"--max-latency-ms {budget:g}" if budget is not None else "a latency budget")
    where = runtime_where(config.latency_runtime, config.latency_batch, config.latency_threads)
    flags = ", ".join(f"--{name.replace('_', '-')}" for name in taken)
    return (f"  latency measured in {where}: the study's (searched with {why}); {flags} "
            f"{'chooses' if len(taken) == 1 else 'choose'} another")


def prune(config: PruneConfig, on_event: OnEvent | None = None,
          latency: Callable[[nn.Module], Latency] | None = None) -> PruneResult:
    """Prune a trained network to a target, fine-tune it, and record before and after.

    Loads the model (a study trial or a saved folder: nothing is retrained from scratch), evaluates it,
    removes channels with torch-pruning until the measured cost meets the target, fine-tunes with the
    search's trainer, evaluates again, and saves the pruned model (spec, plain weights, pruning history)
    with ``summary.json`` and ``summary.md``. A study gets a linked trial for the pruned model. ``on_event``
    receives what happens as it happens (nasprune.events: Notes, and an Epoch per sparse or fine-tuning epoch).

    The source and the pruned model are timed where the model will run (``config.latency_runtime``, batch and
    threads; those left None are the study's where it was searched with a latency objective or budget:
    :func:`~nasprune.prune.config.resolve_latency`, said in a Note and in the summary's ``deployed.from_study``); a
    pruned model slower there than its source is named in the summary's ``error`` (and ``deployed``), not left to
    a table row. ``latency``: that measurement, ``model -> Latency`` (default:
    :func:`nasprune.deploy.runtime_latency` with the config's runtime, batch and threads); a latency target
    calls it after every pruning step.

    Raises:
        NaspruneError: bad input (target, trial, study, model folder); nothing is written in that case.
    """
    started = time.perf_counter()
    runtime = resolve_runtime(config.device, config.precision, config.cuda_graph, config.loader_workers)
    source = load_picked(study=config.study, trial=config.trial, max_mflops=config.pick_mflops, model=config.model,
                         data=config.data, changes=config.data_changes, download=config.download, cache=config.cache,
                         storage=config.storage,
                         results_dir=config.results_dir, purpose="prune")
    stamp = stamp_of(source.study) if source.study else {}
    config, from_study = resolve_latency(config, stamp)
    out = _out_dir(config, source)
    data = place_data(source.data, runtime.device, config.placement)
    source.model.to(runtime.device, memory_format=runtime.memory_format)
    target_kind = config.channel_target.kind if config.channel_target else None
    round_to = config.round_to or (fast_channels(config.latency_runtime) if target_kind == "latency"
                                   else 8 if runtime.device.type == "cuda" else 1)
    measure = latency or (lambda m: runtime_latency(m, data.input_shape, config.latency_runtime,  # noqa: E731
                                                    config.latency_batch, config.latency_threads))
    emit(on_event, Note(f"nasprune prune: {source.label} ({describe(source.spec.arch)}), data {data.describe()}"))
    if source.data_note:
        emit(on_event, Note(f"  data: {source.data_note}"))
    if from_study:
        emit(on_event, Note(_from_study_note(config, from_study, stamp)))
    before = measure_model(source.model, data, runtime, config.latency_threads)
    _deployed_latency(before, source.model, data.input_shape, config.latency_threads, on_event)
    channels_before = channel_counts(source.model)
    deployed_before = measure(source.model)  # before blocks and channels go (pruning works in place)
    what = f"{config.channel_target.describe()} by {config.importance} importance" if config.channel_target else ""
    emit(on_event, Note(f"  before: val {before['val_accuracy']:.4f}, {before['mflops']:.3f} MFLOPs, "
                        f"{before['params']:,} params; pruning "
                        + " then ".join(filter(None, ["blocks" if config.blocks else "", what]))))
    t0 = time.perf_counter()
    blocks = _prune_blocks(source, data, config, runtime, on_event) if config.blocks else None
    target = _channel_target(config, before, source.model, data.input_shape)
    latency_log = None
    if target is not None:
        model, log, pruned_val, latency_log = _prune(source, data, config, target, runtime, round_to, on_event,
                                                     (measure, deployed_before, not (blocks and blocks.removed)))
    else:  # blocks only, or the blocks met the target already
        model, log = source.model, PruneLog(reached=True)
        pruned_val = blocks.removed[-1]["val"] if blocks and blocks.removed else before["val_accuracy"]
    arch = model.arch  # the spec with fewer blocks, when blocks were removed
    t1 = time.perf_counter()
    ft_spec = _finetune_spec(source.spec.train, config)
    history = _finetune(model, data, ft_spec, config, runtime, on_event)
    seconds = {"prune": round(t1 - t0, 2), "finetune": round(time.perf_counter() - t1, 2)}
    after = measure_model(model.eval(), data, runtime, config.latency_threads)
    _deployed_latency(after, model, data.input_shape, config.latency_threads, None, before)
    deployed = {**deployed_check(deployed_before, measure(model), config.latency_runtime),
                "from_study": list(from_study)}  # the settings the study chose (none given in the options)
    seconds["total"] = round(time.perf_counter() - started, 2)
    summary = _summary(source, config, before=before, after=after, log=log, data=data, runtime=runtime,
                       pruned_val=pruned_val, round_to=round_to, ft_spec=ft_spec, history=history, seconds=seconds,
                       deployed=deployed, latency_log=latency_log,
                       channels_before=channels_before, blocks=blocks, arch=describe_model(model),
                       channels_after=blocks.original_names(channel_counts(model)) if blocks else channel_counts(model))
    save_model(out, TrialSpec(arch, ft_spec), model, source.history + log.history, data.input_shape, data.record())
    write_summary(out, summary)
    source.spec = TrialSpec(arch, source.spec.train)  # the linked trial records the spec the model is built from
    recorded = source.study is not None and config.record
    linked = (_record(source, out, after, summary, weighted_depth(model), model, data.input_shape) if recorded
              else None)
    return PruneResult(out, summary, linked)
