"""Several trial workers at once: processes that share one study through its storage.

Small networks leave most of a big GPU idle (a ResNet-20 step is bound by kernel launches, not arithmetic),
so running several trials per GPU multiplies throughput. Each worker is a separate process (spawned, so
CUDA is initialized cleanly in each) that runs the same search against the same study: the storage hands
out trials, the sampler's constant liar keeps concurrent workers from sampling the same candidate, and the
budget check in the objective keeps the total exact. The main process only watches: it prints each trial
as it finishes and, when every worker is done, evaluates the winners.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
from dataclasses import replace

import optuna
import torch
from optuna.trial import TrialState

from ..choices import WORKERS_PER_GPU
from ..errors import NaspruneError, StorageLostError, StudyError
from ..events import Note, OnEvent, TrialEnd, emit
from ..record import dead_trial_text, finished_count, lost_message, outcome_of, recover_dead_trials, unmasked
from ..signals import exit_code, interrupt_on_signals, signal_name
from ..steps import CudaContextLost
from .budget import Clock
from .config import SearchConfig
from .session import optimize, setup

__all__ = ["plan_devices", "run_workers", "worker_main", "claim_device", "WORKERS_PER_GPU", "GPU_MEMORY_SHARE"]


_POLL_SECONDS = 1.0
_STOP_SECONDS = 10.0  # how long an interrupted worker may take to record its trial before it is killed
#: share of a GPU's memory its workers' allocators may hold together, split equally: a large candidate then runs out
#: of memory in its own trial instead of in a neighbour's. The rest is for what the allocator does not see: each
#: process's CUDA context (about 0.5 GiB) and cuDNN's workspaces.
GPU_MEMORY_SHARE = 0.9


def plan_devices(config: SearchConfig, device: torch.device) -> list[str]:
    """The device of each worker: one worker on the CPU by default; on CUDA, WORKERS_PER_GPU per GPU of
    ``config.gpus`` (or of ``device``), workers dealt round-robin over the GPUs."""
    if device.type != "cuda":
        return ["cpu"] * (config.workers or 1)
    gpus = config.gpus if config.gpus is not None else (device.index or 0,)
    for g in gpus:
        if g >= torch.cuda.device_count():
            raise StudyError(f"--gpus names GPU {g}, but {torch.cuda.device_count()} are visible")
    count = config.workers or WORKERS_PER_GPU * len(gpus)
    return [f"cuda:{gpus[i % len(gpus)]}" for i in range(count)]


def claim_device(device: str, per_device: int) -> str:
    """Give a fresh worker process its device, before anything in it touches CUDA; returns the device to train on.

    CUDA (``cuda:N``): the process sees only GPU N (``CUDA_VISIBLE_DEVICES``, read through the value the process
    inherited, so ``--gpus`` counts the GPUs the user let it see), which is ``cuda:0`` inside; with ``per_device``
    workers on that GPU its allocator may hold ``GPU_MEMORY_SHARE / per_device`` of the memory. CPU: the cores are
    shared, each worker gets ``cores // per_device`` intra-op threads.

    Raises:
        RuntimeError: CUDA is initialized in this process already (the variable would be ignored).
    """
    if device == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // per_device))
        return "cpu"
    if torch.cuda.is_initialized():
        raise RuntimeError("claim_device() must run before anything in the process uses CUDA")
    index = torch.device(device).index or 0
    inherited = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    os.environ["CUDA_VISIBLE_DEVICES"] = inherited[index] if index < len(inherited) else str(index)
    torch.cuda.set_device(0)
    if per_device > 1:
        torch.cuda.set_per_process_memory_fraction(GPU_MEMORY_SHARE / per_device, 0)
    return "cuda:0"


def worker_main(config: SearchConfig, device: str, index: int, per_device: int, clock: Clock | None = None) -> None:
    """Body of one worker process: the single-process search loop on ``device`` (see :func:`claim_device`),
    without output of its own (the main process reports) and with a seed stream of its own."""
    device = claim_device(device, per_device)  # first: CUDA reads the visible devices once, when it starts
    logging.basicConfig(level=logging.WARNING, format=f"nasprune worker {index}: %(levelname)s: %(message)s")
    logging.getLogger("nasprune.storage").setLevel(logging.ERROR)  # an outage is said once, by the main process
    try:
        # the main process passes every interrupt on as SIGTERM
        with interrupt_on_signals(ignore_sigint=True), unmasked():
            s = setup(replace(config, device=device, workers=1, gpus=None), worker_index=index, clock=clock)
            optimize(s, None, workers_per_device=per_device)
    except StorageLostError as exc:  # every worker loses the same database: the main process says it once
        sys.exit(exc.exit_code)
    except NaspruneError as exc:
        print(f"nasprune worker {index}: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        sys.exit(exit_code(exc))


def _report_new(study: optuna.Study, seen: set[int], on_event: OnEvent | None) -> None:
    """Report the trials that finished since the last look."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)):
        if t.number not in seen and outcome_of(t) != "surplus":
            seen.add(t.number)
            emit(on_event, TrialEnd(t, finished_count(study)))


def _report_lost(procs: list, devices: list[str], lost: set[int], on_event: OnEvent | None) -> None:
    """Report the workers that ended without finishing their trial since the last look, and add them to ``lost``."""
    for i, p in enumerate(procs):
        if i in lost or p.exitcode is None:
            continue
        if p.exitcode < 0:
            lost.add(i)
            emit(on_event, Note(f"worker {i} was killed ({signal_name(-p.exitcode)}); the other workers go "
                                f"on and run the trial it was in again, if any"))
        elif p.exitcode == CudaContextLost.exit_code:
            lost.add(i)
            emit(on_event, Note(f"worker {i} on {devices[i]} stopped: a CUDA error broke its GPU context (its message "
                                f"is above); the other workers go on and run its trial again"))


def run_workers(config: SearchConfig, devices: list[str], study: optuna.Study, on_event: OnEvent | None = None,
                clock: Clock | None = None) -> None:
    """Start one process per entry of ``devices`` and report their trials until all have exited.

    A worker killed by a signal (SIGKILL, the OOM killer), or one whose CUDA context broke (it exits with
    ``CudaContextLost.exit_code`` after queueing its trial again), is reported and left to the others: they run
    its trial again. Raises StudyError if a worker exited with an error, or if every worker was killed
    before the budget was reached; KeyboardInterrupt (after the workers stopped) on Ctrl-C or SIGTERM.
    """
    context = multiprocessing.get_context("spawn")
    per_device = {d: devices.count(d) for d in devices}
    procs = [context.Process(target=worker_main, args=(config, d, i, per_device[d], clock), name=f"nasprune-worker-{i}")
             for i, d in enumerate(devices)]
    seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    for p in procs:
        p.start()
    killed: set[int] = set()
    try:
        with unmasked():  # a lost database or an interrupt under what a storage call raised
            while any(p.is_alive() for p in procs):
                time.sleep(_POLL_SECONDS)
                _report_new(study, seen, on_event)
                before = len(killed)
                _report_lost(procs, devices, killed, on_event)
                if len(killed) > before:  # its trial is RUNNING with a dead pid: fail it and queue it now, not after
                    for number in recover_dead_trials(study, study._storage, config.max_retries):  # noqa: SLF001
                        emit(on_event, Note(dead_trial_text(study, number)))  # the heartbeat
    except (KeyboardInterrupt, StorageLostError):  # Ctrl-C or SIGTERM: pass it on, once (the workers ignore a
        for p in procs:  # terminal's SIGINT); a lost database: the workers cannot record anything either
            if p.is_alive():
                p.terminate()  # SIGTERM: the worker records its trial as interrupted and exits
        for p in procs:
            p.join(timeout=_STOP_SECONDS)
            if p.is_alive():
                p.kill()
        raise
    _report_new(study, seen, on_event)
    _report_lost(procs, devices, killed, on_event)
    if any(p.exitcode == StorageLostError.exit_code for p in procs):  # they said nothing: say it once, here
        raise StorageLostError(lost_message("a worker's connection failed"))
    failed = [(i, p.exitcode) for i, p in enumerate(procs) if p.exitcode and p.exitcode > 0 and i not in killed]
    if failed:
        codes = ", ".join(f"worker {i} exit code {code}" for i, code in failed)
        raise StudyError(f"{len(failed)} of {len(procs)} workers failed ({codes}); see their messages above")
    if killed and config.trials is not None and finished_count(study) < config.trials:
        raise StudyError(f"{len(killed)} of {len(procs)} workers were killed or lost their GPU and the study holds "
                         f"{finished_count(study)} of {config.trials} trials; run the same command to finish it")
