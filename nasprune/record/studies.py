"""Finding studies: what is under a results folder, or in a storage (``nasprune studies``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from .._optuna import quiet_optuna
from ..errors import StudyError
from .outcomes import counts_by_outcome, is_search_trial
from .pruned import SOURCE_STUDY
from .storage import JOURNAL_NAME, masked_url, open_storage

__all__ = ["list_studies"]


def _summary(study: optuna.Study, where: str) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE and (is_search_trial(t) or SOURCE_STUDY in t.user_attrs)]
    best = max(done, key=lambda t: t.values[0], default=None)
    times = [t.datetime_complete or t.datetime_start for t in trials if t.datetime_complete or t.datetime_start]
    return {"study": study.study_name, "storage": where, "trials": counts_by_outcome(study),
            "best_val_accuracy": round(best.values[0], 5) if best else None,
            "best_trial": best.number if best else None,
            "best_mflops": best.user_attrs.get("mflops") if best else None,
            "updated": max(times).isoformat(timespec="seconds") if times else None,
            "pruned_models_of": study.user_attrs.get(SOURCE_STUDY)}


def list_studies(results_dir: Path = Path("results"), storage: str | None = None) -> list[dict[str, Any]]:
    """Every study in ``storage``, or in the journal files of ``results_dir``'s study folders: name, trials by
    outcome, the best validation accuracy, its MFLOPs, the last update. A pruned-models study names its source."""
    if storage is not None:
        sources = [storage]
    else:
        if not Path(results_dir).is_dir():
            raise StudyError(f"no results folder {results_dir}: run nasprune search first, or pass --results-dir "
                             f"or --storage")
        sources = [str(p) for p in sorted(Path(results_dir).glob(f"*/{JOURNAL_NAME}"))]
    rows = []
    for where in sources:
        backend = open_storage(where)
        with quiet_optuna():
            for name in sorted(optuna.get_all_study_names(backend)):
                rows.append(_summary(optuna.load_study(study_name=name, storage=backend), masked_url(where)))
    return rows
