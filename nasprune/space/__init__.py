"""YAML search space -> sampled TrialSpec (ArchSpec + TrainSpec)."""

from ..spec import OPTIMIZERS, SCHEDULES, ArchSpec, StageSpec, TrainSpec, TrialSpec, describe
from .adapt import fit_space, stem_plan
from .load import bundled_space_dir, bundled_spaces, load_space, space_hash
from .sample import candidates, fixed_spec, sample_spec
from .schema import MAX_STAGES, SearchSpace, parameters

__all__ = [
    "ArchSpec", "StageSpec", "TrainSpec", "TrialSpec", "SearchSpace", "describe",
    "load_space", "bundled_spaces", "bundled_space_dir", "space_hash", "sample_spec", "fixed_spec",
    "OPTIMIZERS", "SCHEDULES", "MAX_STAGES", "fit_space", "stem_plan", "parameters", "candidates",
]
