"""Small shared helpers around Optuna."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import optuna

__all__ = ["quiet_optuna"]


@contextlib.contextmanager
def quiet_optuna(level: int = optuna.logging.WARNING) -> Iterator[None]:
    """Run a block with Optuna's logger at ``level`` and without its ExperimentalWarnings (nasprune opts in
    to experimental features on purpose: multivariate/group TPE, metric names)."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(level)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(previous)
