"""One trial: sample a spec, build it, measure it, reject it if over budget, train it, save it.

What a trial learned is written to its user attributes as it goes (spec, costs, per-epoch history), so
the dashboard, the stopping rule of other trials and later commands can read it. A trial ends as
COMPLETE, PRUNED (Optuna's word; nasprune's outcome is "stopped": stopped early, over budget, diverged, out of
time) or FAIL (the candidate could not be built or ran out of memory), always with ``outcome`` and, unless
complete, ``reason``.
"""

from __future__ import annotations

import contextlib
import gc
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import optuna
import torch
from torch import nn

from ..artifacts import artifact_store, upload_files
from ..checkpoint import save_model
from ..data import DataSplits
from ..deploy import ArchLatency, runtime_latency
from ..diagnostics import GradientRecorder, trial_diagnostics
from ..errors import (
    DISK_FULL,
    CandidateError,
    DiskFullError,
    DivergedError,
    NaspruneError,
    StorageLostError,
    StudyError,
    disk_full_message,
    first_line,
)
from ..events import Epoch, Note, OnEvent, emit
from ..measure import Latency, count_macs, count_params, measure_latency
from ..nn import build_model, weighted_depth
from ..record import (
    FINISHED_NAME,
    UNTIL_DEADLINE,
    budget_taken_before,
    mark_finished,
    retry_trial,
    trial_dir,
    unmasked,
    worker_id,
)
from ..signals import signal_name, signal_of
from ..space import SearchSpace, TrialSpec, describe, sample_spec
from ..spec import ArchSpec
from ..steps import CudaContextLost, cuda_context_lost
from ..train import EpochStats, Runtime, train
from .stopping import EpochRule, Stopped

__all__ = ["Objective"]


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, NaspruneError):  # our own messages are written for the user already
        return str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return first_line(exc)


def _store_curve(trial: optuna.Trial, history: list[dict]) -> None:
    """Per-epoch validation accuracy as intermediate values, for the dashboard's curves, in a multi-objective
    study, where ``trial.report`` is refused (optuna#3450). Only for trials that complete: Optuna's TPE sampler
    fails on a pruned multi-objective trial with intermediate values (it asks the study for its single
    direction), so stopped trials keep their curve in the ``history`` attribute alone."""
    storage = trial.study._storage  # noqa: SLF001 - the storage API is the only way past trial.report's refusal
    for row in history:
        storage.set_trial_intermediate_value(trial._trial_id, row["epoch"] - 1, row["val_acc"])  # noqa: SLF001


def _side(length: int, plan: int) -> int:
    """-1, 0 or 1: a run's length short of its plan, at it, or past it."""
    return (length > plan) - (length < plan)


def _length_text(number: int, length: int, plan: int) -> str:
    """The note a retraining's new length gives, by its side of the plan."""
    end = f"its schedule now ends at epoch {length}"
    return {-1: f"trial {number}: only {length} of its {plan} epochs fit in the time budget; {end}",
            0: f"trial {number}: all {length} of its epochs fit in the time budget again; its schedule ends at epoch "
               f"{length}",
            1: f"trial {number}: {length} epochs fit in the time budget, more than the {plan} planned; {end}"}[
        _side(length, plan)]


@dataclass
class Objective:
    """Callable for ``study.optimize``: returns (val_accuracy, cost) or val_accuracy."""

    space: SearchSpace
    data: DataSplits  # already on runtime.device
    runtime: Runtime
    artifacts_root: Path  # trial checkpoints and the artifact store (--artifacts; default results/<study>)
    epochs: int
    seed: int
    objectives: str  # a key of OBJECTIVES
    rules: list[EpochRule]
    max_mflops: float | None = None
    max_params: int | None = None
    budget: int | None = None  # trials the whole study may finish (across workers)
    latency: bool = True
    latency_threads: int = 1  # CPU threads of the latency measurement
    latency_runtime: str = "torch"  # torch: on the training device (its autocast); onnxruntime: on the CPU
    latency_batch: int = 1
    max_latency_ms: float | None = None  # budget: slower candidates are rejected before training
    shared_device: bool = False  # other workers train on the same device: latency is marked ``shared``
    max_retries: int = 2  # how often a trial whose worker lost its GPU is run again
    artifacts: bool = True  # upload each completed trial's saved model as Optuna artifacts
    on_event: OnEvent | None = None  # gets an Epoch event per epoch (nasprune.events)
    _latencies: dict[str, Latency] = field(default_factory=dict, init=False, repr=False)  # by architecture

    def spec_for(self, trial: optuna.Trial) -> TrialSpec:
        """The trial's candidate: the spec it was queued with (a baseline, or the retry of a trial whose worker
        died), or a sample of the space."""
        if "spec" in trial.user_attrs:
            return TrialSpec.from_dict(trial.user_attrs["spec"])
        c, _, _ = self.data.input_shape
        spec = sample_spec(self.space, trial, c, self.data.num_classes)
        return TrialSpec(spec.arch, spec.train.replace(epochs=self.epochs))

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        trial.set_user_attr("worker", worker_id())
        started = time.perf_counter()
        if self.budget is not None and budget_taken_before(trial.study, trial.number) >= self.budget:
            trial.study.stop()
            self._end(trial, started, "surplus", "the trial budget was already taken by other workers' trials")
            raise CandidateError("surplus trial: budget reached")
        try:
            with unmasked():  # an interrupt or a lost database under what a library raised meanwhile is not the
                return self._run(trial, started)  # candidate's failure
        except (optuna.TrialPruned, StorageLostError, StudyError):
            raise  # stopped by a rule; or the study's storage failed: not the candidate's failure
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (nasprune.signals): rerunning resumes
            self._end(trial, started, "interrupted", f"interrupted ({signal_name(signal_of(exc))})")
            raise
        except OSError as exc:
            if exc.errno not in DISK_FULL:
                raise CandidateError(self._failed(trial, started, exc)) from None
            with contextlib.suppress(OSError):  # the record may not fit either: the trial then stays running
                self._end(trial, started, "disk full", disk_full_message(exc))  # and is run again on the next start
            raise DiskFullError(disk_full_message(exc)) from None
        except (DivergedError, Stopped) as exc:
            self._end(trial, started, "stopped", str(exc))
            raise optuna.TrialPruned(str(exc)) from None
        except CudaContextLost as exc:
            self._lost(trial, started, str(exc))
        except Exception as exc:  # the candidate's failure, not the search's: record it and go on
            lost = cuda_context_lost(self.runtime.device)
            if lost is not None:  # not the candidate's failure: no CUDA call in this process can succeed again
                self._lost(trial, started, f"{_first_line(exc)}, which broke the CUDA context ({lost})")
            raise CandidateError(self._failed(trial, started, exc)) from None
        finally:
            gc.collect()
            if self.runtime.device.type == "cuda":
                with contextlib.suppress(RuntimeError):  # a broken CUDA context fails this too
                    torch.cuda.empty_cache()

    def _lost(self, trial: optuna.Trial, started: float, reason: str) -> None:
        """The worker's CUDA context broke: record the trial as its worker's death (it does not count toward the
        budget), queue it to run again (like a dead worker's: nasprune.record.retry_trial), and end this process's
        part in the search with CudaContextLost."""
        self._end(trial, started, "worker died", f"its worker lost its GPU: {reason}")
        frozen = trial.study._storage.get_trial(trial._trial_id)  # noqa: SLF001 - as recover_dead_trials does
        retry = retry_trial(trial.study, frozen, self.max_retries, f"trial {trial.number}: its worker lost its GPU")
        again = f"trial {retry} runs it again" if retry is not None else "it was retried too often to run again"
        raise CudaContextLost(f"trial {trial.number}: {reason}; {again}") from None

    def _failed(self, trial: optuna.Trial, started: float, exc: Exception) -> str:
        reason = f"out of memory ({_first_line(exc)})" if _is_oom(exc) else _first_line(exc)
        self._end(trial, started, "failed", reason)
        return reason

    def _end(self, trial: optuna.Trial, started: float, outcome: str, reason: str | None = None) -> None:
        trial.set_user_attr("outcome", outcome)
        if reason:
            trial.set_user_attr("reason", reason)
        trial.set_user_attr("wall_seconds", round(time.perf_counter() - started, 3))

    def _run(self, trial: optuna.Trial, started: float) -> float | tuple[float, float]:
        try:
            spec = self.spec_for(trial)
        except NaspruneError as exc:
            raise CandidateError(f"invalid candidate: {exc}") from None
        arch = spec.arch
        # short, scannable attributes first: the dashboard lists them in the order they were set
        trial.set_user_attr("arch", describe(arch))
        for key, value in (("block", arch.block), ("norm", arch.norm), ("act", arch.act),
                           ("stages", len(arch.stages)), ("repeats", list(arch.repeats)),
                           ("widths", list(arch.widths))):
            trial.set_user_attr(key, value)
        trial.set_user_attr("spec", spec.to_dict())  # the record any later stage rebuilds the network from
        torch.manual_seed(self.seed + trial.number)
        try:
            model = build_model(arch)
        except NaspruneError as exc:
            raise CandidateError(f"build failed: {exc}") from None
        model.to(self.runtime.device, memory_format=self.runtime.memory_format)
        mflops, params = count_macs(model, self.data.input_shape) / 1e6, count_params(model)
        trial.set_user_attr("mflops", round(mflops, 4))
        trial.set_user_attr("params", params)
        trial.set_user_attr("depth", weighted_depth(model))
        latency_ms = None
        if self.latency:
            latency = self._latency(model, arch)
            latency_ms = latency.median_ms
            trial.set_user_attr("latency_ms", latency_ms)
            trial.set_user_attr("latency", latency.to_dict())  # runtime, batch, threads, spread, repeats, busy
        self._check_budgets(trial, started, mflops, params, latency_ms)

        history: list[dict] = []

        planned = spec.train.epochs  # a rule may set the run's length (a retraining that must end in time)
        longest = trial.user_attrs.get(UNTIL_DEADLINE, planned)  # a round's last retraining may train past its plan

        def on_epoch(stats: EpochStats) -> str | int | None:
            nonlocal planned
            history.append({k: round(v, 5) if isinstance(v, float) else v for k, v in stats.to_dict().items()})
            trial.set_user_attr("history", history)
            emit(self.on_event, Epoch(stats, planned, trial=trial.number))
            length = None
            for rule in self.rules:  # every rule sees every epoch (Optuna's pruners are told each one)
                verdict = rule(trial, stats.epoch, stats.val_acc)
                if isinstance(verdict, int):  # at least those done, at most the bound; the shortest rule wins
                    length = max(stats.epoch, min(verdict, longest, length or verdict))
                elif verdict and stats.epoch < planned:  # a finished trial has nothing left to save
                    return verdict
            if length is None or length == planned:
                return None
            # said once a side of the plan (short of it, at it, past it): the progress line shows each new end
            if _side(length, spec.train.epochs) != _side(planned, spec.train.epochs):
                emit(self.on_event, Note(_length_text(trial.number, length, spec.train.epochs)))
            trial.set_user_attr("shortened", {"epoch": stats.epoch, "from": spec.train.epochs, "to": length}
                                if length < spec.train.epochs else None)
            planned = length
            return length

        recorder = GradientRecorder(model)  # depth diagnostics: gradient norms at a few fixed steps
        checks = [c for c in (getattr(rule, "during_epoch", lambda _: None)(trial) for rule in self.rules) if c]

        def after_step(step: int, total: int) -> None:
            recorder(step, total)
            for check in checks:
                reason = check(step, total)
                if reason:
                    raise Stopped(reason)

        result = train(model, self.data, spec.train, self.runtime, seed=self.seed + trial.number, on_epoch=on_epoch,
                       after_step=after_step)
        for key, value in trial_diagnostics(trial.number, model, self.data, self.runtime, recorder, history,
                                            probe=not result.stopped).items():
            trial.set_user_attr(key, value)
        final = result.final
        trial.set_user_attr("epochs_trained", len(result.history))
        trial.set_user_attr("train_seconds", round(result.seconds, 3))
        trial.set_user_attr("val_accuracy", final.val_acc)
        trial.set_user_attr("train_accuracy", final.train_acc)
        if result.stopped:
            self._end(trial, started, "stopped", result.stopped)
            raise optuna.TrialPruned(result.stopped)
        directory = save_model(trial_dir(self.artifacts_root, trial.number), spec, model, data=self.data.record())
        values = self._values(final.val_acc, mflops, params, latency_ms)
        # the result beside the model, before the storage hears of it: if the database goes away before the trial
        # is recorded as complete, the next start records it from here instead of training it again
        mark_finished(directory, values, {"checkpoint": str(directory), "outcome": "complete"})
        trial.set_user_attr("checkpoint", str(directory))
        if self.artifacts:  # the dashboard shows them on the trial's page, for download
            upload_files(artifact_store(self.artifacts_root),
                         sorted(f for f in directory.iterdir() if f.name != FINISHED_NAME), trial)
        if self.objectives != "accuracy":
            _store_curve(trial, history)
        self._end(trial, started, "complete")
        return values[0] if self.objectives == "accuracy" else tuple(values)

    def _latency(self, model: nn.Module, arch: ArchSpec) -> Latency:
        """The candidate's latency where the study measures it, once per distinct architecture (a retrained
        network, or one sampled twice, keeps its first figure): eager PyTorch on the training device under its
        autocast (batch 1: the figure every trial has had), or ``latency_runtime`` on the CPU
        (nasprune.deploy.ArchLatency). Other workers training on the same device mark the figure ``shared``."""
        key = ArchLatency.key(arch)
        if key not in self._latencies:
            if self.latency_runtime == "torch" and self.latency_batch == 1:
                figure = measure_latency(model, self.data.input_shape, threads=self.latency_threads,
                                         autocast=self.runtime.amp_dtype)
            else:
                figure = runtime_latency(model, self.data.input_shape, self.latency_runtime, self.latency_batch,
                                         self.latency_threads)
            self._latencies[key] = replace(figure, shared=self.shared_device)
        return self._latencies[key]

    def _values(self, val_acc: float, mflops: float, params: int, latency_ms: float | None) -> list[float]:
        """The trial's objective values, in the study's order."""
        if self.objectives == "accuracy":
            return [val_acc]
        return [val_acc, {"accuracy,mflops": mflops, "accuracy,params": params / 1e6,
                          "accuracy,latency": latency_ms}[self.objectives]]

    def _check_budgets(self, trial: optuna.Trial, started: float, mflops: float, params: int,
                       latency_ms: float | None) -> None:
        """Budgets are Optuna constraints (feasible when <= 0), mirrored as user attributes for the
        dashboard; a candidate over budget ends here, before any training."""
        over = []
        for key, value, limit in (("mflops", mflops, self.max_mflops), ("params", params, self.max_params),
                                  ("latency_ms", latency_ms, self.max_latency_ms)):
            if limit is None:
                continue
            trial.set_constraint(key, value - limit)
            trial.set_user_attr(f"max_{key}", limit)
            if value > limit:
                over.append(f"{key} {value:.4g} > budget {limit:.4g}")
        if over:
            reason = "over budget: " + ", ".join(over)
            self._end(trial, started, "stopped", reason)
            raise optuna.TrialPruned(reason)
