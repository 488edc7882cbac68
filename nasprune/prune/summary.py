"""The record of a pruning run: ``summary.json`` and ``summary.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..checkpoint import atomic_write, write_json
from ..deploy import runtime_where
from ..measure import Latency
from ..text import comparison_rows

__all__ = ["write_summary", "launch_bound_note", "deployed_check"]


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


def deployed_check(before: Latency, after: Latency, runtime: str) -> dict[str, Any]:
    """The source's and the pruned model's latency in ``runtime`` and whether pruning made it slower there.

    Slower means the pruned model's median is above the source's p90: slower than nine in ten of the source's
    passes, so a difference within the spread of one measurement (a few percent on an idle machine) is not called
    slower, and a real slowdown (1.41x on the 8x8 digits winner halved in MACs, README) is.
    """
    where = runtime_where(runtime, before.batch_size, before.threads)
    slower = after.median_ms > before.p90_ms
    error = (f"the pruned model is {after.median_ms / before.median_ms:.2f}x slower than its source in {where} "
             f"({after.median_ms:.3f} ms against {before.median_ms:.3f} ms, p10-p90 {before.p10_ms:.3f}-"
             f"{before.p90_ms:.3f})" if slower else None)
    return {"runtime": runtime, "where": where, "batch": before.batch_size, "threads": before.threads,
            "before_ms": before.median_ms, "after_ms": after.median_ms,
            "kept": round(after.median_ms / before.median_ms, 4), "slower": slower, "error": error,
            "latency": {"before": before.to_dict(), "after": after.to_dict()}}


def _deployed_lines(summary: dict[str, Any]) -> list[str]:
    deployed = summary.get("deployed")
    if not deployed:
        return []
    chosen = " (the study's)" if deployed.get("from_study") else ""
    line = (f"- latency in {deployed['where']}{chosen}: {deployed['before_ms']:.3f} ms -> {deployed['after_ms']:.3f} ms "
            f"({deployed['kept']:.1%} of the source's)")
    return [line] + ([f"- **ERROR**: {deployed['error']}"] if deployed["error"] else [])


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
             *_deployed_lines(summary),
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
