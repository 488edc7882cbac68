"""``nasprune diagnose`` as a function, and the cheap per-trial diagnostics a search records.

:func:`diagnose` loads a trained network (a study's trial or a saved model folder), gathers the three
depth diagnostics (generalization gap, first/last gradient ratio, redundant blocks and near-zero channels),
turns them into a verdict and writes it as JSON. :func:`record_trial_diagnostics` is what every search trial
stores, from numbers it has anyway or can get in one probe batch.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import torch
from optuna.trial import TrialState
from torch import nn

from ..checkpoint import load_model
from ..data import DataOptions, DataSplits, Normalizer, load_data, train_batches
from ..data.placement import place_data
from ..data.splits import Split
from ..errors import ConfigError, StudyError
from ..measure import count_macs
from ..nn import build_model, weighted_depth
from ..spec import TrialSpec, describe
from ..train import Runtime, evaluate, resolve_runtime
from .gradients import GradientRecorder, GradientSummary, measure_gradients
from .overfitting import Generalization, summarize_history
from .redundancy import Redundancy, probe_redundancy
from .verdict import Diagnosis, findings, write_diagnosis

__all__ = ["DiagnoseConfig", "DiagnoseResult", "diagnose", "record_trial_diagnostics", "probe_batch", "estimate_drops"]

log = logging.getLogger("nasprune")


@dataclass(frozen=True)
class DiagnoseConfig:
    """Settings of ``nasprune diagnose``: a trial of a study (``study``, ``trial``; default: the most accurate
    Pareto trial) or a saved model folder (``model``, with ``data``).

    Example::

        import nasprune
        result = nasprune.diagnose(nasprune.DiagnoseConfig(study="default-digits", trial=3))
        print("\\n".join(f.message for f in result.diagnosis.findings))
    """

    study: str | None = None
    trial: int | None = None
    model: Path | None = None  # a saved model folder instead of a study trial
    data: str | None = None  # needed with ``model``; a study remembers its own
    data_options: DataOptions = field(default_factory=DataOptions)
    seed: int = 0  # with ``model``: the data split's seed
    storage: str | None = None
    results_dir: Path = Path("results")
    out: Path | None = None  # the JSON (default: RESULTS_DIR/STUDY/diagnose/trialN.json or RESULTS_DIR/diagnose/DIR.json)
    probe_images: int = 256  # validation images of the probe batch (CKA, bypass test, near-zero channels)
    gradient_batches: int = 4  # training batches for gradient norms when the trial recorded none
    estimate_images: int = 2000  # validation images on which bypassing a redundant run is measured (0: all)
    device: str = "auto"

    def __post_init__(self) -> None:
        if (self.study is None) == (self.model is None):
            raise ConfigError("say which model to diagnose: --study NAME (a trial of a study) or --model DIR")
        if self.model is not None and self.data is None:
            raise ConfigError("--model needs --data: the data set to measure it on")
        if self.study is None and self.trial is not None:
            raise ConfigError("--trial chooses from a study; use it with --study")
        for name in ("probe_images", "gradient_batches"):
            if getattr(self, name) < 2:
                raise ConfigError(f"{name} must be >= 2 (got {getattr(self, name)})")
        if self.estimate_images < 0:
            raise ConfigError(f"estimate_images must be >= 0 (got {self.estimate_images})")
        object.__setattr__(self, "results_dir", Path(self.results_dir))


@dataclass
class DiagnoseResult:
    diagnosis: Diagnosis
    out: Path  # the JSON written


@dataclass
class _Loaded:
    spec: TrialSpec
    model: nn.Module | None  # None: a trial without saved weights (stopped early)
    data: DataSplits
    label: str
    default_out: Path
    attrs: dict


def _pick(study: optuna.Study, number: int | None) -> optuna.trial.FrozenTrial:
    from ..search.winners import pareto_winners  # noqa: PLC0415 - search imports this package

    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number is None:
        front = [t for t in pareto_winners(study) if "pruned_from" not in t.user_attrs]
        if not front:
            raise StudyError(f"study {study.study_name!r} has no completed trial to diagnose")
        return front[0]
    t = trials.get(number)
    if t is None or "spec" not in t.user_attrs or t.state in (TrialState.RUNNING, TrialState.WAITING):
        usable = sorted(n for n, t in trials.items() if "history" in t.user_attrs)
        state = "no such trial" if t is None else f"trial {number} is {t.state.name.lower()} without a record"
        raise StudyError(f"cannot diagnose trial {number} of study {study.study_name!r}: {state}; trials with a "
                         f"training record: {', '.join(map(str, usable)) or 'none'}")
    return t


def _load(config: DiagnoseConfig) -> _Loaded:
    if config.model is not None:
        spec, model = load_model(config.model)
        data = load_data(config.data, config.data_options, seed=config.seed)
        folder = Path(config.model)
        return _Loaded(spec, model, data, str(folder), config.results_dir / "diagnose" / f"{folder.name}.json", {})
    from ..prune.source import open_existing_study  # noqa: PLC0415
    from ..search.study import load_study_data  # noqa: PLC0415

    study, _ = open_existing_study(config.study, config.storage, config.results_dir)
    trial = _pick(study, config.trial)
    attrs = dict(trial.user_attrs)
    spec = TrialSpec.from_dict(attrs["spec"])
    model = load_model(attrs["checkpoint"])[1] if attrs.get("checkpoint") else None
    data = load_study_data(study, config.data_options.download, config.data_options.cache)
    label = f"trial {trial.number} of study {study.study_name!r}"
    return _Loaded(spec, model, data, label, config.results_dir / config.study / "diagnose" /
                   f"trial{trial.number}.json", attrs)


def probe_batch(data: DataSplits, images: int, runtime: Runtime) -> torch.Tensor:
    """The fixed probe batch: the first ``images`` validation images, normalized, on the runtime's device."""
    normalize = Normalizer(data, runtime.device, runtime.memory_format, torch.float32)
    return normalize(data.val.x[:images].to(runtime.device))


def _head(split: Split, images: int) -> Split:
    return split if not images or images >= len(split) else Split(split.x[:images], split.y[:images])


def estimate_drops(model: nn.Module, redundancy: Redundancy, data: DataSplits, runtime: Runtime,
                    images: int) -> Redundancy:
    """Measure, on ``images`` validation images, the accuracy each removable run of redundant blocks costs
    when bypassed (the blocks replaced by identities; no fine-tuning)."""
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    val = _head(data.val, images)
    base = evaluate(model, val, normalize, runtime, data.streamed)[1]
    runs = []
    for run in redundancy.runs:
        if run.identity:
            bypassed = copy.deepcopy(model)
            for j in range(run.first - 1, run.last):
                bypassed.stages[run.stage - 1].blocks[j] = nn.Identity()
            drop = round(base - evaluate(bypassed, val, normalize, runtime, data.streamed)[1], 5)
            run = dataclasses.replace(run, val_drop=drop)
        runs.append(run)
    return Redundancy(redundancy.images, redundancy.mflops, redundancy.blocks, runs)


def _measured_gradients(loaded: _Loaded, data: DataSplits, runtime: Runtime, batches: int
                        ) -> tuple[GradientSummary | None, GradientSummary | None]:
    """(gradients, gradients at initialization): the trial's training record when it has one; otherwise
    measured now on a few training batches, on the trained weights and on freshly initialized ones."""
    if loaded.attrs.get("gradients"):
        return GradientSummary.from_dict(loaded.attrs["gradients"]), None
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    size = min(loaded.spec.train.batch_size, len(data.train))

    def batches_of() -> list:
        order = torch.Generator(device=data.train.x.device).manual_seed(0)
        out = []
        for i, batch in enumerate(train_batches(data.train, size, order, runtime.device, data.streamed,
                                                 runtime.loader_workers)):
            if i == batches:
                break
            out.append(batch)
        return out

    trained = measure_gradients(loaded.model, batches_of(), normalize, runtime) if loaded.model is not None else None
    torch.manual_seed(0)
    fresh = build_model(loaded.spec.arch).to(runtime.device, memory_format=runtime.memory_format)
    return trained, measure_gradients(fresh, batches_of(), normalize, runtime, source="initialization")


def _generalization(loaded: _Loaded, data: DataSplits, runtime: Runtime) -> Generalization | None:
    """From the trial's history; for a saved model, train and validation accuracy measured now (eval mode, no
    augmentation, at most 10,000 training images)."""
    summary = summarize_history(loaded.attrs.get("history") or [])
    if summary is not None or loaded.model is None:
        return summary
    normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
    train_loss, train_acc = evaluate(loaded.model, _head(data.train, 10_000), normalize, runtime, data.streamed)
    val_loss, val_acc = evaluate(loaded.model, data.val, normalize, runtime, data.streamed)
    gap = round(train_acc - val_acc, 4)
    return Generalization(epochs=1, best_epoch=1, train_acc=round(train_acc, 4), val_acc=round(val_acc, 4), gap=gap,
                          loss_gap=round(val_loss - train_loss, 4), gap_last=gap, gap_trend=0.0, val_loss_rise=None,
                          source="measured now")


def diagnose(config: DiagnoseConfig) -> DiagnoseResult:
    """Diagnose one trained network and write the verdict to JSON (see the module docstring).

    Raises:
        NaspruneError: bad input (study, trial, model folder, data); nothing is written in that case.
    """
    runtime = resolve_runtime(config.device)
    loaded = _load(config)
    data = place_data(loaded.data, runtime.device)
    arch = loaded.spec.arch
    model = loaded.model.to(runtime.device, memory_format=runtime.memory_format) if loaded.model else None
    gradients, gradients_init = _measured_gradients(loaded, data, runtime, config.gradient_batches)
    generalization = _generalization(loaded, data, runtime)
    redundancy, mflops, val_acc, depth = None, loaded.attrs.get("mflops"), loaded.attrs.get("val_accuracy"), None
    if model is not None:
        model.eval()
        redundancy = probe_redundancy(model, probe_batch(data, config.probe_images, runtime))
        redundancy = estimate_drops(model, redundancy, data, runtime, config.estimate_images)
        mflops, depth = round(count_macs(model, data.input_shape) / 1e6, 4), weighted_depth(model)
        if val_acc is None:
            normalize = Normalizer(data, runtime.device, runtime.memory_format, runtime.input_dtype)
            val_acc = round(evaluate(model, data.val, normalize, runtime, data.streamed)[1], 5)
    diagnosis = Diagnosis(source=loaded.label, arch=describe(arch), block=arch.block, norm=arch.norm,
                          depth=depth or loaded.attrs.get("depth") or weighted_depth(build_model(arch)),
                          mflops=mflops, val_accuracy=val_acc, generalization=generalization, gradients=gradients,
                          gradients_init=gradients_init, redundancy=redundancy, num_classes=arch.num_classes)
    diagnosis = dataclasses.replace(diagnosis, findings=findings(diagnosis))
    out = write_diagnosis(config.out or loaded.default_out, diagnosis)
    return DiagnoseResult(diagnosis, out)


def record_trial_diagnostics(trial: optuna.Trial, model: nn.Module, data: DataSplits, runtime: Runtime,
                             recorder: GradientRecorder, history: list[dict], probe: bool = True,
                             probe_images: int = 256) -> None:
    """Store a search trial's depth diagnostics as user attributes: ``gradients`` (the recorder's norms and
    their headline ``ratio``), ``redundancy`` (the probe batch's per-block CKA, bypass agreement and
    near-zero channels; with ``probe``, i.e. for trials that trained to the end) and ``diagnosis`` (the
    verdict's lines). Diagnostics never fail a trial: an error is logged and stored as ``diagnostics_error``."""
    try:
        gradients = recorder.summary()
        trial.set_user_attr("gradients", gradients.to_dict())
        redundancy = None
        if probe:
            redundancy = probe_redundancy(model, probe_batch(data, probe_images, runtime))
            trial.set_user_attr("redundancy", redundancy.to_dict())
        arch = model.arch
        diagnosis = Diagnosis(source=f"trial {trial.number}", arch=describe(arch), block=arch.block, norm=arch.norm,
                              depth=weighted_depth(model), mflops=None, val_accuracy=None,
                              generalization=summarize_history(history), gradients=gradients, redundancy=redundancy,
                              num_classes=arch.num_classes)
        trial.set_user_attr("diagnosis", [f.message for f in findings(diagnosis)])
    except Exception as exc:  # a diagnostic is worth less than the trial it describes
        log.warning("depth diagnostics of trial %d failed: %s: %s", trial.number, exc.__class__.__name__, exc)
        trial.set_user_attr("diagnostics_error", f"{exc.__class__.__name__}: {exc}")
