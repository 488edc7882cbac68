"""Why deeper did worse: overfitting, vanishing or exploding gradients, redundant blocks.

For every trial of a search, nasprune records the gradient norms of a few training steps
(:class:`GradientRecorder`) and probes the trained network once (:func:`probe_redundancy`: linear CKA of each
block's output with its input, a bypass test, near-zero channels); :func:`diagnose` turns those numbers and
the per-epoch history into a verdict a person can act on, written as JSON.
"""

from .gradients import GradientRecorder, GradientSummary, measure_gradients
from .overfitting import Generalization, summarize_history
from .redundancy import BlockProbe, Redundancy, RunProbe, is_identity_block, linear_cka, probe_redundancy
from .run import DiagnoseConfig, DiagnoseResult, diagnose, estimate_drops, probe_batch, record_trial_diagnostics
from .verdict import Diagnosis, Finding, findings, format_diagnosis, read_diagnosis, write_diagnosis

__all__ = ["diagnose", "DiagnoseConfig", "DiagnoseResult", "Diagnosis", "Finding", "findings", "format_diagnosis",
           "read_diagnosis", "write_diagnosis", "GradientRecorder", "GradientSummary", "measure_gradients",
           "Generalization", "summarize_history", "Redundancy", "BlockProbe", "RunProbe", "probe_redundancy",
           "linear_cka", "is_identity_block", "probe_batch", "estimate_drops", "record_trial_diagnostics"]
