"""Depth pruning: remove whole residual blocks that add depth without adding function.

Only blocks with an identity shortcut are removed (basic and bottleneck blocks whose shortcut is the
identity, MBConv blocks with a skip): their input and output shapes match, so the network stays valid
without them. The result is an ordinary :class:`~nasprune.spec.ArchSpec` with fewer repeats in a stage plus
the remaining weights, renamed to the smaller network's block indices: it is saved, loaded and channel-pruned
like any other model. A stage keeps at least one block.

The policy (:func:`prune_blocks`): probe the network (:mod:`nasprune.diagnose.redundancy`), take the most
redundant removable block, remove it, measure validation accuracy, keep the removal if the accuracy lost since
the start stays within a bound, otherwise put the block back and never try it again; probe again and repeat
until no redundant block is left.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..diagnostics.redundancy import BlockProbe, is_identity_block, probe_redundancy
from ..errors import ConfigError
from ..nn import Network, build_model
from ..spec import ArchSpec, StageSpec

__all__ = ["removable_blocks", "remove_blocks", "prune_blocks", "BlockLog"]

_BLOCK_KEY = re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.(.*)$")


def removable_blocks(model: Network) -> list[tuple[int, int]]:
    """(stage, block), both 0-based, of the blocks that can be removed: an identity shortcut, and not the
    last block of its stage."""
    return [(s, j) for s, stage in enumerate(model.stages) for j, block in enumerate(stage.blocks)
            if is_identity_block(block) and len(stage.blocks) > 1]


def _smaller_arch(arch: ArchSpec, drop: set[tuple[int, int]]) -> ArchSpec:
    stages = []
    for s, stage in enumerate(arch.stages):
        gone = sum(1 for ds, _ in drop if ds == s)
        stages.append(StageSpec(stage.repeats - gone, stage.channels, stage.stride))
    return arch.replace(stages=tuple(stages))


def remove_blocks(model: Network, drop: Iterable[tuple[int, int]]) -> Network:
    """A new network without the blocks ``drop`` ((stage, block), 0-based): built from the smaller spec
    (``model.arch`` with fewer repeats), with the weights of every other block, on the model's device.

    Raises:
        ConfigError: a block that cannot be removed (a shortcut that changes shape, or a stage's last block).
    """
    drop = set(drop)
    allowed = set(removable_blocks(model))
    for s, j in sorted(drop):
        if (s, j) not in allowed:
            raise ConfigError(f"stage {s + 1}, block {j + 1} cannot be removed: only blocks with an identity "
                              f"shortcut can, and a stage keeps at least one block")
    arch = _smaller_arch(model.arch, drop)
    if any(stage.repeats < 1 for stage in arch.stages):
        raise ConfigError("cannot remove every block of a stage")
    state = {}
    for key, value in model.state_dict().items():
        match = _BLOCK_KEY.match(key)
        if match is None:
            state[key] = value
            continue
        s, j, rest = int(match[1]), int(match[2]), match[3]
        if (s, j) in drop:
            continue
        shift = sum(1 for ds, dj in drop if ds == s and dj < j)  # blocks removed before this one in its stage
        state[f"stages.{s}.blocks.{j - shift}.{rest}"] = value
    parameter = next(model.parameters())
    smaller = build_model(arch).to(parameter.device)
    if parameter.dim() == 4 and parameter.is_contiguous(memory_format=torch.channels_last):
        smaller = smaller.to(memory_format=torch.channels_last)
    smaller.load_state_dict(state)
    smaller.train(model.training)
    return smaller


@dataclass
class BlockLog:
    """What :func:`prune_blocks` did: every block it tried, in order, with the validation accuracy after."""

    val_before: float
    removed: list[dict] = field(default_factory=list)  # {stage, block (1-based, original numbering), cka, agreement, val}
    kept: list[dict] = field(default_factory=list)  # tried and put back: the accuracy fell too far
    original: list[list[int]] = field(default_factory=list)  # per stage: original index of each remaining block

    def to_dict(self) -> dict:
        return {"val_before": self.val_before, "removed": self.removed, "kept": self.kept}

    def original_names(self, values: dict[str, int]) -> dict[str, int]:
        """Rename ``stages.S.blocks.J.*`` keys of the smaller network to the block numbers of the original."""
        out = {}
        for key, value in values.items():
            match = _BLOCK_KEY.match(key)
            if match:
                s, j = int(match[1]), int(match[2])
                key = f"stages.{s}.blocks.{self.original[s][j]}.{match[3]}"
            out[key] = value
        return out


def _candidates(model: Network, probe: torch.Tensor, original: list[list[int]], tried: set[tuple[int, int]]
                ) -> list[tuple[BlockProbe, tuple[int, int]]]:
    """Redundant removable blocks not tried yet, most redundant first, with their original (stage, block)."""
    allowed = set(removable_blocks(model))
    found = []
    for b in probe_redundancy(model, probe).blocks:
        s, j = b.stage - 1, b.block - 1
        origin = (s, original[s][j])
        if b.redundant and (s, j) in allowed and origin not in tried:
            found.append((b, origin))
    return sorted(found, key=lambda item: (-item[0].agreement, -item[0].cka))


def prune_blocks(model: Network, probe: torch.Tensor, val_accuracy: Callable[[nn.Module], float],
                 max_drop: float = 0.01, progress: Callable[[str], None] | None = None) -> tuple[Network, BlockLog]:
    """Remove redundant identity-shortcut blocks one at a time (see the module docstring).

    Args:
        model: a trained, unpruned nasprune network (its ``arch`` is the spec it was built from).
        probe: the normalized probe batch (validation images) the redundancy measure runs on.
        val_accuracy: accuracy of a network on the validation split.
        max_drop: accuracy (a fraction, 0.01 = 1 point) the removals may cost in total, before fine-tuning.
        progress: called with one line per tried block.

    Returns:
        (the smaller network, the log); the network passed in is not changed.
    """
    original = [list(range(stage.repeats)) for stage in model.arch.stages]  # current index -> original index
    log = BlockLog(val_before=val_accuracy(model), original=original)
    tried: set[tuple[int, int]] = set()
    while True:
        candidates = _candidates(model, probe, original, tried)
        if not candidates:
            return model, log
        b, (s, j0) = candidates[0]
        tried.add((s, j0))
        smaller = remove_blocks(model, [(b.stage - 1, b.block - 1)])
        acc = val_accuracy(smaller)
        entry = {"stage": s + 1, "block": j0 + 1, "cka": b.cka, "agreement": b.agreement, "val": round(acc, 5)}
        keep = log.val_before - acc <= max_drop
        (log.removed if keep else log.kept).append(entry)
        if progress:
            progress(f"  stage {s + 1}, block {j0 + 1} (CKA {b.cka:.3f}, bypass keeps {b.agreement:.0%} of the probe): "
                     f"val {acc:.4f} -> {'removed' if keep else 'kept (accuracy fell too far)'}")
        if keep:
            model = smaller
            del original[s][b.block - 1]
