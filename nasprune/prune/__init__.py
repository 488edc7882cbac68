"""The prune stage: torch-pruning (DepGraph) removes a winner's redundant channels or blocks, the trainer
fine-tunes it, and the pruned model is linked to its study."""

from .channels import IMPORTANCES, PruneLog, Target, prune_channels
from .config import LATENCY_DEFAULTS, PruneConfig, PruneResult, resolve_latency
from .latency import LatencyLog, prune_to_latency
from .run import prune

__all__ = ["prune", "PruneConfig", "PruneResult", "Target", "IMPORTANCES", "prune_channels", "PruneLog",
           "prune_to_latency", "LatencyLog", "resolve_latency", "LATENCY_DEFAULTS"]
