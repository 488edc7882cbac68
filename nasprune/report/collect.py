"""A study's trials as flat records: what the report's tables, plots and ``trials.csv`` are drawn from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from ..diagnostics import Redundancy, recorded_diagnosis, summarize_history
from ..record import PRUNED_FROM, answers, outcome_of, pareto_front, reason_of, state_label

__all__ = ["TrialRecord", "collect", "front_of", "csv_rows", "CSV_COLUMNS"]


@dataclass
class TrialRecord:
    """One trial, read from its user attributes (see nasprune.search.objective)."""

    number: int
    study: str  # the search's study, or its companion of pruned models (nasprune.record.pruned)
    state: str  # complete | stopped | failed | running | waiting (nasprune.record.LABELS)
    outcome: str | None
    reason: str | None
    val_acc: float | None
    train_acc: float | None
    mflops: float | None
    params: int | None
    latency_ms: float | None
    depth: int | None
    block: str | None
    norm: str | None
    act: str | None
    repeats: list[int]
    widths: list[int]
    arch: str | None
    history: list[dict]
    spec: dict | None
    sampled: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = None
    pruned_from: int | None = None
    checkpoint: str | None = None
    wall_seconds: float | None = None
    grad_ratio: float | None = None  # first/last gradient-norm ratio recorded while training (nasprune.diagnose)
    redundant_blocks: int | None = None  # blocks whose output ~ input on the probe batch
    blocks_total: int | None = None
    near_zero_share: float | None = None  # share of block channels with near-zero output
    gap_best: float | None = None  # train - validation accuracy at the best epoch
    diagnosis: list[str] = field(default_factory=list)  # the verdict's lines, by today's rules where it can be redone
    learned: bool | None = None  # False: validation accuracy at chance (the search's diagnostics); None: not measured

    @property
    def redundant_share(self) -> float | None:
        return self.redundant_blocks / self.blocks_total if self.blocks_total else None

    @property
    def searched(self) -> bool:
        """A trial the search ran (not a pruned model linked to the study afterwards)."""
        return self.pruned_from is None

    @property
    def gap(self) -> float | None:
        """Train minus validation accuracy at the last epoch: overfitting shows as a large positive gap (train
        accuracy is measured on augmented batches with dropout on, which makes it a lower bound)."""
        if self.train_acc is None or self.val_acc is None:
            return None
        return self.train_acc - self.val_acc


def collect(study: optuna.Study) -> list[TrialRecord]:
    """A record per trial of ``study`` (a search's study, or the companion that holds its pruned models)."""
    records = []
    for t in study.get_trials(deepcopy=False):
        a = t.user_attrs
        history = a.get("history") or []
        last = history[-1] if history else {}
        complete = t.state == TrialState.COMPLETE
        records.append(TrialRecord(
            number=t.number, study=study.study_name, state=state_label(t),
            outcome=outcome_of(t), reason=reason_of(t) or None,
            val_acc=t.values[0] if complete else last.get("val_acc"), train_acc=last.get("train_acc"),
            mflops=a.get("mflops"), params=a.get("params"), latency_ms=a.get("latency_ms"), depth=a.get("depth"),
            block=a.get("block"), norm=a.get("norm"), act=a.get("act"), repeats=list(a.get("repeats") or []),
            widths=list(a.get("widths") or []), arch=a.get("arch"), history=history, spec=a.get("spec"),
            sampled=dict(t.params), baseline=a.get("baseline"), pruned_from=a.get(PRUNED_FROM),
            checkpoint=a.get("checkpoint"), wall_seconds=a.get("wall_seconds"), learned=a.get("learned"),
            **_diagnostics(a, history)))
    return records


def _diagnostics(attrs: dict[str, Any], history: list[dict]) -> dict[str, Any]:
    """The depth diagnostics a trial recorded (absent in studies made before they existed), and their verdict
    redone from them (what ``nasprune diagnose`` would say; the words the trial stored where it cannot be)."""
    redone = recorded_diagnosis("trial", attrs)
    out: dict[str, Any] = {"grad_ratio": (attrs.get("gradients") or {}).get("ratio"),
                           "diagnosis": [f.message for f in redone.findings] if redone
                           else list(attrs.get("diagnosis") or [])}
    general = summarize_history(history)
    out["gap_best"] = general.gap if general else None
    if attrs.get("redundancy"):
        probe = Redundancy.from_dict(attrs["redundancy"])
        out.update(redundant_blocks=probe.redundant_blocks, blocks_total=len(probe.blocks),
                   near_zero_share=round(probe.near_zero_share, 4))
    return out


def front_of(records: list[TrialRecord], cost: str) -> list[TrialRecord]:
    """Completed records that learned (nasprune.record.answers) not dominated in (higher validation accuracy, lower
    ``cost``), cheapest first."""
    done = answers([r for r in records if r.state == "complete" and getattr(r, cost) is not None], lambda r: r.learned)
    return sorted(pareto_front(done, lambda r: (r.val_acc, -getattr(r, cost))), key=lambda r: getattr(r, cost))


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else k, v, out)
    elif isinstance(value, list) and value and isinstance(value[0], dict):  # stages
        out[prefix] = ";".join("x".join(str(v) for v in item.values()) for item in value)
    else:
        out[prefix] = value


CSV_COLUMNS = ("study", "number", "state", "outcome", "reason", "val_accuracy", "train_accuracy", "gap", "mflops", "params",
               "latency_ms", "depth", "epochs_trained", "wall_seconds", "arch", "block", "norm", "act", "stages",
               "repeats", "widths", "baseline", "pruned_from", "gap_best", "grad_ratio", "redundant_blocks",
               "near_zero_share", "diagnosis")


def csv_rows(records: list[TrialRecord]) -> tuple[list[str], list[dict[str, Any]]]:
    """(header, rows) for ``trials.csv``: the summary columns, then every spec field (``spec.arch.*``,
    ``spec.train.*``; stages as repeats x channels x stride joined by ';'), then the sampled parameters
    (``param.*``)."""
    rows = []
    for r in records:
        row = {"study": r.study, "number": r.number, "state": r.state, "outcome": r.outcome, "reason": r.reason,
               "val_accuracy": r.val_acc, "train_accuracy": r.train_acc, "gap": r.gap, "mflops": r.mflops,
               "params": r.params, "latency_ms": r.latency_ms, "depth": r.depth, "epochs_trained": len(r.history),
               "wall_seconds": r.wall_seconds, "arch": r.arch, "block": r.block, "norm": r.norm, "act": r.act,
               "stages": len(r.widths) or None, "repeats": "-".join(map(str, r.repeats)) or None,
               "widths": "-".join(map(str, r.widths)) or None, "baseline": r.baseline, "pruned_from": r.pruned_from,
               "gap_best": r.gap_best, "grad_ratio": r.grad_ratio, "redundant_blocks": r.redundant_blocks,
               "near_zero_share": r.near_zero_share, "diagnosis": " | ".join(r.diagnosis) or None}
        if r.spec:
            _flatten("spec", r.spec, row)
        row.update({f"param.{k}": v for k, v in r.sampled.items()})
        rows.append(row)
    extra = sorted({k for row in rows for k in row} - set(CSV_COLUMNS),
                   key=lambda k: (not k.startswith("spec."), k))
    return [*CSV_COLUMNS, *extra], rows
