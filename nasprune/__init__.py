"""nasprune: find compact, accurate networks for your data, then strip their redundant channels.

The public API in one import::

    import nasprune
    space = nasprune.load_space("default")              # YAML search space (or a preset such as "resnet20")
    result = nasprune.search(nasprune.SearchConfig())   # what `nasprune search` does
    spec, model = nasprune.load_model(result.best["checkpoint"])
    pruned = nasprune.prune(nasprune.PruneConfig(study=result.study_name))   # what `nasprune prune` does
    verdict = nasprune.diagnose(nasprune.DiagnoseConfig(study=result.study_name, trial=3))  # `nasprune diagnose`
    info = nasprune.eval("results/default-digits/trials/00003")   # `nasprune eval`
    nasprune.show(nasprune.load_space("default"), (3, 32, 32))   # `nasprune show`

Long calls report progress to an ``on_event`` callback (see :mod:`nasprune.events`) and print nothing.
"""

from . import events
from .checkpoint import load_model, save_model
from .dashboard import dashboard
from .data import DataSplits, load_data
from .diagnose import DiagnoseConfig, DiagnoseResult, diagnose
from .diagnostics import Diagnosis
from .errors import (
                     CandidateError,
                     CheckpointError,
                     ConfigError,
                     DataError,
                     DiskFullError,
                     DivergedError,
                     NaspruneError,
                     SpaceError,
                     SpecError,
                     StudyError,
)
from .evaluation import evaluate_saved as eval  # noqa: A001 - nasprune.eval mirrors `nasprune eval`
from .measure import Cost, count_macs, count_params, measure, measure_latency
from .nn import build_model, weighted_depth
from .prune import PruneConfig, PruneResult, prune
from .report import ReportConfig, ReportResult, report
from .search import SearchConfig, SearchResult, search
from .show import show
from .space import SearchSpace, fixed_spec, load_space, sample_spec
from .spec import ArchSpec, StageSpec, TrainSpec, TrialSpec, describe
from .train import Runtime, resolve_runtime, train

__version__ = "0.1.0"

__all__ = [
    "ArchSpec", "StageSpec", "TrainSpec", "TrialSpec", "describe",
    "SearchSpace", "load_space", "sample_spec", "fixed_spec",
    "build_model", "weighted_depth",
    "DataSplits", "load_data",
    "Runtime", "resolve_runtime", "train",
    "Cost", "measure", "count_macs", "count_params", "measure_latency",
    "save_model", "load_model",
    "SearchConfig", "SearchResult", "search",
    "PruneConfig", "PruneResult", "prune",
    "ReportConfig", "ReportResult", "report",
    "DiagnoseConfig", "DiagnoseResult", "Diagnosis", "diagnose",
    "eval", "show", "dashboard", "events",
    "NaspruneError", "ConfigError", "SpaceError", "SpecError", "DataError", "StudyError", "CheckpointError",
    "CandidateError", "DivergedError", "DiskFullError",
]
