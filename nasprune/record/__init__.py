"""The study record: what every stage after the search reads and writes.

A search writes it; prune, diagnose, report, dashboard and export read it (and link what they make to it). It
owns the study's storage and folder (:mod:`.storage`), its stamp and data (:mod:`.stamp`), how trials ended and
what counts toward a budget (:mod:`.outcomes`), which workers live and retrying the trials of dead ones
(:mod:`.liveness`), the winners (:mod:`.winners`) and picking a trial or folder with its model and data
(:mod:`.pick`). It imports no stage.
"""

from .liveness import (
    FINISHED_NAME,
    dead_trial_text,
    drop_waiting,
    heartbeat_on,
    mark_finished,
    others_running,
    record_finished,
    recover_dead_trials,
    remove_unfinished_folders,
    requeue_interrupted,
    retry_trial,
    worker_id,
)
from .outage import OUTAGE_SECONDS, cause_behind, lost_message, unmasked
from .outcomes import (
    BASELINE_ATTR,
    COVER_ATTR,
    LABELS,
    OUTCOMES,
    PRUNED_FROM,
    RETRAIN_OF,
    RETRY_OF,
    START_ATTR,
    UNTIL_DEADLINE,
    budget_taken_before,
    counts_by_outcome,
    counts_text,
    counts_toward_budget,
    finished_count,
    is_search_trial,
    outcome_of,
    reason_of,
    state_label,
)
from .pick import Picked, load_picked, pick_trial
from .pruned import SOURCE_STUDY, pruned_study, pruned_study_name, record_pruned_model
from .stamp import STAMP_KEY, data_stamp, load_study_data, make_stamp, open_study, stamp_of
from .storage import (
    ARTIFACTS_KEY,
    JOURNAL_NAME,
    artifacts_root,
    default_storage_path,
    existing_trials,
    masked_url,
    open_existing,
    open_storage,
    trial_dir,
)
from .studies import list_studies
from .winners import (
    ORIGINS,
    answers,
    evaluate_on_test,
    found_text,
    origin,
    pareto_front,
    pareto_winners,
    retrain_candidates,
    winner_row,
)

__all__ = [
    "FINISHED_NAME", "drop_waiting", "OUTAGE_SECONDS", "lost_message", "cause_behind", "unmasked", "trial_dir", "mark_finished", "record_finished", "remove_unfinished_folders",
    "masked_url",
    "open_storage", "default_storage_path", "existing_trials", "open_existing", "artifacts_root", "JOURNAL_NAME",
    "ARTIFACTS_KEY", "STAMP_KEY", "make_stamp", "data_stamp", "stamp_of", "open_study", "load_study_data",
    "OUTCOMES", "LABELS", "outcome_of", "reason_of", "state_label", "counts_by_outcome", "counts_text", "counts_toward_budget",
    "finished_count", "budget_taken_before", "is_search_trial", "BASELINE_ATTR", "COVER_ATTR", "START_ATTR", "RETRY_OF",
    "RETRAIN_OF", "UNTIL_DEADLINE", "PRUNED_FROM", "worker_id", "retry_trial", "recover_dead_trials", "dead_trial_text", "requeue_interrupted", "heartbeat_on",
    "others_running", "answers", "pareto_front", "pareto_winners", "retrain_candidates", "winner_row", "evaluate_on_test", "origin", "ORIGINS", "found_text", "Picked", "pick_trial",
    "load_picked", "pruned_study", "pruned_study_name", "record_pruned_model", "SOURCE_STUDY", "list_studies",
]
