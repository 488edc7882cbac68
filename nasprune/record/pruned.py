"""Where pruned models live: in a companion study of their source study, ``<study>.pruned``, in the same storage.

A pruned model is cheaper than its source at nearly its accuracy, so in the search's own study it would dominate
its source: optuna-dashboard's Best Trials would then show the pruned model while nasprune's winners (the search's
front) show the source, and every count of the study would include a trial the search never ran. In a study of
their own, the search study's Best Trials are exactly nasprune's winners, its counts are the search's trials, and
the pruned models still open in the dashboard (as the companion study, with their own front) and in the report.
The companion carries the source study's stamp, so its trials are judged on the same data and split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from .._optuna import quiet_optuna
from ..artifacts import artifact_store, upload_files
from .outcomes import PRUNED_FROM
from .stamp import STAMP_KEY, stamp_of
from .storage import artifacts_root

__all__ = ["pruned_study_name", "pruned_study", "record_pruned_model", "SOURCE_STUDY"]

SUFFIX = ".pruned"
SOURCE_STUDY = "source_study"  # study attribute of a companion: the study its models were pruned from


def pruned_study_name(name: str) -> str:
    return name + SUFFIX


def pruned_study(study: optuna.Study, storage: optuna.storages.BaseStorage,
                 create: bool = False) -> optuna.Study | None:
    """The companion study of ``study`` (created with ``create``; None if there is none)."""
    name = pruned_study_name(study.study_name)
    with quiet_optuna():
        if name in optuna.get_all_study_names(storage):
            return optuna.load_study(study_name=name, storage=storage)
        if not create:
            return None
        companion = optuna.create_study(study_name=name, storage=storage, load_if_exists=True,
                                        directions=[d.name.lower() for d in study.directions])
        if study.metric_names is not None:
            companion.set_metric_names(study.metric_names)
    companion.set_user_attr(STAMP_KEY, stamp_of(study))
    companion.set_user_attr(SOURCE_STUDY, study.study_name)
    return companion


def record_pruned_model(study: optuna.Study, storage: optuna.storages.BaseStorage, study_dir: Path,
                        source: int, values: list[float], attrs: dict[str, Any], files: list[Path]) -> int:
    """Add a pruned model of trial ``source`` to the companion study as a completed trial with its ``files`` as
    artifacts; returns its number there."""
    companion = pruned_study(study, storage, create=True)
    with quiet_optuna():
        # through the storage: running until its artifacts are attached, which Optuna allows only then
        trial_id = storage.create_new_trial(companion._study_id, optuna.trial.create_trial(  # noqa: SLF001
            state=TrialState.RUNNING, user_attrs={**attrs, PRUNED_FROM: source, SOURCE_STUDY: study.study_name}))
        linked = storage.get_trial(trial_id)
        upload_files(artifact_store(artifacts_root(study, study_dir)), files, linked, storage)
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, values)
    return linked.number
