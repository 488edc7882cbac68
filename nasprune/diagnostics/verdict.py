"""From measurements to a verdict a person can act on: :class:`Diagnosis` (all numbers of one network, JSON
round-trip safe) and :func:`findings` (what went wrong, in one line each, with the remedy).

Thresholds, each a module constant: a first/last gradient ratio below :data:`VANISHING` or above
:data:`EXPLODING`; a generalization gap above ``overfitting.OVERFIT_GAP``, or one that grows (its trend after
the warm-up and that trend's whole confidence interval above 0: ``Generalization.trend``); a redundant block as
defined in :mod:`nasprune.diagnostics.redundancy`; near-zero channels above :data:`NEAR_ZERO_SHARE` of all block
channels.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..checkpoint import write_json
from ..errors import CheckpointError
from .gradients import GradientSummary
from .overfitting import OVERFIT_GAP, TREND_CONFIDENCE, TREND_EPOCHS, WARMUP_SHARE, Generalization
from .redundancy import Redundancy, RunProbe

__all__ = ["Finding", "Diagnosis", "findings", "format_diagnosis", "read_diagnosis", "write_diagnosis",
           "VANISHING", "EXPLODING", "NEAR_ZERO_SHARE"]

#: first/last gradient ratio below which gradients are called vanishing
VANISHING = 1e-2
#: and above which exploding. At initialization on CIFAR-10 images (benchmarks/RESULTS.md): ResNet-20 0.27,
#: ResNet-56 0.18, plain-20 (batch norm) 4.2, plain-56 (batch norm) 990; trained, healthy networks recorded 0.02-9
EXPLODING = 1e2
#: validation accuracy below this many times 1/classes is "at chance": the network did not learn
CHANCE_FACTOR = 1.5
#: near-zero channels are worth a finding above this share of the blocks' channels
NEAR_ZERO_SHARE = 0.1
#: runs of redundant blocks named one by one in the verdict; the rest are counted
RUNS_SHOWN = 5


@dataclass(frozen=True)
class Finding:
    """One line of the verdict."""

    kind: str  # not-learning | overfitting | vanishing | exploding | redundant | near-zero | healthy
    message: str


@dataclass(frozen=True)
class Diagnosis:
    """Everything ``nasprune diagnose`` measured about one trained network, and what it concluded."""

    source: str  # "trial 7 of study 'x'" or a model folder
    arch: str  # one-line architecture (nasprune.describe)
    block: str
    norm: str
    depth: int  # weighted layers
    mflops: float | None
    val_accuracy: float | None
    generalization: Generalization | None = None
    gradients: GradientSummary | None = None  # recorded while training, or measured on the trained weights
    gradients_init: GradientSummary | None = None  # measured at initialization (when no training record exists)
    redundancy: Redundancy | None = None
    findings: list[Finding] = field(default_factory=list)
    num_classes: int | None = None  # for "at chance": accuracy no better than guessing
    data_note: str | None = None  # None: measured on the data and split it was trained on; else what differs

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("gradients", "gradients_init", "generalization"):  # with the headline ratio; gaps as a list
            if getattr(self, key) is not None:
                data[key] = getattr(self, key).to_dict()
        data["verdict"] = [f.message for f in self.findings]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnosis:
        def part(key: str, kind: type) -> Any:
            return kind.from_dict(data[key]) if data.get(key) is not None else None

        return cls(source=data["source"], arch=data["arch"], block=data["block"], norm=data["norm"],
                   depth=data["depth"], mflops=data["mflops"], val_accuracy=data["val_accuracy"],
                   generalization=part("generalization", Generalization), gradients=part("gradients", GradientSummary),
                   gradients_init=part("gradients_init", GradientSummary), redundancy=part("redundancy", Redundancy),
                   findings=[Finding(**f) for f in data.get("findings", [])], num_classes=data.get("num_classes"),
                   data_note=data.get("data_note"))


def _points(x: float) -> str:
    return f"{100 * x:.1f} points"


def _trend_words(g: Generalization) -> str:
    """The fitted trend with its interval and epochs, e.g. ``+0.88 points/epoch over epochs 4-10 (95% CI +0.16 to
    +1.41)``; what the epochs cannot give is said instead."""
    if g.gap_trend is None or g.trend_from is None or g.trend_low is None or g.trend_high is None:
        return f"not fitted (fewer than {TREND_EPOCHS} epochs after the first {WARMUP_SHARE:.0%})"
    return (f"{100 * g.gap_trend:+.2f} points/epoch over epochs {g.trend_from}-{g.epochs} ({TREND_CONFIDENCE:.0%} CI "
            f"{100 * g.trend_low:+.2f} to {100 * g.trend_high:+.2f})")


def _gap_words(g: Generalization) -> str:
    """The gap at the best epoch in words; a negative one as what it is (train accuracy below validation)."""
    where = "at its best epoch" if g.source == "history" else "measured now"
    if g.gap < 0:
        return f"train accuracy {_points(-g.gap)} below validation {where}"
    return f"gap {_points(g.gap)} {where}"


def _generalization(g: Generalization | None) -> list[Finding]:
    if g is None or not (g.overfitting or (g.growing and (g.val_loss_rise or 0) > 0.1)):
        return []
    where = f"at the best epoch {g.best_epoch} of {g.epochs}" if g.source == "history" else "measured now"
    details = [f"gap {_points(g.gap)}"]
    if g.growing:
        details.append(f"growing {_trend_words(g)}")
    if g.val_loss_rise:
        details.append(f"validation loss up {g.val_loss_rise:.0%} from its lowest")
    head = "overfitting" if g.overfitting else "starting to overfit"
    return [Finding("overfitting", f"{head}: train accuracy {g.train_acc:.4f} vs validation {g.val_acc:.4f} {where} "
                                   f"({', '.join(details)}); more data or augmentation, more regularization "
                                   f"(weight decay, dropout) or a smaller network")]


def _remedy(block: str, norm: str, kind: str) -> str:
    plain = block == "plain"
    if plain and norm == "none":
        return "this plain network would need residual connections or normalization"
    if plain:
        return "this plain network would need residual connections (they keep the ratio near 1)"
    if norm == "none":
        return "this network would need normalization"
    return "a lower learning rate, a warm-up, or a shallower network" if kind == "exploding" else \
        "a shallower network, or a learning-rate warm-up"


def _gradients(d: Diagnosis) -> list[Finding]:
    out = []
    for summary, when in ((d.gradients, None), (d.gradients_init, "at initialization")):
        ratio = summary.ratio if summary is not None else None
        if ratio is None or VANISHING <= ratio <= EXPLODING:
            continue
        kind = "vanishing" if ratio < VANISHING else "exploding"
        where = when or (f"step {summary.ratio_step} of {summary.total_steps}, recorded while training"
                         if summary.source == "training" else f"on the {summary.source}")
        why = ("the first layer learns almost nothing" if kind == "vanishing" else
               "updates of the first layers dwarf the last ones'")
        if kind == "exploding" and d.block == "plain" and d.norm != "none":
            why += "; deep plain networks with normalization explode at initialization (Yang et al. 2019)"
        out.append(Finding(kind, f"first/last gradient ratio {ratio:.1e} ({where}): {kind} gradients, {why}; "
                                 f"{_remedy(d.block, d.norm, kind)}"))
        break  # the training record, when there is one, speaks for the network
    return out


def _run_message(run: RunProbe, total_mflops: float) -> str:
    share = run.mflops / total_mflops if total_mflops else 0.0
    similar = f"output ~ input (CKA {run.cka:.2f}, bypassing {'it' if run.first == run.last else 'them'} keeps " \
              f"{run.agreement:.0%} of the probe's predictions)"
    if run.identity:
        cost = (f"costs {_points(max(run.val_drop, 0.0))} of validation accuracy before fine-tuning"
                if run.val_drop is not None else "is estimated to cost little")
        return f"{run.label}: {similar}; removing {'it' if run.first == run.last else 'them'} {cost} and saves " \
               f"{share:.0%} of MFLOPs: nasprune prune --blocks"
    count = run.last - run.first + 1
    return f"{run.label}: {similar}; {'this layer adds' if count == 1 else 'these layers add'} depth without " \
           f"adding function: {count} fewer block{'s' if count > 1 else ''} in stage {run.stage} would likely do as well"


def _redundancy(r: Redundancy | None) -> list[Finding]:
    if r is None:
        return []
    runs = sorted(r.runs, key=lambda run: -run.mflops)
    out = [Finding("redundant", _run_message(run, r.mflops)) for run in runs[:RUNS_SHOWN]]
    if len(runs) > RUNS_SHOWN:
        out.append(Finding("redundant", f"{len(runs) - RUNS_SHOWN} more runs of redundant blocks (see the JSON)"))
    channels = sum(b.channels for b in r.blocks)
    if r.near_zero_share > NEAR_ZERO_SHARE:
        out.append(Finding("near-zero", f"{sum(b.near_zero for b in r.blocks)} of {channels} block channels "
                                        f"({r.near_zero_share:.0%}) carry almost nothing on the probe batch (dead or "
                                        f"switched off): channel pruning (nasprune prune) removes them cheaply"))
    return out


def _not_learning(d: Diagnosis) -> list[Finding]:
    acc = d.val_accuracy if d.val_accuracy is not None else (d.generalization.val_acc if d.generalization else None)
    if acc is None or not d.num_classes or acc > CHANCE_FACTOR / d.num_classes:
        return []
    return [Finding("not-learning", f"validation accuracy {acc:.4f} is at chance (1/{d.num_classes} = "
                                    f"{1 / d.num_classes:.2f}): the network did not learn, so the other numbers "
                                    f"describe a failed training run; check the learning rate, the norm, and the "
                                    f"gradient ratio")]


def findings(d: Diagnosis) -> list[Finding]:
    """The verdict of a diagnosis: a network at chance, overfitting, vanishing or exploding gradients, redundant
    blocks and near-zero channels, each with what to do; or one "healthy" line saying what was checked."""
    found = _not_learning(d) + _generalization(d.generalization) + _gradients(d) + _redundancy(d.redundancy)
    if found:
        return found
    parts = []
    g = d.generalization
    if g is not None:
        under = f", under {_points(OVERFIT_GAP)}" if g.gap >= 0 else ""
        grows = f"; it grows {_trend_words(g)}, so longer training may start to overfit" if g.growing else ""
        parts.append(f"no overfitting ({_gap_words(g)}{under}{grows})")
    summary = d.gradients or d.gradients_init
    if summary is not None and summary.ratio is not None:
        parts.append(f"no vanishing or exploding gradients (first/last ratio {summary.ratio:.2g})")
    if d.redundancy is not None:
        parts.append("no redundant blocks")
    return [Finding("healthy", "; ".join(parts) or "nothing measured")]


def format_diagnosis(d: Diagnosis) -> str:
    """The verdict as text for a terminal: a header, one line per finding, the headline numbers."""
    lines = [f"{d.source}: {d.arch}, depth {d.depth}"
             + (f", {d.mflops:.3f} MFLOPs" if d.mflops is not None else "")
             + (f", val accuracy {d.val_accuracy:.4f}" if d.val_accuracy is not None else "")]
    if d.data_note:
        lines.append(f"  data: {d.data_note}")
    lines += [f"  - {f.message}" for f in d.findings]
    numbers = []
    g = d.generalization
    if g is not None:
        if g.source != "history":
            numbers.append(f"gap {_points(g.gap)} (measured now)")
        else:
            each = f"gap per epoch {', '.join(f'{100 * x:.1f}' for x in g.gaps)} points, " if g.gaps else "gap "
            numbers.append(f"{each}{_points(g.gap)} at the best epoch {g.best_epoch}/{g.epochs}, trend "
                           f"{_trend_words(g)}")
    for summary in (d.gradients, d.gradients_init):
        if summary is not None and summary.ratio is not None:
            numbers.append(f"first/last gradient ratio {summary.ratio:.2g} ({summary.source}, {len(summary.steps)} "
                           f"steps)")
    if d.redundancy is not None:
        r = d.redundancy
        numbers.append(f"{r.redundant_blocks} of {len(r.blocks)} blocks redundant, {r.near_zero_share:.0%} of "
                       f"channels near zero (probe of {r.images} images)")
    if numbers:
        lines.append("  numbers: " + "; ".join(numbers))
    return "\n".join(lines)


def write_diagnosis(path: str | Path, d: Diagnosis) -> Path:
    """Write ``d`` as JSON (atomically); returns the path."""
    path = Path(path)
    write_json(path, d.to_dict())
    return path


def read_diagnosis(path: str | Path) -> Diagnosis:
    """Read a diagnosis written by :func:`write_diagnosis`."""
    try:
        return Diagnosis.from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: not a readable diagnosis ({exc.__class__.__name__}: {exc})") from None
