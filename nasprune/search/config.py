"""What a search is asked to do (:class:`SearchConfig`) and what it found (:class:`SearchResult`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..choices import OBJECTIVES, PLACEMENTS, PRUNERS, SAMPLERS
from ..data import DataOptions
from ..errors import ConfigError
from ..options import flag
from ..text import plural

__all__ = ["SearchConfig", "SearchResult", "OBJECTIVES", "SAMPLERS"]


_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class SearchConfig:
    """Settings of one ``nasprune search``. Every field has a default; see ``nasprune search --help``.

    Example::

        import nasprune
        result = nasprune.search(nasprune.SearchConfig(trials=10, epochs=5))
        print(result.winners[0]["test_accuracy"])
    """

    space: str | Path = "default"  # YAML file or bundled name
    data: str = "digits"  # NAME or NAME:PATH
    study: str | None = None  # default: <space name>-<data name>
    trials: int | None = 20  # trials the study should end with (complete, stopped or failed), across runs and
    # workers; None: as many as the time budget allows (needs time_budget)
    time_budget: float | None = None  # minutes of wall clock for the whole search (nasprune.search.budget)
    sampler: str = "tpe"  # a name in SAMPLERS
    epochs: int | None = None  # overrides the space's training.epochs
    objectives: str = "accuracy,mflops"  # a key of OBJECTIVES
    max_mflops: float | None = None  # budget: candidates above it are rejected before training
    max_params: int | None = None  # budget in parameters
    pruner: str = "auto"  # a name in PRUNERS
    seed: int = 0  # data split, sampler and training seeds
    storage: str | None = None  # Optuna storage URL or journal file; default results/<study>/study.journal
    results_dir: Path = Path("results")
    baselines: tuple[str, ...] = ()  # presets enqueued as trials (names or files)
    data_options: DataOptions = field(default_factory=DataOptions)  # splits, resizing, augmentation, download
    device: str = "auto"
    precision: str = "auto"
    cuda_graph: bool = True  # capture each trial's training step on CUDA
    placement: str = "auto"  # data on the device, streamed from host memory, or auto by size (PLACEMENTS)
    loader_workers: int = 4  # DataLoader workers when the data is streamed
    workers: int | None = None  # trial worker processes; None: 1 on the CPU, WORKERS_PER_GPU per GPU on CUDA
    gpus: tuple[int, ...] | None = None  # GPUs to spread the workers over (CUDA indices); None: --device's
    timeout: float | None = None  # seconds; stop starting new trials after this long
    latency: bool = True  # measure batch-1 latency of every candidate
    latency_threads: int = 1  # CPU threads latency is measured with (recorded with each figure)
    latency_runtime: str = "torch"  # where latency is measured: torch (the training device) or onnxruntime (CPU)
    latency_batch: int = 1  # images per latency measurement
    max_latency_ms: float | None = None  # budget: candidates slower than this (in latency_runtime) are rejected
    artifacts: bool = True  # also store each completed trial's model as Optuna artifacts (the dashboard's downloads)
    artifacts_dir: Path | None = None  # trial checkpoints + artifact store; a path all workers share (default: the study's folder)
    heartbeat: int | None = 30  # seconds between heartbeats of running trials (RDB storages); a trial silent for twice that is retried
    max_retries: int = 2  # runs again of a trial whose worker died, before it is left failed
    max_failures: int = 5  # stop the search after this many failed trials in a row

    def __post_init__(self) -> None:
        if self.objectives not in OBJECTIVES:
            raise ConfigError(f"unknown --objectives {self.objectives!r}; valid: {', '.join(OBJECTIVES)}")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"unknown --pruner {self.pruner!r}; valid: {', '.join(PRUNERS)}")
        if self.pruner in ("hyperband", "median") and self.multi_objective:
            raise ConfigError(f"Optuna's {self.pruner} pruner needs a single objective; use --objectives accuracy, "
                                f"or --pruner rungs (nasprune's rule, works with several)")
        if self.trials is None and self.time_budget is None:
            raise ConfigError("give a trial budget (--trials) or a time budget (--time-budget), or both")
        if self.trials is not None and self.trials < 1:
            raise ConfigError(f"--trials must be >= 1 (got {self.trials})")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown --sampler {self.sampler!r}; valid: {', '.join(SAMPLERS)}")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"--epochs must be >= 1 (got {self.epochs})")
        for name in ("max_mflops", "max_params", "timeout", "time_budget", "max_latency_ms"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{flag(name)} must be > 0 (got {value})")
        if self.study is not None and not _STUDY_NAME.match(self.study):
            raise ConfigError(f"--study {self.study!r} must be letters, digits, '.', '_' or '-' "
                                f"(it names a folder under results/)")
        if self.workers is not None and not 1 <= self.workers <= 256:
            raise ConfigError(f"--workers must be between 1 and 256 (got {self.workers})")
        if self.gpus is not None and (not self.gpus or any(g < 0 for g in self.gpus)):
            raise ConfigError(f"--gpus must be GPU indices such as 0,1 (got {self.gpus})")
        if self.placement not in PLACEMENTS:
            raise ConfigError(f"unknown --placement {self.placement!r}; valid: {', '.join(PLACEMENTS)}")
        if self.heartbeat is not None and not 1 <= self.heartbeat <= 3600:
            raise ConfigError(f"--heartbeat must be between 1 and 3600 seconds (got {self.heartbeat})")
        if not 1 <= self.latency_threads <= 1024:
            raise ConfigError(f"--latency-threads must be between 1 and 1024 (got {self.latency_threads})")
        if not 1 <= self.latency_batch <= 4096:
            raise ConfigError(f"--latency-batch must be between 1 and 4096 (got {self.latency_batch})")
        if self.latency_objective and not self.latency:
            raise ConfigError("--no-latency leaves nothing to optimize or budget: drop it, or drop "
                              "--objectives accuracy,latency and --max-latency-ms")
        if self.latency_objective or self.latency_runtime != "torch":
            from ..deploy import require_runtime  # unknown runtime, or onnxruntime not installed: one line

            require_runtime(self.latency_runtime)
        if not 0 <= self.max_retries <= 100:
            raise ConfigError(f"--max-retries must be between 0 and 100 (got {self.max_retries})")
        object.__setattr__(self, "results_dir", Path(self.results_dir))
        if self.artifacts_dir is not None:
            object.__setattr__(self, "artifacts_dir", Path(self.artifacts_dir))
        object.__setattr__(self, "baselines", tuple(self.baselines))
        if self.gpus is not None:
            object.__setattr__(self, "gpus", tuple(self.gpus))

    @property
    def latency_objective(self) -> bool:
        """Whether latency decides anything: an objective, or a budget."""
        return self.objectives == "accuracy,latency" or self.max_latency_ms is not None

    @property
    def cost(self) -> str:
        """The trial attribute the search counts as a network's cost: its latency where that is an objective."""
        return "latency_ms" if self.objectives == "accuracy,latency" else "mflops"

    @property
    def multi_objective(self) -> bool:
        return len(OBJECTIVES[self.objectives]) > 1

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The objectives' names (the dashboard's axes, the front's header); a latency says where it is measured."""
        names = OBJECTIVES[self.objectives]
        if self.objectives != "accuracy,latency":
            return names
        return names[0], (f"{names[1]} ({self.latency_runtime}, batch {self.latency_batch}, "
                          f"{plural(self.latency_threads, 'thread')})")


@dataclass
class SearchResult:
    """The outcome of :func:`nasprune.search`."""

    study_name: str
    storage: str  # URL or journal path
    study_dir: Path  # results/<study>/
    summary_path: Path
    counts: dict[str, int]  # trials by final state (nasprune.record.LABELS)
    winners: list[dict[str, Any]] = field(default_factory=list)  # Pareto front, best first
    metric_names: tuple[str, ...] = ("val_accuracy", "MFLOPs")  # the study's objectives
    problems: list[str] = field(default_factory=list)  # winners whose test accuracy could not be measured, and why
    results_dir: Path = Path("results")

    @property
    def best(self) -> dict[str, Any] | None:
        """The most accurate winner (on validation)."""
        return self.winners[0] if self.winners else None
