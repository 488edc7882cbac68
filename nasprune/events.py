"""What long-running library calls report while they work.

``search``, ``prune`` and the other stages take ``on_event``, a callable that receives these objects as they
happen, and return their results; they print nothing. The command line passes a callback that draws a
progress bar and prints lines (nasprune.terminal); a Python caller passes its own, or None for silence.

Example::

    nasprune.search(config, on_event=lambda e: print(e.text) if isinstance(e, nasprune.events.Note) else None)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Note", "Epoch", "TrialEnd", "OnEvent", "emit"]


@dataclass(frozen=True)
class Note:
    """A line a person following the run would want to read: what is about to happen, a phase ending, a
    recovered worker, a warning."""

    text: str


@dataclass(frozen=True)
class Epoch:
    """An epoch of training ended."""

    stats: Any  # nasprune.train.EpochStats
    epochs: int  # epochs planned for this run
    trial: int | None = None  # the search trial, if this is one
    phase: str = "train"  # train (a search trial) | sparse (before pruning) | fine-tune (after pruning)


@dataclass(frozen=True)
class TrialEnd:
    """A search trial finished (complete, stopped or failed)."""

    trial: Any  # optuna.trial.FrozenTrial
    finished: int  # trials of the study that count toward its budget, this one included


OnEvent = Callable[[Any], None]


def emit(on_event: OnEvent | None, event: Any) -> None:
    """Send ``event`` to ``on_event`` if there is one."""
    if on_event is not None:
        on_event(event)
