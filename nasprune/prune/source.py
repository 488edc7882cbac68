"""Which model to prune, and on which data: a trial of a study (with the study's own data split) or a saved
model folder (with the data the user names)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState
from torch import nn

from ..checkpoint import load_model, load_pruning
from ..data import DataSplits, load_data
from ..errors import StudyError
from ..search.study import default_storage_path, load_study_data, open_storage
from ..search.winners import pareto_winners
from ..spec import TrialSpec
from .config import PruneConfig

__all__ = ["Source", "load_source", "open_existing_study"]


@dataclass
class Source:
    """The model to prune and everything needed to evaluate and fine-tune it."""

    spec: TrialSpec
    model: nn.Module
    history: list  # pruning already applied to it (empty for a search trial)
    data: DataSplits
    label: str  # "trial 7" or the folder, for messages
    default_name: str
    study: optuna.Study | None = None
    trial: optuna.trial.FrozenTrial | None = None
    storage: optuna.storages.BaseStorage | None = None  # the study's storage (to attach artifacts to trials)
    study_dir: Path | None = None  # RESULTS_DIR/STUDY


def open_existing_study(name: str, storage: str | None, results_dir: Path
                        ) -> tuple[optuna.Study, optuna.storages.BaseStorage]:
    """Load a study made by ``nasprune search`` and its storage; a missing one is a one-line error naming
    where it looked."""
    where = storage or str(default_storage_path(results_dir / name))
    if storage is None and not Path(where).is_file():
        raise StudyError(f"no study {name!r}: {where} does not exist; run nasprune search --study {name} first, "
                         f"or pass --storage / --results-dir")
    backend = open_storage(where)
    if name not in optuna.get_all_study_names(backend):
        known = ", ".join(optuna.get_all_study_names(backend)) or "none"
        raise StudyError(f"no study {name!r} in {where} (studies there: {known})")
    return optuna.load_study(study_name=name, storage=backend), backend


def _is_search_trial(t: optuna.trial.FrozenTrial) -> bool:
    return t.state == TrialState.COMPLETE and "pruned_from" not in t.user_attrs


def _pick(study: optuna.Study, config: PruneConfig) -> optuna.trial.FrozenTrial:
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if config.trial is not None:
        t = trials.get(config.trial)
        done = sorted(n for n, t in trials.items() if t.state == TrialState.COMPLETE)
        if t is None or t.state != TrialState.COMPLETE:
            state = "no such trial" if t is None else f"trial {config.trial} is {t.state.name.lower()}"
            raise StudyError(f"cannot prune trial {config.trial} of study {study.study_name!r}: {state}; "
                             f"completed trials: {', '.join(map(str, done)) or 'none'}")
        return t
    front = [t for t in pareto_winners(study) if _is_search_trial(t)]
    if config.pick_mflops is not None:
        front = [t for t in front if t.user_attrs.get("mflops", float("inf")) <= config.pick_mflops]
    if not front:
        within = f" within {config.pick_mflops:g} MFLOPs" if config.pick_mflops is not None else ""
        raise StudyError(f"study {study.study_name!r} has no completed trial on its Pareto front{within}")
    return front[0]


def load_source(config: PruneConfig) -> Source:
    """The model, its spec and pruning history, and the data it is judged on (the study's split)."""
    if config.model is not None:
        spec, model = load_model(config.model)
        data = load_data(config.data, config.data_options, seed=config.seed)
        folder = Path(config.model)
        return Source(spec, model, load_pruning(folder), data, str(folder), folder.name)
    study, storage = open_existing_study(config.study, config.storage, config.results_dir)
    trial = _pick(study, config)
    checkpoint = trial.user_attrs.get("checkpoint")
    if not checkpoint:
        raise StudyError(f"trial {trial.number} of study {study.study_name!r} has no saved weights to prune")
    spec, model = load_model(checkpoint)
    data = load_study_data(study, config.data_options.download, config.data_options.cache)
    return Source(spec, model, load_pruning(Path(checkpoint)), data, f"trial {trial.number}", f"trial{trial.number}",
                  study, trial, storage, config.results_dir / config.study)
