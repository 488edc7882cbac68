"""The search stage: sample candidates from a space with Optuna, train and early-stop them, keep the winners.
It writes the study record (nasprune.record) that every later stage reads."""

from .config import OBJECTIVES, SAMPLERS, SearchConfig, SearchResult
from .run import search
from .stopping import PRUNERS, RungRule

__all__ = ["search", "SearchConfig", "SearchResult", "OBJECTIVES", "SAMPLERS", "PRUNERS", "RungRule"]
