"""Text helpers shared by everything that shows numbers to a person (the CLI, reports, summaries).

Nothing here imports another part of nasprune: tables and counts are formatted the same way everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["format_table", "human_count", "comparison_rows", "plural", "span", "LATENCY_LABELS"]

#: latency measurements (nasprune.evaluation.LATENCIES, and nasprune.deploy's CPU batch-32 and ONNX Runtime
#: figures) -> how a person reads them
LATENCY_LABELS = {"cpu_b1": "latency CPU batch 1 (ms)", "cpu_b32": "latency CPU batch 32 (ms)",
                  "ort_b1": "latency ONNX Runtime CPU batch 1 (ms)",
                  "ort_b32": "latency ONNX Runtime CPU batch 32 (ms)", "cuda_b1": "latency GPU batch 1 (ms)",
                  "cuda_b256": "latency GPU batch 256 (ms)"}
_ROWS = (("val_accuracy", "val accuracy", "{:.4f}"), ("test_accuracy", "test accuracy", "{:.4f}"),
         ("mflops", "MFLOPs (MACs)", "{:.3f}"), ("params", "params", None))


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 trial``, ``3 trials``, ``1 pruned model``."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def span(low: float, high: float) -> str:
    """``6`` for one value, ``6-20`` for a range (not ``6-6``)."""
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"


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


def _ratio(before: float | None, after: float | None) -> float | None:
    return before / after if before and after else None


def _fold(before: float | None, after: float | None, less: str, more: str) -> str:
    """``2.03x smaller`` / ``1.41x larger``: a change as a factor above 1, in the word of its direction."""
    ratio = _ratio(before, after)
    if ratio is None:
        return "-"
    return f"{ratio:.2f}x {less}" if ratio >= 1 else f"{1 / ratio:.2f}x {more}"


def comparison_rows(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, str]]:
    """Before/after rows of a pruned model (its ``summary.json``): one per measure, with the change in points
    for accuracy and x-fold for costs and latency."""
    rows = []
    for key, label, fmt in _ROWS:
        b, a = before.get(key), after.get(key)
        show = (lambda v: human_count(v)) if fmt is None else (lambda v, f=fmt: f.format(v))  # noqa: E731
        if key.endswith("accuracy"):
            change = f"{100 * (a - b):+.2f} points"
        else:
            change = _fold(b, a, "smaller", "larger")
        rows.append({"measure": label, "before": show(b), "after": show(a), "change": change})
    for key, ms_b in before["latency_ms"].items():
        ms_a = after["latency_ms"].get(key)
        detail = (before.get("latency") or {}).get(key) or {}
        threads = f", {detail['threads']} thread{'s' if detail['threads'] != 1 else ''}" if detail.get("threads") else ""
        rows.append({"measure": LATENCY_LABELS[key].replace(" (ms)", f"{threads} (ms)"),
                     "before": _latency(ms_b, before, key), "after": _latency(ms_a, after, key),
                     "change": _fold(ms_b, ms_a, "faster", "slower")})
    return rows


def _latency(ms: float, measured: dict[str, Any], key: str) -> str:
    """A latency figure, marked where its spread says the machine was busy while it was measured."""
    busy = ((measured.get("latency") or {}).get(key) or {}).get("busy")
    return f"{ms:.3f}" + (" (busy)" if busy else "")
