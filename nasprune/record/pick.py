"""Picking the model a later stage works on: a trial of a study (a number, or the most accurate winner, within a
budget if asked) or a saved model folder, loaded with the data it is to be judged on (a study's own split, or the
data set the user names for a folder)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from torch import nn

from ..checkpoint import load_model, load_pruning
from ..data import DataSplits
from ..errors import CheckpointError, ConfigError, StudyError
from ..options import flag
from ..provenance import data_for_model
from ..spec import TrialSpec
from .outcomes import state_label
from .stamp import load_study_data
from .storage import open_existing
from .winners import pareto_winners

__all__ = ["Picked", "pick_trial", "load_picked"]


@dataclass
class Picked:
    """A model to work on and everything needed to evaluate, fine-tune or diagnose it."""

    spec: TrialSpec
    model: nn.Module | None  # None: a trial that saved no weights (stopped early); only diagnose accepts one
    history: list  # pruning already applied to the model (empty for a search trial)
    data: DataSplits
    label: str  # "trial 7" or the folder, for messages
    name: str  # "trial7" or the folder's name, for the names of outputs
    attrs: dict[str, Any] = field(default_factory=dict)  # the trial's user attributes ({} for a folder)
    study: optuna.Study | None = None
    trial: optuna.trial.FrozenTrial | None = None
    storage: optuna.storages.BaseStorage | None = None  # the study's storage (to link new trials and artifacts)
    study_dir: Path | None = None  # RESULTS_DIR/STUDY
    data_note: str | None = None  # None: the data and split the model was trained on; else what differs


def pick_trial(study: optuna.Study, number: int | None = None, max_mflops: float | None = None,
               weights: bool = True, purpose: str = "use") -> optuna.trial.FrozenTrial:
    """Trial ``number`` of ``study``, or its most accurate winner (with at most ``max_mflops`` if given).
    With ``weights``, the trial must have completed (stopped trials save none); without, any trial with a
    training record will do. ``purpose`` ("prune", "diagnose") words the errors."""
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number is None:
        front = pareto_winners(study)
        if max_mflops is not None:
            front = [t for t in front if t.user_attrs.get("mflops", float("inf")) <= max_mflops]
        if not front:
            within = f" within {max_mflops:g} MFLOPs" if max_mflops is not None else ""
            raise StudyError(f"study {study.study_name!r} has no completed trial on its Pareto front{within} to "
                             f"{purpose}")
        return front[0]
    t = trials.get(number)
    if weights:
        ok = t is not None and t.state == TrialState.COMPLETE
        choices, what = sorted(n for n, x in trials.items() if x.state == TrialState.COMPLETE), "completed trials"
    else:
        ok = t is not None and "spec" in t.user_attrs and t.state not in (TrialState.RUNNING, TrialState.WAITING)
        choices, what = sorted(n for n, x in trials.items() if "history" in x.user_attrs), "trials with a training record"
    if not ok:
        state = "no such trial" if t is None else f"trial {number} is {state_label(t)}" + (
            "" if weights else " without a record")
        raise StudyError(f"cannot {purpose} trial {number} of study {study.study_name!r}: {state}; {what}: "
                         f"{', '.join(map(str, choices)) or 'none'}")
    return t


def load_picked(*, study: str | None = None, trial: int | None = None, max_mflops: float | None = None,
                model: Path | None = None, data: str | None = None, changes: Mapping[str, Any] | None = None,
                download: bool = False, cache: bool = True, storage: str | None = None,
                results_dir: Path = Path("results"), weights: bool = True, purpose: str = "use") -> Picked:
    """The model and its data: a trial of ``study`` (with the study's own data split) or the folder ``model``
    (with the data it records, or ``data`` and ``changes`` to its split when given: see nasprune.provenance)."""
    if model is not None:
        folder = Path(model)
        if not folder.is_dir():
            raise CheckpointError(f"{folder}: no such folder; give the folder of a saved model "
                                  f"(results/STUDY/trials/NNNNN or results/STUDY/pruned/NAME)")
        spec, net = load_model(folder)
        chosen = data_for_model(folder, spec, data, changes, download, cache)
        return Picked(spec, net, load_pruning(folder), chosen.data, str(folder), folder.name, data_note=chosen.note)
    if data is not None or changes:
        given = ["--data"] * (data is not None) + [flag(k) for k in (changes or {})]
        raise ConfigError(f"{', '.join(given)} apply to a saved model (--model); a study's trials are judged on the "
                          f"study's own data and split")
    loaded, backend = open_existing(study, storage, Path(results_dir))
    t = pick_trial(loaded, trial, max_mflops, weights, purpose)
    attrs = dict(t.user_attrs)
    checkpoint = attrs.get("checkpoint")
    if weights and not checkpoint:
        raise StudyError(f"trial {t.number} of study {loaded.study_name!r} has no saved weights to {purpose}")
    spec, net = load_model(checkpoint) if checkpoint else (TrialSpec.from_dict(attrs["spec"]), None)
    history = load_pruning(Path(checkpoint)) if checkpoint else []
    split = load_study_data(loaded, download, cache)
    return Picked(spec, net, history, split, f"trial {t.number}", f"trial{t.number}", attrs, loaded, t, backend,
                  Path(results_dir) / study)
