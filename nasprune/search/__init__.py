"""The Optuna study: sampler, stopping rules, storage, budgets, artifacts."""

from .config import OBJECTIVES, SearchConfig, SearchResult
from .run import search
from .stopping import PRUNERS, RungRule

__all__ = ["search", "SearchConfig", "SearchResult", "OBJECTIVES", "PRUNERS", "RungRule"]
