"""Prune the winners: torch-pruning (DepGraph) removes redundant channels, the trainer fine-tunes."""

from .channels import IMPORTANCES, PruneLog, Target, prune_channels
from .config import PruneConfig, PruneResult
from .graph import apply_history, channel_counts, dependency_graph
from .run import prune

__all__ = ["prune", "PruneConfig", "PruneResult", "Target", "IMPORTANCES", "prune_channels", "PruneLog",
           "apply_history", "channel_counts", "dependency_graph"]
