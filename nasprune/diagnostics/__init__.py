"""Why deeper did worse, measured: overfitting, vanishing or exploding gradients, redundant blocks.

Below every stage: the search records these for each trial, ``nasprune diagnose`` turns them into a verdict,
``nasprune prune --blocks`` removes the blocks they find redundant, and the report plots them. Every trial
records the gradient norms of a few training steps (:class:`GradientRecorder`) and probes the trained network
once (:func:`probe_redundancy`: linear CKA of each block's output with its input, a bypass test, near-zero
channels); :func:`findings` turns those numbers and the per-epoch history into sentences a person can act on.
"""

from .gradients import GradientRecorder, GradientSummary, measure_gradients
from .overfitting import OVERFIT_GAP, Generalization, summarize_history
from .probe import estimate_drops, head_of, probe_batch, recorded_diagnosis, trial_diagnostics
from .redundancy import BlockProbe, Redundancy, RunProbe, is_identity_block, linear_cka, probe_redundancy
from .verdict import (
           EXPLODING,
           VANISHING,
           Diagnosis,
           Finding,
           findings,
           format_diagnosis,
           read_diagnosis,
           write_diagnosis,
)

__all__ = ["Diagnosis", "Finding", "findings", "format_diagnosis", "read_diagnosis", "write_diagnosis",
           "GradientRecorder", "GradientSummary", "measure_gradients", "Generalization", "summarize_history",
           "Redundancy", "BlockProbe", "RunProbe", "probe_redundancy", "linear_cka", "is_identity_block",
           "probe_batch", "head_of", "estimate_drops", "trial_diagnostics", "recorded_diagnosis", "OVERFIT_GAP",
           "VANISHING", "EXPLODING"]
