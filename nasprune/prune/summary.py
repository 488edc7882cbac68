"""The record of a pruning run: ``summary.json`` and ``summary.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..checkpoint import atomic_write, write_json
from ..text import comparison_rows

__all__ = ["write_summary", "launch_bound_note"]


def _ratio(before: float | None, after: float | None) -> float | None:
    return before / after if before and after else None


def launch_bound_note(before: dict[str, Any], after: dict[str, Any]) -> str | None:
    """Say so when MACs fell but GPU latency did not: small networks are bound by kernel launches there."""
    macs = _ratio(before["mflops"], after["mflops"]) or 1
    gpu = _ratio(before["latency_ms"].get("cuda_b1"), after["latency_ms"].get("cuda_b1"))
    if gpu is not None and macs >= 1.3 and gpu < 1 + (macs - 1) / 3:
        return (f"on the GPU at batch 1 this network is launch-bound: {macs:.2f}x fewer MACs gave only {gpu:.2f}x "
                f"lower latency (each layer still costs a kernel launch); see the batch-256 and CPU rows")
    return None


def _blocks_lines(blocks: dict[str, Any] | None) -> list[str]:
    """What ``--blocks`` did, for summary.md (nothing without it)."""
    if not blocks:
        return []
    name = lambda b: f"stage {b['stage']} block {b['block']} (val {b['val']:.4f})"  # noqa: E731
    return [f"- blocks removed (validation {blocks['val_before']:.4f} before): "
            + (", ".join(name(b) for b in blocks["removed"]) or "none")
            + (f"; tried and kept: {', '.join(name(b) for b in blocks['kept'])}" if blocks["kept"] else "")]


def _markdown(summary: dict[str, Any]) -> str:
    src = summary["source"]
    lines = [f"# Pruned {src['label']}", "",
             f"- source: {src['label']} ({src['arch']})" + (f", study `{src['study']}`" if src.get("study") else ""),
             *([f"- pruned: {summary['arch']}"] if summary.get("arch") else []),
             f"- target: {summary['target']['description']} ({'reached' if summary['target']['reached'] else 'NOT reached'}: "
             f"{summary['target']['mflops_kept']:.1%} of the MFLOPs and {summary['target']['params_kept']:.1%} of the "
             f"parameters kept)",
             *_blocks_lines(summary.get("blocks")),
             f"- validation accuracy right after pruning, before fine-tuning: {summary['pruned_val_accuracy']:.4f}",
             f"- importance: {summary['importance']}, {summary['steps']} coarse steps, "
             f"{'global' if summary['global_pruning'] else 'per-layer'} ranking, channels rounded to {summary['round_to']}",
             f"- fine-tuning: {summary['finetune']['epochs']} epochs at peak lr {summary['finetune']['lr']:g}",
             f"- time: pruning {summary['seconds']['prune']:.1f} s, fine-tuning {summary['seconds']['finetune']:.1f} s, "
             f"total {summary['seconds']['total']:.1f} s", "", "| measure | before | after | change |", "|---|---|---|---|"]
    lines += [f"| {r['measure']} | {r['before']} | {r['after']} | {r['change']} |"
              for r in comparison_rows(summary["before"], summary["after"])]
    if summary.get("note"):
        lines += ["", f"Note: {summary['note']}."]
    lines += ["", "MFLOPs are millions of multiply-adds per image (fvcore); the test split was not used to choose "
                  "anything.", "", "## Channels per layer", "", "| layer | before | after |", "|---|---|---|"]
    lines += [f"| {c['layer']} | {c['before']} | {c['after']} |" for c in summary["channels"]]
    return "\n".join(lines) + "\n"


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    write_json(out / "summary.json", summary)
    atomic_write(out / "summary.md", lambda tmp: tmp.write_text(_markdown(summary)))
