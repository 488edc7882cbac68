"""What a search prints while it runs: a progress bar (on a terminal), one line per finished trial, and
tables. Everything goes through :class:`Progress` so a Python caller can switch it off in one place."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import TrialState
from tqdm import tqdm

from ..train import EpochStats
from .study import RETRY_OF, reason_of

__all__ = ["Progress", "format_table", "trial_line", "human_count"]


def human_count(n: float | None) -> str:
    """12345 -> '12.3k', 1234567 -> '1.23M'."""
    if n is None:
        return "-"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            return f"{n / limit:.3g}{suffix}"
    return f"{n:g}"


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A plain-text table of ``rows`` with (key, heading) ``columns``; numbers are right-aligned."""
    cells = [[h for _, h in columns]] + [["-" if r.get(k) is None else str(r[k]) for k, _ in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    numeric = [all(_is_number(row[i]) for row in cells[1:]) for i in range(len(columns))]
    lines = []
    for row in cells:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _is_number(text: str) -> bool:
    try:
        float(text.rstrip("kMG"))
        return True
    except ValueError:
        return text == "-"


def trial_line(t: optuna.trial.FrozenTrial) -> str:
    """``trial   7  complete  val 0.9722  1.23 MFLOPs  20.1k params   4.1s  basic[2,1]x[32,64] ...``"""
    a = t.user_attrs
    state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}.get(
        t.state, t.state.name.lower())
    history = a.get("history") or []
    acc = f"val {history[-1]['val_acc']:.4f}" if history else " " * 10
    mflops = f"{a['mflops']:8.3f} MFLOPs" if "mflops" in a else " " * 15
    params = f"{human_count(a['params']):>6} params" if "params" in a else " " * 13
    seconds = f"{a.get('wall_seconds', 0):6.1f}s"
    tail = a.get("arch", "") if t.state == TrialState.COMPLETE else reason_of(t)
    if t.state != TrialState.COMPLETE and a.get("arch"):
        tail = f"{a['arch']}  [{tail}]"
    if a.get("baseline"):
        tail = f"(baseline {a['baseline']}) {tail}"
    if "retrain_of" in a:
        tail = f"(trial {a['retrain_of']} trained again, {len(a.get('history') or [])} epochs) {tail}"
    if RETRY_OF in a:
        tail = f"(retry of trial {a[RETRY_OF]}) {tail}"
    return f"trial {t.number:4d}  {state:8s}  {acc}  {mflops}  {params}  {seconds}  {tail}".rstrip()


class Progress:
    """Progress bar over the trial budget (shown on terminals only) plus printed lines."""

    def __init__(self, enabled: bool, total: int | None, initial: int) -> None:
        self.enabled = enabled
        self.bar = tqdm(total=total, initial=initial if total is None else min(initial, total), unit="trial",
                        dynamic_ncols=True,
                        disable=None if enabled else True, file=sys.stderr, leave=False)

    def print(self, text: str = "") -> None:
        if self.enabled:
            self.bar.write(text, file=sys.stdout)

    def epoch(self, number: int, stats: EpochStats, epochs: int) -> None:
        """Show the running trial's latest epoch in the bar."""
        self.bar.set_postfix_str(f"trial {number} epoch {stats.epoch}/{epochs} val {stats.val_acc:.3f}")

    def trial(self, t: optuna.trial.FrozenTrial, finished: int) -> None:
        """A trial of this process ended; ``finished`` counts the study's trials toward the budget."""
        self.print(trial_line(t))
        self.bar.n = finished if self.bar.total is None else min(finished, self.bar.total)
        self.bar.set_postfix_str("")
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
