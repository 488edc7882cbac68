"""One process's part of a search: load and open everything (:func:`setup`), then run trials until the study
holds its budget (:func:`optimize`). The main process and every worker process run these."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState

from .._optuna import quiet_optuna
from ..data import DataSplits, load_data
from ..data.placement import place_data
from ..deploy import runtime_where
from ..errors import CandidateError, StudyError
from ..events import Note, OnEvent, TrialEnd, emit
from ..record import (
    ARTIFACTS_KEY,
    BASELINE_ATTR,
    COVER_ATTR,
    RETRAIN_OF,
    STAMP_KEY,
    START_ATTR,
    UNTIL_DEADLINE,
    counts_toward_budget,
    dead_trial_text,
    default_storage_path,
    drop_waiting,
    existing_trials,
    finished_count,
    make_stamp,
    masked_url,
    open_storage,
    open_study,
    others_running,
    outcome_of,
    record_finished,
    recover_dead_trials,
    remove_unfinished_folders,
    requeue_interrupted,
    retrain_candidates,
    unmasked,
)
from ..space import SearchSpace, TrainSpec, TrialSpec, candidates, fit_space, fixed_spec, load_space, space_hash
from ..space.cover import coverage
from ..text import plural
from ..train import Runtime, resolve_runtime
from .budget import RETRAIN_FACTOR, TRIALS_PER_BUDGET, Clock, plan_epochs, plan_for_onset, retrain_specs
from .config import SearchConfig
from .objective import Objective
from .stopping import Deadline, RungRule, chance_level, make_optuna_pruner, optuna_pruner_rule

__all__ = ["Session", "setup", "optimize"]



def _epochs(config: SearchConfig, space: SearchSpace) -> int:
    if config.epochs is not None:
        return config.epochs
    return space.train["epochs"].value if "epochs" in space.train else TrainSpec.epochs


def _sampler(kind: str, seed: int, trials: int | None) -> optuna.samplers.BaseSampler:
    # TPE handles define-by-run (conditional) spaces best; group=True models the per-stage parameters
    # that exist only at some depths jointly with the depth. constant_liar keeps parallel workers apart.
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    expected = trials or 2 * TRIALS_PER_BUDGET  # a time budget: about this many trials
    with quiet_optuna():
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True,
                                          n_startup_trials=min(10, max(4, expected // 4)))


def _pruning(config: SearchConfig, epochs: int, chance: float) -> tuple[optuna.pruners.BasePruner, list, str]:
    """(Optuna pruner, per-epoch rules, description) for the configured pruner; ``chance``: the validation
    accuracy of always guessing the largest class."""
    name = config.pruner
    if name == "auto":
        name = "rungs" if config.multi_objective else "hyperband"
    rules: list = [] if config.multi_objective else [optuna_pruner_rule]  # SO: report every epoch
    if name == "rungs":
        rule = RungRule(epochs, chance=chance, cost=config.cost)
        rules.append(rule)
        if not rule.rungs and not rule.judged:
            too_few = f"{plural(epochs, 'epoch')} {'is' if epochs == 1 else 'are'} too few"
            return optuna.pruners.NopPruner(), rules, f"rungs (none: {too_few} to judge early)"
        parts = []
        if rule.rungs:
            parts.append(f"successive halving vs. cheaper trials at epochs {', '.join(map(str, rule.rungs))}")
        if rule.judged:
            checks = "dominated or not learning" if config.multi_objective else "not learning"
            epochs_word = "epochs" if len(rule.judged) > 1 else "epoch"
            parts.append(f"{checks} at {epochs_word} {', '.join(map(str, rule.judged))}")
        return optuna.pruners.NopPruner(), rules, f"rungs ({'; '.join(parts)})"
    return make_optuna_pruner(name, epochs), rules, name


def _baseline_specs(config: SearchConfig, data: DataSplits, epochs: int) -> dict[str, TrialSpec]:
    """Preset name -> its spec for this data, trained for the study's epochs (validated before anything
    is written)."""
    specs = {}
    c, _, _ = data.input_shape
    for name in config.baselines:
        spec = fixed_spec(load_space(name), c, data.num_classes)
        specs[name] = TrialSpec(spec.arch, spec.train.replace(epochs=epochs))
    return specs


def _enqueue_start(study: optuna.Study, space: SearchSpace, seed: int, trials: int | None) -> None:
    """A new study tries the space's ``start_with`` candidates first, then its stratified start (``coverage``:
    every categorical choice at least once), as ordinary samples of the space (the sampler learns from them like
    from any trial); parameters a candidate leaves out are sampled. A trial budget smaller than both keeps the
    start candidates and as much of the coverage as fits."""
    queued = study.get_trials(deepcopy=False)  # a worker that started in the same instant may have queued them
    for attr, candidates_ in ((START_ATTR, space.start_with), (COVER_ATTR, coverage(space, seed))):
        present = {t.user_attrs.get(attr) for t in queued}
        room = len(candidates_) if trials is None or attr == START_ATTR else trials - len(space.start_with)
        for i, params in enumerate(candidates_[:max(0, room)]):
            if i not in present:
                study.enqueue_trial(params, user_attrs={attr: i})


def _enqueue_baselines(study: optuna.Study, specs: dict[str, TrialSpec]) -> None:
    """Queue each preset that has no trial which finished (and counted), runs or waits: a baseline whose trial
    was interrupted, or whose worker died past its retries, is trained again."""
    present = {t.user_attrs.get(BASELINE_ATTR) for t in study.get_trials(deepcopy=False)
               if counts_toward_budget(t) or t.state in (TrialState.RUNNING, TrialState.WAITING)}
    for name, spec in specs.items():
        if name not in present:
            study.enqueue_trial({}, user_attrs={BASELINE_ATTR: name, "spec": spec.to_dict()})


class _AfterTrial:
    """Optuna callback: report the trial, stop at the global budget, stop after repeated failures."""

    def __init__(self, on_event: OnEvent | None, budget: int | None, max_failures: int) -> None:
        self.on_event, self.budget, self.max_failures = on_event, budget, max_failures
        self.failures_in_a_row = 0

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if outcome_of(trial) == "surplus":
            return  # nothing ran; the objective already stopped this worker
        emit(self.on_event, TrialEnd(trial, finished_count(study)))
        if trial.state == TrialState.FAIL and outcome_of(trial) == "failed":
            self.failures_in_a_row += 1
            if self.failures_in_a_row >= self.max_failures:
                raise StudyError(f"the last {self.failures_in_a_row} trials failed (the last: "
                                 f"{trial.user_attrs.get('reason')}); check the search space and the data")
        else:
            self.failures_in_a_row = 0
        if self.budget is not None and finished_count(study, include_running=True) >= self.budget:
            study.stop()  # running trials of other workers count


def latency_where(config: SearchConfig, runtime: Runtime) -> str:
    """Where a search measures latency, in words: the runtime, its device, batch and threads."""
    if config.latency_runtime == "torch" and config.latency_batch == 1:
        where = f"PyTorch on {runtime.device.type.upper()}" + (f" ({runtime.precision})" if runtime.amp_dtype else "")
        return f"{where}, batch 1, {plural(config.latency_threads, 'thread')}"
    return runtime_where(config.latency_runtime, config.latency_batch, config.latency_threads)


def _stamp(config: SearchConfig, space: SearchSpace, epochs: int, data: DataSplits, runtime: Runtime) -> dict:
    return make_stamp(space=space.name, space_file=space.source, space_hash=space_hash(space), data=config.data,
                      objectives=config.objectives, epochs=epochs, max_mflops=config.max_mflops,
                      max_params=config.max_params, seed=config.seed, options=config.data_options,
                      augment_used=data.augment_choice, augment_note=data.augment_note,
                      latency={"runtime": config.latency_runtime, "batch": config.latency_batch,
                               "threads": config.latency_threads, "where": latency_where(config, runtime)}
                      if config.latency_objective else None,
                      max_latency_ms=config.max_latency_ms)


@dataclass
class Session:
    """Everything a search resolved from its config before the first trial."""

    config: SearchConfig
    space: SearchSpace
    data: DataSplits  # in host memory; each process places it (optimize, _finish)
    runtime: Runtime
    epochs: int
    study: optuna.Study
    study_dir: Path
    artifacts_root: Path  # trial checkpoints and artifact store
    storage: optuna.storages.BaseStorage
    storage_name: str  # where the study lives, for people: a URL's password masked
    resumed: bool
    rules: list  # per-epoch stopping rules
    pruner_text: str  # how hopeless trials are stopped, for the header
    dead: list[int]  # trials of dead workers marked failed (and queued again) on start
    clock: Clock | None = None  # the time budget, if any
    epochs_text: str = ""  # where the epochs per trial came from, for the header
    worker_index: int = 0
    requeued: list[int] = field(default_factory=list)  # interrupted trials queued to run again on start
    recorded: list[int] = field(default_factory=list)  # trials that finished but were recorded only on this start


def _stamped_epochs(storage: optuna.storages.BaseStorage, name: str) -> int | None:
    """The epochs per trial an existing study was made with (None for a new study)."""
    if name not in optuna.get_all_study_names(storage):
        return None
    with quiet_optuna():
        study = optuna.load_study(study_name=name, storage=storage)
    return (study.user_attrs.get(STAMP_KEY) or {}).get("epochs")


def _study_epochs(config: SearchConfig, space: SearchSpace, data: DataSplits, runtime: Runtime,
                  storage: optuna.storages.BaseStorage, name: str, clock: Clock | None) -> tuple[int, str]:
    """(epochs per trial, where they come from): --epochs, else the space's, else with a time budget the plan
    of nasprune.search.budget (a study that exists keeps the epochs it was planned with)."""
    if config.epochs is not None:
        return config.epochs, "--epochs"
    epochs = _epochs(config, space)
    if clock is None:
        return epochs, "from the space"
    stamped = _stamped_epochs(storage, name)
    if stamped is not None:
        return stamped, "as planned when the study began"
    first = candidates(space, data.input_shape[0], data.num_classes, random=0 if space.start_with else 1,
                       seed=config.seed)[0]
    first = TrialSpec(first.arch, first.train.replace(epochs=epochs))
    placed = place_data(data, runtime.device, config.placement, test=False)
    planned = plan_epochs(first, placed, runtime, clock, epochs)
    planned, why = plan_for_onset(first, placed, runtime, clock, planned, epochs, chance_level(data.val.y))
    return planned, f"planned so that {TRIALS_PER_BUDGET} trials of the first candidate fit in the time budget; {why}"


def setup(config: SearchConfig, worker_index: int = 0, clock: Clock | None = None) -> Session:
    """Load and validate everything, then open the study. Bad input fails here, before any write.
    The data stays in host memory; each process places it on its own device. ``clock``: the time budget
    (see nasprune.search.budget), started by :func:`search`."""
    space = load_space(config.space)  # a bad file fails before the data is read
    runtime = resolve_runtime(config.device, config.precision, config.cuda_graph, config.loader_workers)
    data = load_data(config.data, config.data_options, seed=config.seed)
    space = fit_space(space, data.input_shape, data.num_classes)
    baselines = _baseline_specs(config, data, _epochs(config, space))  # validated before anything is written
    name = config.study or f"{space.name}-{data.name}"
    study_dir = config.results_dir / name
    storage_url = config.storage or str(default_storage_path(study_dir))
    storage_name = masked_url(storage_url)  # what is printed and written: no password
    directions = ["maximize"] + ["minimize"] * (len(config.metric_names) - 1)
    storage = open_storage(storage_url, config.heartbeat, config.max_retries)
    epochs, epochs_text = _study_epochs(config, space, data, runtime, storage, name, clock)
    baselines = {k: TrialSpec(v.arch, v.train.replace(epochs=epochs)) for k, v in baselines.items()}
    pruner, rules, pruner_text = _pruning(config, epochs, chance_level(data.val.y))
    if clock is not None:
        rules.append(Deadline(clock))
    # a resumed study gets a fresh seed stream, so it does not repeat its first random candidates; so does
    # each worker, so concurrent workers do not sample the same random candidates
    sampler = _sampler(config.sampler, config.seed + existing_trials(storage, name) + 7919 * worker_index,
                       config.trials)
    study, resumed = open_study(name, storage, storage_name, directions, config.metric_names, sampler, pruner,
                                _stamp(config, space, epochs, data, runtime))
    artifacts_root = config.artifacts_dir or study_dir
    if study.user_attrs.get(ARTIFACTS_KEY) != str(artifacts_root):
        study.set_user_attr(ARTIFACTS_KEY, str(artifacts_root))  # prune and the dashboard look there
    recorded = record_finished(study, storage, artifacts_root)  # before recover_dead_trials fails them
    dead = recover_dead_trials(study, storage, config.max_retries)
    requeued = requeue_interrupted(study, config.max_retries)
    remove_unfinished_folders(study, artifacts_root)
    if not resumed:
        _enqueue_start(study, space, config.seed, config.trials)
    _enqueue_baselines(study, baselines)
    return Session(config, space, data, runtime, epochs, study, study_dir, artifacts_root, storage, storage_name,
                  resumed, rules, pruner_text, dead, clock, epochs_text, worker_index, requeued, recorded)


#: seconds between looks at the study while other workers' trials decide whether the budget is reached
WAIT_SECONDS = 2.0
#: study attribute: set by the first worker when no winner gains from more retraining
RETRAINS_DONE = "retrains_done"


def optimize(s: Session, on_event: OnEvent | None = None, workers_per_device: int = 1) -> None:
    """Run trials in this process until the study holds its budget (or the timeout passes); with a time
    budget, sample until its exploration phase ends, then retrain the winners (nasprune.search.budget).

    Trials running in other processes count toward the budget while they run. When they are all that stands
    between the study and its budget, this process waits for them rather than exit: if their worker dies
    (noticed at once on this machine, after the heartbeat grace period elsewhere), their retries run here.
    """
    config, study = s.config, s.study
    # trials never read the test split: it stays in host memory (the main process evaluates the winners on it)
    data = place_data(s.data, s.runtime.device, config.placement, workers_per_device, test=False)
    objective = Objective(space=s.space, data=data, runtime=s.runtime, artifacts_root=s.artifacts_root,
                          epochs=s.epochs, seed=config.seed, objectives=config.objectives, rules=s.rules,
                          max_mflops=config.max_mflops, max_params=config.max_params, budget=config.trials,
                          latency=config.latency, latency_threads=config.latency_threads,
                          latency_runtime=config.latency_runtime, latency_batch=config.latency_batch,
                          max_latency_ms=config.max_latency_ms, artifacts=config.artifacts,
                          on_event=on_event, shared_device=workers_per_device > 1, max_retries=config.max_retries)
    after = _AfterTrial(on_event, config.trials, config.max_failures)
    ends = [time.time() + config.timeout] if config.timeout is not None else []
    sample_until = min([*ends, s.clock.explore_end] if s.clock else ends, default=math.inf)

    def run(n_trials: int | None, until: float) -> None:
        # Optuna's per-trial log (and its traceback for each failed candidate) repeats what the trial's
        # user attributes and our lines already say
        with unmasked(), quiet_optuna(optuna.logging.ERROR):  # a lost database or an interrupt can lie under
            study.optimize(objective, n_trials=n_trials,  # what Optuna raised recording a trial
                           timeout=None if until == math.inf else max(0.0, until - time.time()),
                           callbacks=[after], catch=(CandidateError,), gc_after_trial=False)

    while time.time() < sample_until:
        for number in recover_dead_trials(study, s.storage, config.max_retries):
            emit(on_event, Note(dead_trial_text(study, number)))
        remaining = None if config.trials is None else config.trials - finished_count(study, include_running=True)
        if remaining is None or remaining > 0:
            run(remaining, sample_until)
            continue
        running, watched = others_running(study, s.storage)
        if finished_count(study) >= config.trials or running == 0 or watched < running:
            break  # done, or waiting on trials whose death this process could not notice
        time.sleep(WAIT_SECONDS)
    if s.clock is not None:
        _retrain(s, on_event, run)


def _retrain(s: Session, on_event: OnEvent | None, run: Callable[[int | None, float], None]) -> None:
    """The second phase of a time budget. The first worker plans rounds: the winners not retrained yet, with the
    epochs their share of the time left buys; every worker runs what is queued. A round is planned when the last
    one is done, until no winner gains from the time left (then the study says so and the other workers stop)."""
    study, clock, first = s.study, s.clock, True
    while time.time() < clock.deadline:
        if study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            run(1, clock.deadline)
            continue
        if s.worker_index != 0 or any(RETRAIN_OF in t.user_attrs for t in
                                      study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))):
            if study.user_attrs.get(RETRAINS_DONE):
                return
            time.sleep(WAIT_SECONDS)  # another worker's retraining (or the first worker's planning) is under way
            continue
        space_epochs = _epochs(s.config, s.space)
        plans = retrain_specs(retrain_candidates(study), study, s.epochs, clock, len(s.data.val),
                              chance_level(s.data.val.y), space_epochs=space_epochs, cost=s.config.cost)
        if not plans:
            break
        for i, (source, spec) in enumerate(plans):  # the last may train on to the deadline (its plan is an estimate)
            study.enqueue_trial({}, user_attrs={RETRAIN_OF: source, "spec": spec.to_dict(), **(
                {UNTIL_DEADLINE: RETRAIN_FACTOR * space_epochs} if i == len(plans) - 1 else {})})
        emit(on_event, Note(f"time budget: {'sampling ended; ' if first else ''}retraining "
                            + ", ".join(f"trial {n} with {spec.train.epochs} epochs" for n, spec in plans)))
        first = False
    if s.worker_index == 0:
        study.set_user_attr(RETRAINS_DONE, True)
        # a round planned just before the deadline leaves retrainings no worker had time to start: end them, so
        # that no queued trial is left behind to run on a later resume
        drop_waiting(study, s.storage, "time budget: no time was left to retrain it",
                     lambda t: RETRAIN_OF in t.user_attrs)
