"""What ``nasprune prune`` is asked to do (:class:`PruneConfig`) and what it produced (:class:`PruneResult`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..deploy import LATENCY_RUNTIMES, require_runtime
from ..errors import ConfigError
from ..options import flag
from .channels import IMPORTANCES, Target

__all__ = ["PruneConfig", "PruneResult", "LATENCY_DEFAULTS", "resolve_latency"]

#: where latency is measured when neither the options nor the study say: eager PyTorch, one image, one thread
LATENCY_DEFAULTS = {"latency_runtime": "torch", "latency_batch": 1, "latency_threads": 1}
#: the stamp's words (nasprune.record.make_stamp's ``latency``) for each of them
_STAMP_WORDS = {"latency_runtime": "runtime", "latency_batch": "batch", "latency_threads": "threads"}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class PruneConfig:
    """Settings of one ``nasprune prune``; see ``nasprune prune --help``.

    The model comes from a study (``study``, then ``trial``, or the most accurate Pareto trial, or with
    ``pick_mflops`` the most accurate one within that budget) or from a saved model folder (``model``, with
    ``data``). Exactly one target may be given; by default half of the multiply-adds are kept. ``target_latency``
    keeps a share of the source's latency in ``latency_runtime`` (CPU, ``latency_batch`` images,
    ``latency_threads`` threads), measured after each pruning step; each of the three left None is the study's, where
    it was searched with a latency objective or budget (:func:`resolve_latency`), else torch, 1 image, 1 thread. With
    ``blocks``,
    redundant residual blocks are removed first, and channels only if a target is given (a share of the
    original model's cost, of which the removed blocks already took their part).

    Example::

        import nasprune
        result = nasprune.prune(nasprune.PruneConfig(study="default-digits", target_mflops=0.5))
    """

    study: str | None = None
    model: Path | None = None  # a saved model folder instead of a study trial
    trial: int | None = None
    pick_mflops: float | None = None  # the most accurate Pareto trial with at most this many MFLOPs
    target_mflops: float | None = None  # share of the multiply-adds to keep
    target_params: float | None = None  # share of the parameters to keep
    channel_ratio: float | None = None  # share of each layer's channels to remove
    target_latency: float | None = None  # share of the source's latency to keep, in latency_runtime (0 < R <= 1)
    importance: str = "l1"  # a name in IMPORTANCES
    steps: int = 5  # coarse pruning steps (fine increments follow until the target is met)
    global_pruning: bool = False  # rank channels across layers (can empty a layer; per-layer is the default)
    round_to: int | None = None  # keep channel counts multiples of this; None: with target_latency the runtime's
    #                              fast multiple (nasprune.deploy.fast_channels), else 8 on CUDA (tensor cores), else 1
    finetune_epochs: int | None = None  # default: the source trial's epochs
    finetune_lr: float | None = None  # default: the source trial's peak learning rate (its whole recipe)
    sparse_epochs: int = 0  # group-norm sparse training before pruning (torch-pruning's GroupNormPruner)
    sparse_reg: float = 5e-4
    gradient_batches: int = 4  # training batches whose gradients feed the Taylor importance
    name: str | None = None  # output folder name (default: trial<N>-<importance>-<target>)
    out: Path | None = None  # output folder (default: RESULTS_DIR/STUDY/pruned/NAME, or RESULTS_DIR/pruned/NAME)
    data: str | None = None  # with ``model``: other data than it records (a study always uses its own)
    data_changes: Mapping[str, Any] = field(default_factory=dict)  # with ``model``: changes to its recorded split
    download: bool = False  # fetch a torchvision data set that is not on disk
    cache: bool = True  # use the decoded-image cache
    seed: int = 0  # seeds fine-tuning and the batches of the Taylor importance
    storage: str | None = None
    results_dir: Path = Path("results")
    device: str = "auto"
    precision: str = "auto"
    cuda_graph: bool = True
    placement: str = "auto"
    loader_workers: int = 4
    record: bool = True  # add the pruned model to the source study as a linked trial
    blocks: bool = False  # first remove redundant identity-shortcut blocks (nasprune.prune.blocks); channels
    #                       are then pruned only if a target is given
    block_max_drop: float = 1.0  # validation accuracy points the block removals may cost, before fine-tuning
    probe_images: int = 256  # validation images of the redundancy probe that picks the blocks
    # where the model will run; None: the study's (resolve_latency), else LATENCY_DEFAULTS
    latency_threads: int | None = None  # CPU threads of the latency measurements before and after
    latency_runtime: str | None = None  # where the latency target and the slower-than-source check are measured (CPU)
    latency_batch: int | None = None  # images per pass of those measurements

    def __post_init__(self) -> None:
        if (self.study is None) == (self.model is None):
            raise ConfigError("say which model to prune: --study NAME (a trial of a study) or --model DIR")
        if self.study is None and (self.trial is not None or self.pick_mflops is not None):
            raise ConfigError("--trial and --pick choose from a study; use them with --study")
        targets = (self.target_mflops, self.target_params, self.channel_ratio, self.target_latency)
        if sum(v is not None for v in targets) > 1:
            raise ConfigError("give one target: --target-mflops, --target-params, --channel-ratio or --target-latency")
        self.target  # noqa: B018 - validates the value
        if self.importance not in IMPORTANCES:
            raise ConfigError(f"unknown --importance {self.importance!r}; valid: {', '.join(IMPORTANCES)}")
        for name in ("steps", "gradient_batches"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{flag(name)} must be >= 1 (got {getattr(self, name)})")
        for name in ("finetune_epochs", "sparse_epochs"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{flag(name)} must be >= 0 (got {value})")
        if self.round_to is not None and self.round_to < 1:
            raise ConfigError(f"--round-to must be >= 1 (got {self.round_to})")
        if self.finetune_lr is not None and not self.finetune_lr > 0:
            raise ConfigError(f"--finetune-lr must be > 0 (got {self.finetune_lr})")
        if self.block_max_drop < 0:
            raise ConfigError(f"--block-max-drop must be >= 0 points (got {self.block_max_drop})")
        if self.latency_threads is not None and not 1 <= self.latency_threads <= 1024:
            raise ConfigError(f"--latency-threads must be between 1 and 1024 (got {self.latency_threads})")
        if self.latency_runtime is not None and self.latency_runtime not in LATENCY_RUNTIMES:
            raise ConfigError(f"unknown --latency-runtime {self.latency_runtime!r}; valid: {', '.join(LATENCY_RUNTIMES)}")
        if self.latency_batch is not None and not 1 <= self.latency_batch <= 4096:
            raise ConfigError(f"--latency-batch must be between 1 and 4096 (got {self.latency_batch})")
        if self.latency_runtime is not None:
            require_runtime(self.latency_runtime)  # onnxruntime installed where it is asked for
        if self.target_latency is not None and self.sparse_epochs:
            raise ConfigError("--sparse-epochs works with --target-mflops, --target-params and --channel-ratio, not "
                              "with --target-latency (which prunes in several measured steps); leave one out")
        if self.probe_images < 2:
            raise ConfigError(f"--probe-images must be >= 2 (got {self.probe_images})")
        if self.name is not None and not _NAME.match(self.name):
            raise ConfigError(f"--name {self.name!r} must be letters, digits, '.', '_' or '-' (it names a folder)")
        object.__setattr__(self, "results_dir", Path(self.results_dir))

    @property
    def channel_target(self) -> Target | None:
        """The channel-pruning target; None when only blocks are removed (``blocks`` without a target)."""
        if self.blocks and all(v is None for v in (self.target_mflops, self.target_params, self.channel_ratio,
                                                   self.target_latency)):
            return None
        return self.target

    @property
    def target(self) -> Target:
        if self.target_latency is not None:
            return Target("latency", self.target_latency)
        if self.target_params is not None:
            return Target("params", self.target_params)
        if self.channel_ratio is not None:
            return Target("channels", self.channel_ratio)
        return Target("mflops", 0.5 if self.target_mflops is None else self.target_mflops)


def resolve_latency(config: PruneConfig, stamp: Mapping[str, Any]) -> tuple[PruneConfig, tuple[str, ...]]:
    """``config`` with its latency runtime, batch and threads filled in: each one it leaves None is the study's, where
    ``stamp`` (the source study's, nasprune.record.stamp_of; empty for a saved folder) records where the search
    measured latency (``--objectives accuracy,latency`` or ``--max-latency-ms``): a model searched to be fast in ONNX
    Runtime is pruned, and checked for being slower than its source, in ONNX Runtime. What neither says is
    LATENCY_DEFAULTS. A value given in ``config`` always wins.

    Returns:
        (the config with all three set, the fields taken from the study, in LATENCY_DEFAULTS' order).

    Raises:
        ConfigError: the study's runtime is onnxruntime and it is not installed here (says what to install).

    Example::

        config, taken = resolve_latency(PruneConfig(study="s", target_latency=0.5), stamp_of(study))
        config.latency_runtime, taken   # ('onnxruntime', ('latency_runtime', 'latency_batch', 'latency_threads'))
    """
    study = stamp.get("latency") or {}  # None where latency decided nothing in the search
    values, taken = {}, []
    for name, default in LATENCY_DEFAULTS.items():
        given, recorded = getattr(config, name), study.get(_STAMP_WORDS[name])
        if given is None and recorded is not None:
            taken.append(name)
        values[name] = given if given is not None else recorded if recorded is not None else default
    return replace(config, **values), tuple(taken)


@dataclass
class PruneResult:
    """The outcome of :func:`nasprune.prune`: where the pruned model is, and the numbers of ``summary.json``."""

    out: Path  # the pruned model's folder (load it with nasprune.load_model)
    summary: dict[str, Any]
    linked_trial: int | None = None  # the study trial that records the pruned model

    @property
    def before(self) -> dict[str, Any]:
        return self.summary["before"]

    @property
    def after(self) -> dict[str, Any]:
        return self.summary["after"]
